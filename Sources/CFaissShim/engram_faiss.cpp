// C shim over FAISS 1.7.3: IndexIDMap2 wrapping an owned IndexFlatIP.
// See include/engram_faiss.h for the contract. Every entry point that can
// throw runs inside guarded(), so no C++ exception reaches the caller.
//
// FAISS 1.7.3 notes relied on here:
//  * IndexIDMap2::search rejects any SearchParameters ("search params not
//    supported"), so filtered searches go to the inner IndexFlat, whose
//    search honours params->sel over *positions*, and labels are mapped back
//    through id_map.
//  * IndexIDMap2 does not override reset(), so rev_map must be cleared here.
//  * add_with_ids accepts duplicate ids; the shim checks them itself.
//  * None of the headers below include <omp.h>.

#include "engram_faiss.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexIDMap.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/utils/distances.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <unordered_set>
#include <utility>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

using idx_t = faiss::Index::idx_t;

struct engram_faiss_index {
    std::unique_ptr<faiss::IndexIDMap2> map; // owns flat (own_fields = true)
    faiss::IndexFlatIP *flat = nullptr;
};

namespace {

__attribute__((format(printf, 4, 5))) int fail(char *err, size_t errlen,
                                               int code, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

// Runs body (returning an error code) and converts any exception to a code.
template <class F>
int guarded(char *err, size_t errlen, F &&body) {
    try {
        return body();
    } catch (const std::bad_alloc &) {
        return fail(err, errlen, ENGRAM_FAISS_ENOMEM, "out of memory");
    } catch (const std::length_error &) {
        return fail(err, errlen, ENGRAM_FAISS_ENOMEM, "allocation too large");
    } catch (const std::exception &e) { // includes faiss::FaissException
        return fail(err, errlen, ENGRAM_FAISS_EFAISS, "%s", e.what());
    } catch (...) {
        return fail(err, errlen, ENGRAM_FAISS_EFAISS, "unknown C++ exception");
    }
}

// Writes x / |x| to out. Returns NULL on success, else why x is rejected.
const char *normalise(const float *x, size_t d, float *out) {
    double s = 0; // double: no overflow/underflow for any finite float input
    for (size_t i = 0; i < d; i++) {
        if (!std::isfinite(x[i])) return "non-finite component";
        s += double(x[i]) * double(x[i]);
    }
    if (!(s > 0)) return "zero vector";
    const double inv = 1.0 / std::sqrt(s);
    for (size_t i = 0; i < d; i++) out[i] = float(x[i] * inv);
    return nullptr;
}

const float *code_at(const faiss::IndexFlat &f, idx_t pos) {
    return reinterpret_cast<const float *>(f.codes.data() + pos * f.code_size);
}

// A removal of n ids: checks the arguments, runs body (returning how many it removed) and
// reports the count, 0 on any failure.
template <class F>
int removal(engram_faiss_index *index, int64_t n, const int64_t *ids, int64_t *removed,
            char *err, size_t errlen, F &&body) {
    if (removed) *removed = 0;
    return guarded(err, errlen, [&] {
        if (!index) return fail(err, errlen, 1, "index is NULL");
        if (n < 0 || (n > 0 && !ids)) return fail(err, errlen, 1, "invalid ids");
        if (n == 0) return 0;
        const int64_t count = body(*index->map, *index->flat);
        if (removed) *removed = count;
        return 0;
    });
}

} // namespace

extern "C" {

engram_faiss_index *engram_faiss_new(int32_t dim, char *err, size_t errlen) {
    engram_faiss_index *out = nullptr;
    guarded(err, errlen, [&] {
        if (dim < 1)
            return fail(err, errlen, ENGRAM_FAISS_EINVAL, "invalid dimension %d",
                        int(dim));
        auto ix = std::make_unique<engram_faiss_index>();
        auto flat = std::make_unique<faiss::IndexFlatIP>(dim);
        ix->map = std::make_unique<faiss::IndexIDMap2>(flat.get());
        ix->map->own_fields = true;
        ix->flat = flat.release();
        out = ix.release();
        return 0;
    });
    return out;
}

void engram_faiss_free(engram_faiss_index *index) {
    delete index;
}

int64_t engram_faiss_count(const engram_faiss_index *index) {
    return index ? index->map->ntotal : 0;
}

int32_t engram_faiss_dimension(const engram_faiss_index *index) {
    return index ? int32_t(index->map->d) : 0;
}

int engram_faiss_add(engram_faiss_index *index, int64_t n, const float *vectors,
                     const int64_t *ids, char *err, size_t errlen) {
    return guarded(err, errlen, [&] {
        if (!index) return fail(err, errlen, 1, "index is NULL");
        if (n < 0) return fail(err, errlen, 1, "negative count");
        if (n == 0) return 0;
        if (!vectors || !ids) return fail(err, errlen, 1, "NULL vectors or ids");
        faiss::IndexIDMap2 &m = *index->map;
        const size_t d = size_t(m.d);
        if (uint64_t(n) > uint64_t(PTRDIFF_MAX) / sizeof(float) / d)
            return fail(err, errlen, 1, "count too large");

        // Validate everything before touching the index.
        std::unordered_set<idx_t> seen;
        seen.reserve(size_t(n));
        for (int64_t i = 0; i < n; i++) {
            if (ids[i] < 0)
                return fail(err, errlen, 1, "negative id %lld", (long long)ids[i]);
            if (m.rev_map.count(ids[i]) || !seen.insert(ids[i]).second)
                return fail(err, errlen, 1, "duplicate id %lld", (long long)ids[i]);
        }
        // Normalised straight into the flat index's codes (no staging copy: at 100,000 × 384
        // each copy of the batch is 150 MB of fresh pages), then the id maps; the counts move
        // last, so any failure undoes to exactly the index before.
        faiss::IndexFlat &f = *index->flat;
        const size_t old = size_t(m.ntotal);
        const auto undo = [&] {
            f.codes.resize(old * f.code_size); // shrinking: no allocation
            m.id_map.resize(old);
            for (int64_t i = 0; i < n; i++) m.rev_map.erase(ids[i]);
        };
        try {
            f.codes.resize((old + size_t(n)) * f.code_size);
            float *out = reinterpret_cast<float *>(f.codes.data() + old * f.code_size);
            for (int64_t i = 0; i < n; i++)
                if (const char *why = normalise(vectors + i * d, d, out + i * d)) {
                    undo();
                    return fail(err, errlen, 1, "vector %lld (id %lld): %s",
                                (long long)i, (long long)ids[i], why);
                }
            // No reserve here: an exact one on every small add would copy the whole id map
            // each time (push_back and the map grow geometrically; engram_faiss_reserve
            // makes room for a large add ahead).
            for (int64_t i = 0; i < n; i++) {
                m.id_map.push_back(ids[i]);
                m.rev_map[ids[i]] = idx_t(old) + i;
            }
        } catch (...) {
            undo();
            throw;
        }
        f.ntotal = idx_t(old) + n;
        m.ntotal = idx_t(old) + n;
        return 0;
    });
}

int engram_faiss_reserve(engram_faiss_index *index, int64_t n, char *err, size_t errlen) {
    return guarded(err, errlen, [&] {
        if (!index) return fail(err, errlen, 1, "index is NULL");
        if (n < 0) return fail(err, errlen, 1, "negative count");
        faiss::IndexIDMap2 &m = *index->map;
        faiss::IndexFlat &f = *index->flat;
        const size_t total = size_t(m.ntotal) + size_t(n);
        if (total > size_t(PTRDIFF_MAX) / f.code_size) return fail(err, errlen, 1, "count too large");
        // Geometric growth, as the arrays' own: reserving exactly on each small add would
        // copy the whole index every time.
        if (total * f.code_size > f.codes.capacity())
            f.codes.reserve(std::max(total * f.code_size, 2 * f.codes.capacity()));
        if (total > m.id_map.capacity()) m.id_map.reserve(std::max(total, 2 * m.id_map.capacity()));
        // Only upwards: the map's rehash may also shrink its buckets.
        if (double(total) > double(m.rev_map.bucket_count()) * m.rev_map.max_load_factor())
            m.rev_map.reserve(std::max(total, 2 * m.rev_map.size()));
        return 0;
    });
}

int engram_faiss_remove_ids(engram_faiss_index *index, int64_t n,
                            const int64_t *ids, int64_t *removed, char *err,
                            size_t errlen) {
    return removal(index, n, ids, removed, err, errlen, [&](faiss::IndexIDMap2 &m, faiss::IndexFlat &) {
        faiss::IDSelectorBatch sel(size_t(n), ids);
        try {
            return int64_t(m.remove_ids(sel)); // compacts codes + id_map, rebuilds rev_map
        } catch (...) {
            // Only the rev_map rebuild allocates; retry it once to stay consistent.
            try { m.construct_rev_map(); } catch (...) {}
            throw;
        }
    });
}

int engram_faiss_remove_swap(engram_faiss_index *index, int64_t n,
                             const int64_t *ids, int64_t *removed, char *err,
                             size_t errlen) {
    return removal(index, n, ids, removed, err, errlen, [&](faiss::IndexIDMap2 &m, faiss::IndexFlat &f) {
        const size_t cs = f.code_size;
        int64_t count = 0;
        // Nothing below allocates, so the loop cannot fail half-way.
        for (int64_t i = 0; i < n; i++) {
            auto it = m.rev_map.find(ids[i]);
            if (it == m.rev_map.end()) continue;
            const idx_t pos = it->second, last = m.ntotal - 1;
            m.rev_map.erase(it);
            if (pos != last) { // move the last vector into the hole
                std::memcpy(f.codes.data() + pos * cs, f.codes.data() + last * cs, cs);
                const idx_t moved = m.id_map[last];
                m.id_map[pos] = moved;
                m.rev_map.find(moved)->second = pos;
            }
            m.id_map.pop_back();
            f.codes.resize(size_t(last) * cs);
            f.ntotal = m.ntotal = last;
            count++;
        }
        return count;
    });
}

int engram_faiss_contains(const engram_faiss_index *index, int64_t id) {
    return index && index->map->rev_map.count(id) ? 1 : 0;
}

int engram_faiss_reconstruct(const engram_faiss_index *index, int64_t id,
                             float *out, char *err, size_t errlen) {
    if (!index || !out) return fail(err, errlen, 1, "NULL argument");
    auto it = index->map->rev_map.find(id);
    if (it == index->map->rev_map.end())
        return fail(err, errlen, 1, "id %lld not found", (long long)id);
    std::memcpy(out, code_at(*index->flat, it->second), index->flat->code_size);
    return 0;
}

namespace {

// Debian's libfaiss.a is built without SIMD dispatch: its inner product is the scalar
// reference loop (fvec_inner_product_ref), about 2.6 GB/s here. The shim ranks with its
// own kernel instead: AVX2+FMA when the CPU has it (chosen at run time, so no compiler
// flags are needed), otherwise a scalar loop with independent accumulators.
float dot_scalar(const float *a, const float *b, size_t d) {
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= d; i += 8)
        for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
    float t = (s[0] + s[1]) + (s[2] + s[3]) + (s[4] + s[5]) + (s[6] + s[7]);
    for (; i < d; i++) t += a[i] * b[i];
    return t;
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) float dot_avx2(const float *a, const float *b, size_t d) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= d; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float t = _mm_cvtss_f32(h);
    for (; i < d; i++) t += a[i] * b[i];
    return t;
}
#endif

using dot_fn = float (*)(const float *, const float *, size_t);

dot_fn pick_dot() {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return dot_avx2;
#endif
    return dot_scalar;
}

const dot_fn engram_dot = pick_dot();

// Keeps the k best (score, position) pairs in a min-heap; ties go to the lower position.
struct TopK {
    size_t k;
    std::vector<std::pair<float, idx_t>> heap;
    static bool worse(const std::pair<float, idx_t> &a, const std::pair<float, idx_t> &b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    }
    explicit TopK(size_t k) : k(k) { heap.reserve(k); }
    void offer(float score, idx_t pos) {
        if (heap.size() < k) {
            heap.emplace_back(score, pos);
            std::push_heap(heap.begin(), heap.end(), worse);
        } else if (score > heap.front().first) {
            std::pop_heap(heap.begin(), heap.end(), worse);
            heap.back() = {score, pos};
            std::push_heap(heap.begin(), heap.end(), worse);
        }
    }
    // Best first.
    std::vector<std::pair<float, idx_t>> sorted() {
        std::sort(heap.begin(), heap.end(), worse);
        return std::move(heap);
    }
};

} // namespace

} // extern "C"

namespace {

/// Hits as (score, position), best first; the search turns positions into ids.
using Hits = std::vector<std::pair<float, idx_t>>;

/// The positions of the allowed ids, sorted (memory order) and without repeats, looked up one
/// by one in rev_map: for a small allow-list.
std::vector<idx_t> positions_by_lookup(const faiss::IndexIDMap2 &m, const int64_t *allowed, int64_t n_allowed) {
    std::vector<idx_t> pos;
    pos.reserve(size_t(n_allowed));
    for (int64_t i = 0; i < n_allowed; i++) {
        auto it = m.rev_map.find(allowed[i]);
        if (it != m.rev_map.end()) pos.push_back(it->second);
    }
    std::sort(pos.begin(), pos.end());
    pos.erase(std::unique(pos.begin(), pos.end()), pos.end());
    return pos;
}

/// The eligible positions, sorted and without repeats. A large allow-list of ids in a compact
/// range (SQLite rowids are) becomes a bitmap over ids, tested while walking id_map in memory
/// order; a small one is looked up in rev_map. Both avoid a hash lookup per stored vector.
std::vector<idx_t> eligible_positions(const faiss::IndexIDMap2 &m, const int64_t *allowed, int64_t n_allowed) {
    const idx_t nt = m.ntotal;
    idx_t lo = allowed[0], hi = allowed[0];
    for (int64_t i = 1; i < n_allowed; i++) { lo = std::min(lo, allowed[i]); hi = std::max(hi, allowed[i]); }
    if (!(n_allowed * 16 >= nt && (hi - lo) / 64 <= n_allowed)) return positions_by_lookup(m, allowed, n_allowed);
    std::vector<idx_t> pos;
    pos.reserve(size_t(std::min<idx_t>(n_allowed, nt)));
    std::vector<uint64_t> bits(size_t((hi - lo) / 64 + 1), 0);
    for (int64_t i = 0; i < n_allowed; i++) bits[size_t((allowed[i] - lo) >> 6)] |= uint64_t(1) << ((allowed[i] - lo) & 63);
    const idx_t *ids = m.id_map.data();
    for (idx_t p = 0; p < nt; p++) {
        const idx_t id = ids[p];
        if (id >= lo && id <= hi && (bits[size_t((id - lo) >> 6)] >> ((id - lo) & 63) & 1)) pos.push_back(p);
    }
    return pos;
}

/// Engram's kernel: one pass over the eligible vectors (`pos`, or all when null) with the SIMD
/// dot product and a top-k heap.
Hits engram_scan(const faiss::IndexFlat &f, const float *q, size_t d, idx_t nt, const std::vector<idx_t> *pos, int64_t k) {
    const uint8_t *codes = f.codes.data();
    const size_t stride = d * sizeof(float);
    auto vec = [&](idx_t p) { return reinterpret_cast<const float *>(codes + size_t(p) * stride); };
    const idx_t eligible = pos ? idx_t(pos->size()) : nt;
    TopK top(size_t(std::min<idx_t>(k, eligible)));
    if (pos && eligible * 4 < nt * 3) {
        // Gather: only the eligible vectors, with the lines of the one kAhead places on
        // requested (into L2) while this one is scored: the jumps defeat the hardware
        // prefetcher, which only follows each vector's own lines. Measured at 100k x 384:
        // 10% matching went from 3.3x to 4.8x the unfiltered QPS, 50% from 0.56x to 0.93x.
        constexpr size_t kAhead = 16;
        const size_t lines = (stride + 63) / 64;
        const size_t count = pos->size();
        for (size_t i = 0; i < count; i++) {
            if (i + kAhead < count) {
                const char *next = reinterpret_cast<const char *>(vec((*pos)[i + kAhead]));
                for (size_t l = 0; l < lines; l++) __builtin_prefetch(next + l * 64, 0, 1);
            }
            top.offer(engram_dot(q, vec((*pos)[i]), d), (*pos)[i]);
        }
    } else if (pos) {
        // Most vectors match: a sequential scan of every vector, scoring the eligible ones,
        // streams memory at full speed where a gather would not.
        std::vector<uint8_t> keep(size_t(nt), 0);
        for (idx_t p : *pos) keep[size_t(p)] = 1;
        for (idx_t p = 0; p < nt; p++)
            if (keep[size_t(p)]) top.offer(engram_dot(q, vec(p), d), p);
    } else {
        for (idx_t p = 0; p < nt; p++) top.offer(engram_dot(q, vec(p), d), p);
    }
    return top.sorted();
}

/// FAISS's kernel on a small allow-list: score just those vectors, then a partial sort.
Hits faiss_scored(const faiss::IndexFlat &f, const float *q, size_t d, const std::vector<idx_t> &pos, int64_t k) {
    Hits hits(pos.size());
    for (size_t i = 0; i < pos.size(); i++) hits[i] = {faiss::fvec_inner_product(q, code_at(f, pos[i]), d), pos[i]};
    const size_t keff = std::min(size_t(k), hits.size());
    std::partial_sort(hits.begin(), hits.begin() + keff, hits.end(), TopK::worse);
    hits.resize(keff);
    return hits;
}

/// FAISS's flat search, restricted by a bitmap over positions when there is an allow-list.
Hits faiss_flat(const faiss::IndexIDMap2 &m, const faiss::IndexFlat &f, const float *q, const int64_t *allowed, int64_t n_allowed, int64_t k) {
    const idx_t nt = m.ntotal;
    std::vector<uint8_t> bits;
    idx_t nsel = nt;
    if (allowed) {
        bits.assign(size_t(nt + 7) / 8, 0);
        nsel = 0;
        for (int64_t i = 0; i < n_allowed; i++) {
            auto it = m.rev_map.find(allowed[i]);
            if (it == m.rev_map.end()) continue;
            uint8_t &byte = bits[it->second >> 3];
            const uint8_t bit = uint8_t(1u << (it->second & 7));
            if (!(byte & bit)) { byte |= bit; nsel++; }
        }
        if (nsel == 0) return {};
    }
    faiss::IDSelectorBitmap sel(bits.size(), bits.data());
    faiss::SearchParameters params;
    params.sel = &sel;
    const idx_t keff = std::min<idx_t>(k, nsel); // avoid huge buffers
    std::vector<float> dist(static_cast<size_t>(keff));
    std::vector<idx_t> lab(static_cast<size_t>(keff));
    f.search(1, q, keff, dist.data(), lab.data(), allowed ? &params : nullptr);
    Hits hits;
    for (idx_t i = 0; i < keff; i++)
        if (lab[i] >= 0) hits.push_back({dist[i], lab[i]}); // skip padding
    return hits;
}

} // namespace

extern "C" {

int engram_faiss_search(const engram_faiss_index *index, const float *query,
                        int64_t k, const int64_t *allowed, int64_t n_allowed,
                        int scan, int64_t *out_ids, float *out_scores, int64_t *out_count,
                        char *err, size_t errlen) {
    if (out_count) *out_count = 0;
    return guarded(err, errlen, [&] {
        if (!index || !query || !out_ids || !out_scores || !out_count)
            return fail(err, errlen, 1, "NULL argument");
        if (k < 1) return fail(err, errlen, 1, "k must be >= 1 (got %lld)", (long long)k);
        if (allowed && n_allowed < 0) return fail(err, errlen, 1, "negative n_allowed");
        const faiss::IndexIDMap2 &m = *index->map;
        const faiss::IndexFlat &f = *index->flat;
        const size_t d = size_t(m.d);
        std::vector<float> q(d);
        if (const char *why = normalise(query, d, q.data()))
            return fail(err, errlen, 1, "query: %s", why);
        const idx_t nt = m.ntotal;
        if (nt == 0 || (allowed && n_allowed == 0)) return 0;

        Hits hits;
        if (scan == ENGRAM_FAISS_SCAN_ENGRAM) {
            if (allowed) {
                const std::vector<idx_t> pos = eligible_positions(m, allowed, n_allowed);
                if (!pos.empty()) hits = engram_scan(f, q.data(), d, nt, &pos, k);
            } else {
                hits = engram_scan(f, q.data(), d, nt, nullptr, k);
            }
        } else if (allowed && n_allowed <= nt / 8) {
            hits = faiss_scored(f, q.data(), d, positions_by_lookup(m, allowed, n_allowed), k);
        } else {
            hits = faiss_flat(m, f, q.data(), allowed, n_allowed, k);
        }
        for (const auto &h : hits) {
            out_ids[*out_count] = m.id_map[h.second];
            out_scores[(*out_count)++] = h.first;
        }
        return 0;
    });
}

int engram_faiss_reset(engram_faiss_index *index) {
    return guarded(nullptr, 0, [&] {
        if (!index) return 1;
        faiss::IndexIDMap2 &m = *index->map;
        m.reset(); // clears flat + id_map, but NOT rev_map in 1.7.3
        std::unordered_map<idx_t, idx_t>().swap(m.rev_map);
        index->flat->codes.shrink_to_fit();
        m.id_map.shrink_to_fit();
        return 0;
    });
}

int64_t engram_faiss_memory_bytes(const engram_faiss_index *index) {
    if (!index) return 0;
    const faiss::IndexIDMap2 &m = *index->map;
    // libstdc++ unordered_map node for <int64,int64>: next pointer + pair
    // (hash not cached for integer keys) = 24 bytes, 32 after malloc rounding;
    // plus one pointer per bucket.
    const size_t rev = m.rev_map.size() * 32 + m.rev_map.bucket_count() * sizeof(void *);
    return int64_t(index->flat->codes.capacity() +
                   m.id_map.capacity() * sizeof(idx_t) + rev);
}

int64_t engram_faiss_slack_bytes(const engram_faiss_index *index) {
    if (!index) return 0;
    const faiss::IndexIDMap2 &m = *index->map;
    return int64_t(index->flat->codes.capacity() - index->flat->codes.size() +
                   (m.id_map.capacity() - m.id_map.size()) * sizeof(idx_t));
}

} // extern "C"

const char *engram_faiss_version(void) {
#define ENGRAM_STR2(x) #x
#define ENGRAM_STR(x) ENGRAM_STR2(x)
    return ENGRAM_STR(FAISS_VERSION_MAJOR) "." ENGRAM_STR(FAISS_VERSION_MINOR) "." ENGRAM_STR(FAISS_VERSION_PATCH);
}
