/// What a backend implements to become a `MemoryStore`: each operation of the contract,
/// receiving input the core has already validated.
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
    public func validatedUpdateHeuristic(projectId: String, id: String, patch: HeuristicPatch) throws -> Bool {
        try modify(RecordKey(.heuristic, scope: projectId, id: id)) { try $0.patched(patch) }
    }

    public func validatedIncrementHeuristicOccurrence(projectId: String, id: String, success: Bool) throws -> Bool {
        try modify(RecordKey(.heuristic, scope: projectId, id: id)) { $0.incrementingOccurrence(success: success) }
    }

    public func validatedUpdateHeuristicConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try modify(RecordKey(.heuristic, scope: projectId, id: id)) { $0.settingConfidence(confidence) }
    }

    public func validatedUpdateKnowledgeConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try modify(RecordKey(.domainKnowledge, scope: projectId, id: id)) { $0.settingConfidence(confidence) }
    }
}
