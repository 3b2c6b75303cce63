/// The contract's input rules, shared by every backend so that all of them reject the
/// same inputs with the same field names. Every check runs before anything is written.
public enum Validation {
    /// The longest id (and project or user id) in UTF-8 bytes.
    public static let maxIdBytes = 256
    /// The deepest metadata nesting accepted (the top-level object is depth 1). Deeper
    /// values could not be read back by every store's JSON reader, or would overflow a stack.
    public static let maxMetadataDepth = 64
    /// The most metadata content accepted: UTF-8 bytes of keys and strings, 8 per other value.
    public static let maxMetadataBytes = 1 << 20
    /// The most agents one query filter may name (each is a bound parameter or a set lookup).
    public static let maxAgentsPerFilter = 10_000
    /// The embedding dimensions a store accepts.
    public static let dimensionRange = 1...16_000

    /// A store's configured embedding dimension.
    public static func embeddingDimension(_ value: Int) throws {
        guard dimensionRange.contains(value) else {
            throw EngramError.invalid("embedding_dimension", "embedding_dimension must be in \(dimensionRange.lowerBound)...\(dimensionRange.upperBound), got \(value)")
        }
    }

    /// A timestamp inside the contract's range, 0001-01-01T00:00:00Z ... 9999-12-31T23:59:59.999999Z
    /// (four-digit RFC 3339 years, which every backend's date type can hold).
    public static func timestamp(_ value: Timestamp, field: String) throws {
        guard Timestamp.contractRange.contains(value) else {
            throw EngramError.invalid(field, "\(field) must be within \(Timestamp.contractRange.lowerBound) ... \(Timestamp.contractRange.upperBound), got \(value.microsecondsSinceEpoch) µs since 1970")
        }
    }

    public static func id(_ value: String, field: String = "id") throws {
        guard !value.isEmpty else { throw EngramError.invalid(field, "\(field) must not be empty") }
        guard value.utf8.count <= maxIdBytes else {
            throw EngramError.invalid(field, "\(field) is \(value.utf8.count) UTF-8 bytes; at most \(maxIdBytes) allowed")
        }
        try text(value, field: field)
    }

    /// Text is stored verbatim; only NUL is refused (SQL engines and C APIs cut strings at it).
    public static func text(_ value: String, field: String) throws {
        if value.utf8.contains(0) { throw EngramError.invalid(field, "\(field) contains a NUL character") }
    }

    public static func confidence(_ value: Double, field: String = "confidence") throws {
        guard value.isFinite, value >= 0, value <= 1 else {
            throw EngramError.invalid(field, "\(field) must be a finite number in [0, 1], got \(value)")
        }
    }

    public static func count(_ value: Int, field: String) throws {
        guard value >= 0 else { throw EngramError.invalid(field, "\(field) must not be negative, got \(value)") }
    }

    public static func embedding(_ vector: [Float], dimension: Int, field: String = "embedding") throws {
        guard vector.count == dimension else {
            throw EngramError.invalid(field, "\(field) has \(vector.count) components; the store's dimension is \(dimension)")
        }
        var norm: Double = 0
        for (i, x) in vector.enumerated() {
            guard x.isFinite else { throw EngramError.invalid(field, "\(field)[\(i)] is not finite (\(x))") }
            norm += Double(x) * Double(x)
        }
        guard norm > 0 else { throw EngramError.invalid(field, "\(field) has zero norm") }
    }

    /// A JSON object of at most `maxMetadataDepth` levels and `maxMetadataBytes` of content,
    /// with finite numbers and no NUL. Content is counted the same way in every language (not
    /// as one serializer's text): the UTF-8 bytes of every key and string, plus 8 bytes for each
    /// number, boolean or null. Walked with an explicit stack: no recursion to overflow.
    public static func metadata(_ value: JSONValue, field: String = "metadata") throws {
        guard case .object = value else { throw EngramError.invalid(field, "\(field) must be a JSON object") }
        var stack: [(JSONValue, Int)] = [(value, 1)]
        var bytes = 0
        while let (v, depth) = stack.popLast() {
            switch v {
            case .double(let d) where !d.isFinite:
                throw EngramError.invalid(field, "\(field) holds a non-finite number, which JSON cannot represent")
            case .string(let s):
                try text(s, field: field)
                bytes += s.utf8.count
            case .array(let a):
                guard depth <= maxMetadataDepth else { throw tooDeep(field) }
                for x in a { stack.append((x, depth + 1)) }
            case .object(let o):
                guard depth <= maxMetadataDepth else { throw tooDeep(field) }
                for (k, x) in o {
                    try text(k, field: field)
                    bytes += k.utf8.count
                    stack.append((x, depth + 1))
                }
            default: bytes += 8
            }
            guard bytes <= maxMetadataBytes else {
                throw EngramError.invalid(field, "\(field) holds more than \(maxMetadataBytes) bytes of keys and values")
            }
        }
    }

    private static func tooDeep(_ field: String) -> EngramError {
        EngramError.invalid(field, "\(field) is nested deeper than \(maxMetadataDepth) levels")
    }

    public static func topK(_ value: Int) throws {
        guard value >= 1, value <= MemoryQuery.maxTopK else {
            throw EngramError.invalid("top_k", "top_k must be in 1...\(MemoryQuery.maxTopK), got \(value)")
        }
    }

    /// Validates one record against the contract for a store of `dimension`: each field by
    /// its type's rule (see `RecordSchema`), then the kind's cross-field rules.
    public static func record(_ record: MemoryRecord, dimension: Int) throws {
        try record.kind.schema.validate(record, dimension: dimension)
    }

    /// A heuristic's success_count within its occurrence_count; `after` prefixes the message.
    static func successWithinOccurrences(_ h: Heuristic, after: String) throws {
        guard h.successCount <= h.occurrenceCount else {
            throw EngramError.invalid(
                "success_count", "\(after)success_count (\(h.successCount)) exceeds occurrence_count (\(h.occurrenceCount))")
        }
    }

    /// Validates a whole batch; one bad record rejects it (the error says which).
    public static func batch(_ records: [MemoryRecord], dimension: Int) throws {
        for (i, r) in records.enumerated() {
            do { try record(r, dimension: dimension) } catch var e as EngramError {
                if records.count > 1 { e.message = "record \(i) (id \(r.id.debugDescription)): " + e.message }
                throw e
            }
        }
    }

    public static func key(_ key: RecordKey) throws {
        try id(key.id)
        try id(key.scope, field: key.kind.isUserScoped ? "user_id" : "project_id")
    }

    public static func query(_ q: MemoryQuery, dimension: Int) throws {
        guard !q.kind.isUserScoped else {
            throw EngramError.invalid("kind", "user preferences are queried with queryPreferences(userId:category:)")
        }
        try id(q.projectId, field: "project_id")
        try topK(q.topK)
        if let agents = q.agents { try self.agents(agents) }
        if let t = q.taskType {
            guard q.kind == .outcome else { throw EngramError.invalid("task_type", "task_type filters outcomes only") }
            try text(t, field: "task_type")
        }
        if let d = q.domain {
            guard q.kind == .domainKnowledge else {
                throw EngramError.invalid("domain", "domain filters domain knowledge only")
            }
            try text(d, field: "domain")
        }
        if let c = q.minConfidence {
            guard q.kind == .heuristic || q.kind == .domainKnowledge else {
                throw EngramError.invalid("min_confidence", "min_confidence filters heuristics and domain knowledge only")
            }
            guard c.isFinite else { throw EngramError.invalid("min_confidence", "min_confidence must be finite") }
        }
        if q.successOnly, q.kind != .outcome {
            throw EngramError.invalid("success_only", "success_only filters outcomes only")
        }
        if let v = q.vector { try embedding(v, dimension: dimension) }
    }

    public static func patch(_ p: HeuristicPatch, dimension: Int) throws {
        if let c = p.condition { try text(c, field: "condition") }
        if let s = p.strategy { try text(s, field: "strategy") }
        if let c = p.confidence { try confidence(c) }
        if let o = p.occurrenceCount { try count(o, field: "occurrence_count") }
        if let s = p.successCount { try count(s, field: "success_count") }
        if let m = p.metadata { try metadata(m) }
        if let t = p.lastValidated { try timestamp(t, field: "last_validated") }
        if let e = p.embedding, let v = e { try embedding(v, dimension: dimension) }
    }

    /// Checks a patched heuristic's cross-field rules (success <= occurrence).
    public static func patched(_ h: Heuristic) throws {
        try successWithinOccurrences(h, after: "after the patch ")
    }

    public static func threshold(_ value: Double, field: String) throws {
        guard value.isFinite else { throw EngramError.invalid(field, "\(field) must be finite, got \(value)") }
    }

    /// An agent filter: at most `maxAgentsPerFilter` names, none with NUL.
    static func agents(_ agents: [String]) throws {
        guard agents.count <= maxAgentsPerFilter else {
            throw EngramError.invalid("agents", "agents names \(agents.count) agents; at most \(maxAgentsPerFilter) allowed")
        }
        for a in agents { try text(a, field: "agents") }
    }

    /// An optional agent narrowing a prune or stats call.
    static func agent(_ agent: String?) throws {
        if let agent { try text(agent, field: "agent") }
    }
}
