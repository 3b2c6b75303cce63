/// What a backend implements to become a `MemoryStore`: each operation of the contract,
/// receiving input the core has already validated.
///
/// The core's extension below is the store's front door: it applies `Validation` to every
/// call, the same rules and field names for every backend, then calls the engine. So a
/// backend cannot skip a rule or vary it, and adding a rule changes one file. A backend
/// implements the `validated…` methods and does not define the `MemoryStore` methods itself.
public protocol StorageEngine: MemoryStore {
    func validatedSave(_ records: [MemoryRecord]) throws -> [String]
    func validatedGet(_ key: RecordKey) throws -> MemoryRecord?
    func validatedQuery(_ query: MemoryQuery) throws -> [ScoredRecord]
    func validatedQueryPreferences(userId: String, category: String?) throws -> [UserPreference]
    func validatedUpdateHeuristic(projectId: String, id: String, patch: HeuristicPatch) throws -> Bool
    func validatedIncrementHeuristicOccurrence(projectId: String, id: String, success: Bool) throws -> Bool
    func validatedUpdateHeuristicConfidence(projectId: String, id: String, confidence: Double) throws -> Bool
    func validatedUpdateKnowledgeConfidence(projectId: String, id: String, confidence: Double) throws -> Bool
    func validatedDelete(_ key: RecordKey) throws -> Bool
    func validatedDeleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> Int
    func validatedDeleteHeuristics(projectId: String, confidenceBelow: Double, agent: String?) throws -> Int
    func validatedStats(projectId: String, agent: String?) throws -> StoreStats
}

extension StorageEngine {
    public func save(_ records: [MemoryRecord]) throws -> [String] {
        try Validation.batch(records, dimension: embeddingDimension)
        return try validatedSave(records)
    }

    public func get(_ key: RecordKey) throws -> MemoryRecord? {
        try Validation.key(key)
        return try validatedGet(key)
    }

    public func query(_ query: MemoryQuery) throws -> [ScoredRecord] {
        try Validation.query(query, dimension: embeddingDimension)
        return try validatedQuery(query)
    }

    public func queryPreferences(userId: String, category: String?) throws -> [UserPreference] {
        try Validation.id(userId, field: "user_id")
        if let category { try Validation.text(category, field: "category") }
        return try validatedQueryPreferences(userId: userId, category: category)
    }

    public func updateHeuristic(projectId: String, id: String, patch: HeuristicPatch) throws -> Bool {
        try Validation.key(RecordKey(.heuristic, scope: projectId, id: id))
        try Validation.patch(patch, dimension: embeddingDimension)
        return try validatedUpdateHeuristic(projectId: projectId, id: id, patch: patch)
    }

    public func incrementHeuristicOccurrence(projectId: String, id: String, success: Bool) throws -> Bool {
        try Validation.key(RecordKey(.heuristic, scope: projectId, id: id))
        return try validatedIncrementHeuristicOccurrence(projectId: projectId, id: id, success: success)
    }

    public func updateHeuristicConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try Validation.key(RecordKey(.heuristic, scope: projectId, id: id))
        try Validation.confidence(confidence)
        return try validatedUpdateHeuristicConfidence(projectId: projectId, id: id, confidence: confidence)
    }

    public func updateKnowledgeConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try Validation.key(RecordKey(.domainKnowledge, scope: projectId, id: id))
        try Validation.confidence(confidence)
        return try validatedUpdateKnowledgeConfidence(projectId: projectId, id: id, confidence: confidence)
    }

    public func delete(_ key: RecordKey) throws -> Bool {
        try Validation.key(key)
        return try validatedDelete(key)
    }

    public func deleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> Int {
        try Validation.id(projectId, field: "project_id")
        try Validation.timestamp(olderThan, field: "older_than")
        try Validation.agent(agent)
        return try validatedDeleteOutcomes(projectId: projectId, olderThan: olderThan, agent: agent)
    }

    public func deleteHeuristics(projectId: String, confidenceBelow: Double, agent: String?) throws -> Int {
        try Validation.id(projectId, field: "project_id")
        try Validation.threshold(confidenceBelow, field: "below")
        try Validation.agent(agent)
        return try validatedDeleteHeuristics(projectId: projectId, confidenceBelow: confidenceBelow, agent: agent)
    }

    public func stats(projectId: String, agent: String?) throws -> StoreStats {
        try Validation.id(projectId, field: "project_id")
        try Validation.agent(agent)
        return try validatedStats(projectId: projectId, agent: agent)
    }
}
