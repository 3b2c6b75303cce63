/// A query over one project-scoped kind: **filter first, then rank**.
///
/// Without `vector`, results come in the kind's default order (see `MemoryKind.defaultOrder`);
/// with one, records without an embedding are left out and the order is cosine
/// similarity descending. Ties always break by id ascending.
public struct MemoryQuery: Sendable, Equatable {
    public var kind: MemoryKind
    public var projectId: String
    /// nil = every agent; a list = only those agents, compared exactly (an empty list matches
    /// nothing; order and repeats do not change the result, though repeats count toward the
    /// 10,000 names a filter may hold; canonically equivalent spellings are two agents).
    public var agents: [String]?
    /// Outcomes only: exact task type.
    public var taskType: String?
    /// Domain knowledge only: exact domain.
    public var domain: String?
    /// Heuristics and domain knowledge only: confidence >= this.
    public var minConfidence: Double?
    /// Outcomes only: successful ones.
    public var successOnly: Bool
    /// At most this many results, 1...10,000.
    public var topK: Int
    /// Rank by cosine similarity to this vector.
    public var vector: [Float]?

    public init(
        kind: MemoryKind, projectId: String, agents: [String]? = nil, taskType: String? = nil,
        domain: String? = nil, minConfidence: Double? = nil, successOnly: Bool = false, topK: Int = 5,
        vector: [Float]? = nil
    ) {
        self.kind = kind; self.projectId = projectId; self.agents = agents; self.taskType = taskType
        self.domain = domain; self.minConfidence = minConfidence; self.successOnly = successOnly
        self.topK = topK; self.vector = vector
    }

    /// The largest `topK` a store accepts.
    public static let maxTopK = 10_000

    /// Whether `record` passes every filter of this query (vector presence aside).
    public func matches(_ record: MemoryRecord) -> Bool {
        guard record.kind == kind, record.scope.isExactly(projectId) else { return false }
        if let agents, !agents.contains(where: { $0.isExactly(record.agent ?? "") }) { return false }
        switch record {
        case .heuristic(let h):
            if let minConfidence, !(h.confidence >= minConfidence) { return false }
        case .outcome(let o):
            if let taskType, !o.taskType.isExactly(taskType) { return false }
            if successOnly, !o.success { return false }
        case .domainKnowledge(let d):
            if let domain, !d.domain.isExactly(domain) { return false }
            if let minConfidence, !(d.confidence >= minConfidence) { return false }
        case .antiPattern, .userPreference:
            break
        }
        return true
    }
}

/// One filter of a query, on a schema field: what database backends render as a condition
/// in their own dialect (the in-memory ones apply `MemoryQuery.matches`).
public enum Condition: Sendable, Equatable {
    /// The field equals this text.
    case equals(String, String)
    /// The field is at least this number.
    case atLeast(String, Double)
    /// The boolean field is true.
    case isTrue(String)
    /// The field is one of these texts (sorted). An empty list matches nothing: dialects must
    /// render it so (SQLite `IN ()`, PostgreSQL `= ANY('{}')`, Cosmos `ARRAY_CONTAINS([], …)`).
    case oneOf(String, [String])
}

extension MemoryQuery {
    /// `texts` sorted by their bytes without exact repeats: canonically equivalent spellings
    /// stay apart (a `Set<String>` would merge them).
    static func distinct(_ texts: [String]) -> [String] {
        var seen = Set<ExactText>()
        return texts.filter { seen.insert(ExactText($0)).inserted }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Every filter of this query as conditions, the scope first: exactly what `matches` checks.
    public var conditions: [Condition] {
        var out: [Condition] = [.equals(kind.schema.scope.name, projectId)]
        if let agents { out.append(.oneOf("agent", Self.distinct(agents))) }
        if let taskType { out.append(.equals("task_type", taskType)) }
        if let domain { out.append(.equals("domain", domain)) }
        if let minConfidence { out.append(.atLeast("confidence", minConfidence)) }
        if successOnly { out.append(.isTrue("success")) }
        return out
    }
}

/// One query result: the record, and its cosine similarity when the query had a vector.
public struct ScoredRecord: Sendable, Equatable {
    public var record: MemoryRecord
    public var score: Double?
    public init(record: MemoryRecord, score: Double?) {
        self.record = record
        self.score = score
    }
}

/// A typed partial update of a heuristic: each non-nil field replaces the stored one.
/// `embedding` is a double optional: `.some(nil)` removes the vector.
public struct HeuristicPatch: Sendable, Equatable {
    public var condition: String?
    public var strategy: String?
    public var confidence: Double?
    public var occurrenceCount: Int?
    public var successCount: Int?
    public var lastValidated: Timestamp?
    public var metadata: JSONValue?
    public var embedding: [Float]??

    public init(
        condition: String? = nil, strategy: String? = nil, confidence: Double? = nil, occurrenceCount: Int? = nil,
        successCount: Int? = nil, lastValidated: Timestamp? = nil, metadata: JSONValue? = nil,
        embedding: [Float]?? = nil
    ) {
        self.condition = condition; self.strategy = strategy; self.confidence = confidence
        self.occurrenceCount = occurrenceCount; self.successCount = successCount; self.lastValidated = lastValidated
        self.metadata = metadata; self.embedding = embedding
    }

    /// True when the patch changes nothing.
    public var isEmpty: Bool { self == HeuristicPatch() }

    /// `heuristic` with this patch applied.
    public func applied(to heuristic: Heuristic) -> Heuristic {
        var h = heuristic
        if let condition { h.condition = condition }
        if let strategy { h.strategy = strategy }
        if let confidence { h.confidence = confidence }
        if let occurrenceCount { h.occurrenceCount = occurrenceCount }
        if let successCount { h.successCount = successCount }
        if let lastValidated { h.lastValidated = lastValidated }
        if let metadata { h.metadata = metadata }
        if let embedding { h.embedding = embedding }
        return h
    }
}

/// Live counts in one scope: records per kind, and records with a vector per kind.
public struct StoreStats: Sendable, Equatable {
    public var records: [MemoryKind: Int]
    public var vectors: [MemoryKind: Int]
    public init(records: [MemoryKind: Int] = [:], vectors: [MemoryKind: Int] = [:]) {
        self.records = records
        self.vectors = vectors
    }
}

extension MemoryKind {
    /// The kind's default order without a query vector, as a strict "comes before".
    /// heuristic, domain knowledge: confidence desc; outcome: timestamp desc;
    /// anti-pattern: occurrence count desc; preference: timestamp desc. Ties: id asc.
    public static func defaultOrder(_ a: MemoryRecord, _ b: MemoryRecord) -> Bool {
        if a.kind == b.kind, let before = a.kind.schema.orderPrecedes(a, b) { return before }
        return a.id.utf8.lexicographicallyPrecedes(b.id.utf8)
    }

    /// Vector order: score desc, then id asc (bytewise, as SQL `BINARY` collation does).
    public static func scoreOrder(_ a: ScoredRecord, _ b: ScoredRecord) -> Bool {
        let sa = a.score ?? -.infinity
        let sb = b.score ?? -.infinity
        if sa != sb { return sa > sb }
        return a.record.id.utf8.lexicographicallyPrecedes(b.record.id.utf8)
    }
}

extension MemoryQuery {
    /// Ranks records that already pass this query's filters, by scanning them: the default
    /// order without a vector; with one, records with an embedding by cosine desc, then id.
    /// Stores that keep records in memory use it as their whole ranking.
    public func rank(_ matching: [MemoryRecord]) -> [ScoredRecord] {
        if let vector {
            let scored = matching.compactMap { r in r.embedding.map { ScoredRecord(record: r, score: cosineSimilarity(vector, $0)) } }
            return Array(scored.sorted(by: MemoryKind.scoreOrder).prefix(topK))
        }
        return matching.sorted(by: MemoryKind.defaultOrder).prefix(topK).map { ScoredRecord(record: $0, score: nil) }
    }
}

extension StoreStats {
    /// Counts `records` in a project (and agent), by scanning them.
    public static func counting(_ records: some Sequence<MemoryRecord>, projectId: String, agent: String?) -> StoreStats {
        var stats = StoreStats()
        for kind in MemoryKind.vectorKinds {
            stats.records[kind] = 0
            stats.vectors[kind] = 0
        }
        for r in records where !r.kind.isUserScoped && r.scope.isExactly(projectId) && (agent == nil || r.agent.isExactly(agent)) {
            stats.records[r.kind, default: 0] += 1
            if r.embedding != nil { stats.vectors[r.kind, default: 0] += 1 }
        }
        return stats
    }
}

extension MemoryRecord {
    /// Whether `deleteOutcomes(projectId:olderThan:agent:)` removes this record: an outcome of
    /// the project (and agent) strictly older than the cut-off.
    public func isPrunedOutcome(projectId: String, olderThan: Timestamp, agent: String?) -> Bool {
        guard let o = outcome else { return false }
        return o.projectId.isExactly(projectId) && (agent == nil || o.agent.isExactly(agent!)) && o.timestamp < olderThan
    }

    /// Whether `deleteHeuristics(projectId:confidenceBelow:agent:)` removes this record: a
    /// heuristic of the project (and agent) with confidence strictly below the bound.
    public func isPrunedHeuristic(projectId: String, confidenceBelow: Double, agent: String?) -> Bool {
        guard let h = heuristic else { return false }
        return h.projectId.isExactly(projectId) && (agent == nil || h.agent.isExactly(agent!)) && h.confidence < confidenceBelow
    }
}

extension MemoryRecord {
    /// The heuristic with `patch` applied and its cross-field rules checked; nil for other kinds.
    public func patched(_ patch: HeuristicPatch) throws -> MemoryRecord? {
        guard let h = heuristic else { return nil }
        let next = patch.applied(to: h)
        try Validation.patched(next)
        return .heuristic(next)
    }

    /// The heuristic with one more occurrence (and success) and `lastValidated` now; nil for other kinds.
    public func incrementingOccurrence(success: Bool) -> MemoryRecord? {
        guard var h = heuristic else { return nil }
        h.occurrenceCount += 1
        if success { h.successCount += 1 }
        h.lastValidated = .now()
        return .heuristic(h)
    }

    /// The heuristic or domain knowledge with `confidence` set; nil for other kinds.
    public func settingConfidence(_ confidence: Double) -> MemoryRecord? {
        switch self {
        case .heuristic(var h):
            h.confidence = confidence
            return .heuristic(h)
        case .domainKnowledge(var d):
            d.confidence = confidence
            return .domainKnowledge(d)
        default:
            return nil
        }
    }
}
