import EngramCore

// Bad input: a typed error naming the field, and the store unchanged.

/// Seeds a store with one record of every kind so that "unchanged" means something.
private func seeded(_ c: ScenarioContext) throws {
    _ = try c.store.save(c.make.oneOfEach("seed") + [.userPreference(c.make.preference("seed"))])
}

/// Every bad variant of `base` (each rejected on `field`) leaves the seeded store unchanged.
private func rejectsAll(_ c: ScenarioContext, _ cases: [(String, MemoryRecord)]) throws {
    try seeded(c)
    try checkUnchanged(c.store, projects: ["p1"], users: ["u1"], "rejected saves") {
        for (field, record) in cases {
            try checkRejects(field: field, "save of \(record.kind) with bad \(field)") { _ = try c.store.save(record) }
            try checkRejects(field: field, "batch of \(record.kind) with bad \(field)") {
                _ = try c.store.save([.outcome(c.make.outcome("fine"))] + [record])
            }
        }
    }
}

let validationScenarios: [Scenario] = [
    Scenario("validation.id", "empty and oversized ids (and scopes) are rejected; 256 bytes is accepted") { c in
        let long = String(repeating: "é", count: 129)  // 258 bytes
        var h1 = c.make.heuristic("")
        h1.id = ""
        var p = c.make.preference("x")
        p.userId = ""
        try rejectsAll(c, [
            ("id", .heuristic(h1)), ("id", .outcome(c.make.outcome(long))),
            ("project_id", .domainKnowledge(c.make.knowledge("k", project: ""))),
            ("project_id", .antiPattern(c.make.antiPattern("a", project: long))), ("user_id", .userPreference(p)),
            ("id", .outcome(c.make.outcome("nul\u{0}byte"))),
        ])
        let max = String(repeating: "a", count: 256)
        try c.store.save(c.make.heuristic(max))
        try check(try c.store.get(RecordKey(.heuristic, scope: "p1", id: max)) != nil, "a 256-byte id must be accepted")
        try checkRejects(field: "id", "get with an empty id") { _ = try c.store.get(RecordKey(.heuristic, scope: "p1", id: "")) }
        try checkRejects(field: "project_id", "delete with an empty project") { _ = try c.store.delete(RecordKey(.heuristic, scope: "", id: "x")) }
    },
    Scenario("validation.confidence", "confidence outside [0, 1] or not finite is rejected") { c in
        try rejectsAll(c, [
            ("confidence", .heuristic(c.make.heuristic("h", confidence: -0.01))),
            ("confidence", .heuristic(c.make.heuristic("h", confidence: 1.0000001))),
            ("confidence", .heuristic(c.make.heuristic("h", confidence: .nan))),
            ("confidence", .domainKnowledge(c.make.knowledge("k", confidence: .infinity))),
            ("confidence", .userPreference({ var p = c.make.preference("p"); p.confidence = 2; return p }())),
        ])
    },
    Scenario("validation.counts", "negative counts and success above occurrence are rejected") { c in
        var o = c.make.outcome("o")
        o.durationMs = -1
        try rejectsAll(c, [
            ("occurrence_count", .heuristic(c.make.heuristic("h", occurrences: -1, successes: 0))),
            ("success_count", .heuristic(c.make.heuristic("h", occurrences: 1, successes: -1))),
            ("success_count", .heuristic(c.make.heuristic("h", occurrences: 2, successes: 3))),
            ("occurrence_count", .antiPattern(c.make.antiPattern("a", occurrences: -5))),
            ("duration_ms", .outcome(o)),
        ])
    },
    Scenario("validation.embedding", "embeddings of the wrong dimension, non-finite or of zero norm are rejected") { c in
        let d = c.store.embeddingDimension
        var nan = c.make.vector(1)
        nan[d / 2] = .nan
        var inf = c.make.vector(1)
        inf[0] = -.infinity
        try rejectsAll(c, [
            ("embedding", .heuristic(c.make.heuristic("h", embedding: Array(c.make.vector(1).prefix(d - 1))))),
            ("embedding", .outcome(c.make.outcome("o", embedding: c.make.vector(1) + [0.5]))),
            ("embedding", .domainKnowledge(c.make.knowledge("k", embedding: nan))),
            ("embedding", .antiPattern(c.make.antiPattern("a", embedding: inf))),
            ("embedding", .heuristic(c.make.heuristic("z", embedding: [Float](repeating: 0, count: d)))),
        ])
        try checkRejects(field: "embedding", "query vector of the wrong dimension") { _ = try c.store.query(vectorQuery(.heuristic, "p1", [1, 2])) }
        try checkRejects(field: "embedding", "zero query vector") { _ = try c.store.query(vectorQuery(.heuristic, "p1", [Float](repeating: 0, count: d))) }
    },
    Scenario("validation.top-k", "topK below 1 or above 10,000 is rejected") { c in
        try seeded(c)
        for k in [0, -1, 10_001] {
            try checkRejects(field: "top_k", "topK \(k)") { _ = try c.store.query(MemoryQuery(kind: .heuristic, projectId: "p1", topK: k)) }
            try checkRejects(field: "top_k", "vector topK \(k)") { _ = try c.store.query(vectorQuery(.heuristic, "p1", c.make.vector(1), topK: k)) }
        }
    },
    Scenario("validation.metadata", "metadata that is not a JSON object (or holds a non-finite number) is rejected") { c in
        var a = c.make.heuristic("h")
        a.metadata = .array([.int(1)])
        var s = c.make.outcome("o")
        s.metadata = .string("text")
        var n = c.make.knowledge("k")
        n.metadata = .null
        var inf = c.make.antiPattern("a")
        inf.metadata = .object(["x": .double(.infinity)])
        try rejectsAll(c, [("metadata", .heuristic(a)), ("metadata", .outcome(s)), ("metadata", .domainKnowledge(n)), ("metadata", .antiPattern(inf))])
    },
    Scenario("validation.query-filters", "filters that do not apply to the kind, and thresholds that are not finite, are rejected") { c in
        try seeded(c)
        try checkRejects(field: "task_type", "task type on heuristics") { _ = try c.store.query(MemoryQuery(kind: .heuristic, projectId: "p1", taskType: "x")) }
        try checkRejects(field: "domain", "domain on outcomes") { _ = try c.store.query(MemoryQuery(kind: .outcome, projectId: "p1", domain: "x")) }
        try checkRejects(field: "success_only", "success only on anti-patterns") { _ = try c.store.query(MemoryQuery(kind: .antiPattern, projectId: "p1", successOnly: true)) }
        try checkRejects(field: "min_confidence", "NaN min confidence") { _ = try c.store.query(MemoryQuery(kind: .heuristic, projectId: "p1", minConfidence: .nan)) }
        try checkRejects(field: "kind", "preferences through query()") { _ = try c.store.query(MemoryQuery(kind: .userPreference, projectId: "u1")) }
        try checkRejects(field: "project_id", "empty project") { _ = try c.store.query(MemoryQuery(kind: .heuristic, projectId: "")) }
        try checkUnchanged(c.store, projects: ["p1"], "rejected prune") {
            try checkRejects(field: "below", "NaN prune threshold") { _ = try c.store.deleteHeuristics(projectId: "p1", confidenceBelow: .nan, agent: nil) }
        }
    },
]

/// Metadata nested `depth` levels deep (the outer object is level 1), built without recursion.
private func nested(_ depth: Int) -> JSONValue {
    var v = JSONValue.object(["leaf": .int(1)])
    for i in 1..<depth { v = i % 2 == 1 && i < depth - 1 ? .array([v]) : .object(["n": v]) }  // one level each, an object on top
    return v
}

let moreValidationScenarios: [Scenario] = [
    Scenario("validation.timestamps", "timestamps outside 0001-01-01 ... 9999-12-31T23:59:59.999999Z are rejected, in records, patches and prunes") { c in
        let before = Timestamp(microsecondsSinceEpoch: Timestamp.contractRange.lowerBound.microsecondsSinceEpoch - 1)
        let after = Timestamp(microsecondsSinceEpoch: Timestamp.contractRange.upperBound.microsecondsSinceEpoch + 1)
        var o = c.make.outcome("o")
        o.timestamp = after
        var h = c.make.heuristic("h")
        h.createdAt = Timestamp(microsecondsSinceEpoch: .min)
        var k = c.make.knowledge("k")
        k.lastVerified = Timestamp(microsecondsSinceEpoch: .max)
        var a = c.make.antiPattern("a")
        a.lastSeen = before
        var p = c.make.preference("p")
        p.timestamp = after
        try rejectsAll(c, [("timestamp", .outcome(o)), ("created_at", .heuristic(h)), ("last_verified", .domainKnowledge(k)),
                           ("last_seen", .antiPattern(a)), ("timestamp", .userPreference(p))])
        try checkUnchanged(c.store, projects: ["p1"], users: ["u1"], "rejected prune and patch") {
            try checkRejects(field: "older_than", "prune with a cut-off after 9999") { _ = try c.store.deleteOutcomes(projectId: "p1", olderThan: after, agent: nil) }
            try checkRejects(field: "last_validated", "patch with a date before year 1") {
                _ = try c.store.updateHeuristic(projectId: "p1", id: "seed", patch: HeuristicPatch(lastValidated: before))
            }
        }
    },
    Scenario("validation.metadata-limits", "metadata nested deeper than 64 levels (65 and 600) or larger than 1 MiB is rejected; 64 levels round-trip") { c in
        var deep = c.make.heuristic("deep")
        deep.metadata = nested(Validation.maxMetadataDepth + 1)
        var abyss = c.make.outcome("abyss")
        abyss.metadata = nested(600)  // saved fine and then unreadable, before the limit
        var big = c.make.knowledge("big")
        big.metadata = .object(["text": .string(String(repeating: "m", count: Validation.maxMetadataBytes))])
        try rejectsAll(c, [("metadata", .heuristic(deep)), ("metadata", .outcome(abyss)), ("metadata", .domainKnowledge(big))])
        try checkUnchanged(c.store, projects: ["p1"], "rejected patch") {
            try checkRejects(field: "metadata", "patch with metadata 65 levels deep") {
                _ = try c.store.updateHeuristic(projectId: "p1", id: "seed", patch: HeuristicPatch(metadata: nested(Validation.maxMetadataDepth + 1)))
            }
        }
        var ok = c.make.heuristic("ok")
        ok.metadata = nested(Validation.maxMetadataDepth)
        try c.store.save(ok)
        try checkSameRecord(try c.store.get(RecordKey(.heuristic, scope: "p1", id: "ok")), .heuristic(ok), "metadata 64 levels deep")
        try checkEqual(try c.store.query(MemoryQuery(kind: .heuristic, projectId: "p1", topK: 10)).count, 2, "list query after saving deep metadata")
    },
    Scenario("validation.preference-query", "query_preferences rejects an empty user id and a category with NUL, naming the field") { c in
        try seeded(c)
        try checkRejects(field: "user_id", "empty user id") { _ = try c.store.queryPreferences(userId: "", category: nil) }
        try checkRejects(field: "category", "category with NUL") { _ = try c.store.queryPreferences(userId: "u1", category: "sty\u{0}le") }
        try checkEqual(try c.store.queryPreferences(userId: "u1", category: "style").map(\.id), ["seed"], "the valid query")
    },
    Scenario("validation.agent-filters", "an agent filter naming more than 10,000 agents, and agents with NUL in filters and prunes, are rejected") { c in
        try seeded(c)
        let many = (0...Validation.maxAgentsPerFilter).map { "agent-\($0)" }
        try checkRejects(field: "agents", "10,001 agents") { _ = try c.store.query(MemoryQuery(kind: .outcome, projectId: "p1", agents: many, topK: 5)) }
        try checkRejects(field: "agents", "10,001 agents with a vector") {
            _ = try c.store.query(MemoryQuery(kind: .outcome, projectId: "p1", agents: many, topK: 5, vector: c.make.vector(3)))
        }
        try checkUnchanged(c.store, projects: ["p1"], "rejected prunes") {
            try checkRejects(field: "agent", "outcome prune for an agent with NUL") {
                _ = try c.store.deleteOutcomes(projectId: "p1", olderThan: c.make.t0.adding(microseconds: 1_000_000), agent: "a\u{0}")
            }
            try checkRejects(field: "agent", "heuristic prune for an agent with NUL") { _ = try c.store.deleteHeuristics(projectId: "p1", confidenceBelow: 1, agent: "a\u{0}") }
        }
        let most = (1..<Validation.maxAgentsPerFilter).map { "agent-\($0)" } + ["a1"]
        try checkEqual(try c.store.query(MemoryQuery(kind: .outcome, projectId: "p1", agents: most, topK: 5, vector: c.make.vector(3))).count,
                       try c.store.query(MemoryQuery(kind: .outcome, projectId: "p1", agents: ["a1"], topK: 5)).count, "a filter of exactly 10,000 agents")
    },
    Scenario("lifecycle.closed", "after close, every call fails with unavailable, and closing again is harmless") { c in
        try seeded(c)
        try c.store.close()
        try c.store.close()
        let calls: [(String, () throws -> Void)] = [
            ("save", { _ = try c.store.save(c.make.outcome("late")) }),
            ("get", { _ = try c.store.get(RecordKey(.outcome, scope: "p1", id: "seed")) }),
            ("query", { _ = try c.store.query(MemoryQuery(kind: .outcome, projectId: "p1", topK: 5)) }),
            ("vector query", { _ = try c.store.query(vectorQuery(.outcome, "p1", c.make.vector(2))) }),
            ("query with an empty agent set", { _ = try c.store.query(MemoryQuery(kind: .outcome, projectId: "p1", agents: [], topK: 5)) }),
            ("vector query with an empty agent set", { _ = try c.store.query(MemoryQuery(kind: .outcome, projectId: "p1", agents: [], topK: 5, vector: c.make.vector(2))) }),
            ("query_preferences", { _ = try c.store.queryPreferences(userId: "u1", category: nil) }),
            ("update_heuristic_confidence", { _ = try c.store.updateHeuristicConfidence(projectId: "p1", id: "seed", confidence: 0.5) }),
            ("delete", { _ = try c.store.delete(RecordKey(.outcome, scope: "p1", id: "seed")) }),
            ("delete_outcomes_older_than", { _ = try c.store.deleteOutcomes(projectId: "p1", olderThan: c.make.t0, agent: nil) }),
            ("stats", { _ = try c.store.stats(projectId: "p1", agent: nil) }),
        ]
        for (name, call) in calls {
            do {
                try call()
                throw ConformanceFailure("\(name) after close succeeded; expected unavailable")
            } catch let e as EngramError {
                try check(e.code == .unavailable, "\(name) after close: expected unavailable, got \(e)")
            }
        }
    },
]

let capabilityScenarios: [Scenario] = [
    Scenario("durability.reopen", "after reopening, saves, deletes, prunes and updates are all as they were", requires: .durability) { c in
        let q = c.make.vector(31)
        let records = (0..<40).map { MemoryRecord.outcome(c.make.outcome("o\($0)", at: Int64($0), embedding: c.make.near(q, Float($0) * 0.05 + 0.01, seed: UInt64($0)))) }
        _ = try c.store.save(records + c.make.oneOfEach("x") + [.userPreference(c.make.preference("pref"))])
        _ = try c.store.delete(RecordKey(.outcome, scope: "p1", id: "o39"))
        _ = try c.store.deleteOutcomes(projectId: "p1", olderThan: c.make.t0.adding(microseconds: 5), agent: nil)
        _ = try c.store.incrementHeuristicOccurrence(projectId: "p1", id: "x", success: true)
        _ = try c.store.updateHeuristic(projectId: "p1", id: "x", patch: HeuristicPatch(embedding: .some(nil)))
        let before = try snapshot(c.store, projects: ["p1"], users: ["u1"])
        let search = ids(try c.store.query(vectorQuery(.outcome, "p1", q, topK: 10)))
        try c.reopen()
        try check(try snapshot(c.store, projects: ["p1"], users: ["u1"]) == before, "state after reopen differs")
        try checkEqual(ids(try c.store.query(vectorQuery(.outcome, "p1", q, topK: 10))), search, "vector search after reopen")
        try checkEqual(try c.store.get(RecordKey(.outcome, scope: "p1", id: "o0")), nil, "pruned record after reopen")
        try checkEqual(search, expectedVectorOrder(Array(records[5..<39]), query: q, topK: 10), "vector search before reopen")
    },
    Scenario("introspection.vectors-match-live", "after 2,000 random saves, re-saves, deletes and prunes, vectors held == live records with an embedding", requires: .vectorIntrospection) { c in
        guard let introspect = c.store as? any VectorIntrospecting else {
            throw ConformanceFailure("declares 'introspection' but does not conform to VectorIntrospecting")
        }
        var rng = SeededGenerator(seed: 2026)
        var model: [RecordKey: MemoryRecord] = [:]
        for step in 0..<2000 {
            let kind = MemoryKind.vectorKinds[Int(rng.next() % 4)]
            let project = rng.next() % 3 == 0 ? "p2" : "p1"
            let id = "r\(rng.next() % 150)"
            let roll = rng.next() % 100
            let vector: [Float]? = rng.next() % 4 == 0 ? nil : c.make.vector(rng.next())
            if roll < 55 {
                let r: MemoryRecord = switch kind {
                case .heuristic: .heuristic(c.make.heuristic(id, project: project, confidence: Double(rng.next() % 100) / 100, embedding: vector))
                case .outcome: .outcome(c.make.outcome(id, project: project, at: Int64(rng.next() % 1000), embedding: vector))
                case .domainKnowledge: .domainKnowledge(c.make.knowledge(id, project: project, embedding: vector))
                default: .antiPattern(c.make.antiPattern(id, project: project, embedding: vector))
                }
                try c.store.save(r)
                model[r.key] = r
            } else if roll < 85 {
                let key = RecordKey(kind, scope: project, id: id)
                try checkEqual(try c.store.delete(key), model.removeValue(forKey: key) != nil, "delete result at step \(step)")
            } else if roll < 92 {
                let cut = c.make.t0.adding(microseconds: Int64(rng.next() % 300))
                let doomed = model.filter { $0.value.outcome.map { $0.projectId == project && $0.timestamp < cut } ?? false }
                try checkEqual(try c.store.deleteOutcomes(projectId: project, olderThan: cut, agent: nil), doomed.count, "prune count at step \(step)")
                for k in doomed.keys { model.removeValue(forKey: k) }
            } else if roll < 96 {
                let below = Double(rng.next() % 30) / 100
                let doomed = model.filter { $0.value.heuristic.map { $0.projectId == project && $0.confidence < below } ?? false }
                try checkEqual(try c.store.deleteHeuristics(projectId: project, confidenceBelow: below, agent: nil), doomed.count, "heuristic prune count at step \(step)")
                for k in doomed.keys { model.removeValue(forKey: k) }
            } else {
                let key = RecordKey(.heuristic, scope: project, id: id)
                let changed = try c.store.updateHeuristic(projectId: project, id: id, patch: HeuristicPatch(embedding: .some(vector)))
                try checkEqual(changed, model[key] != nil, "patch result at step \(step)")
                if let h = model[key]?.heuristic { model[key] = .heuristic(HeuristicPatch(embedding: .some(vector)).applied(to: h)) }
            }
        }
        var expected: [MemoryKind: Int] = [:]
        for kind in MemoryKind.vectorKinds { expected[kind] = model.values.filter { $0.kind == kind && $0.embedding != nil }.count }
        func verify(_ when: String) throws {
            let introspect = c.store as? any VectorIntrospecting
            try checkEqual(try introspect?.vectorsHeld(), expected, "vectors held \(when)")
            try checkEqual(try introspect?.recordsWithEmbedding(), expected, "records with an embedding \(when)")
        }
        _ = introspect
        try verify("after the mix")
        if c.store.capabilities.contains(.durability) {
            try c.reopen()
            try verify("after reopening")
        }
        let q = c.make.vector(5)
        let live = model.values.filter { $0.kind == .outcome && $0.scope == "p1" }
        try checkEqual(ids(try c.store.query(vectorQuery(.outcome, "p1", q, topK: 10))), expectedVectorOrder(Array(live), query: q, topK: 10), "vector search after the mix")
    },
    Scenario("query-plan.prune-uses-timestamp-index", "with 100,000 outcomes, the outcome prune's plan uses the timestamp index", requires: .queryPlanIntrospection) { c in
        guard let explain = c.store as? any QueryPlanIntrospecting else {
            throw ConformanceFailure("declares 'query_plan' but does not conform to QueryPlanIntrospecting")
        }
        for chunk in 0..<20 {
            let batch = (0..<5000).map { i -> MemoryRecord in
                let n = chunk * 5000 + i
                return .outcome(c.make.outcome("o\(n)", project: n % 10 == 0 ? "p2" : "p1", agent: "a\(n % 7)", at: Int64(n), embedding: nil))
            }
            _ = try c.store.save(batch)
        }
        let cut = c.make.t0.adding(microseconds: 1000)
        for agent in [nil, "a3"] as [String?] {
            let plan = try explain.explainDeleteOutcomes(projectId: "p1", olderThan: cut, agent: agent)
            try check(!plan.fullScan, "the prune (agent \(agent ?? "any")) scans the whole table: \(plan.detail)")
            try check(plan.indexUsed == explain.outcomeTimestampIndexName || (agent != nil && plan.indexUsed?.contains("timestamp") == true),
                      "the prune (agent \(agent ?? "any")) uses \(plan.indexUsed ?? "no index"), not \(explain.outcomeTimestampIndexName): \(plan.detail)")
        }
        try checkEqual(try c.store.deleteOutcomes(projectId: "p1", olderThan: cut, agent: nil), 900, "the prune itself")
    },
]
