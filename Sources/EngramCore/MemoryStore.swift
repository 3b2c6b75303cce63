/// Optional features a store declares beyond the contract's core.
/// The conformance suite runs a capability's scenarios only where it is declared.
public struct Capability: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    public static func < (a: Capability, b: Capability) -> Bool { a.rawValue < b.rawValue }

    /// Saves survive closing and reopening the store (`StoreFixture.reopen`).
    public static let durability = Capability(rawValue: "durability")
    /// The store reports every vector it holds (`VectorIntrospecting`).
    public static let vectorIntrospection = Capability(rawValue: "introspection")
    /// The store explains the plan of its own prune (`QueryPlanIntrospecting`).
    public static let queryPlanIntrospection = Capability(rawValue: "query_plan")
    /// Several stores — in several processes — may open the same data at once, and each sees
    /// the others' committed writes in its next call (`StoreFixture.openAnother`).
    public static let sharedAccess = Capability(rawValue: "shared_access")
    /// The store reports request charges (Cosmos DB request units).
    public static let requestCharge = Capability(rawValue: "request_charge")
}

/// The memory-store contract (docs/contract.md): every Engram backend implements it and the
/// conformance suite checks exactly it.
///
/// Calls are synchronous and may block on I/O; stores are safe to call from many
/// threads at once, and every call is atomic. Bad input throws `EngramError` with
/// code `invalidInput` naming the field, and changes nothing.
public protocol MemoryStore: Sendable {
    /// A short name for reports (`memory`, `sqlite`, ...).
    var backendName: String { get }
    /// The dimension every embedding must have.
    var embeddingDimension: Int { get }
    /// What the store supports beyond the core contract.
    var capabilities: Set<Capability> { get }

    /// Upserts (full replace by key) all `records`, all or nothing; returns their ids in
    /// input order. A later duplicate key in the batch wins; an empty batch is a no-op.
    func save(_ records: [MemoryRecord]) throws -> [String]
    /// The stored record under `key`, exactly, or nil.
    func get(_ key: RecordKey) throws -> MemoryRecord?
    /// Filter first, then rank; returns min(topK, matching) results.
    func query(_ query: MemoryQuery) throws -> [ScoredRecord]
    /// All of a user's preferences (optionally one category), newest first, ties by id.
    func queryPreferences(userId: String, category: String?) throws -> [UserPreference]
    /// Applies `patch` to one heuristic; false if it does not exist.
    func updateHeuristic(projectId: String, id: String, patch: HeuristicPatch) throws -> Bool
    /// Atomically adds 1 to occurrenceCount (and successCount when `success`), sets lastValidated = now.
    func incrementHeuristicOccurrence(projectId: String, id: String, success: Bool) throws -> Bool
    /// Sets a heuristic's confidence only.
    func updateHeuristicConfidence(projectId: String, id: String, confidence: Double) throws -> Bool
    /// Sets a domain knowledge record's confidence only.
    func updateKnowledgeConfidence(projectId: String, id: String, confidence: Double) throws -> Bool
    /// Removes the record and its vector; false if it did not exist.
    func delete(_ key: RecordKey) throws -> Bool
    /// Deletes the project's outcomes with timestamp strictly before `olderThan` (and of `agent`).
    func deleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> Int
    /// Deletes the project's heuristics with confidence strictly below `confidenceBelow` (and of `agent`).
    func deleteHeuristics(projectId: String, confidenceBelow: Double, agent: String?) throws -> Int
    /// Live record and vector counts per project-scoped kind in the project (and agent).
    /// Preferences belong to users, not projects, and are not counted here.
    func stats(projectId: String, agent: String?) throws -> StoreStats
    /// Releases files, connections and processes. Further calls fail with `unavailable`.
    func close() throws
}

extension MemoryStore {
    /// Saves one record (an upsert with full replace).
    @discardableResult
    public func save(_ record: MemoryRecord) throws -> String { try save([record])[0] }
    @discardableResult
    public func save(_ r: Heuristic) throws -> String { try save(.heuristic(r)) }
    @discardableResult
    public func save(_ r: Outcome) throws -> String { try save(.outcome(r)) }
    @discardableResult
    public func save(_ r: DomainKnowledge) throws -> String { try save(.domainKnowledge(r)) }
    @discardableResult
    public func save(_ r: AntiPattern) throws -> String { try save(.antiPattern(r)) }
    @discardableResult
    public func save(_ r: UserPreference) throws -> String { try save(.userPreference(r)) }

    public func queryPreferences(userId: String) throws -> [UserPreference] {
        try queryPreferences(userId: userId, category: nil)
    }
}

/// A store that can report every vector it holds, in all scopes (capability `introspection`).
public protocol VectorIntrospecting {
    /// Vectors held per kind, counted in the store's index/rows/documents, all scopes.
    func vectorsHeld() throws -> [MemoryKind: Int]
    /// Live records that have an embedding, per kind, all scopes.
    func recordsWithEmbedding() throws -> [MemoryKind: Int]
}

/// The plan a store uses for one statement.
public struct QueryPlan: Sendable, Equatable, CustomStringConvertible {
    /// The index used, when the plan uses one for the statement's main table.
    public var indexUsed: String?
    /// Whether the plan scans the whole table.
    public var fullScan: Bool
    /// The backend's own text of the plan.
    public var detail: String
    public init(indexUsed: String?, fullScan: Bool, detail: String) {
        self.indexUsed = indexUsed
        self.fullScan = fullScan
        self.detail = detail
    }
    public var description: String { detail }
}

/// A store that explains the plan of its own prune (capability `query_plan`).
public protocol QueryPlanIntrospecting {
    /// The name of the index that should serve `deleteOutcomes`.
    var outcomeTimestampIndexName: String { get }
    /// The plan the store uses for `deleteOutcomes(projectId:olderThan:agent:)`.
    func explainDeleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> QueryPlan
}

/// A store that can say how much memory its vector indexes hold (for capacity planning).
public protocol IndexMemoryReporting {
    /// Approximate heap bytes held by all vector indexes.
    func vectorIndexMemoryBytes() throws -> Int
    /// The part of those bytes allocated ahead of need (arrays that grow geometrically).
    func vectorIndexSlackBytes() throws -> Int
}

extension IndexMemoryReporting {
    public func vectorIndexSlackBytes() throws -> Int { 0 }
}

/// A store with caches of bounded size (SQLite's page caches) that it can empty, so a memory
/// measurement sees what grows with the data; `cacheBoundBytes` is what they may take again.
public protocol CacheReleasing {
    func releaseCaches() throws
    var cacheBoundBytes: Int { get }
}

/// A store that can say how many bytes it occupies on disk (files, WAL, relations and indexes).
public protocol DiskUsageReporting {
    func diskBytes() throws -> Int
}

/// A store that counts what its requests cost (Cosmos DB request units), capability `request_charge`.
public protocol RequestChargeReporting {
    /// Request units charged so far, and the number of requests.
    var requestCharge: (total: Double, requests: Int) { get }
}

/// A store that can say how many cross-partition queries it has sent (Cosmos DB): single-record
/// calls should send none (review MED-007).
public protocol CrossPartitionCounting {
    var crossPartitionQueries: Int { get }
}
