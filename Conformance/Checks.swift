import EngramCore
import Dispatch
import Foundation

// MARK: Expectations

public func check(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw ConformanceFailure(message()) }
}

public func checkEqual<T: Equatable>(_ actual: T, _ expected: T, _ what: String) throws {
    if actual != expected { throw ConformanceFailure("\(what): expected \(expected), got \(actual)") }
}

/// `body` must throw `EngramError` with code `invalidInput` naming `field`.
public func checkRejects(field: String, _ what: String, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as EngramError {
        try check(e.code == .invalidInput, "\(what): expected invalid_input, got \(e)")
        try check(e.field == field, "\(what): expected the error to name field '\(field)', got \(e.field ?? "none") (\(e))")
        return
    } catch {
        throw ConformanceFailure("\(what): expected EngramError invalid_input on '\(field)', got \(error)")
    }
    throw ConformanceFailure("\(what): accepted; expected a rejection naming '\(field)'")
}

/// Runs `body` and checks that it changed nothing visible in `projects` and `users`.
public func checkUnchanged(_ store: any MemoryStore, projects: [String], users: [String] = [], _ what: String, _ body: () throws -> Void) throws {
    let before = try snapshot(store, projects: projects, users: users)
    try body()
    let after = try snapshot(store, projects: projects, users: users)
    try check(before == after, "\(what): the store changed after a rejected call")
}

public struct Snapshot: Equatable {
    public var records: [MemoryRecord]
    public var stats: [StoreStats]
}

/// Every record of `projects` and `users`, in default order, plus their stats.
public func snapshot(_ store: any MemoryStore, projects: [String], users: [String]) throws -> Snapshot {
    var records: [MemoryRecord] = []
    var stats: [StoreStats] = []
    for p in projects {
        for kind in MemoryKind.vectorKinds {
            records += try store.query(MemoryQuery(kind: kind, projectId: p, topK: MemoryQuery.maxTopK)).map(\.record)
        }
        stats.append(try store.stats(projectId: p, agent: nil))
    }
    for u in users { records += try store.queryPreferences(userId: u).map(MemoryRecord.userPreference) }
    return Snapshot(records: records, stats: stats)
}

public func ids(_ results: [ScoredRecord]) -> [String] { results.map(\.record.id) }

/// Embeddings compared bit for bit (so -0.0 and 0.0 differ, and no rounding passes).
public func bitsEqual(_ a: [Float]?, _ b: [Float]?) -> Bool {
    switch (a, b) {
    case (nil, nil): return true
    case (let x?, let y?): return x.count == y.count && zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern }
    default: return false
    }
}

/// Checks that `actual` equals `expected` exactly, embeddings bit for bit, with a field-level diff on failure.
public func checkSameRecord(_ actual: MemoryRecord?, _ expected: MemoryRecord, _ what: String) throws {
    guard let actual else { throw ConformanceFailure("\(what): record \(expected.key) not found") }
    try check(bitsEqual(actual.embedding, expected.embedding), "\(what): embedding of \(expected.key) not bit-exact")
    if actual != expected {
        throw ConformanceFailure("\(what): \(expected.key) differs: \(recordDiff(actual, expected))")
    }
}

func recordDiff(_ a: MemoryRecord, _ b: MemoryRecord) -> String {
    let ma = Mirror(reflecting: payload(a)), mb = Mirror(reflecting: payload(b))
    var diffs: [String] = []
    for (x, y) in zip(ma.children, mb.children) where "\(x.value)" != "\(y.value)" {
        let av = "\(x.value)", bv = "\(y.value)"
        diffs.append("\(x.label ?? "?"): got \(av.prefix(80)) expected \(bv.prefix(80))")
    }
    return diffs.isEmpty ? "values differ" : diffs.joined(separator: "; ")
}

private func payload(_ r: MemoryRecord) -> Any {
    switch r {
    case .heuristic(let x): x
    case .outcome(let x): x
    case .domainKnowledge(let x): x
    case .antiPattern(let x): x
    case .userPreference(let x): x
    }
}

// MARK: Fixtures

/// Deterministic record and vector builders for scenarios.
public struct Make: Sendable {
    public let dimension: Int
    public init(dimension: Int) { self.dimension = dimension }
    /// A fixed base instant with microseconds, so that rounding shows.
    public let t0 = Timestamp(microsecondsSinceEpoch: 1_769_567_190_123_456)

    /// A pseudo-random vector determined by `seed`.
    public func vector(_ seed: UInt64) -> [Float] {
        var g = SeededGenerator(seed: seed &* 0x2545_F491_4F6C_DD1D &+ 17)
        return g.vector(dimension: dimension)
    }

    /// A pseudo-random vector determined by a string.
    public func vector(_ text: String) -> [Float] { vector(fnv1a(text)) }

    /// `base` moved by `amount` of a seeded noise vector: cosine to `base` falls as `amount` grows.
    public func near(_ base: [Float], _ amount: Float, seed: UInt64) -> [Float] {
        let noise = vector(seed &+ 1_000_003)
        return zip(base, noise).map { $0 + amount * $1 }
    }

    public func heuristic(
        _ id: String, project: String = "p1", agent: String = "a1", confidence: Double = 0.5, occurrences: Int = 4,
        successes: Int = 2, embedding: [Float]? = [], at: Int64 = 0
    ) -> Heuristic {
        Heuristic(
            id: id, agent: agent, projectId: project, condition: "when \(id)", strategy: "do \(id)",
            confidence: confidence, occurrenceCount: occurrences, successCount: successes,
            lastValidated: t0.adding(microseconds: at), createdAt: t0.adding(microseconds: at - 1_000_001),
            embedding: resolve(embedding, id + project), metadata: .object(["source": .string(id)]))
    }

    public func outcome(
        _ id: String, project: String = "p1", agent: String = "a1", taskType: String = "api", success: Bool = true,
        at: Int64 = 0, embedding: [Float]? = []
    ) -> Outcome {
        Outcome(
            id: id, agent: agent, projectId: project, taskType: taskType, taskDescription: "task \(id)",
            success: success, strategyUsed: "strategy \(id)", durationMs: 42, errorMessage: nil, userFeedback: nil,
            timestamp: t0.adding(microseconds: at), embedding: resolve(embedding, id + project))
    }

    public func knowledge(
        _ id: String, project: String = "p1", agent: String = "a1", domain: String = "auth", confidence: Double = 0.5,
        embedding: [Float]? = []
    ) -> DomainKnowledge {
        DomainKnowledge(
            id: id, agent: agent, projectId: project, domain: domain, fact: "fact \(id)", source: "code_analysis",
            confidence: confidence, lastVerified: t0, embedding: resolve(embedding, id + project))
    }

    public func antiPattern(
        _ id: String, project: String = "p1", agent: String = "a1", occurrences: Int = 1, embedding: [Float]? = []
    ) -> AntiPattern {
        AntiPattern(
            id: id, agent: agent, projectId: project, pattern: "pattern \(id)", whyBad: "bad \(id)",
            betterAlternative: "better \(id)", occurrenceCount: occurrences, lastSeen: t0, createdAt: t0,
            embedding: resolve(embedding, id + project))
    }

    public func preference(_ id: String, user: String = "u1", category: String = "style", at: Int64 = 0) -> UserPreference {
        UserPreference(
            id: id, userId: user, category: category, preference: "prefers \(id)", source: "explicit_instruction",
            confidence: 0.9, timestamp: t0.adding(microseconds: at))
    }

    /// One record of each project kind (with the same id) in `project`.
    public func oneOfEach(_ id: String, project: String = "p1", agent: String = "a1") -> [MemoryRecord] {
        [
            .heuristic(heuristic(id, project: project, agent: agent)),
            .outcome(outcome(id, project: project, agent: agent)),
            .domainKnowledge(knowledge(id, project: project, agent: agent)),
            .antiPattern(antiPattern(id, project: project, agent: agent)),
        ]
    }

    /// `[]` means "a vector derived from the record", nil means none.
    private func resolve(_ embedding: [Float]?, _ seedText: String) -> [Float]? {
        guard let embedding else { return nil }
        return embedding.isEmpty ? vector(seedText) : embedding
    }
}

/// The ids a vector query should return, computed independently from `records`.
public func expectedVectorOrder(_ records: [MemoryRecord], query: [Float], topK: Int) -> [String] {
    records.compactMap { r in r.embedding.map { ScoredRecord(record: r, score: cosineSimilarity(query, $0)) } }
        .sorted(by: MemoryKind.scoreOrder).prefix(topK).map(\.record.id)
}

public func vectorQuery(_ kind: MemoryKind, _ project: String, _ vector: [Float], topK: Int = 10, agents: [String]? = nil) -> MemoryQuery {
    MemoryQuery(kind: kind, projectId: project, agents: agents, topK: topK, vector: vector)
}

/// Runs `body(0)…body(count - 1)` on threads of their own, all at once: `concurrentPerform`
/// runs only as many at a time as there are cores, so on 2 cores its "8 threads" never overlap
/// the way an agent server's requests do.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for t in 0..<count {
        group.enter()
        Thread {
            body(t)
            group.leave()
        }.start()
    }
    group.wait()
}
