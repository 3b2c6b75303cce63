@_spi(Engine) import EngramCore

/// The in-memory reference store: the simplest correct implementation of the contract,
/// and the yardstick for every other backend. Thread-safe through one mutex; every
/// operation is a plain scan, so it favours obviousness over speed.
public final class ReferenceStore: InMemoryRecordEngine {
    public let backendName = "memory"
    public let embeddingDimension: Int
    public var capabilities: Set<Capability> { [.vectorIntrospection] }

    private let state = GuardedState<[RecordKey: MemoryRecord]>([:])

    public init(embeddingDimension: Int = 384) {
        self.embeddingDimension = embeddingDimension
    }

    @_spi(Engine) public func validatedSave(_ records: [MemoryRecord]) throws -> [String] {
        return try state.withOpen { s in
            for r in records { s[r.key] = r }
            return records.map(\.id)
        }
    }

    @_spi(Engine) public func scan<T: Sendable>(_ body: ([RecordKey: MemoryRecord]) throws -> T) throws -> T {
        try state.withOpen { try body($0) }
    }

    /// Applies `change` to one stored record under the lock; false if it is missing.
    @_spi(Engine) public func modify(_ key: RecordKey, _ change: (MemoryRecord) throws -> MemoryRecord?) throws -> Bool {
        return try state.withOpen { s in
            guard let current = s[key], let next = try change(current) else { return false }
            s[key] = next
            return true
        }
    }

    @_spi(Engine) public func validatedDelete(_ key: RecordKey) throws -> Bool {
        return try state.withOpen { $0.removeValue(forKey: key) != nil }
    }

    @_spi(Engine) public func remove(where predicate: (MemoryRecord) -> Bool) throws -> Int {
        try state.withOpen { s in
            let doomed = s.filter { predicate($0.value) }.keys
            for k in doomed { s.removeValue(forKey: k) }
            return doomed.count
        }
    }

    public func close() throws {
        state.close { $0.removeAll() }
    }
}

/// Vectors live inside the records, so the two counts agree by construction.
extension ReferenceStore: VectorIntrospecting {}
