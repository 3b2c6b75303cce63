// SHA-256 of the vector files a benchmark reads (their fingerprint in the manifest).
#include <openssl/evp.h>
