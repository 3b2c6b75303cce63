@_spi(Engine) import EngramCore
import Synchronization

/// The in-memory reference store: the simplest correct implementation of the contract,
/// and the yardstick for every other backend. Thread-safe through one mutex; every
/// operation is a plain scan, so it favours obviousness over speed.
public final class ReferenceStore: WholeRecordEngine {
    public let backendName = "memory"
    public let embeddingDimension: Int
    public var capabilities: Set<Capability> { [.vectorIntrospection] }

    private struct State {
        var records: [RecordKey: MemoryRecord] = [:]
        var closed = false
    }
    private let state = Mutex(State())

    public init(embeddingDimension: Int = 384) {
        self.embeddingDimension = embeddingDimension
    }

    private func withState<T>(_ body: (inout State) throws -> T) throws -> T {
        try state.withLock { s in
            guard !s.closed else { throw EngramError(.unavailable, "the store is closed") }
            return try body(&s)
        }
    }

    public func validatedSave(_ records: [MemoryRecord]) throws -> [String] {
        return try withState { s in
            for r in records { s.records[r.key] = r }
            return records.map(\.id)
        }
    }

    public func validatedGet(_ key: RecordKey) throws -> MemoryRecord? {
        return try withState { $0.records[key] }
    }

    public func validatedQuery(_ q: MemoryQuery) throws -> [ScoredRecord] {
        return q.rank(try withState { s in s.records.values.filter { q.matches($0) } })
    }

    public func validatedQueryPreferences(userId: String, category: String?) throws -> [UserPreference] {
        let prefs = try withState { s in
            s.records.values.filter { r in
                guard let p = r.userPreference, p.userId == userId else { return false }
                return category == nil || p.category == category
            }
        }
        return prefs.sorted(by: MemoryKind.defaultOrder).compactMap(\.userPreference)
    }

    /// Applies `change` to one stored record under the lock; false if it is missing.
    @_spi(Engine) public func modify(_ key: RecordKey, _ change: (MemoryRecord) throws -> MemoryRecord?) throws -> Bool {
        return try withState { s in
            guard let current = s.records[key], let next = try change(current) else { return false }
            s.records[key] = next
            return true
        }
    }

    public func validatedDelete(_ key: RecordKey) throws -> Bool {
        return try withState { $0.records.removeValue(forKey: key) != nil }
    }

    private func deleteWhere(_ predicate: (MemoryRecord) -> Bool) throws -> Int {
        try withState { s in
            let doomed = s.records.filter { predicate($0.value) }.keys
            for k in doomed { s.records.removeValue(forKey: k) }
            return doomed.count
        }
    }

    public func validatedDeleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> Int {
        return try deleteWhere { $0.isPrunedOutcome(projectId: projectId, olderThan: olderThan, agent: agent) }
    }

    public func validatedDeleteHeuristics(projectId: String, confidenceBelow: Double, agent: String?) throws -> Int {
        return try deleteWhere { $0.isPrunedHeuristic(projectId: projectId, confidenceBelow: confidenceBelow, agent: agent) }
    }

    public func validatedStats(projectId: String, agent: String?) throws -> StoreStats {
        return try withState { s in StoreStats.counting(s.records.values, projectId: projectId, agent: agent) }
    }

    public func close() throws {
        state.withLock { $0.closed = true }
    }
}

extension ReferenceStore: VectorIntrospecting {
    /// The reference store keeps vectors inside its records, so the two counts agree by construction.
    public func vectorsHeld() throws -> [MemoryKind: Int] { try recordsWithEmbedding() }

    public func recordsWithEmbedding() throws -> [MemoryKind: Int] {
        try withState { s in
            var counts: [MemoryKind: Int] = [:]
            for kind in MemoryKind.vectorKinds { counts[kind] = 0 }
            for r in s.records.values where r.embedding != nil { counts[r.kind, default: 0] += 1 }
            return counts
        }
    }
}
