import Dispatch
import EngramCore
import Synchronization

// Delete, prune, update, stats, isolation and concurrency scenarios.

let deleteScenarios: [Scenario] = [
    Scenario("delete.gone-everywhere", "a deleted record is absent from get, query, vector search and stats") { c in
        let v = c.make.vector(4)
        _ = try c.store.save([.heuristic(c.make.heuristic("gone", confidence: 0.9, embedding: v)), .heuristic(c.make.heuristic("stay", confidence: 0.1))])
        try check(try c.store.delete(RecordKey(.heuristic, scope: "p1", id: "gone")), "delete returned false for an existing record")
        try checkEqual(try c.store.get(RecordKey(.heuristic, scope: "p1", id: "gone")), nil, "get after delete")
        try checkEqual(ids(try c.store.query(MemoryQuery(kind: .heuristic, projectId: "p1", topK: 10))), ["stay"], "query after delete")
        try checkEqual(ids(try c.store.query(vectorQuery(.heuristic, "p1", v))), ["stay"], "vector search after delete")
        let stats = try c.store.stats(projectId: "p1", agent: nil)
        try checkEqual([stats.records[.heuristic], stats.vectors[.heuristic]], [1, 1], "records and vectors after delete")
    },
    Scenario("delete.missing", "deleting a missing record returns false; deleting twice returns true then false") { c in
        try checkEqual(try c.store.delete(RecordKey(.outcome, scope: "p1", id: "nope")), false, "missing")
        try c.store.save(c.make.outcome("o"))
        try checkEqual(try c.store.delete(RecordKey(.outcome, scope: "p1", id: "o")), true, "first delete")
        try checkEqual(try c.store.delete(RecordKey(.outcome, scope: "p1", id: "o")), false, "second delete")
        try checkEqual(try c.store.delete(RecordKey(.heuristic, scope: "p1", id: "o")), false, "wrong kind")
    },
    Scenario("delete.every-kind", "every kind can be deleted, preferences included, with its vector") { c in
        let records = c.make.oneOfEach("r") + [.userPreference(c.make.preference("r"))]
        _ = try c.store.save(records)
        for r in records {
            try check(try c.store.delete(r.key), "delete \(r.key)")
            try checkEqual(try c.store.get(r.key), nil, "get \(r.key) after delete")
        }
        let stats = try c.store.stats(projectId: "p1", agent: nil)
        try check(stats.records.values.allSatisfy { $0 == 0 } && stats.vectors.values.allSatisfy { $0 == 0 }, "stats after deleting everything: \(stats)")
        try checkEqual(try c.store.queryPreferences(userId: "u1").count, 0, "preferences after delete")
    },
    Scenario("delete.vector-slot-reclaimed", "deleted records never take top-k slots: k live results come back") { c in
        let q = c.make.vector(6)
        let records = (0..<60).map { MemoryRecord.outcome(c.make.outcome("o\($0)", embedding: c.make.near(q, Float($0) * 0.04 + 0.01, seed: UInt64($0)))) }
        _ = try c.store.save(records)
        let nearest = expectedVectorOrder(records, query: q, topK: 20)
        for id in nearest.prefix(15) { try check(try c.store.delete(RecordKey(.outcome, scope: "p1", id: id)), "delete \(id)") }
        let live = records.filter { !nearest.prefix(15).contains($0.id) }
        try checkEqual(ids(try c.store.query(vectorQuery(.outcome, "p1", q, topK: 10))), expectedVectorOrder(live, query: q, topK: 10), "top 10 after deleting the 15 nearest")
    },
    Scenario("delete.scoped", "deleting an id in one project or kind leaves the same id elsewhere") { c in
        _ = try c.store.save(c.make.oneOfEach("same", project: "p1") + c.make.oneOfEach("same", project: "p2"))
        try check(try c.store.delete(RecordKey(.outcome, scope: "p1", id: "same")), "delete")
        try check(try c.store.get(RecordKey(.outcome, scope: "p2", id: "same")) != nil, "same id in p2")
        try check(try c.store.get(RecordKey(.heuristic, scope: "p1", id: "same")) != nil, "same id, other kind")
        try checkEqual(try c.store.stats(projectId: "p2", agent: nil).vectors[.outcome], 1, "p2 outcome vectors")
    },
]

let pruneScenarios: [Scenario] = [
    Scenario("prune.outcomes.strict", "outcomes strictly before the cut-off go; one exactly at it stays") { c in
        _ = try c.store.save((0..<10).map { .outcome(c.make.outcome("o\($0)", at: Int64($0))) })
        try checkEqual(try c.store.deleteOutcomes(projectId: "p1", olderThan: c.make.t0.adding(microseconds: 4), agent: nil), 4, "pruned count")
        try checkEqual(ids(try c.store.query(MemoryQuery(kind: .outcome, projectId: "p1", topK: 100))), (4..<10).reversed().map { "o\($0)" }, "survivors")
        try checkEqual(try c.store.deleteOutcomes(projectId: "p1", olderThan: c.make.t0.adding(microseconds: 4), agent: nil), 0, "second prune")
    },
    Scenario("prune.outcomes.scope", "an outcome prune touches only its project (and agent)") { c in
        for p in ["p1", "p2"] {
            _ = try c.store.save((0..<6).map { .outcome(c.make.outcome("o\($0)", project: p, agent: $0 % 2 == 0 ? "a1" : "a2", at: Int64($0))) })
        }
        try checkEqual(try c.store.deleteOutcomes(projectId: "p1", olderThan: c.make.t0.adding(microseconds: 100), agent: "a1"), 3, "agent a1 in p1")
        try checkEqual(try c.store.stats(projectId: "p1", agent: nil).records[.outcome], 3, "p1 left")
        try checkEqual(try c.store.stats(projectId: "p1", agent: "a2").records[.outcome], 3, "p1 a2 untouched")
        try checkEqual(try c.store.stats(projectId: "p2", agent: nil).records[.outcome], 6, "p2 untouched")
        try checkEqual(try c.store.deleteOutcomes(projectId: "p1", olderThan: c.make.t0.adding(microseconds: 100), agent: nil), 3, "rest of p1")
        try checkEqual(try c.store.stats(projectId: "p2", agent: nil).vectors[.outcome], 6, "p2 vectors")
    },
    Scenario("prune.outcomes.vectors", "pruned outcomes lose their vectors and never take top-k slots") { c in
        let q = c.make.vector(12)
        let old = (0..<30).map { MemoryRecord.outcome(c.make.outcome("old\($0)", at: Int64($0), embedding: c.make.near(q, 0.01, seed: UInt64($0)))) }
        let new = (0..<30).map { MemoryRecord.outcome(c.make.outcome("new\($0)", at: 1000 + Int64($0), embedding: c.make.near(q, 1, seed: UInt64(100 + $0)))) }
        _ = try c.store.save(old + new)
        try checkEqual(try c.store.deleteOutcomes(projectId: "p1", olderThan: c.make.t0.adding(microseconds: 1000), agent: nil), 30, "pruned")
        try checkEqual(ids(try c.store.query(vectorQuery(.outcome, "p1", q, topK: 10))), expectedVectorOrder(new, query: q, topK: 10), "top 10 after prune")
        try checkEqual(try c.store.stats(projectId: "p1", agent: nil).vectors[.outcome], 30, "vectors after prune")
    },
    Scenario("prune.heuristics.strict", "heuristics strictly below the confidence go; one exactly at it stays") { c in
        _ = try c.store.save([0.0, 0.1, 0.29999, 0.3, 0.7].enumerated().map { .heuristic(c.make.heuristic("h\($0.offset)", confidence: $0.element)) })
        try checkEqual(try c.store.deleteHeuristics(projectId: "p1", confidenceBelow: 0.3, agent: nil), 3, "pruned")
        try checkEqual(ids(try c.store.query(MemoryQuery(kind: .heuristic, projectId: "p1", topK: 10))), ["h4", "h3"], "survivors")
    },
    Scenario("prune.heuristics.scope-and-vectors", "a heuristic prune touches only its project and agent, and removes vectors") { c in
        let q = c.make.vector(13)
        for p in ["p1", "p2"] {
            let records = (0..<8).map { (i: Int) -> MemoryRecord in
                let weak = i % 2 == 0
                let vector = c.make.near(q, weak ? 0.01 : 1, seed: UInt64(i))
                return .heuristic(c.make.heuristic("h\(i)", project: p, agent: i < 4 ? "a1" : "a2", confidence: weak ? 0.1 : 0.9, embedding: vector))
            }
            _ = try c.store.save(records)
        }
        try checkEqual(try c.store.deleteHeuristics(projectId: "p1", confidenceBelow: 0.5, agent: "a1"), 2, "p1 a1")
        try checkEqual(try c.store.deleteHeuristics(projectId: "p1", confidenceBelow: 0.5, agent: nil), 2, "p1 rest")
        let top = try c.store.query(vectorQuery(.heuristic, "p1", q, topK: 4))
        try check(top.count == 4 && top.allSatisfy { ($0.record.heuristic?.confidence ?? 0) == 0.9 }, "top 4 after prune are the confident ones: \(ids(top))")
        try checkEqual(try c.store.stats(projectId: "p2", agent: nil).vectors[.heuristic], 8, "p2 untouched")
    },
]

let updateScenarios: [Scenario] = [
    Scenario("update.heuristic-patch", "a patch changes only the fields it names, embedding included") { c in
        let original = c.make.heuristic("h", confidence: 0.4, occurrences: 5, successes: 2)
        try c.store.save(original)
        let newVector = c.make.vector(77)
        let patch = HeuristicPatch(strategy: "new strategy", confidence: 0.0, successCount: 5, metadata: .object(["x": .int(1)]), embedding: .some(newVector))
        try check(try c.store.updateHeuristic(projectId: "p1", id: "h", patch: patch), "update returned false")
        try checkSameRecord(try c.store.get(RecordKey(.heuristic, scope: "p1", id: "h")), .heuristic(patch.applied(to: original)), "after patch")
        try checkEqual(ids(try c.store.query(vectorQuery(.heuristic, "p1", newVector, topK: 1))), ["h"], "search by the new vector")
        try check(try c.store.updateHeuristic(projectId: "p1", id: "h", patch: HeuristicPatch(embedding: .some(nil))), "removing the vector")
        try checkEqual(try c.store.get(RecordKey(.heuristic, scope: "p1", id: "h"))?.embedding, nil, "embedding after removal")
        try checkEqual(try c.store.query(vectorQuery(.heuristic, "p1", newVector)).count, 0, "vector search after removal")
        try checkEqual(try c.store.stats(projectId: "p1", agent: nil).vectors[.heuristic], 0, "vectors after removal")
    },
    Scenario("update.heuristic-patch-invalid", "an invalid patch is rejected naming the field and changes nothing") { c in
        try c.store.save(c.make.heuristic("h", occurrences: 3, successes: 1))
        try checkUnchanged(c.store, projects: ["p1"], "invalid patches") {
            try checkRejects(field: "confidence", "confidence 1.5") { _ = try c.store.updateHeuristic(projectId: "p1", id: "h", patch: HeuristicPatch(confidence: 1.5)) }
            try checkRejects(field: "success_count", "success above occurrence") { _ = try c.store.updateHeuristic(projectId: "p1", id: "h", patch: HeuristicPatch(successCount: 4)) }
            try checkRejects(field: "embedding", "2-d embedding") { _ = try c.store.updateHeuristic(projectId: "p1", id: "h", patch: HeuristicPatch(embedding: .some([1, 0]))) }
            try checkRejects(field: "occurrence_count", "negative occurrences") { _ = try c.store.updateHeuristic(projectId: "p1", id: "h", patch: HeuristicPatch(occurrenceCount: -1)) }
            try checkRejects(field: "metadata", "array metadata") { _ = try c.store.updateHeuristic(projectId: "p1", id: "h", patch: HeuristicPatch(metadata: .array([]))) }
        }
    },
    Scenario("update.increment", "increment adds 1 occurrence (and 1 success when successful) and sets lastValidated to now") { c in
        let h = c.make.heuristic("h", occurrences: 4, successes: 2)
        try c.store.save(h)
        let before = Timestamp.now()
        try check(try c.store.incrementHeuristicOccurrence(projectId: "p1", id: "h", success: true), "increment")
        try check(try c.store.incrementHeuristicOccurrence(projectId: "p1", id: "h", success: false), "increment")
        let after = Timestamp.now()
        let got = try c.store.get(RecordKey(.heuristic, scope: "p1", id: "h"))?.heuristic
        try checkEqual([got?.occurrenceCount, got?.successCount], [6, 3], "counts")
        try check(got.map { $0.lastValidated >= before.adding(microseconds: -1000) && $0.lastValidated <= after.adding(microseconds: 1000) } ?? false, "lastValidated \(String(describing: got?.lastValidated)) not between \(before) and \(after)")
        try checkEqual(got?.confidence, h.confidence, "confidence unchanged")
        try checkEqual(got?.condition, h.condition, "condition unchanged")
    },
    Scenario("update.increment-concurrent", "8 threads x 500 concurrent increments add exactly 4,000") { c in
        try c.store.save(c.make.heuristic("h", occurrences: 0, successes: 0))
        let store = c.store
        let failures = FailureLog()
        onThreads(8) { t in
            for i in 0..<500 {
                do {
                    if try !store.incrementHeuristicOccurrence(projectId: "p1", id: "h", success: (i + t) % 2 == 0) {
                        failures.add("increment returned false")
                    }
                } catch { failures.add("\(error)") }
            }
        }
        try check(failures.all.isEmpty, "increments failed: \(failures.all.prefix(3))")
        let got = try c.store.get(RecordKey(.heuristic, scope: "p1", id: "h"))?.heuristic
        try checkEqual(got?.occurrenceCount, 4000, "occurrences")
        try checkEqual(got?.successCount, 2000, "successes")
    },
    confidenceUpdate(.heuristic, to: 0.0, refusing: .nan),
    confidenceUpdate(.domainKnowledge, to: 1.0, refusing: -0.1),
    Scenario("update.missing", "every update of a missing record (or one in another project) returns false and creates nothing") { c in
        try c.store.save(c.make.heuristic("h", project: "p2"))
        try c.store.save(c.make.knowledge("d", project: "p2"))
        try checkUnchanged(c.store, projects: ["p1", "p2"], "updates of missing records") {
            try checkEqual(try c.store.updateHeuristic(projectId: "p1", id: "h", patch: HeuristicPatch(confidence: 0.1)), false, "updateHeuristic")
            try checkEqual(try c.store.incrementHeuristicOccurrence(projectId: "p1", id: "h", success: true), false, "increment")
            try checkEqual(try c.store.updateHeuristicConfidence(projectId: "p1", id: "h", confidence: 0.1), false, "heuristic confidence")
            try checkEqual(try c.store.updateKnowledgeConfidence(projectId: "p1", id: "d", confidence: 0.1), false, "knowledge confidence")
            try checkEqual(try c.store.updateKnowledgeConfidence(projectId: "p2", id: "h", confidence: 0.1), false, "knowledge update of a heuristic id")
        }
    },
]

let statsScenarios: [Scenario] = [
    Scenario("stats.counts", "stats count live records and vectors per kind, per project and agent") { c in
        _ = try c.store.save(c.make.oneOfEach("a", agent: "a1") + c.make.oneOfEach("b", agent: "a2") + c.make.oneOfEach("c", project: "p2"))
        _ = try c.store.save([.heuristic(c.make.heuristic("novec", agent: "a2", embedding: nil)), .userPreference(c.make.preference("pref"))])
        let all = try c.store.stats(projectId: "p1", agent: nil)
        try checkEqual(MemoryKind.vectorKinds.map { all.records[$0] ?? -1 }, [3, 2, 2, 2], "records in p1")
        try checkEqual(MemoryKind.vectorKinds.map { all.vectors[$0] ?? -1 }, [2, 2, 2, 2], "vectors in p1")
        let a2 = try c.store.stats(projectId: "p1", agent: "a2")
        try checkEqual(MemoryKind.vectorKinds.map { a2.records[$0] ?? -1 }, [2, 1, 1, 1], "records of a2")
        let none = try c.store.stats(projectId: "empty", agent: nil)
        try checkEqual(MemoryKind.vectorKinds.map { none.records[$0] ?? -1 }, [0, 0, 0, 0], "records of an empty project")
    },
]

let isolationScenarios: [Scenario] = [
    Scenario("isolation.projects", "operations in one project never read, return, change or count another's records") { c in
        let q = c.make.vector(21)
        let p2 = (0..<20).flatMap { c.make.oneOfEach("x\($0)", project: "p2").map { r -> MemoryRecord in
            // p2 holds vectors identical to the query: the nearest in the store.
            switch r {
            case .heuristic(var h): h.embedding = q; h.confidence = 0.1; return .heuristic(h)
            case .outcome(var o): o.embedding = q; return .outcome(o)
            case .domainKnowledge(var d): d.embedding = q; d.confidence = 0.1; return .domainKnowledge(d)
            case .antiPattern(var a): a.embedding = q; return .antiPattern(a)
            case .userPreference: return r
            }
        } }
        _ = try c.store.save(p2)
        let before = try snapshot(c.store, projects: ["p2"], users: [])
        _ = try c.store.save((0..<5).flatMap { c.make.oneOfEach("x\($0)", project: "p1") })
        for kind in MemoryKind.vectorKinds {
            let hits = try c.store.query(vectorQuery(kind, "p1", q, topK: 50))
            try check(hits.count == 5 && hits.allSatisfy { $0.record.scope == "p1" }, "\(kind) search in p1 returned \(hits.map { $0.record.key })")
        }
        _ = try c.store.deleteOutcomes(projectId: "p1", olderThan: Timestamp.contractRange.upperBound, agent: nil)
        _ = try c.store.deleteHeuristics(projectId: "p1", confidenceBelow: 1.0, agent: nil)
        _ = try c.store.updateHeuristicConfidence(projectId: "p1", id: "x1", confidence: 0.9)
        _ = try c.store.updateKnowledgeConfidence(projectId: "p1", id: "x1", confidence: 0.9)
        _ = try c.store.incrementHeuristicOccurrence(projectId: "p1", id: "x2", success: true)
        _ = try c.store.delete(RecordKey(.antiPattern, scope: "p1", id: "x3"))
        try check(try snapshot(c.store, projects: ["p2"], users: []) == before, "project p2 changed by operations on p1")
    },
    Scenario("isolation.users", "preferences of one user are never returned, changed or deleted through another") { c in
        _ = try c.store.save([.userPreference(c.make.preference("p", user: "alice")), .userPreference(c.make.preference("p", user: "bob"))])
        try checkEqual(try c.store.queryPreferences(userId: "alice").map(\.userId), ["alice"], "alice's preferences")
        try check(try c.store.delete(RecordKey(.userPreference, scope: "alice", id: "p")), "delete alice's")
        try checkEqual(try c.store.queryPreferences(userId: "bob").map(\.id), ["p"], "bob's preference survives")
        try checkEqual(try c.store.delete(RecordKey(.userPreference, scope: "carol", id: "p")), false, "delete through another user")
    },
    Scenario("isolation.exact-strings", "canonically equivalent spellings (é as U+00E9 and as e + U+0301) are two ids, projects, users, agents, task types and categories") { c in
        let composed = "\u{E9}", decomposed = "e\u{301}"
        // Two ids in one project, two projects, two agents, two task types, two users, two categories.
        _ = try c.store.save([
            .outcome(c.make.outcome(composed, agent: composed, taskType: composed, at: 1)), .outcome(c.make.outcome(decomposed, agent: decomposed, taskType: decomposed, at: 2)),
            .heuristic(c.make.heuristic("h", project: composed)), .heuristic(c.make.heuristic("h", project: decomposed, confidence: 0.2)),
            .userPreference(c.make.preference("p", user: composed, category: composed)), .userPreference(c.make.preference("p", user: decomposed, category: decomposed)),
        ])
        func ids(_ q: (inout MemoryQuery) -> Void) throws -> [String] {
            var query = MemoryQuery(kind: .outcome, projectId: "p1", topK: 10)
            q(&query)
            return try c.store.query(query).map(\.record.id).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        }
        try check(try c.store.get(RecordKey(.outcome, scope: "p1", id: composed))?.outcome?.agent.isExactly(composed) == true, "get of the composed id")
        try check(try c.store.get(RecordKey(.outcome, scope: "p1", id: decomposed))?.outcome?.agent.isExactly(decomposed) == true, "get of the decomposed id")
        try checkEqual(try ids { $0.agents = [composed] }.map { Array($0.unicodeScalars) }, [Array(composed.unicodeScalars)], "agent filter, composed")
        try checkEqual(try ids { $0.agents = [decomposed, composed] }.count, 2, "agent filter naming both spellings")
        try checkEqual(try ids { $0.taskType = decomposed }.map { Array($0.unicodeScalars) }, [Array(decomposed.unicodeScalars)], "task type filter, decomposed")
        let h = try c.store.query(MemoryQuery(kind: .heuristic, projectId: composed, topK: 10))
        try check(h.count == 1 && h[0].record.heuristic?.confidence == 0.5, "project \(composed.debugDescription) sees only its own heuristic: \(h.map(\.record.key))")
        try checkEqual(try c.store.stats(projectId: decomposed, agent: nil).records[.heuristic], 1, "stats of the decomposed project")
        let prefs = try c.store.queryPreferences(userId: composed, category: composed)
        try check(prefs.count == 1 && prefs[0].category.isExactly(composed), "preferences of the composed user and category: \(prefs.map(\.category.debugDescription))")
        try check(try c.store.delete(RecordKey(.outcome, scope: "p1", id: decomposed)), "delete the decomposed id")
        try check(try c.store.get(RecordKey(.outcome, scope: "p1", id: composed)) != nil, "the composed id survives the other's delete")
        try checkEqual(try c.store.deleteHeuristics(projectId: composed, confidenceBelow: 1, agent: nil), 1, "prune the composed project")
        try checkEqual(try c.store.stats(projectId: decomposed, agent: nil).records[.heuristic], 1, "the decomposed project survives the other's prune")
    },
]

let concurrencyScenarios: [Scenario] = [
    Scenario("concurrency.parallel-writes", "8 threads saving, deleting and searching at once lose nothing") { c in
        let store = c.store
        let make = c.make
        let failures = FailureLog()
        onThreads(8) { t in
            for i in 0..<100 {
                do {
                    try store.save(make.outcome("t\(t)-\(i)", agent: "a\(t)", at: Int64(i)))
                    if i % 10 == 9 { _ = try store.delete(RecordKey(.outcome, scope: "p1", id: "t\(t)-\(i)")) }
                    if i % 25 == 0 { _ = try store.query(vectorQuery(.outcome, "p1", make.vector(UInt64(i)), topK: 5)) }
                } catch { failures.add("\(error)") }
            }
        }
        try check(failures.all.isEmpty, "operations failed: \(failures.all.prefix(3))")
        let stats = try c.store.stats(projectId: "p1", agent: nil)
        try checkEqual([stats.records[.outcome], stats.vectors[.outcome]], [720, 720], "records and vectors after 800 saves and 80 deletes")
    },
    Scenario("concurrency.no-torn-reads", "4 writers and 4 searchers at once: no search returns a record whose delete had returned before it started, each writer reads its own writes, and the end state is the sequential model's") { c in
        let store = c.store
        let make = c.make
        let failures = FailureLog()
        // Ids whose delete has returned, published after the call returns; each writer's
        // last saved index, so searchers aim at the records being deleted.
        let deleted = Mutex<Set<String>>([])
        let progress = Mutex<[Int]>([0, 0, 0, 0])
        let models = Mutex<[Int: [String: Outcome]]>([:])
        onThreads(8) { t in
            var g = SeededGenerator(seed: 0x70_12 &+ UInt64(t))
            do {
                if t < 4 {
                    // Writer t: saves w<t>-<i>; every odd i deletes the one before it, or an
                    // older live one (every fifth time); every fourth i reads one back.
                    var live: [String: Outcome] = [:]
                    for i in 0..<160 {
                        let id = "w\(t)-\(i)"
                        let o = make.outcome(id, agent: "a\(t)", at: Int64(i))
                        _ = try store.save([.outcome(o)])
                        live[id] = o
                        progress.withLock { $0[t] = i }
                        if i % 2 == 1 {
                            let victim = i % 10 == 9 ? live.keys.sorted().randomElement(using: &g)! : "w\(t)-\(i - 1)"
                            guard try store.delete(RecordKey(.outcome, scope: "p1", id: victim)) else { throw ConformanceFailure("delete of live \(victim) found nothing") }
                            live[victim] = nil
                            deleted.withLock { _ = $0.insert(victim) }
                        }
                        if i % 4 == 3, let id = live.keys.sorted().randomElement(using: &g) {
                            guard case .outcome(let got)? = try store.get(RecordKey(.outcome, scope: "p1", id: id)), got == live[id] else {
                                throw ConformanceFailure("writer \(t) did not read back its own \(id)")
                            }
                        }
                    }
                    models.withLock { $0[t] = live }
                } else {
                    // Searcher: the vector of a record a writer has just saved or deleted, so a
                    // torn read would rank it first.
                    for j in 0..<160 {
                        let w = Int.random(in: 0..<4, using: &g)
                        let target = "w\(w)-\(max(0, progress.withLock { $0[w] } - Int.random(in: 0...2, using: &g)))"
                        let before = deleted.withLock { $0 }
                        let agents: [String]? = j % 2 == 0 ? nil : ["a\(w)"]
                        let hits = try store.query(vectorQuery(.outcome, "p1", make.vector(target + "p1"), topK: 5, agents: agents))
                        if let torn = hits.first(where: { before.contains($0.record.id) }) {
                            throw ConformanceFailure("search \(j) of thread \(t) returned \(torn.record.id), deleted before it started")
                        }
                    }
                }
            } catch { failures.add("thread \(t): \(error)") }
        }
        try check(failures.all.isEmpty, "\(failures.all.count) threads failed: \(failures.all.prefix(3))")
        let expected = models.withLock { $0.values.reduce(into: [String: Outcome]()) { $0.merge($1) { a, _ in a } } }
        let stats = try store.stats(projectId: "p1", agent: nil)
        try checkEqual([stats.records[.outcome], stats.vectors[.outcome]], [expected.count, expected.count], "records and vectors against the model")
        for (id, o) in expected.sorted(by: { $0.key < $1.key }) {
            guard case .outcome(let got)? = try store.get(RecordKey(.outcome, scope: "p1", id: id)), got == o else { throw ConformanceFailure("\(id) differs from the model") }
        }
        for id in deleted.withLock({ $0 }).sorted() {
            try check(try store.get(RecordKey(.outcome, scope: "p1", id: id)) == nil, "deleted \(id) is back")
        }
    },
]

/// Two stores on the same data, as two processes would open it (`sharedAccess`): A's committed
/// writes show in B's next call, vectors included. (A writer killed mid-batch is `engram
/// torture --observer`: it needs a real process to kill.)
let multiprocessScenarios: [Scenario] = [
    Scenario("multiprocess.write-visible", "a save in store A is in store B's next get, search and stats", requires: .sharedAccess) { c in
        let b = try c.another()
        defer { try? b.close() }
        let v = c.make.vector(7)
        try checkEqual(ids(try b.query(vectorQuery(.outcome, "p1", v))), [], "B's search before A writes")
        _ = try c.store.save([.outcome(c.make.outcome("x", embedding: v)), .heuristic(c.make.heuristic("h", confidence: 0.7))])
        try checkEqual(ids(try b.query(vectorQuery(.outcome, "p1", v, topK: 1))), ["x"], "B's search after A's save")
        try checkEqual(try b.get(RecordKey(.heuristic, scope: "p1", id: "h")), .heuristic(c.make.heuristic("h", confidence: 0.7)), "B's get")
        try checkEqual(try b.stats(projectId: "p1", agent: nil).records[.outcome], 1, "B's stats")
    },
    Scenario("multiprocess.delete-visible", "a delete or re-save in A changes B's next top-k", requires: .sharedAccess) { c in
        let b = try c.another()
        defer { try? b.close() }
        let near = c.make.vector(1), far = c.make.vector(2)
        _ = try c.store.save([.outcome(c.make.outcome("x", embedding: near)), .outcome(c.make.outcome("y", embedding: far))])
        try checkEqual(ids(try b.query(vectorQuery(.outcome, "p1", near, topK: 1))), ["x"], "B's top-1 before")
        _ = try b.query(vectorQuery(.outcome, "p1", far, topK: 2))
        try check(try c.store.delete(RecordKey(.outcome, scope: "p1", id: "x")), "A's delete")
        try checkEqual(ids(try b.query(vectorQuery(.outcome, "p1", near, topK: 2))), ["y"], "B's search after A's delete")
        _ = try c.store.save([.outcome(c.make.outcome("y", embedding: near))])
        let hit = try b.query(vectorQuery(.outcome, "p1", near, topK: 1))
        try check(hit.count == 1 && (hit[0].score ?? 0) > 0.999, "B ranks A's re-saved vector: \(hit.map { ($0.record.id, $0.score ?? .nan) })")
    },
    Scenario("multiprocess.prune-across", "B's prune removes A's records and vectors from A's next search; both agree on what is held", requires: .sharedAccess) { c in
        let b = try c.another()
        defer { try? b.close() }
        let v = c.make.vector(3)
        _ = try c.store.save((0..<20).map { .outcome(c.make.outcome("o\($0)", at: Int64($0) * 1_000_000, embedding: c.make.vector(UInt64(100 + $0)))) })
        _ = try c.store.query(vectorQuery(.outcome, "p1", v, topK: 20))
        try checkEqual(try b.deleteOutcomes(projectId: "p1", olderThan: c.make.t0.adding(microseconds: 10_000_000), agent: nil), 10, "B's prune")
        let left = ids(try c.store.query(vectorQuery(.outcome, "p1", v, topK: 20)))
        try checkEqual(Set(left), Set((10..<20).map { "o\($0)" }), "A's search after B's prune")
        if let a = c.store as? any VectorIntrospecting, let bi = b as? any VectorIntrospecting {
            try checkEqual(try a.vectorsHeld()[.outcome], 10, "vectors A holds")
            try checkEqual(try bi.vectorsHeld()[.outcome], 10, "vectors B holds")
        }
    },
    Scenario("multiprocess.both-write", "A and B write at once from 4 threads each; both end with the same records and top-k", requires: .sharedAccess) { c in
        let b = try c.another()
        defer { try? b.close() }
        let stores: [any MemoryStore] = [c.store, b]
        let make = c.make
        let failures = FailureLog()
        onThreads(8) { t in
            do {
                for i in 0..<40 {
                    _ = try stores[t % 2].save([.outcome(make.outcome("t\(t)-\(i)", agent: "a\(t)", at: Int64(i)))])
                    if i % 4 == 3 { _ = try stores[(t + 1) % 2].delete(RecordKey(.outcome, scope: "p1", id: "t\(t)-\(i - 1)")) }
                }
            } catch { failures.add("thread \(t): \(error)") }
        }
        try check(failures.all.isEmpty, "\(failures.all.prefix(3))")
        let q = vectorQuery(.outcome, "p1", make.vector(9), topK: 15)
        try checkEqual(ids(try c.store.query(q)), ids(try b.query(q)), "A's and B's top-15")
        try checkEqual(try c.store.stats(projectId: "p1", agent: nil).vectors[.outcome], 240, "vectors after 320 saves and 80 deletes")
        try checkEqual(try b.stats(projectId: "p1", agent: nil).vectors[.outcome], 240, "B's count")
    },
]

/// Collects failures from concurrent threads.
final class FailureLog: Sendable {
    private let items = Mutex<[String]>([])
    func add(_ s: String) { items.withLock { $0.append(s) } }
    var all: [String] { items.withLock { $0 } }
}

/// `updateHeuristicConfidence` / `updateKnowledgeConfidence` set the confidence only, and
/// refuse a bad one naming the field.
func confidenceUpdate(_ kind: MemoryKind, to value: Double, refusing bad: Double) -> Scenario {
    let heuristic = kind == .heuristic
    let name = heuristic ? "updateHeuristicConfidence" : "updateKnowledgeConfidence"
    return Scenario(heuristic ? "update.heuristic-confidence" : "update.knowledge-confidence", "\(name) sets the confidence only") { c in
        func update(_ x: Double) throws -> Bool {
            heuristic ? try c.store.updateHeuristicConfidence(projectId: "p1", id: "r", confidence: x)
                : try c.store.updateKnowledgeConfidence(projectId: "p1", id: "r", confidence: x)
        }
        let record: MemoryRecord, expected: MemoryRecord
        if heuristic {
            var h = c.make.heuristic("r", confidence: 0.5)
            record = .heuristic(h)
            h.confidence = value
            expected = .heuristic(h)
        } else {
            var d = c.make.knowledge("r", confidence: 0.5)
            record = .domainKnowledge(d)
            d.confidence = value
            expected = .domainKnowledge(d)
        }
        try c.store.save(record)
        try check(try update(value), "update")
        try checkSameRecord(try c.store.get(RecordKey(kind, scope: "p1", id: "r")), expected, "after update")
        try checkRejects(field: "confidence", "confidence \(bad)") { _ = try update(bad) }
    }
}
