#include <libpq-fe.h>

/* A notice processor that drops server NOTICEs (they would go to stderr otherwise). */
static inline void engram_pq_ignore_notice(void *arg, const char *message) { (void)arg; (void)message; }
static inline void engram_pq_silence(PGconn *conn) { PQsetNoticeProcessor(conn, engram_pq_ignore_notice, 0); }
