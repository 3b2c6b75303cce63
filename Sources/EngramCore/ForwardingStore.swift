/// A store that hands each call to another: writes to `writes`, reads to `reads` (the same
/// store for a plain wrapper). A wrapper conforms, names the two, and implements only what it
/// changes (and `close`); every other call is forwarded as it is, validation included.
public protocol ForwardingStore: MemoryStore {
    /// Where saves, updates and deletes go.
    var writes: any MemoryStore { get }
    /// Where gets, queries and stats go.
    var reads: any MemoryStore { get }
}

extension ForwardingStore {
    public var backendName: String { writes.backendName }
    public var embeddingDimension: Int { writes.embeddingDimension }
    public var capabilities: Set<Capability> { writes.capabilities }
    public func save(_ records: [MemoryRecord]) throws -> [String] { try writes.save(records) }
    public func get(_ key: RecordKey) throws -> MemoryRecord? { try reads.get(key) }
    public func query(_ query: MemoryQuery) throws -> [ScoredRecord] { try reads.query(query) }
    public func queryPreferences(userId: String, category: String?) throws -> [UserPreference] { try reads.queryPreferences(userId: userId, category: category) }
    public func updateHeuristic(projectId: String, id: String, patch: HeuristicPatch) throws -> Bool { try writes.updateHeuristic(projectId: projectId, id: id, patch: patch) }
    public func incrementHeuristicOccurrence(projectId: String, id: String, success: Bool) throws -> Bool {
        try writes.incrementHeuristicOccurrence(projectId: projectId, id: id, success: success)
    }
    public func updateHeuristicConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try writes.updateHeuristicConfidence(projectId: projectId, id: id, confidence: confidence)
    }
    public func updateKnowledgeConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try writes.updateKnowledgeConfidence(projectId: projectId, id: id, confidence: confidence)
    }
    public func delete(_ key: RecordKey) throws -> Bool { try writes.delete(key) }
    public func deleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> Int {
        try writes.deleteOutcomes(projectId: projectId, olderThan: olderThan, agent: agent)
    }
    public func deleteHeuristics(projectId: String, confidenceBelow: Double, agent: String?) throws -> Int {
        try writes.deleteHeuristics(projectId: projectId, confidenceBelow: confidenceBelow, agent: agent)
    }
    public func stats(projectId: String, agent: String?) throws -> StoreStats { try reads.stats(projectId: projectId, agent: agent) }
}
