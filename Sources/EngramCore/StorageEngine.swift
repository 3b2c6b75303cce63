import Synchronization

/// What a backend implements to become a `MemoryStore`: each operation of the contract,
/// receiving input the core has already validated. The `validated…` methods are backend SPI
/// (`@_spi(Engine)`): a user of a store sees only the validating front door, so no call of
/// the public API can skip validation.
///
/// The core's extension below is the store's front door: it applies `Validation` to every
/// call, the same rules and field names for every backend, then calls the engine. So a
/// backend cannot skip a rule or vary it, and adding a rule changes one file. A backend
/// implements the `validated…` methods and does not define the `MemoryStore` methods itself.
public protocol StorageEngine: MemoryStore {
    /// Whether the front door validates calls (true). Only a client of another process that
    /// validates by itself may say false, so that a conformance run can send bad input to
    /// that process as it is (`ExternalStore` with `validatesLocally` off).
    var validatesInput: Bool { get }
    @_spi(Engine) func validatedSave(_ records: [MemoryRecord]) throws -> [String]
    @_spi(Engine) func validatedGet(_ key: RecordKey) throws -> MemoryRecord?
    @_spi(Engine) func validatedQuery(_ query: MemoryQuery) throws -> [ScoredRecord]
    @_spi(Engine) func validatedQueryPreferences(userId: String, category: String?) throws -> [UserPreference]
    @_spi(Engine) func validatedUpdateHeuristic(projectId: String, id: String, patch: HeuristicPatch) throws -> Bool
    @_spi(Engine) func validatedIncrementHeuristicOccurrence(projectId: String, id: String, success: Bool) throws -> Bool
    @_spi(Engine) func validatedUpdateHeuristicConfidence(projectId: String, id: String, confidence: Double) throws -> Bool
    @_spi(Engine) func validatedUpdateKnowledgeConfidence(projectId: String, id: String, confidence: Double) throws -> Bool
    @_spi(Engine) func validatedDelete(_ key: RecordKey) throws -> Bool
    @_spi(Engine) func validatedDeleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> Int
    @_spi(Engine) func validatedDeleteHeuristics(projectId: String, confidenceBelow: Double, agent: String?) throws -> Int
    @_spi(Engine) func validatedStats(projectId: String, agent: String?) throws -> StoreStats
}

extension StorageEngine {
    public var validatesInput: Bool { true }

    public func save(_ records: [MemoryRecord]) throws -> [String] {
        if validatesInput { try Validation.batch(records, dimension: embeddingDimension) }
        return try validatedSave(records)
    }

    public func get(_ key: RecordKey) throws -> MemoryRecord? {
        if validatesInput { try Validation.key(key) }
        return try validatedGet(key)
    }

    public func query(_ query: MemoryQuery) throws -> [ScoredRecord] {
        if validatesInput { try Validation.query(query, dimension: embeddingDimension) }
        return try validatedQuery(query)
    }

    public func queryPreferences(userId: String, category: String?) throws -> [UserPreference] {
        if validatesInput { try Validation.id(userId, field: "user_id") }
        if validatesInput { if let category { try Validation.text(category, field: "category") } }
        return try validatedQueryPreferences(userId: userId, category: category)
    }

    public func updateHeuristic(projectId: String, id: String, patch: HeuristicPatch) throws -> Bool {
        if validatesInput { try Validation.key(RecordKey(.heuristic, scope: projectId, id: id)) }
        if validatesInput { try Validation.patch(patch, dimension: embeddingDimension) }
        return try validatedUpdateHeuristic(projectId: projectId, id: id, patch: patch)
    }

    public func incrementHeuristicOccurrence(projectId: String, id: String, success: Bool) throws -> Bool {
        if validatesInput { try Validation.key(RecordKey(.heuristic, scope: projectId, id: id)) }
        return try validatedIncrementHeuristicOccurrence(projectId: projectId, id: id, success: success)
    }

    public func updateHeuristicConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        if validatesInput { try Validation.key(RecordKey(.heuristic, scope: projectId, id: id)) }
        if validatesInput { try Validation.confidence(confidence) }
        return try validatedUpdateHeuristicConfidence(projectId: projectId, id: id, confidence: confidence)
    }

    public func updateKnowledgeConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        if validatesInput { try Validation.key(RecordKey(.domainKnowledge, scope: projectId, id: id)) }
        if validatesInput { try Validation.confidence(confidence) }
        return try validatedUpdateKnowledgeConfidence(projectId: projectId, id: id, confidence: confidence)
    }

    public func delete(_ key: RecordKey) throws -> Bool {
        if validatesInput { try Validation.key(key) }
        return try validatedDelete(key)
    }

    public func deleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> Int {
        if validatesInput { try Validation.id(projectId, field: "project_id") }
        if validatesInput { try Validation.timestamp(olderThan, field: "older_than") }
        if validatesInput { try Validation.agent(agent) }
        return try validatedDeleteOutcomes(projectId: projectId, olderThan: olderThan, agent: agent)
    }

    public func deleteHeuristics(projectId: String, confidenceBelow: Double, agent: String?) throws -> Int {
        if validatesInput { try Validation.id(projectId, field: "project_id") }
        if validatesInput { try Validation.threshold(confidenceBelow, field: "below") }
        if validatesInput { try Validation.agent(agent) }
        return try validatedDeleteHeuristics(projectId: projectId, confidenceBelow: confidenceBelow, agent: agent)
    }

    public func stats(projectId: String, agent: String?) throws -> StoreStats {
        if validatesInput { try Validation.id(projectId, field: "project_id") }
        if validatesInput { try Validation.agent(agent) }
        return try validatedStats(projectId: projectId, agent: agent)
    }
}

/// A backend that reads and writes whole records (the reference store, the file store, Cosmos
/// DB): it provides one atomic read-modify-write, and the core writes the patch, increment and
/// confidence updates on top of it once, with the record-level rules (`Query.swift`).
public protocol WholeRecordEngine: StorageEngine {
    /// Applies `change` to the record under `key` atomically and stores the result; false when
    /// the record is missing or `change` returns nil. Backend SPI (`@_spi(Engine)`): it writes
    /// whatever `change` returns, so only the core's validated updates may call it.
    @_spi(Engine) func modify(_ key: RecordKey, _ change: (MemoryRecord) throws -> MemoryRecord?) throws -> Bool
}

extension WholeRecordEngine {
    @_spi(Engine) public func validatedUpdateHeuristic(projectId: String, id: String, patch: HeuristicPatch) throws -> Bool {
        try modify(RecordKey(.heuristic, scope: projectId, id: id)) { try $0.patched(patch) }
    }

    @_spi(Engine) public func validatedIncrementHeuristicOccurrence(projectId: String, id: String, success: Bool) throws -> Bool {
        try modify(RecordKey(.heuristic, scope: projectId, id: id)) { $0.incrementingOccurrence(success: success) }
    }

    @_spi(Engine) public func validatedUpdateHeuristicConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try modify(RecordKey(.heuristic, scope: projectId, id: id)) { $0.settingConfidence(confidence) }
    }

    @_spi(Engine) public func validatedUpdateKnowledgeConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try modify(RecordKey(.domainKnowledge, scope: projectId, id: id)) { $0.settingConfidence(confidence) }
    }
}

/// A backend that keeps every record in memory (the reference store; the file store, which
/// also logs each change): it offers a scan and a removal by predicate, and the core answers
/// queries, prunes and counts by scanning, once for both.
public protocol InMemoryRecordEngine: WholeRecordEngine {
    /// Runs `body` over every live record by key, under the store's lock.
    @_spi(Engine) func scan<T: Sendable>(_ body: ([RecordKey: MemoryRecord]) throws -> T) throws -> T
    /// Removes (durably, for a durable store) every record `predicate` accepts; returns how many.
    @_spi(Engine) func remove(where predicate: (MemoryRecord) -> Bool) throws -> Int
}

extension InMemoryRecordEngine {
    @_spi(Engine) public func validatedGet(_ key: RecordKey) throws -> MemoryRecord? {
        try scan { $0[key] }
    }

    @_spi(Engine) public func validatedQuery(_ q: MemoryQuery) throws -> [ScoredRecord] {
        q.rank(try scan { $0.values.filter { q.matches($0) } })
    }

    @_spi(Engine) public func validatedQueryPreferences(userId: String, category: String?) throws -> [UserPreference] {
        let prefs = try scan { records in
            records.values.filter { r in
                guard let p = r.userPreference, p.userId.isExactly(userId) else { return false }
                return category == nil || p.category.isExactly(category!)
            }
        }
        return prefs.sorted(by: MemoryKind.defaultOrder).compactMap(\.userPreference)
    }

    @_spi(Engine) public func validatedDeleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> Int {
        try remove { $0.isPrunedOutcome(projectId: projectId, olderThan: olderThan, agent: agent) }
    }

    @_spi(Engine) public func validatedDeleteHeuristics(projectId: String, confidenceBelow: Double, agent: String?) throws -> Int {
        try remove { $0.isPrunedHeuristic(projectId: projectId, confidenceBelow: confidenceBelow, agent: agent) }
    }

    @_spi(Engine) public func validatedStats(projectId: String, agent: String?) throws -> StoreStats {
        try scan { StoreStats.counting($0.values, projectId: projectId, agent: agent) }
    }

    /// Records with an embedding per kind, all scopes: what such a store's vector
    /// introspection reports, since its vectors live inside its records.
    public func recordsWithEmbedding() throws -> [MemoryKind: Int] {
        try scan { records in
            var out = Dictionary(uniqueKeysWithValues: MemoryKind.vectorKinds.map { ($0, 0) })
            for r in records.values where r.embedding != nil { out[r.kind, default: 0] += 1 }
            return out
        }
    }

    public func vectorsHeld() throws -> [MemoryKind: Int] { try recordsWithEmbedding() }
}

/// A store's mutable state behind one lock, with the closed flag every store keeps: calls
/// after `close()` fail with `unavailable`, as `MemoryStore` promises.
public final class GuardedState<State: Sendable>: Sendable {
    private let mutex: Mutex<(state: State, closed: Bool)>

    public init(_ state: State) { mutex = Mutex((state, false)) }

    /// Runs `body` on the state; `unavailable` once the store is closed.
    public func withOpen<T: Sendable>(_ body: (inout State) throws -> T) throws -> T {
        try mutex.withLock { s in
            guard !s.closed else { throw EngramError(.unavailable, "the store is closed") }
            return try body(&s.state)
        }
    }

    /// Runs `body` on the state whether or not the store is closed.
    public func withLock<T: Sendable>(_ body: (inout State) throws -> T) rethrows -> T {
        try mutex.withLock { s in try body(&s.state) }
    }

    /// Marks the store closed, running `body` on the first close only.
    public func close(_ body: (inout State) -> Void = { _ in }) {
        mutex.withLock { s in
            guard !s.closed else { return }
            s.closed = true
            body(&s.state)
        }
    }
}

/// A store's configuration value: at least the embedding dimension the store holds.
public protocol StoreConfiguration: Sendable {
    var embeddingDimension: Int { get }
}

/// A store made from one configuration value, which it keeps (and reports) as it was given.
public protocol ConfiguredStore: StorageEngine {
    associatedtype Configuration: StoreConfiguration
    var configuration: Configuration { get }
}

extension ConfiguredStore {
    public var embeddingDimension: Int { configuration.embeddingDimension }
}
