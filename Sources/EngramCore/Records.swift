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

    /// Equal when kind, scope and id are, scalar for scalar (`String.isExactly`).
    public static func == (a: RecordKey, b: RecordKey) -> Bool { a.kind == b.kind && a.scope.isExactly(b.scope) && a.id.isExactly(b.id) }
    public func hash(into h: inout Hasher) {
        h.combine(kind)
        h.combine(ExactText(scope))
        h.combine(ExactText(id))
    }
}

/// A learned rule: "when `condition`, `strategy` works".
public struct Heuristic: Sendable, Equatable {
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
}

/// The record of one task execution.
public struct Outcome: Sendable, Equatable {
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
}

/// A fact about a domain, as opposed to a strategy.
public struct DomainKnowledge: Sendable, Equatable {
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
}

/// What not to do, and what to do instead.
public struct AntiPattern: Sendable, Equatable {
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
}

/// A user's preference; scoped by user, never by project, and without an embedding.
public struct UserPreference: Sendable, Equatable {
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
    /// `{"kind": ..., "record": {...}}`, the record in its schema's JSON form.
    public init(from decoder: any Decoder) throws {
        guard case .object(let o) = try JSONValue(from: decoder), case .string(let k)? = o["kind"], let kind = MemoryKind(rawValue: k),
              let record = o["record"] else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a {\"kind\", \"record\"} object"))
        }
        self = try kind.schema.record(json: record)
    }

    public func encode(to encoder: any Encoder) throws {
        try JSONValue.object(["kind": .string(kind.rawValue), "record": try JSONValue.parse(kind.schema.jsonText(self))]).encode(to: encoder)
    }
}
