/// What a backend author checks first when a scenario fails, as LangChain's standard tests
/// say it: shown under the failure in `engram conform`'s table, the JUnit XML and the CSV.
/// Keyed by scenario id or by a prefix of ids (a group); the longest key that matches wins.
enum Troubleshooting {
    static let notes: [String: String] = [
        "roundtrip": "Store every field in a lossless type: text as UTF-8 bytes, timestamps as integer microseconds, confidences as 64-bit floats, embeddings as Float32; read back the same types, and never default a missing optional to a value.",
        "roundtrip.zero-values": "0, 0.0 and \"\" are values: a falsy-check (`x or default`, `if x:`) on read or write turns them into nulls or defaults.",
        "roundtrip.unicode": "Bind text as parameters, never build SQL or file names from it; do not normalise (NFC/NFD) or trim it; check the column's collation and the driver's encoding.",
        "roundtrip.microsecond-timestamps": "Keep timestamps as integer microseconds since 1970 (negative before it); floating-point seconds or a datetime type with millisecond precision lose digits.",
        "roundtrip.float32-embedding": "Store the Float32 bytes as they are (a blob, or float4); a float64 round trip, JSON text with rounding, or normalising on write changes them.",
        "roundtrip.nested-metadata": "Write metadata as the JSON it came as; a driver that turns 64-bit integers into doubles or adds keys (timestamps, ids) fails here.",
        "roundtrip.sql-looking-strings": "Every value goes to the store as a bound parameter; LIKE patterns need % and _ escaped.",
        "upsert": "A save is a full replace by key (scope, kind, id): update every column, the embedding included, and drop the old vector from any index before adding the new one.",
        "batch": "A batch is all or nothing: validate all of it first, write it in one transaction where the store has them (docs/contract.md says what Cosmos DB does), and on any error leave the store as it was. Return ids in input order; a later duplicate key wins (MemoryStore.save).",
        "query.order": "Order by the kind's field descending, ties by id ascending (bytewise), inside the store's query, after filtering and before the limit.",
        "query.filter": "Apply each filter inside the query as an exact match on the stored field; a nil filter means all, an empty agent set means none.",
        "query.preferences": "Preferences belong to users: filter by user id (and category), newest first, ties by id.",
        "query.top-k": "Return min(topK, matching) results: no padding, no fewer than match.",
        "query.vector": "Rank by cosine similarity (normalise the stored vectors or the scores), best first, ties by id ascending at the top-k boundary too; leave records without an embedding out.",
        "query.filter-then-rank": "Filter first, then rank: an index that takes the nearest k and filters them afterwards returns fewer than k. Restrict the candidates (an allow-list, a WHERE clause) or widen the search until k match.",
        "delete": "A delete removes the row and its vector from every index, at once: a search after it must neither return the record nor lose a top-k slot to it.",
        "delete.missing": "Return whether a record was deleted (false when there was none), not whether the call succeeded.",
        "prune": "Delete strictly before the cut-off (or strictly below the confidence), in the project (and agent) only, and take the vectors out of the index in the same step.",
        "update": "An update touches only the fields it names, in the record's own project; it returns false and creates nothing when the record is missing.",
        "update.increment-concurrent": "Increment in the store (UPDATE … SET n = n + 1, or a compare-and-swap loop), never read-modify-write in the adapter.",
        "update.heuristic-patch-invalid": "Validate the patched record as a whole before writing it, and name the field in the error.",
        "stats": "Count live records and those with a vector per project-scoped kind, in the project (and agent); preferences belong to users and are not counted; after deletes and prunes the counts fall with them.",
        "isolation": "Every query and change carries its scope (project or user) as a condition; an index or cache shared across scopes must filter by it too.",
        "isolation.exact-strings": "Compare keys by their bytes: a language's string equality (Swift, some collations) or Unicode normalisation merges é (U+00E9) with e + U+0301.",
        "validation": "Reject bad input before writing anything, with error code invalid_input and the field's name; the contract's limits are in docs/contract.md.",
        "lifecycle.closed": "After close, every call fails with `unavailable`; a second close is a no-op.",
        "concurrency": "Serialise writes (a lock or the database's transactions) and make a delete and its index change one step that searches cannot see half of.",
        "multiprocess": "Each store must see another store's committed writes in its next call: read through to the shared data, or catch up from a change log, before answering.",
        "durability": "Commit before returning, and read everything back at open: rows, vectors and the index built from them.",
        "introspection": "Count vectors in the index itself: after deletes, re-saves and prunes it must hold exactly the live records with an embedding.",
        "query-plan": "Create the (project_id, timestamp) index on outcomes and write the prune so the planner can use it (no function around the column).",
    ]

    /// The note for scenario `id`: the longest key equal to it or a dot-prefix of it.
    static func note(for id: String) -> String {
        notes.filter { key, _ in id == key || id.hasPrefix(key + ".") }.max { $0.key.count < $1.key.count }?.value ?? ""
    }
}
