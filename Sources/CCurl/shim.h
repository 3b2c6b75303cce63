/* libcurl with typed wrappers (curl_easy_setopt is variadic, which Swift cannot call),
 * and the two OpenSSL digests the Cosmos DB backend signs and names documents with. */
#include <curl/curl.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

typedef size_t (*engram_curl_data_cb)(char *, size_t, size_t, void *);

static inline CURLcode engram_curl_set_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode engram_curl_set_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode engram_curl_set_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode engram_curl_set_headers(CURL *h, struct curl_slist *v) { return curl_easy_setopt(h, CURLOPT_HTTPHEADER, v); }
static inline CURLcode engram_curl_set_callback(CURL *h, CURLoption o, engram_curl_data_cb cb) { return curl_easy_setopt(h, o, cb); }
static inline long engram_curl_status(CURL *h) { long c = 0; curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c); return c; }

/* HMAC-SHA256 of data under key into out[32]; returns 1 on success. */
static inline int engram_hmac_sha256(const void *key, int keylen, const unsigned char *data, size_t n, unsigned char *out) {
    unsigned int len = 32;
    return HMAC(EVP_sha256(), key, keylen, data, n, out, &len) != 0;
}

/* SHA-256 of data into out[32]. */
static inline void engram_sha256(const unsigned char *data, size_t n, unsigned char *out) { SHA256(data, n, out); }
