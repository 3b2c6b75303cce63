import EngramCore

// Round-trip, upsert and batch scenarios.

let roundTripScenarios: [Scenario] = [
    Scenario("roundtrip.heuristic", "a heuristic with every field set reads back exactly") { c in
        var h = c.make.heuristic("h1", confidence: 0.731, occurrences: 9, successes: 7)
        h.metadata = .object(["k": .string("v"), "n": .int(3)])
        try c.store.save(h)
        try checkSameRecord(try c.store.get(RecordKey(.heuristic, scope: "p1", id: "h1")), .heuristic(h), "get")
    },
    Scenario("roundtrip.outcome", "an outcome with every optional field set, and one with none, read back exactly") { c in
        var full = c.make.outcome("o1", success: false)
        full.durationMs = 1234
        full.errorMessage = "timeout after 30s"
        full.userFeedback = "try the cache"
        var bare = c.make.outcome("o2", embedding: nil)
        bare.durationMs = nil
        _ = try c.store.save([.outcome(full), .outcome(bare)])
        try checkSameRecord(try c.store.get(RecordKey(.outcome, scope: "p1", id: "o1")), .outcome(full), "full outcome")
        try checkSameRecord(try c.store.get(RecordKey(.outcome, scope: "p1", id: "o2")), .outcome(bare), "bare outcome")
    },
    Scenario("roundtrip.domain-knowledge", "domain knowledge reads back exactly") { c in
        let d = c.make.knowledge("d1", domain: "authentication", confidence: 0.25)
        try c.store.save(d)
        try checkSameRecord(try c.store.get(RecordKey(.domainKnowledge, scope: "p1", id: "d1")), .domainKnowledge(d), "get")
    },
    Scenario("roundtrip.anti-pattern", "an anti-pattern reads back exactly") { c in
        let a = c.make.antiPattern("x1", occurrences: 17)
        try c.store.save(a)
        try checkSameRecord(try c.store.get(RecordKey(.antiPattern, scope: "p1", id: "x1")), .antiPattern(a), "get")
    },
    Scenario("roundtrip.user-preference", "a user preference reads back exactly") { c in
        var p = c.make.preference("pref1", category: "code_style")
        p.confidence = 0.35
        p.metadata = .object(["inferred": .bool(true)])
        try c.store.save(p)
        try checkSameRecord(try c.store.get(RecordKey(.userPreference, scope: "u1", id: "pref1")), .userPreference(p), "get")
    },
    Scenario("roundtrip.zero-values", "0.0 confidence, 0 counts, empty strings and 0 ms read back as such, never coerced") { c in
        var h = c.make.heuristic("z", confidence: 0.0, occurrences: 0, successes: 0)
        h.condition = ""
        h.strategy = ""
        var o = c.make.outcome("z")
        o.durationMs = 0
        o.errorMessage = ""
        o.userFeedback = ""
        o.taskDescription = ""
        var d = c.make.knowledge("z", confidence: 0.0)
        d.fact = ""
        let a = c.make.antiPattern("z", occurrences: 0)
        var p = c.make.preference("z")
        p.confidence = 0.0
        p.preference = ""
        let all: [MemoryRecord] = [.heuristic(h), .outcome(o), .domainKnowledge(d), .antiPattern(a), .userPreference(p)]
        _ = try c.store.save(all)
        for r in all { try checkSameRecord(try c.store.get(r.key), r, "zero values") }
    },
    Scenario("roundtrip.unicode", "text in any script, emoji, combining marks and control characters reads back unchanged") { c in
        let texts = [
            "Grüße, 你好, こんにちは, 안녕하세요, مرحبا, שלום, Здравствуйте, नमस्ते",
            "👩‍👩‍👧‍👦 🏳️‍🌈 🇯🇵 e\u{301} Å \u{200B}zero-width",
            "tab\tnewline\nreturn\r bell\u{07} escape\u{1B} \\backslash \"quotes\" 'single'",
        ]
        var records: [MemoryRecord] = []
        for (i, t) in texts.enumerated() {
            var h = c.make.heuristic("🔑-\(i)-ключ", agent: "агент-\(i)")
            h.condition = t
            h.strategy = String(t.reversed())
            h.metadata = .object([t: .string(t)])
            records.append(.heuristic(h))
        }
        var p = c.make.preference("préférence-✓", user: "ユーザー", category: "语言")
        p.preference = texts[0]
        records.append(.userPreference(p))
        _ = try c.store.save(records)
        for r in records { try checkSameRecord(try c.store.get(r.key), r, "unicode") }
    },
    Scenario("roundtrip.large-text", "a 1 MB text field reads back unchanged") { c in
        var o = c.make.outcome("big")
        let chunk = "0123456789abcdef—ü🙂"
        o.taskDescription = String(repeating: chunk, count: 1_048_576 / chunk.utf8.count + 1)
        try check(o.taskDescription.utf8.count >= 1_048_576, "fixture too small")
        try c.store.save(o)
        try checkSameRecord(try c.store.get(RecordKey(.outcome, scope: "p1", id: "big")), .outcome(o), "1 MB text")
    },
    Scenario("roundtrip.nested-metadata", "nested metadata (arrays, objects, 64-bit ints, doubles, null) round-trips; the store adds no keys") { c in
        var h = c.make.heuristic("m")
        h.metadata = .object([
            "int": .int(Int64.max), "neg": .int(-7), "double": .double(0.1), "tiny": .double(-1.5e-300),
            "null": .null, "t": .bool(true), "f": .bool(false), "empty_obj": .object([:]), "empty_arr": .array([]),
            "nested": .object(["a": .array([.int(1), .string("two"), .object(["deep": .array([.null, .double(2.5)])])])]),
            "weird key \"'%_": .string("'; DROP TABLE heuristics; --"),
        ])
        try c.store.save(h)
        try checkSameRecord(try c.store.get(RecordKey(.heuristic, scope: "p1", id: "m")), .heuristic(h), "metadata")
        let hits = try c.store.query(vectorQuery(.heuristic, "p1", h.embedding!, topK: 1))
        try checkEqual(hits.first?.record.metadata, h.metadata, "metadata of a vector search hit (score must be beside it, not inside)")
    },
    Scenario("roundtrip.microsecond-timestamps", "timestamps round-trip to the microsecond (before 1970, year 1 and 9999, .000001)") { c in
        let instants: [Int64] = [0, 1, -1, -86_400_000_001, 1_769_567_190_000_001, 253_402_300_799_999_999, 946_684_799_999_999,
                                 -62_135_596_799_999_999]  // up to the contract's bounds, 9999-12-31T23:59:59.999999Z and 0001-01-01 (+1 µs: created_at is 1 µs earlier)
        var records: [MemoryRecord] = []
        for (i, us) in instants.enumerated() {
            var o = c.make.outcome("t\(i)")
            o.timestamp = Timestamp(microsecondsSinceEpoch: us)
            var h = c.make.heuristic("t\(i)")
            h.lastValidated = Timestamp(microsecondsSinceEpoch: us)
            h.createdAt = Timestamp(microsecondsSinceEpoch: us &- 1)
            records += [.outcome(o), .heuristic(h)]
        }
        _ = try c.store.save(records)
        for r in records { try checkSameRecord(try c.store.get(r.key), r, "timestamp") }
    },
    Scenario("roundtrip.float32-embedding", "embeddings round-trip bit-exactly as Float32 (tiny, negative zero, extremes)") { c in
        var v = c.make.vector(99)
        v[0] = -0.0
        v[1] = 1e-38
        v[2] = Float.leastNonzeroMagnitude
        v[3] = 0.1
        v[4] = -3.4e30
        v[5] = Float(bitPattern: 0x3F80_0001)
        let h = c.make.heuristic("f", embedding: v)
        try c.store.save(h)
        let back = try c.store.get(RecordKey(.heuristic, scope: "p1", id: "f"))?.embedding
        try check(bitsEqual(back, v), "embedding not bit-exact: first components \(back.map { Array($0.prefix(6)) } ?? [])")
    },
    Scenario("roundtrip.sql-looking-strings", "quotes, '; DROP TABLE, % and _ are stored verbatim in ids, scopes and text") { c in
        let nasty = ["'; DROP TABLE heuristics; --", "%", "_", "a%b_c", "\"quoted\"", "back\\slash", "O'Brien", "$1", "?", "--", "/*x*/"]
        var records: [MemoryRecord] = []
        for (i, s) in nasty.enumerated() {
            var h = c.make.heuristic(s, project: "p1", agent: s)
            h.condition = s
            records.append(.heuristic(h))
            var o = c.make.outcome("o\(i)", project: s, taskType: s)
            o.taskDescription = s
            records.append(.outcome(o))
        }
        _ = try c.store.save(records)
        for r in records { try checkSameRecord(try c.store.get(r.key), r, "verbatim") }
        // `%` and `_` must not act as wildcards in any lookup.
        try checkEqual(try c.store.query(MemoryQuery(kind: .heuristic, projectId: "p1", agents: ["%"], topK: 100)).map(\.record.id), ["%"], "agent '%' filter")
        try checkEqual(try c.store.query(MemoryQuery(kind: .outcome, projectId: "_", taskType: "_", topK: 100)).map(\.record.id), ["o2"], "project '_' and task type '_'")
        try checkEqual(try c.store.get(RecordKey(.heuristic, scope: "p1", id: "a_b%c")) == nil, true, "no wildcard match on get")
        try checkEqual(try c.store.stats(projectId: "p1", agent: nil).records[.heuristic], nasty.count, "heuristics after nasty saves")
    },
    Scenario("roundtrip.same-id-two-projects", "the same id in two projects is two records") { c in
        let a = c.make.heuristic("same", project: "pA", confidence: 0.1)
        let b = c.make.heuristic("same", project: "pB", confidence: 0.9)
        _ = try c.store.save([.heuristic(a), .heuristic(b)])
        try checkSameRecord(try c.store.get(RecordKey(.heuristic, scope: "pA", id: "same")), .heuristic(a), "project A")
        try checkSameRecord(try c.store.get(RecordKey(.heuristic, scope: "pB", id: "same")), .heuristic(b), "project B")
        try check(try c.store.delete(RecordKey(.heuristic, scope: "pA", id: "same")), "delete in A")
        try checkSameRecord(try c.store.get(RecordKey(.heuristic, scope: "pB", id: "same")), .heuristic(b), "B after deleting A")
    },
]

let upsertScenarios: [Scenario] = [
    Scenario("upsert.full-replace", "re-saving a key replaces every field, the embedding included") { c in
        try c.store.save(c.make.heuristic("h", agent: "old", confidence: 0.2, occurrences: 5, successes: 5))
        var newer = c.make.heuristic("h", agent: "new", confidence: 0.8, occurrences: 1, successes: 0, embedding: c.make.vector(7), at: 99)
        newer.metadata = .object(["v": .int(2)])
        try c.store.save(newer)
        try checkSameRecord(try c.store.get(RecordKey(.heuristic, scope: "p1", id: "h")), .heuristic(newer), "after re-save")
        try checkEqual(try c.store.stats(projectId: "p1", agent: nil).records[.heuristic], 1, "heuristic count")
        try checkEqual(try c.store.stats(projectId: "p1", agent: "old").records[.heuristic], 0, "count for the old agent")
    },
    Scenario("upsert.resave-without-embedding", "re-saving without an embedding removes the old vector") { c in
        let v = c.make.vector(11)
        try c.store.save(c.make.outcome("o", embedding: v))
        try c.store.save(c.make.outcome("o", embedding: nil))
        try checkEqual(try c.store.get(RecordKey(.outcome, scope: "p1", id: "o"))?.embedding, nil, "embedding after re-save")
        try checkEqual(ids(try c.store.query(vectorQuery(.outcome, "p1", v))), [], "vector search after the vector was removed")
        try checkEqual(try c.store.stats(projectId: "p1", agent: nil).vectors[.outcome], 0, "outcome vectors")
        try checkEqual(try c.store.stats(projectId: "p1", agent: nil).records[.outcome], 1, "outcome records")
    },
    Scenario("upsert.no-duplicates", "saving one record three times leaves one record and one vector") { c in
        let d = c.make.knowledge("d")
        for _ in 0..<3 { try c.store.save(d) }
        try checkEqual(ids(try c.store.query(MemoryQuery(kind: .domainKnowledge, projectId: "p1", topK: 10))), ["d"], "query")
        try checkEqual(ids(try c.store.query(vectorQuery(.domainKnowledge, "p1", d.embedding!))), ["d"], "vector query")
        try checkEqual(try c.store.stats(projectId: "p1", agent: nil).vectors[.domainKnowledge], 1, "vectors")
    },
    Scenario("upsert.resave-moves-vector", "re-saving with a new embedding moves the record in vector search") { c in
        let a = c.make.vector(1), b = c.make.vector(2)
        try c.store.save(c.make.antiPattern("x", embedding: a))
        try c.store.save(c.make.antiPattern("y", embedding: c.make.near(b, 0.5, seed: 3)))
        try c.store.save(c.make.antiPattern("x", embedding: b))
        let hits = try c.store.query(vectorQuery(.antiPattern, "p1", b, topK: 2))
        try checkEqual(ids(hits), ["x", "y"], "order after moving x onto b")
        try check(abs((hits.first?.score ?? 0) - 1) < 1e-4, "score of an identical vector should be 1, got \(hits.first?.score ?? .nan)")
        let atOld = try c.store.query(vectorQuery(.antiPattern, "p1", a, topK: 2))
        try check(atOld.allSatisfy { ($0.score ?? 1) < 0.99 }, "x still scores as if at its old vector: \(atOld.map { $0.score ?? .nan })")
        try checkEqual(try c.store.stats(projectId: "p1", agent: nil).vectors[.antiPattern], 2, "vectors")
    },
]

let batchScenarios: [Scenario] = [
    Scenario("batch.ids-in-order", "a batch save returns the ids in input order and stores every record") { c in
        let records = (0..<50).map { MemoryRecord.outcome(c.make.outcome("o\(49 - $0)", at: Int64($0))) }
        try checkEqual(try c.store.save(records), records.map(\.id), "returned ids")
        for r in records { try checkSameRecord(try c.store.get(r.key), r, "batch record") }
    },
    Scenario("batch.all-or-nothing", "one invalid record rejects the whole batch and leaves the store as it was") { c in
        try c.store.save(c.make.heuristic("keep", confidence: 0.3))
        var batch = (0..<20).map { MemoryRecord.heuristic(c.make.heuristic("n\($0)")) }
        batch.insert(.heuristic(c.make.heuristic("keep", confidence: 0.9)), at: 0)
        batch.append(.heuristic(c.make.heuristic("bad", embedding: [1, 2, 3])))
        try checkUnchanged(c.store, projects: ["p1"], "batch with a bad last record") {
            try checkRejects(field: "embedding", "batch with a 3-d embedding") { _ = try c.store.save(batch) }
        }
        try checkEqual(try c.store.get(RecordKey(.heuristic, scope: "p1", id: "n0")), nil, "first record of the rejected batch")
        try checkEqual(try c.store.get(RecordKey(.heuristic, scope: "p1", id: "keep"))?.heuristic?.confidence, 0.3, "existing record")
    },
    Scenario("batch.later-duplicate-wins", "in a batch, a later record with the same key wins") { c in
        let first = c.make.knowledge("d", confidence: 0.1, embedding: c.make.vector(1))
        let second = c.make.knowledge("d", confidence: 0.7, embedding: c.make.vector(2))
        try checkEqual(try c.store.save([.domainKnowledge(first), .domainKnowledge(second)]), ["d", "d"], "ids")
        try checkSameRecord(try c.store.get(RecordKey(.domainKnowledge, scope: "p1", id: "d")), .domainKnowledge(second), "winner")
        try checkEqual(try c.store.stats(projectId: "p1", agent: nil).vectors[.domainKnowledge], 1, "vectors")
        let hit = try c.store.query(vectorQuery(.domainKnowledge, "p1", c.make.vector(2), topK: 1))
        try check(abs((hit.first?.score ?? 0) - 1) < 1e-4, "the winner's vector is the one indexed")
    },
    Scenario("batch.empty-is-noop", "an empty batch returns no ids and changes nothing") { c in
        try c.store.save(c.make.heuristic("h"))
        try checkUnchanged(c.store, projects: ["p1"], "empty batch") {
            try checkEqual(try c.store.save([]), [], "ids of an empty batch")
        }
    },
    Scenario("batch.mixed-kinds", "one batch may hold every kind and several scopes") { c in
        let records = c.make.oneOfEach("m", project: "p1") + c.make.oneOfEach("m", project: "p2")
            + [.userPreference(c.make.preference("m", user: "u1")), .userPreference(c.make.preference("m", user: "u2"))]
        try checkEqual(try c.store.save(records), records.map(\.id), "ids")
        for r in records { try checkSameRecord(try c.store.get(r.key), r, "mixed batch") }
    },
]
