import EngramCore

/// How one kind maps to one SQLite table. Every table has `seq INTEGER PRIMARY KEY`
/// (the stable row id, also the vector's id in the FAISS index) and a unique
/// (scope, id) key; timestamps are INTEGER microseconds, embeddings Float32 blobs,
/// metadata JSON text.
struct Table {
    let kind: MemoryKind
    let name: String
    let scope: String
    /// Data columns with their SQL types, in insert and select order; scope and id first.
    let columns: [(name: String, type: String)]
    let orderBy: String
    let hasEmbedding: Bool

    /// SQL text derived from the columns, built once (it is used on every call).
    let columnList: String
    let selectList: String
    let createSQL: String
    let upsertSQL: String

    init(kind: MemoryKind, name: String, scope: String, columns: [(name: String, type: String)], orderBy: String, hasEmbedding: Bool) {
        self.kind = kind
        self.name = name
        self.scope = scope
        self.columns = columns
        self.orderBy = orderBy
        self.hasEmbedding = hasEmbedding
        columnList = columns.map { "\"\($0.name)\"" }.joined(separator: ", ")
        selectList = "seq, " + columnList
        let definitions = columns.map { "\"\($0.name)\" \($0.type)" }.joined(separator: ",\n  ")
        createSQL = "CREATE TABLE IF NOT EXISTS \(name) (\n  seq INTEGER PRIMARY KEY,\n  \(definitions),\n  UNIQUE (\(scope), id)\n)"
        let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ", ")
        let updates = columns.dropFirst(2).map { "\"\($0.name)\" = excluded.\"\($0.name)\"" }.joined(separator: ", ")
        upsertSQL = "INSERT INTO \(name) (\(columnList)) VALUES (\(placeholders)) ON CONFLICT (\(scope), id) DO UPDATE SET \(updates) RETURNING seq"
    }

    static let all: [MemoryKind: Table] = Dictionary(uniqueKeysWithValues: [heuristics, outcomes, knowledge, antiPatterns, preferences].map { ($0.kind, $0) })

    static func of(_ kind: MemoryKind) -> Table { all[kind]! }

    static let heuristics = Table(
        kind: .heuristic, name: "heuristics", scope: "project_id",
        columns: [("project_id", "TEXT NOT NULL"), ("id", "TEXT NOT NULL"), ("agent", "TEXT NOT NULL"),
                  ("condition", "TEXT NOT NULL"), ("strategy", "TEXT NOT NULL"), ("confidence", "REAL NOT NULL"),
                  ("occurrence_count", "INTEGER NOT NULL"), ("success_count", "INTEGER NOT NULL"),
                  ("last_validated", "INTEGER NOT NULL"), ("created_at", "INTEGER NOT NULL"),
                  ("embedding", "BLOB"), ("metadata", "TEXT NOT NULL")],
        orderBy: "confidence DESC, id ASC", hasEmbedding: true)

    static let outcomes = Table(
        kind: .outcome, name: "outcomes", scope: "project_id",
        columns: [("project_id", "TEXT NOT NULL"), ("id", "TEXT NOT NULL"), ("agent", "TEXT NOT NULL"),
                  ("task_type", "TEXT NOT NULL"), ("task_description", "TEXT NOT NULL"), ("success", "INTEGER NOT NULL"),
                  ("strategy_used", "TEXT NOT NULL"), ("duration_ms", "INTEGER"), ("error_message", "TEXT"),
                  ("user_feedback", "TEXT"), ("timestamp", "INTEGER NOT NULL"), ("embedding", "BLOB"),
                  ("metadata", "TEXT NOT NULL")],
        orderBy: "timestamp DESC, id ASC", hasEmbedding: true)

    static let knowledge = Table(
        kind: .domainKnowledge, name: "domain_knowledge", scope: "project_id",
        columns: [("project_id", "TEXT NOT NULL"), ("id", "TEXT NOT NULL"), ("agent", "TEXT NOT NULL"),
                  ("domain", "TEXT NOT NULL"), ("fact", "TEXT NOT NULL"), ("source", "TEXT NOT NULL"),
                  ("confidence", "REAL NOT NULL"), ("last_verified", "INTEGER NOT NULL"), ("embedding", "BLOB"),
                  ("metadata", "TEXT NOT NULL")],
        orderBy: "confidence DESC, id ASC", hasEmbedding: true)

    static let antiPatterns = Table(
        kind: .antiPattern, name: "anti_patterns", scope: "project_id",
        columns: [("project_id", "TEXT NOT NULL"), ("id", "TEXT NOT NULL"), ("agent", "TEXT NOT NULL"),
                  ("pattern", "TEXT NOT NULL"), ("why_bad", "TEXT NOT NULL"), ("better_alternative", "TEXT NOT NULL"),
                  ("occurrence_count", "INTEGER NOT NULL"), ("last_seen", "INTEGER NOT NULL"),
                  ("created_at", "INTEGER NOT NULL"), ("embedding", "BLOB"), ("metadata", "TEXT NOT NULL")],
        orderBy: "occurrence_count DESC, id ASC", hasEmbedding: true)

    static let preferences = Table(
        kind: .userPreference, name: "preferences", scope: "user_id",
        columns: [("user_id", "TEXT NOT NULL"), ("id", "TEXT NOT NULL"), ("category", "TEXT NOT NULL"),
                  ("preference", "TEXT NOT NULL"), ("source", "TEXT NOT NULL"), ("confidence", "REAL NOT NULL"),
                  ("timestamp", "INTEGER NOT NULL"), ("metadata", "TEXT NOT NULL")],
        orderBy: "timestamp DESC, id ASC", hasEmbedding: false)

    /// Secondary indexes: every filter and order the contract uses.
    static func indexSQL(outcomeTimestampIndex: Bool) -> [String] {
        var sql = [
            "CREATE INDEX IF NOT EXISTS idx_heuristics_project_agent ON heuristics (project_id, agent)",
            "CREATE INDEX IF NOT EXISTS idx_heuristics_project_confidence ON heuristics (project_id, confidence)",
            "CREATE INDEX IF NOT EXISTS idx_outcomes_project_task_type ON outcomes (project_id, task_type)",
            "CREATE INDEX IF NOT EXISTS idx_knowledge_project_agent ON domain_knowledge (project_id, agent)",
            "CREATE INDEX IF NOT EXISTS idx_knowledge_project_confidence ON domain_knowledge (project_id, confidence)",
            "CREATE INDEX IF NOT EXISTS idx_knowledge_project_domain ON domain_knowledge (project_id, domain)",
            "CREATE INDEX IF NOT EXISTS idx_anti_patterns_project_agent ON anti_patterns (project_id, agent)",
            "CREATE INDEX IF NOT EXISTS idx_anti_patterns_project_occurrences ON anti_patterns (project_id, occurrence_count)",
            "CREATE INDEX IF NOT EXISTS idx_preferences_user_category ON preferences (user_id, category)",
        ]
        if outcomeTimestampIndex {
            sql += [
                "DROP INDEX IF EXISTS idx_outcomes_project_agent",
                "CREATE INDEX IF NOT EXISTS \(outcomeTimestampIndexName) ON outcomes (project_id, timestamp)",
                "CREATE INDEX IF NOT EXISTS idx_outcomes_project_agent_timestamp ON outcomes (project_id, agent, timestamp)",
            ]
        } else {
            // The original's outcome indexes (review HIGH-003): nothing on timestamp.
            sql += [
                "DROP INDEX IF EXISTS \(outcomeTimestampIndexName)",
                "DROP INDEX IF EXISTS idx_outcomes_project_agent_timestamp",
                "CREATE INDEX IF NOT EXISTS idx_outcomes_project_agent ON outcomes (project_id, agent)",
            ]
        }
        return sql
    }

    static let outcomeTimestampIndexName = "idx_outcomes_project_timestamp"

    // MARK: Row mapping

    /// The bound values of `record`, in `columns` order.
    func values(_ record: MemoryRecord) -> [SQLValue] {
        let meta = SQLValue.text(record.metadata.jsonText)
        switch record {
        case .heuristic(let h):
            return [.text(h.projectId), .text(h.id), .text(h.agent), .text(h.condition), .text(h.strategy),
                    .double(h.confidence), .int(Int64(h.occurrenceCount)), .int(Int64(h.successCount)),
                    .int(h.lastValidated.microsecondsSinceEpoch), .int(h.createdAt.microsecondsSinceEpoch),
                    .optional(h.embedding), meta]
        case .outcome(let o):
            return [.text(o.projectId), .text(o.id), .text(o.agent), .text(o.taskType), .text(o.taskDescription),
                    .int(o.success ? 1 : 0), .text(o.strategyUsed), .optional(o.durationMs), .optional(o.errorMessage),
                    .optional(o.userFeedback), .int(o.timestamp.microsecondsSinceEpoch), .optional(o.embedding), meta]
        case .domainKnowledge(let d):
            return [.text(d.projectId), .text(d.id), .text(d.agent), .text(d.domain), .text(d.fact), .text(d.source),
                    .double(d.confidence), .int(d.lastVerified.microsecondsSinceEpoch), .optional(d.embedding), meta]
        case .antiPattern(let a):
            return [.text(a.projectId), .text(a.id), .text(a.agent), .text(a.pattern), .text(a.whyBad),
                    .text(a.betterAlternative), .int(Int64(a.occurrenceCount)), .int(a.lastSeen.microsecondsSinceEpoch),
                    .int(a.createdAt.microsecondsSinceEpoch), .optional(a.embedding), meta]
        case .userPreference(let p):
            return [.text(p.userId), .text(p.id), .text(p.category), .text(p.preference), .text(p.source),
                    .double(p.confidence), .int(p.timestamp.microsecondsSinceEpoch), meta]
        }
    }

    /// Decodes a row selected with `selectList` (column 0 is seq).
    func decode(_ s: Statement) throws -> MemoryRecord {
        func ts(_ c: Int32) -> Timestamp { Timestamp(microsecondsSinceEpoch: s.int(c)) }
        let metaColumn = Int32(columns.count)
        let metadata: JSONValue
        do { metadata = try JSONValue.parse(s.text(metaColumn)) } catch {
            throw EngramError(.corrupt, "metadata of \(name) row \(s.int(0)) is not valid JSON: \(error)")
        }
        switch kind {
        case .heuristic:
            return .heuristic(Heuristic(
                id: s.text(2), agent: s.text(3), projectId: s.text(1), condition: s.text(4), strategy: s.text(5),
                confidence: s.double(6), occurrenceCount: Int(s.int(7)), successCount: Int(s.int(8)),
                lastValidated: ts(9), createdAt: ts(10), embedding: s.floats(11), metadata: metadata))
        case .outcome:
            return .outcome(Outcome(
                id: s.text(2), agent: s.text(3), projectId: s.text(1), taskType: s.text(4), taskDescription: s.text(5),
                success: s.int(6) != 0, strategyUsed: s.text(7), durationMs: s.optionalInt(8).map { Int($0) },
                errorMessage: s.optionalText(9), userFeedback: s.optionalText(10), timestamp: ts(11),
                embedding: s.floats(12), metadata: metadata))
        case .domainKnowledge:
            return .domainKnowledge(DomainKnowledge(
                id: s.text(2), agent: s.text(3), projectId: s.text(1), domain: s.text(4), fact: s.text(5),
                source: s.text(6), confidence: s.double(7), lastVerified: ts(8), embedding: s.floats(9),
                metadata: metadata))
        case .antiPattern:
            return .antiPattern(AntiPattern(
                id: s.text(2), agent: s.text(3), projectId: s.text(1), pattern: s.text(4), whyBad: s.text(5),
                betterAlternative: s.text(6), occurrenceCount: Int(s.int(7)), lastSeen: ts(8), createdAt: ts(9),
                embedding: s.floats(10), metadata: metadata))
        case .userPreference:
            return .userPreference(UserPreference(
                id: s.text(2), userId: s.text(1), category: s.text(3), preference: s.text(4), source: s.text(5),
                confidence: s.double(6), timestamp: ts(7), metadata: metadata))
        }
    }
}
