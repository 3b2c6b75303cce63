import EngramCore

// Query scenarios: default orders, every filter, vector ranking, filter-then-rank.

private func defaultIds(_ c: ScenarioContext, _ kind: MemoryKind, _ q: (inout MemoryQuery) -> Void = { _ in }) throws -> [String] {
    var query = MemoryQuery(kind: kind, projectId: "p1", topK: 100)
    q(&query)
    let results = try c.store.query(query)
    try check(results.allSatisfy { $0.score == nil }, "a query without a vector returned scores")
    return ids(results)
}

let queryScenarios: [Scenario] = [
    Scenario("query.order.heuristic", "heuristics come by confidence desc, ties by id asc") { c in
        _ = try c.store.save([("b", 0.5), ("a", 0.5), ("c", 0.9), ("d", 0.1), ("B", 0.5)].map { .heuristic(c.make.heuristic($0.0, confidence: $0.1)) })
        try checkEqual(try defaultIds(c, .heuristic), ["c", "B", "a", "b", "d"], "order")
    },
    Scenario("query.order.outcome", "outcomes come by timestamp desc (as instants), ties by id asc") { c in
        _ = try c.store.save([("z", 5), ("y", 5), ("x", 1_000_000), ("w", -3), ("v", 10)].map { .outcome(c.make.outcome($0.0, at: Int64($0.1))) })
        try checkEqual(try defaultIds(c, .outcome), ["x", "v", "y", "z", "w"], "order")
    },
    Scenario("query.order.domain-knowledge", "domain knowledge comes by confidence desc, ties by id asc") { c in
        _ = try c.store.save([("k2", 0.3), ("k1", 0.3), ("k3", 1.0), ("k0", 0.0)].map { .domainKnowledge(c.make.knowledge($0.0, confidence: $0.1)) })
        try checkEqual(try defaultIds(c, .domainKnowledge), ["k3", "k1", "k2", "k0"], "order")
    },
    Scenario("query.order.anti-pattern", "anti-patterns come by occurrence count desc, ties by id asc") { c in
        _ = try c.store.save([("p2", 3), ("p1", 3), ("p3", 10), ("p0", 0)].map { .antiPattern(c.make.antiPattern($0.0, occurrences: $0.1)) })
        try checkEqual(try defaultIds(c, .antiPattern), ["p3", "p1", "p2", "p0"], "order")
    },
    Scenario("query.preferences", "a user's preferences come newest first, ties by id, optionally one category") { c in
        _ = try c.store.save([
            .userPreference(c.make.preference("b", category: "style", at: 5)),
            .userPreference(c.make.preference("a", category: "style", at: 5)),
            .userPreference(c.make.preference("c", category: "tone", at: 9)),
            .userPreference(c.make.preference("d", category: "style", at: 1)),
            .userPreference(c.make.preference("e", user: "u2", category: "style", at: 100)),
        ])
        try checkEqual(try c.store.queryPreferences(userId: "u1").map(\.id), ["c", "a", "b", "d"], "all of u1")
        try checkEqual(try c.store.queryPreferences(userId: "u1", category: "style").map(\.id), ["a", "b", "d"], "u1 style")
        try checkEqual(try c.store.queryPreferences(userId: "u1", category: "none").map(\.id), [], "unknown category")
        try checkEqual(try c.store.queryPreferences(userId: "nobody").map(\.id), [], "unknown user")
    },
    Scenario("query.filter.agents", "agent filter: nil = all, a set of one or more, an empty set returns nothing") { c in
        _ = try c.store.save(["a1", "a2", "a3"].enumerated().map { .heuristic(c.make.heuristic("h\($0.offset)", agent: $0.element, confidence: 0.1 * Double($0.offset + 1))) })
        try checkEqual(try defaultIds(c, .heuristic), ["h2", "h1", "h0"], "all agents")
        try checkEqual(try defaultIds(c, .heuristic) { $0.agents = ["a2"] }, ["h1"], "one agent")
        try checkEqual(try defaultIds(c, .heuristic) { $0.agents = ["a1", "a3"] }, ["h2", "h0"], "two agents")
        try checkEqual(try defaultIds(c, .heuristic) { $0.agents = [] }, [], "empty agent set")
        try checkEqual(try defaultIds(c, .heuristic) { $0.agents = ["nobody"] }, [], "unknown agent")
        let v = c.make.vector("h1p1")
        try checkEqual(ids(try c.store.query(vectorQuery(.heuristic, "p1", v, agents: []))), [], "empty agent set with a vector")
    },
    Scenario("query.filter.task-type", "outcomes filter by exact task type") { c in
        _ = try c.store.save([("o1", "api"), ("o2", "API"), ("o3", "api_v2"), ("o4", "api")].enumerated().map { .outcome(c.make.outcome($0.element.0, taskType: $0.element.1, at: Int64($0.offset))) })
        try checkEqual(try defaultIds(c, .outcome) { $0.taskType = "api" }, ["o4", "o1"], "task type api")
        try checkEqual(try defaultIds(c, .outcome) { $0.taskType = "" }, [], "empty task type")
    },
    Scenario("query.filter.domain", "domain knowledge filters by exact domain") { c in
        _ = try c.store.save([("k1", "auth"), ("k2", "Auth"), ("k3", "billing")].map { .domainKnowledge(c.make.knowledge($0.0, domain: $0.1)) })
        try checkEqual(try defaultIds(c, .domainKnowledge) { $0.domain = "auth" }, ["k1"], "domain auth")
    },
    Scenario("query.filter.min-confidence", "min confidence keeps confidence >= the bound, for heuristics and knowledge") { c in
        _ = try c.store.save([0.0, 0.3, 0.5, 0.50001, 1.0].enumerated().map { .heuristic(c.make.heuristic("h\($0.offset)", confidence: $0.element)) })
        _ = try c.store.save([0.2, 0.5, 0.8].enumerated().map { .domainKnowledge(c.make.knowledge("k\($0.offset)", confidence: $0.element)) })
        try checkEqual(try defaultIds(c, .heuristic) { $0.minConfidence = 0.5 }, ["h4", "h3", "h2"], "heuristics >= 0.5")
        try checkEqual(try defaultIds(c, .heuristic) { $0.minConfidence = 0.0 }, ["h4", "h3", "h2", "h1", "h0"], "heuristics >= 0")
        try checkEqual(try defaultIds(c, .domainKnowledge) { $0.minConfidence = 0.5 }, ["k2", "k1"], "knowledge >= 0.5")
    },
    Scenario("query.filter.success-only", "success only keeps successful outcomes; combined with other filters") { c in
        _ = try c.store.save([
            .outcome(c.make.outcome("s1", success: true, at: 1)), .outcome(c.make.outcome("f1", success: false, at: 2)),
            .outcome(c.make.outcome("s2", agent: "a2", success: true, at: 3)),
            .outcome(c.make.outcome("s3", taskType: "other", success: true, at: 4)),
        ])
        try checkEqual(try defaultIds(c, .outcome) { $0.successOnly = true }, ["s3", "s2", "s1"], "success only")
        try checkEqual(try defaultIds(c, .outcome) { $0.successOnly = true; $0.agents = ["a1"]; $0.taskType = "api" }, ["s1"], "combined")
    },
    Scenario("query.top-k", "a query returns min(topK, matching) results") { c in
        _ = try c.store.save((0..<30).map { .antiPattern(c.make.antiPattern("x\($0)", occurrences: $0)) })
        for k in [1, 7, 30, 31, 10_000] {
            try checkEqual(try c.store.query(MemoryQuery(kind: .antiPattern, projectId: "p1", topK: k)).count, min(k, 30), "count for topK \(k)")
            try checkEqual(try c.store.query(vectorQuery(.antiPattern, "p1", c.make.vector(5), topK: k)).count, min(k, 30), "vector count for topK \(k)")
        }
    },
    Scenario("query.vector.ranking", "with a vector: cosine desc, scores beside records, records without embedding left out") { c in
        let q = c.make.vector(500)
        var records: [MemoryRecord] = (0..<40).map { .heuristic(c.make.heuristic("h\($0)", embedding: c.make.near(q, Float($0) * 0.05 + 0.01, seed: UInt64($0)))) }
        records += (0..<5).map { .heuristic(c.make.heuristic("none\($0)", confidence: 1.0, embedding: nil)) }
        _ = try c.store.save(records)
        let hits = try c.store.query(vectorQuery(.heuristic, "p1", q, topK: 50))
        try checkEqual(ids(hits), expectedVectorOrder(records, query: q, topK: 50), "ranking")
        for h in hits {
            let expected = cosineSimilarity(q, h.record.embedding ?? [])
            try check(h.score.map { abs($0 - expected) < 1e-4 } ?? false, "score of \(h.record.id): expected cosine \(expected), got \(String(describing: h.score))")
        }
        let scaled = q.map { $0 * 1000 }
        try checkEqual(ids(try c.store.query(vectorQuery(.heuristic, "p1", scaled, topK: 10))), expectedVectorOrder(records, query: q, topK: 10), "cosine ignores the query's length")
    },
    Scenario("query.vector.ties", "equal similarity breaks ties by id ascending, also at the top-k boundary") { c in
        let v = c.make.vector(8)
        _ = try c.store.save(["e", "c", "a", "d", "b"].map { .outcome(c.make.outcome($0, embedding: v)) })
        try checkEqual(ids(try c.store.query(vectorQuery(.outcome, "p1", v, topK: 3))), ["a", "b", "c"], "tie order")
    },
    Scenario("query.filter-then-rank.agents", "k results when k match, while nearer vectors belong to other agents and projects") { c in
        let q = c.make.vector(1)
        var decoys: [MemoryRecord] = []
        for i in 0..<150 {
            decoys.append(.heuristic(c.make.heuristic("near\(i)", agent: "other", embedding: c.make.near(q, 0.02, seed: UInt64(i)))))
            decoys.append(.heuristic(c.make.heuristic("near\(i)", project: "p2", embedding: c.make.near(q, 0.02, seed: UInt64(i + 500)))))
        }
        let mine = (0..<25).map { MemoryRecord.heuristic(c.make.heuristic("mine\($0)", embedding: c.make.near(q, 1.5, seed: UInt64(900 + $0)))) }
        _ = try c.store.save(decoys + mine)
        let hits = try c.store.query(vectorQuery(.heuristic, "p1", q, topK: 10, agents: ["a1"]))
        try checkEqual(ids(hits), expectedVectorOrder(mine, query: q, topK: 10), "top 10 of agent a1")
        let all = try c.store.query(vectorQuery(.heuristic, "p1", q, topK: 100, agents: ["a1"]))
        try checkEqual(all.count, 25, "every match when topK exceeds the matches")
    },
    Scenario("query.filter-then-rank.selective", "a selective filter still returns every match, ranked, under 1,000 nearer non-matching vectors") { c in
        let q = c.make.vector(2)
        var records: [MemoryRecord] = (0..<1000).map { .outcome(c.make.outcome("n\($0)", taskType: "common", success: $0 % 2 == 0, embedding: c.make.near(q, 0.05, seed: UInt64($0)))) }
        let rare = (0..<3).map { MemoryRecord.outcome(c.make.outcome("rare\($0)", taskType: "rare", embedding: c.make.near(q, 2, seed: UInt64(5000 + $0)))) }
        records += rare
        _ = try c.store.save(records)
        var query = vectorQuery(.outcome, "p1", q, topK: 10)
        query.taskType = "rare"
        try checkEqual(ids(try c.store.query(query)), expectedVectorOrder(rare, query: q, topK: 10), "rare task type")
        query.taskType = "common"
        query.successOnly = true
        let evens = records.filter { ($0.outcome?.success ?? false) && $0.outcome?.taskType == "common" }
        try checkEqual(ids(try c.store.query(query)), expectedVectorOrder(evens, query: q, topK: 10), "success only")
    },
    Scenario("query.filter-then-rank.at-scale", "a project of N vectors far from the query, beside 1.2 N nearer ones in another project: k results, the exact nearest (N = ConformanceSuite.scale)") { c in
        let q = c.make.vector(44)
        let n = c.scale
        let minusQ = q.map { -$0 }
        for start in stride(from: 0, to: n * 11 / 5, by: 2_000) {
            let batch = (start..<min(start + 2_000, n * 11 / 5)).map { i -> MemoryRecord in
                i < n * 6 / 5
                    ? .outcome(c.make.outcome("near\(i)", project: "near", at: Int64(i), embedding: c.make.near(q, 0.3, seed: UInt64(i))))
                    : .outcome(c.make.outcome("far\(i)", project: "far", at: Int64(i), embedding: c.make.near(minusQ, 0.3, seed: UInt64(i))))
            }
            _ = try c.store.save(batch)
        }
        let far = (n * 6 / 5..<n * 11 / 5).map { i in MemoryRecord.outcome(c.make.outcome("far\(i)", project: "far", at: Int64(i), embedding: c.make.near(minusQ, 0.3, seed: UInt64(i)))) }
        for k in [10, 100] {
            let hits = try c.store.query(vectorQuery(.outcome, "far", q, topK: k))
            try checkEqual(hits.count, k, "results for top \(k) in the far project")
            try checkEqual(ids(hits), expectedVectorOrder(far, query: q, topK: k), "the nearest \(k) of the far project")
        }
    },
    Scenario("query.filter-then-rank.min-confidence", "min confidence filters before ranking") { c in
        let q = c.make.vector(3)
        let records = (0..<200).map { i in
            MemoryRecord.domainKnowledge(c.make.knowledge("k\(i)", confidence: i < 190 ? 0.1 : 0.9, embedding: c.make.near(q, i < 190 ? 0.05 : 1.0, seed: UInt64(i))))
        }
        _ = try c.store.save(records)
        var query = vectorQuery(.domainKnowledge, "p1", q, topK: 5)
        query.minConfidence = 0.5
        try checkEqual(ids(try c.store.query(query)), expectedVectorOrder(Array(records[190...]), query: q, topK: 5), "confident ones")
    },
]
