/// The record schema: for each kind, its fields (name, logical type, nullability), its
/// default order and the filters its indexes serve. Written once here, it drives every
/// backend's form of a record: both SQL dialects' DDL and row codecs (by field name), the
/// JSON of the file store, Cosmos DB and the adapter protocol, and record validation.

/// What a field holds: which contract rule checks it and which column type stores it.
public enum FieldType: Sendable, Equatable {
    /// An id (`id`, `project_id`, `user_id`): non-empty, at most 256 UTF-8 bytes, no NUL.
    case key
    /// Text kept verbatim, without NUL.
    case text
    /// A Double in [0, 1].
    case confidence
    /// An Int >= 0.
    case count
    case bool
    case timestamp
    /// Float32 components of the store's dimension.
    case embedding
    /// A JSON object.
    case metadata
}

/// One field of a kind: its snake_case name (column and JSON key) and type.
public struct Field: Sendable, Equatable {
    public let name: String
    public let type: FieldType
    public let nullable: Bool
}

/// A field's value in a form every backend can map to its own.
public enum FieldValue: Sendable, Equatable {
    case null
    case text(String)
    case double(Double)
    case int(Int)
    case bool(Bool)
    case timestamp(Timestamp)
    case embedding([Float])
    case metadata(JSONValue)
}

/// One kind's schema. Fields come scope first, then id, then the kind's own, in a fixed order.
public struct RecordSchema: Sendable {
    public let kind: MemoryKind
    /// The table (SQL) or container (Cosmos DB) name.
    public let table: String
    public let fields: [Field]
    /// The field the default order sorts by, descending (ties by id ascending).
    public let orderField: String
    /// Secondary indexes: every filter and order the contract uses, as (name, field names).
    public let indexes: [(name: String, fields: [String])]
    private let values: @Sendable (MemoryRecord) -> [FieldValue]
    private let make: @Sendable (_ value: (Int) throws -> FieldValue) throws -> MemoryRecord
    private let precedes: @Sendable (MemoryRecord, MemoryRecord) -> Bool?

    /// The scope field: `project_id`, or `user_id` for preferences.
    public var scope: Field { fields[0] }
    public var hasEmbedding: Bool { fields.contains { $0.type == .embedding } }
    /// The position of the field named `name`.
    public func position(of name: String) -> Int? { fields.firstIndex { $0.name == name } }

    public static let all: [RecordSchema] = [heuristic, outcome, domainKnowledge, antiPattern, userPreference]
    public static func of(_ kind: MemoryKind) -> RecordSchema { byKind[kind.ordinal] }
    private static let byKind = MemoryKind.allCases.map { k in all.first { $0.kind == k }! }

    /// The record's field values, in `fields` order.
    public func values(of record: MemoryRecord) -> [FieldValue] {
        precondition(record.kind == kind, "a \(record.kind.rawValue) given to the \(kind.rawValue) schema")
        return values(record)
    }

    /// A record from its field values: `value(i, field)` gives the value of `fields[i]`.
    /// A NULL in a non-nullable field or a value of the wrong type is `corrupt`, naming the field.
    public func record(_ value: (Int, Field) throws -> FieldValue) throws -> MemoryRecord {
        try make { i in try value(i, fields[i]) }
    }

    /// Whether `a` comes before `b` by the order field alone; nil when they tie on it.
    func orderPrecedes(_ a: MemoryRecord, _ b: MemoryRecord) -> Bool? { precedes(a, b) }

    // MARK: Validation

    /// Checks every field against its type's rule, `id` first and then in schema order, and
    /// a heuristic's success_count against its occurrence_count right after the counts: the
    /// order the reference adapter follows, so both name the same field for a record with
    /// several faults.
    func validate(_ record: MemoryRecord, dimension: Int) throws {
        let values = values(record)
        let idPosition = position(of: "id")!
        for i in [idPosition] + fields.indices.filter({ $0 != idPosition }) {
            let field = fields[i]
            switch (field.type, values[i]) {
            case (_, .null): break
            case (.key, .text(let s)): try Validation.id(s, field: field.name)
            case (.text, .text(let s)): try Validation.text(s, field: field.name)
            case (.confidence, .double(let d)): try Validation.confidence(d, field: field.name)
            case (.count, .int(let n)): try Validation.count(n, field: field.name)
            case (.timestamp, .timestamp(let t)): try Validation.timestamp(t, field: field.name)
            case (.embedding, .embedding(let e)): try Validation.embedding(e, dimension: dimension, field: field.name)
            case (.metadata, .metadata(let m)): try Validation.metadata(m, field: field.name)
            default: break
            }
            if field.name == "success_count", let h = record.heuristic { try Validation.successWithinOccurrences(h, after: "") }
        }
    }

    // MARK: JSON

    /// The record as a JSON object with sorted keys, NULL fields left out. Embedding components
    /// are written in Float32's shortest form (which reads back as the same Float); with
    /// `nonFiniteTokens`, non-finite numbers as `NaN`/`Infinity`/`-Infinity` (else `null`).
    public func jsonText(_ record: MemoryRecord, nonFiniteTokens: Bool = false) -> String {
        var out = "{"
        for (field, value) in zip(fields, values(of: record)).sorted(by: { $0.0.name < $1.0.name }) {
            if value == .null { continue }
            if out.count > 1 { out += "," }
            JSONValue.writeString(field.name, to: &out)
            out += ":"
            switch value {
            case .null: break
            case .text(let s): JSONValue.writeString(s, to: &out)
            case .double(let d): JSONValue.double(d).write(to: &out, nonFiniteTokens: nonFiniteTokens)
            case .int(let n): out += String(n)
            case .bool(let b): out += b ? "true" : "false"
            case .timestamp(let t): JSONValue.writeString(t.rfc3339, to: &out)
            case .metadata(let m): m.write(to: &out, nonFiniteTokens: nonFiniteTokens)
            case .embedding(let e): out += Self.embeddingText(e, nonFiniteTokens: nonFiniteTokens)
            }
        }
        return out + "}"
    }

    /// An embedding as a JSON array of each component's shortest Float32 text.
    public static func embeddingText(_ v: [Float], nonFiniteTokens: Bool = false) -> String {
        var out = "["
        for (i, x) in v.enumerated() {
            if i > 0 { out += "," }
            if x.isFinite { out += "\(x)" } else { JSONValue.double(Double(x)).write(to: &out, nonFiniteTokens: nonFiniteTokens) }
        }
        return out + "]"
    }

    /// A record from its JSON object. Keys not in the schema are ignored; a missing or null
    /// key is NULL. A value of the wrong JSON type is `corrupt`, naming the field.
    public func record(json: JSONValue) throws -> MemoryRecord {
        guard case .object(let o) = json else { throw EngramError(.corrupt, "a \(kind.rawValue) record is not a JSON object") }
        return try record { _, field in
            guard let v = o[field.name], v != .null else { return .null }
            let value: FieldValue? = switch (field.type, v) {
            case (.key, .string(let s)), (.text, .string(let s)): .text(s)
            case (.confidence, .double(let d)): .double(d)
            case (.confidence, .int(let n)): .double(Double(n))
            case (.count, .int(let n)): Int(exactly: n).map(FieldValue.int)
            case (.count, .double(let d)): Int(exactly: d).map(FieldValue.int)  // `5.0`, as older writers may have written
            case (.bool, .bool(let b)): .bool(b)
            case (.timestamp, .string(let s)): Timestamp(rfc3339: s).map(FieldValue.timestamp)
            case (.metadata, .object): .metadata(v)
            case (.embedding, .array(let a)): Self.floats(a).map(FieldValue.embedding)
            default: nil
            }
            guard let value else { throw EngramError(.corrupt, "\(kind.rawValue) field \(field.name) holds \(v.jsonText.prefix(80)), not a \(field.type)") }
            return value
        }
    }

    private static func floats(_ a: [JSONValue]) -> [Float]? {
        var out: [Float] = []
        out.reserveCapacity(a.count)
        for v in a {
            switch v {
            case .double(let d) where Float(d).isFinite: out.append(Float(d))
            case .int(let n): out.append(Float(n))
            default: return nil  // not a number, or beyond Float's range
            }
        }
        return out
    }
}

extension MemoryKind {
    /// This kind's schema.
    public var schema: RecordSchema { RecordSchema.of(self) }
    var ordinal: Int { MemoryKind.allCases.firstIndex(of: self)! }
}

// MARK: The five kinds

extension RecordSchema {
    static let heuristic = RecordSchema(
        .heuristic, table: "heuristics", wrap: MemoryRecord.heuristic, unwrap: \.heuristic,
        blank: Heuristic(id: "", agent: "", projectId: "", condition: "", strategy: "", confidence: 0, occurrenceCount: 0,
                         successCount: 0, lastValidated: .epoch, createdAt: .epoch),
        fields: [.init("project_id", \.projectId, .key), .init("id", \.id, .key), .init("agent", \.agent),
                 .init("condition", \.condition), .init("strategy", \.strategy), .init("confidence", \.confidence),
                 .init("occurrence_count", \.occurrenceCount), .init("success_count", \.successCount),
                 .init("last_validated", \.lastValidated), .init("created_at", \.createdAt),
                 .init("embedding", \.embedding), .init("metadata", \.metadata)],
        order: "confidence",
        indexes: [("idx_heuristics_project_agent", ["project_id", "agent"]),
                  ("idx_heuristics_project_confidence", ["project_id", "confidence"])])

    static let outcome = RecordSchema(
        .outcome, table: "outcomes", wrap: MemoryRecord.outcome, unwrap: \.outcome,
        blank: Outcome(id: "", agent: "", projectId: "", taskType: "", taskDescription: "", success: false, strategyUsed: "",
                       timestamp: .epoch),
        fields: [.init("project_id", \.projectId, .key), .init("id", \.id, .key), .init("agent", \.agent),
                 .init("task_type", \.taskType), .init("task_description", \.taskDescription), .init("success", \.success),
                 .init("strategy_used", \.strategyUsed), .init("duration_ms", \.durationMs),
                 .init("error_message", \.errorMessage), .init("user_feedback", \.userFeedback),
                 .init("timestamp", \.timestamp), .init("embedding", \.embedding), .init("metadata", \.metadata)],
        order: "timestamp",
        indexes: [("idx_outcomes_project_task_type", ["project_id", "task_type"])])

    static let domainKnowledge = RecordSchema(
        .domainKnowledge, table: "domain_knowledge", wrap: MemoryRecord.domainKnowledge, unwrap: \.domainKnowledge,
        blank: DomainKnowledge(id: "", agent: "", projectId: "", domain: "", fact: "", source: "", lastVerified: .epoch),
        fields: [.init("project_id", \.projectId, .key), .init("id", \.id, .key), .init("agent", \.agent),
                 .init("domain", \.domain), .init("fact", \.fact), .init("source", \.source),
                 .init("confidence", \.confidence), .init("last_verified", \.lastVerified),
                 .init("embedding", \.embedding), .init("metadata", \.metadata)],
        order: "confidence",
        indexes: [("idx_knowledge_project_agent", ["project_id", "agent"]),
                  ("idx_knowledge_project_confidence", ["project_id", "confidence"]),
                  ("idx_knowledge_project_domain", ["project_id", "domain"])])

    static let antiPattern = RecordSchema(
        .antiPattern, table: "anti_patterns", wrap: MemoryRecord.antiPattern, unwrap: \.antiPattern,
        blank: AntiPattern(id: "", agent: "", projectId: "", pattern: "", whyBad: "", betterAlternative: "", occurrenceCount: 0,
                           lastSeen: .epoch, createdAt: .epoch),
        fields: [.init("project_id", \.projectId, .key), .init("id", \.id, .key), .init("agent", \.agent),
                 .init("pattern", \.pattern), .init("why_bad", \.whyBad), .init("better_alternative", \.betterAlternative),
                 .init("occurrence_count", \.occurrenceCount), .init("last_seen", \.lastSeen),
                 .init("created_at", \.createdAt), .init("embedding", \.embedding), .init("metadata", \.metadata)],
        order: "occurrence_count",
        indexes: [("idx_anti_patterns_project_agent", ["project_id", "agent"]),
                  ("idx_anti_patterns_project_occurrences", ["project_id", "occurrence_count"])])

    static let userPreference = RecordSchema(
        .userPreference, table: "preferences", wrap: MemoryRecord.userPreference, unwrap: \.userPreference,
        blank: UserPreference(id: "", userId: "", category: "", preference: "", source: "", timestamp: .epoch),
        fields: [.init("user_id", \.userId, .key), .init("id", \.id, .key), .init("category", \.category),
                 .init("preference", \.preference), .init("source", \.source), .init("confidence", \.confidence),
                 .init("timestamp", \.timestamp), .init("metadata", \.metadata)],
        order: "timestamp",
        indexes: [("idx_preferences_user_category", ["user_id", "category"])])
}

/// The outcome indexes on time (review HIGH-003), which a store may leave out to reproduce the
/// original; without them, `(project_id, agent)` serves outcome agent filters instead.
extension RecordSchema {
    public static let outcomeTimestampIndexes: [(name: String, fields: [String])] = [
        ("idx_outcomes_project_timestamp", ["project_id", "timestamp"]),
        ("idx_outcomes_project_agent_timestamp", ["project_id", "agent", "timestamp"]),
    ]
    public static let outcomeAgentIndex: (name: String, fields: [String]) = ("idx_outcomes_project_agent", ["project_id", "agent"])

    /// Every secondary index, as (table, name, fields), with or without the outcome time indexes.
    public static func secondaryIndexes(timestampIndex: Bool) -> [(table: String, name: String, fields: [String])] {
        var out = all.flatMap { s in s.indexes.map { (s.table, $0.name, $0.fields) } }
        for i in timestampIndex ? outcomeTimestampIndexes : [outcomeAgentIndex] { out.append((outcome.table, i.name, i.fields)) }
        return out
    }
}

// MARK: Building a schema from key paths

/// One field of record type `R`: its description and how to read and write it.
struct FieldSpec<R>: Sendable {
    let field: Field
    let get: @Sendable (R) -> FieldValue
    let set: @Sendable (inout R, FieldValue) -> Bool

    private init(_ name: String, _ type: FieldType, nullable: Bool, get: @escaping @Sendable (R) -> FieldValue,
                 set: @escaping @Sendable (inout R, FieldValue) -> Bool) {
        field = Field(name: name, type: type, nullable: nullable)
        self.get = get
        self.set = set
    }

    /// A field that always has a value: `wrap` makes it a `FieldValue`, `unwrap` takes it back (nil: wrong type).
    private init<V>(_ name: String, required path: any WritableKeyPath<R, V> & Sendable, _ type: FieldType,
                    _ wrap: @escaping @Sendable (V) -> FieldValue, _ unwrap: @escaping @Sendable (FieldValue) -> V?) {
        self.init(name, type, nullable: false, get: { wrap($0[keyPath: path]) }, set: { r, v in
            guard let x = unwrap(v) else { return false }
            r[keyPath: path] = x
            return true
        })
    }

    /// A nullable field: NULL is nil.
    private init<V>(_ name: String, nullable path: any WritableKeyPath<R, V?> & Sendable, _ type: FieldType,
                    _ wrap: @escaping @Sendable (V) -> FieldValue, _ unwrap: @escaping @Sendable (FieldValue) -> V?) {
        self.init(name, type, nullable: true, get: { $0[keyPath: path].map(wrap) ?? .null }, set: { r, v in
            if v == .null { r[keyPath: path] = nil; return true }
            guard let x = unwrap(v) else { return false }
            r[keyPath: path] = x
            return true
        })
    }

    init(_ name: String, _ path: any WritableKeyPath<R, String> & Sendable, _ type: FieldType = .text) {
        self.init(name, required: path, type, FieldValue.text) { if case .text(let x) = $0 { x } else { nil } }
    }
    init(_ name: String, _ path: any WritableKeyPath<R, String?> & Sendable) {
        self.init(name, nullable: path, .text, FieldValue.text) { if case .text(let x) = $0 { x } else { nil } }
    }
    init(_ name: String, _ path: any WritableKeyPath<R, Double> & Sendable) {
        self.init(name, required: path, .confidence, FieldValue.double) { if case .double(let x) = $0 { x } else { nil } }
    }
    init(_ name: String, _ path: any WritableKeyPath<R, Int> & Sendable) {
        self.init(name, required: path, .count, FieldValue.int) { if case .int(let x) = $0 { x } else { nil } }
    }
    init(_ name: String, _ path: any WritableKeyPath<R, Int?> & Sendable) {
        self.init(name, nullable: path, .count, FieldValue.int) { if case .int(let x) = $0 { x } else { nil } }
    }
    init(_ name: String, _ path: any WritableKeyPath<R, Bool> & Sendable) {
        self.init(name, required: path, .bool, FieldValue.bool) { if case .bool(let x) = $0 { x } else { nil } }
    }
    init(_ name: String, _ path: any WritableKeyPath<R, Timestamp> & Sendable) {
        self.init(name, required: path, .timestamp, FieldValue.timestamp) { if case .timestamp(let x) = $0 { x } else { nil } }
    }
    init(_ name: String, _ path: any WritableKeyPath<R, [Float]?> & Sendable) {
        self.init(name, nullable: path, .embedding, FieldValue.embedding) { if case .embedding(let x) = $0 { x } else { nil } }
    }
    init(_ name: String, _ path: any WritableKeyPath<R, JSONValue> & Sendable) {
        self.init(name, required: path, .metadata, FieldValue.metadata) { if case .metadata(let x) = $0 { x } else { nil } }
    }
}

extension RecordSchema {
    init<R: Sendable>(
        _ kind: MemoryKind, table: String, wrap: @escaping @Sendable (R) -> MemoryRecord,
        unwrap: any KeyPath<MemoryRecord, R?> & Sendable, blank: R, fields specs: [FieldSpec<R>],
        order: String, indexes: [(name: String, fields: [String])]
    ) {
        self.kind = kind
        self.table = table
        fields = specs.map(\.field)
        orderField = order
        self.indexes = indexes
        values = { r in let x = r[keyPath: unwrap]!; return specs.map { $0.get(x) } }
        make = { value in
            var r = blank
            for (i, spec) in specs.enumerated() {
                let v = try value(i)
                if v == .null, !spec.field.nullable {
                    throw EngramError(.corrupt, "\(kind.rawValue) field \(spec.field.name) is NULL")
                }
                guard spec.set(&r, v) else { throw EngramError(.corrupt, "\(kind.rawValue) field \(spec.field.name) holds a value of the wrong type") }
            }
            return wrap(r)
        }
        let get = specs.first { $0.field.name == order }!.get
        precedes = { a, b in
            switch (get(a[keyPath: unwrap]!), get(b[keyPath: unwrap]!)) {
            case (.double(let x), .double(let y)): x == y ? nil : x > y
            case (.int(let x), .int(let y)): x == y ? nil : x > y
            case (.timestamp(let x), .timestamp(let y)): x == y ? nil : x > y
            default: nil
            }
        }
    }
}

/// A backend's form of one kind's table or container, derived from its schema.
public protocol SchemaTable: Sendable {
    var schema: RecordSchema { get }
}

extension SchemaTable {
    public var kind: MemoryKind { schema.kind }
    public var name: String { schema.table }
    /// The scope column: `project_id`, or `user_id` for preferences.
    public var scope: String { schema.scope.name }
    public var hasEmbedding: Bool { schema.hasEmbedding }
}

/// A quoted SQL identifier (double quotes, inner ones doubled), as both SQL dialects write it.
public func sqlIdentifier(_ s: String) -> String { "\"" + s.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\"" }
