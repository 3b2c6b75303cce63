/*
 * engram_faiss.h — pure C interface over a FAISS IndexIDMap2(IndexFlatIP).
 *
 * Vectors are L2-normalised by the shim, so scores are cosine similarities.
 * Functions never let a C++ exception escape. Functions taking `err` write a
 * NUL-terminated message into it on failure (err may be NULL / errlen 0) and
 * return a non-zero code: 1 = invalid argument, 2 = FAISS/internal error,
 * 3 = out of memory. 0 means success.
 *
 * Not internally synchronised: concurrent read-only calls (count, contains,
 * reconstruct, search, ...) are safe; mutating calls need exclusive access.
 */
#ifndef ENGRAM_FAISS_H
#define ENGRAM_FAISS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ENGRAM_FAISS_OK 0
#define ENGRAM_FAISS_EINVAL 1
#define ENGRAM_FAISS_EFAISS 2
#define ENGRAM_FAISS_ENOMEM 3

typedef struct engram_faiss_index engram_faiss_index;

/* New empty index of dimension dim (>= 1). Returns NULL on error. */
engram_faiss_index *engram_faiss_new(int32_t dim, char *err, size_t errlen);
void engram_faiss_free(engram_faiss_index *index);

int64_t engram_faiss_count(const engram_faiss_index *index);
int32_t engram_faiss_dimension(const engram_faiss_index *index);

/* Adds n vectors (n*dim floats, row-major) with ids (>= 0). All-or-nothing:
 * fails without changing anything on an id already present or repeated in
 * the call, a non-finite component or a zero vector. */
int engram_faiss_add(engram_faiss_index *index, int64_t n, const float *vectors,
                     const int64_t *ids, char *err, size_t errlen);

/* Makes room for n more vectors, so that adding them in several calls allocates the
 * arrays once. Changes no vector. */
int engram_faiss_reserve(engram_faiss_index *index, int64_t n, char *err, size_t errlen);

/* Stock FAISS removal (one O(ntotal) pass; preserves insertion order).
 * Ids not present are ignored; *removed (may be NULL) = number removed. */
int engram_faiss_remove_ids(engram_faiss_index *index, int64_t n,
                            const int64_t *ids, int64_t *removed, char *err,
                            size_t errlen);

/* O(dim) per id: the last vector is moved into the freed slot. Ids not
 * present are ignored; *removed (may be NULL) = number removed. */
int engram_faiss_remove_swap(engram_faiss_index *index, int64_t n,
                             const int64_t *ids, int64_t *removed, char *err,
                             size_t errlen);

/* 1 if id is present, else 0. */
int engram_faiss_contains(const engram_faiss_index *index, int64_t id);

/* Copies the stored (normalised) vector of id into out[dim]; 1 if missing. */
int engram_faiss_reconstruct(const engram_faiss_index *index, int64_t id,
                             float *out, char *err, size_t errlen);

/* Which kernel ranks the vectors in engram_faiss_search. */
#define ENGRAM_FAISS_SCAN_ENGRAM 0 /* the shim's AVX2/FMA (or scalar) kernel + top-k heap */
#define ENGRAM_FAISS_SCAN_FAISS 1  /* FAISS's IndexFlat search (kept for comparison) */

/* Top-k (k >= 1) by cosine similarity, best first. allowed == NULL searches
 * everything; otherwise only ids in allowed[0..n_allowed) (unknown ids are
 * ignored, n_allowed == 0 gives no results). scan picks the kernel.
 * out_ids/out_scores need room for k entries; *out_count (<= k) entries are
 * written, never padding. */
int engram_faiss_search(const engram_faiss_index *index, const float *query,
                        int64_t k, const int64_t *allowed, int64_t n_allowed,
                        int scan, int64_t *out_ids, float *out_scores,
                        int64_t *out_count, char *err, size_t errlen);

/* Removes every vector. 0 on success. */
int engram_faiss_reset(engram_faiss_index *index);

/* Approximate heap bytes held (codes + id_map + rev_map estimate). */
int64_t engram_faiss_memory_bytes(const engram_faiss_index *index);

/* Bytes of the code and id arrays allocated but not in use: the room their geometric growth
 * leaves (part of engram_faiss_memory_bytes). */
int64_t engram_faiss_slack_bytes(const engram_faiss_index *index);

/* The FAISS version compiled in, e.g. "1.7.3". */
const char *engram_faiss_version(void);

#ifdef __cplusplus
}
#endif

#endif /* ENGRAM_FAISS_H */
