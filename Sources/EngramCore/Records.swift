/// The five kinds of memory Engram stores.
public enum MemoryKind: String, CaseIterable, Sendable, Codable, Hashable, Comparable {
    case heuristic
    case outcome
    case domainKnowledge = "domain_knowledge"
    case antiPattern = "anti_pattern"
    case userPreference = "user_preference"

    /// The kinds scoped by project and agent that may carry an embedding.
    public static let vectorKinds: [MemoryKind] = [.heuristic, .outcome, .domainKnowledge, .antiPattern]

    /// Whether records of this kind are scoped by user rather than project.
    public var isUserScoped: Bool { self == .userPreference }

    public static func < (a: MemoryKind, b: MemoryKind) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// The key of one record: kind, scope (project, or user for preferences) and id.
/// The same id may exist in two scopes as two records.
public struct RecordKey: Hashable, Sendable, CustomStringConvertible {
    public var kind: MemoryKind
    public var scope: String
    public var id: String
    public init(_ kind: MemoryKind, scope: String, id: String) {
        self.kind = kind
        self.scope = scope
        self.id = id
    }
    public var description: String { "\(kind.rawValue)/\(scope)/\(id)" }
}

/// A learned rule: "when `condition`, `strategy` works".
public struct Heuristic: Sendable, Equatable, Codable {
    public var id: String
    public var agent: String
    public var projectId: String
    public var condition: String
    public var strategy: String
    public var confidence: Double
    public var occurrenceCount: Int
    public var successCount: Int
    public var lastValidated: Timestamp
    public var createdAt: Timestamp
    public var embedding: [Float]?
    public var metadata: JSONValue

    public init(
        id: String, agent: String, projectId: String, condition: String, strategy: String, confidence: Double,
        occurrenceCount: Int, successCount: Int, lastValidated: Timestamp, createdAt: Timestamp,
        embedding: [Float]? = nil, metadata: JSONValue = .emptyObject
    ) {
        self.id = id; self.agent = agent; self.projectId = projectId; self.condition = condition
        self.strategy = strategy; self.confidence = confidence; self.occurrenceCount = occurrenceCount
        self.successCount = successCount; self.lastValidated = lastValidated; self.createdAt = createdAt
        self.embedding = embedding; self.metadata = metadata
    }

    enum CodingKeys: String, CodingKey {
        case id, agent, condition, strategy, confidence, embedding, metadata
        case projectId = "project_id", occurrenceCount = "occurrence_count", successCount = "success_count"
        case lastValidated = "last_validated", createdAt = "created_at"
    }
}

/// The record of one task execution.
public struct Outcome: Sendable, Equatable, Codable {
    public var id: String
    public var agent: String
    public var projectId: String
    public var taskType: String
    public var taskDescription: String
    public var success: Bool
    public var strategyUsed: String
    public var durationMs: Int?
    public var errorMessage: String?
    public var userFeedback: String?
    public var timestamp: Timestamp
    public var embedding: [Float]?
    public var metadata: JSONValue

    public init(
        id: String, agent: String, projectId: String, taskType: String, taskDescription: String, success: Bool,
        strategyUsed: String, durationMs: Int? = nil, errorMessage: String? = nil, userFeedback: String? = nil,
        timestamp: Timestamp, embedding: [Float]? = nil, metadata: JSONValue = .emptyObject
    ) {
        self.id = id; self.agent = agent; self.projectId = projectId; self.taskType = taskType
        self.taskDescription = taskDescription; self.success = success; self.strategyUsed = strategyUsed
        self.durationMs = durationMs; self.errorMessage = errorMessage; self.userFeedback = userFeedback
        self.timestamp = timestamp; self.embedding = embedding; self.metadata = metadata
    }

    enum CodingKeys: String, CodingKey {
        case id, agent, success, timestamp, embedding, metadata
        case projectId = "project_id", taskType = "task_type", taskDescription = "task_description"
        case strategyUsed = "strategy_used", durationMs = "duration_ms", errorMessage = "error_message"
        case userFeedback = "user_feedback"
    }
}

/// A fact about a domain, as opposed to a strategy.
public struct DomainKnowledge: Sendable, Equatable, Codable {
    public var id: String
    public var agent: String
    public var projectId: String
    public var domain: String
    public var fact: String
    public var source: String
    public var confidence: Double
    public var lastVerified: Timestamp
    public var embedding: [Float]?
    public var metadata: JSONValue

    public init(
        id: String, agent: String, projectId: String, domain: String, fact: String, source: String,
        confidence: Double = 1.0, lastVerified: Timestamp, embedding: [Float]? = nil, metadata: JSONValue = .emptyObject
    ) {
        self.id = id; self.agent = agent; self.projectId = projectId; self.domain = domain; self.fact = fact
        self.source = source; self.confidence = confidence; self.lastVerified = lastVerified
        self.embedding = embedding; self.metadata = metadata
    }

    enum CodingKeys: String, CodingKey {
        case id, agent, domain, fact, source, confidence, embedding, metadata
        case projectId = "project_id", lastVerified = "last_verified"
    }
}

/// What not to do, and what to do instead.
public struct AntiPattern: Sendable, Equatable, Codable {
    public var id: String
    public var agent: String
    public var projectId: String
    public var pattern: String
    public var whyBad: String
    public var betterAlternative: String
    public var occurrenceCount: Int
    public var lastSeen: Timestamp
    public var createdAt: Timestamp
    public var embedding: [Float]?
    public var metadata: JSONValue

    public init(
        id: String, agent: String, projectId: String, pattern: String, whyBad: String, betterAlternative: String,
        occurrenceCount: Int, lastSeen: Timestamp, createdAt: Timestamp, embedding: [Float]? = nil,
        metadata: JSONValue = .emptyObject
    ) {
        self.id = id; self.agent = agent; self.projectId = projectId; self.pattern = pattern; self.whyBad = whyBad
        self.betterAlternative = betterAlternative; self.occurrenceCount = occurrenceCount; self.lastSeen = lastSeen
        self.createdAt = createdAt; self.embedding = embedding; self.metadata = metadata
    }

    enum CodingKeys: String, CodingKey {
        case id, agent, pattern, embedding, metadata
        case projectId = "project_id", whyBad = "why_bad", betterAlternative = "better_alternative"
        case occurrenceCount = "occurrence_count", lastSeen = "last_seen", createdAt = "created_at"
    }
}

/// A user's preference; scoped by user, never by project, and without an embedding.
public struct UserPreference: Sendable, Equatable, Codable {
    public var id: String
    public var userId: String
    public var category: String
    public var preference: String
    public var source: String
    public var confidence: Double
    public var timestamp: Timestamp
    public var metadata: JSONValue

    public init(
        id: String, userId: String, category: String, preference: String, source: String, confidence: Double = 1.0,
        timestamp: Timestamp, metadata: JSONValue = .emptyObject
    ) {
        self.id = id; self.userId = userId; self.category = category; self.preference = preference
        self.source = source; self.confidence = confidence; self.timestamp = timestamp; self.metadata = metadata
    }

    enum CodingKeys: String, CodingKey {
        case id, category, preference, source, confidence, timestamp, metadata
        case userId = "user_id"
    }
}

/// Any one record, tagged with its kind: what stores save and return.
public enum MemoryRecord: Sendable, Equatable {
    case heuristic(Heuristic)
    case outcome(Outcome)
    case domainKnowledge(DomainKnowledge)
    case antiPattern(AntiPattern)
    case userPreference(UserPreference)

    public var kind: MemoryKind {
        switch self {
        case .heuristic: .heuristic
        case .outcome: .outcome
        case .domainKnowledge: .domainKnowledge
        case .antiPattern: .antiPattern
        case .userPreference: .userPreference
        }
    }

    public var id: String {
        switch self {
        case .heuristic(let r): r.id
        case .outcome(let r): r.id
        case .domainKnowledge(let r): r.id
        case .antiPattern(let r): r.id
        case .userPreference(let r): r.id
        }
    }

    /// The project, or the user for preferences.
    public var scope: String {
        switch self {
        case .heuristic(let r): r.projectId
        case .outcome(let r): r.projectId
        case .domainKnowledge(let r): r.projectId
        case .antiPattern(let r): r.projectId
        case .userPreference(let r): r.userId
        }
    }

    /// The owning agent; nil for preferences.
    public var agent: String? {
        switch self {
        case .heuristic(let r): r.agent
        case .outcome(let r): r.agent
        case .domainKnowledge(let r): r.agent
        case .antiPattern(let r): r.agent
        case .userPreference: nil
        }
    }

    public var key: RecordKey { RecordKey(kind, scope: scope, id: id) }

    public var embedding: [Float]? {
        switch self {
        case .heuristic(let r): r.embedding
        case .outcome(let r): r.embedding
        case .domainKnowledge(let r): r.embedding
        case .antiPattern(let r): r.embedding
        case .userPreference: nil
        }
    }

    public var metadata: JSONValue {
        switch self {
        case .heuristic(let r): r.metadata
        case .outcome(let r): r.metadata
        case .domainKnowledge(let r): r.metadata
        case .antiPattern(let r): r.metadata
        case .userPreference(let r): r.metadata
        }
    }

    /// The heuristic inside, if this is one.
    public var heuristic: Heuristic? { if case .heuristic(let r) = self { r } else { nil } }
    public var outcome: Outcome? { if case .outcome(let r) = self { r } else { nil } }
    public var domainKnowledge: DomainKnowledge? { if case .domainKnowledge(let r) = self { r } else { nil } }
    public var antiPattern: AntiPattern? { if case .antiPattern(let r) = self { r } else { nil } }
    public var userPreference: UserPreference? { if case .userPreference(let r) = self { r } else { nil } }
}

extension MemoryRecord: Codable {
    /// Decodes a record of `kind` from the adapter protocol's snake_case JSON.
    public static func decode(kind: MemoryKind, from decoder: any Decoder) throws -> MemoryRecord {
        switch kind {
        case .heuristic: .heuristic(try Heuristic(from: decoder))
        case .outcome: .outcome(try Outcome(from: decoder))
        case .domainKnowledge: .domainKnowledge(try DomainKnowledge(from: decoder))
        case .antiPattern: .antiPattern(try AntiPattern(from: decoder))
        case .userPreference: .userPreference(try UserPreference(from: decoder))
        }
    }

    enum TagKey: String, CodingKey { case kind, record }

    /// `{"kind": ..., "record": {...}}`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: TagKey.self)
        let kind = try c.decode(MemoryKind.self, forKey: .kind)
        self = try MemoryRecord.decode(kind: kind, from: try c.superDecoder(forKey: .record))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: TagKey.self)
        try c.encode(kind, forKey: .kind)
        let inner = c.superEncoder(forKey: .record)
        switch self {
        case .heuristic(let r): try r.encode(to: inner)
        case .outcome(let r): try r.encode(to: inner)
        case .domainKnowledge(let r): try r.encode(to: inner)
        case .antiPattern(let r): try r.encode(to: inner)
        case .userPreference(let r): try r.encode(to: inner)
        }
    }
}
