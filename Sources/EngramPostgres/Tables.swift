import EngramCore

/// How one kind maps to one PostgreSQL table: proper column types (TIMESTAMPTZ, JSONB,
/// `vector(dim)`, DOUBLE PRECISION, BIGINT), the contract's record key as primary key.
/// Counts are BIGINT so that any Swift `Int` reads back as it was written.
/// Confidence is DOUBLE PRECISION rather than REAL: REAL is 4 bytes and would not give
/// back the Double it was given (0.731 reads back as 0.73100001).
struct PGTable {
    let kind: MemoryKind
    let name: String
    let scope: String
    let columns: [(name: String, type: String)]
    let orderBy: String
    var hasEmbedding: Bool { kind != .userPreference }

    var columnList: String { columnList(prefix: "") }
    /// The columns, each qualified by `prefix` (e.g. `r.`).
    func columnList(prefix: String) -> String { columns.map { "\(prefix)\"\($0.name)\"" }.joined(separator: ", ") }

    func qualified(_ schema: String) -> String { "\(quoteIdent(schema)).\(name)" }

    func createSQL(_ schema: String, dimension: Int) -> String {
        let cols = columns.map { "\"\($0.name)\" \($0.type.replacingDimension(dimension))" }.joined(separator: ", ")
        return "CREATE TABLE IF NOT EXISTS \(qualified(schema)) (\(cols), PRIMARY KEY (\(scope), id))"
    }

    static let all: [PGTable] = [heuristics, outcomes, knowledge, antiPatterns, preferences]
    static func of(_ kind: MemoryKind) -> PGTable { all.first { $0.kind == kind }! }

    static let heuristics = PGTable(
        kind: .heuristic, name: "heuristics", scope: "project_id",
        columns: [("project_id", "TEXT NOT NULL"), ("id", "TEXT NOT NULL"), ("agent", "TEXT NOT NULL"),
                  ("condition", "TEXT NOT NULL"), ("strategy", "TEXT NOT NULL"), ("confidence", "DOUBLE PRECISION NOT NULL"),
                  ("occurrence_count", "BIGINT NOT NULL"), ("success_count", "BIGINT NOT NULL"),
                  ("last_validated", "TIMESTAMPTZ NOT NULL"), ("created_at", "TIMESTAMPTZ NOT NULL"),
                  ("embedding", "vector(DIM)"), ("metadata", "JSONB NOT NULL")],
        orderBy: "confidence DESC, id COLLATE \"C\" ASC")

    static let outcomes = PGTable(
        kind: .outcome, name: "outcomes", scope: "project_id",
        columns: [("project_id", "TEXT NOT NULL"), ("id", "TEXT NOT NULL"), ("agent", "TEXT NOT NULL"),
                  ("task_type", "TEXT NOT NULL"), ("task_description", "TEXT NOT NULL"), ("success", "BOOLEAN NOT NULL"),
                  ("strategy_used", "TEXT NOT NULL"), ("duration_ms", "BIGINT"), ("error_message", "TEXT"),
                  ("user_feedback", "TEXT"), ("timestamp", "TIMESTAMPTZ NOT NULL"), ("embedding", "vector(DIM)"),
                  ("metadata", "JSONB NOT NULL")],
        orderBy: "\"timestamp\" DESC, id COLLATE \"C\" ASC")

    static let knowledge = PGTable(
        kind: .domainKnowledge, name: "domain_knowledge", scope: "project_id",
        columns: [("project_id", "TEXT NOT NULL"), ("id", "TEXT NOT NULL"), ("agent", "TEXT NOT NULL"),
                  ("domain", "TEXT NOT NULL"), ("fact", "TEXT NOT NULL"), ("source", "TEXT NOT NULL"),
                  ("confidence", "DOUBLE PRECISION NOT NULL"), ("last_verified", "TIMESTAMPTZ NOT NULL"),
                  ("embedding", "vector(DIM)"), ("metadata", "JSONB NOT NULL")],
        orderBy: "confidence DESC, id COLLATE \"C\" ASC")

    static let antiPatterns = PGTable(
        kind: .antiPattern, name: "anti_patterns", scope: "project_id",
        columns: [("project_id", "TEXT NOT NULL"), ("id", "TEXT NOT NULL"), ("agent", "TEXT NOT NULL"),
                  ("pattern", "TEXT NOT NULL"), ("why_bad", "TEXT NOT NULL"), ("better_alternative", "TEXT NOT NULL"),
                  ("occurrence_count", "BIGINT NOT NULL"), ("last_seen", "TIMESTAMPTZ NOT NULL"),
                  ("created_at", "TIMESTAMPTZ NOT NULL"), ("embedding", "vector(DIM)"), ("metadata", "JSONB NOT NULL")],
        orderBy: "occurrence_count DESC, id COLLATE \"C\" ASC")

    static let preferences = PGTable(
        kind: .userPreference, name: "preferences", scope: "user_id",
        columns: [("user_id", "TEXT NOT NULL"), ("id", "TEXT NOT NULL"), ("category", "TEXT NOT NULL"),
                  ("preference", "TEXT NOT NULL"), ("source", "TEXT NOT NULL"), ("confidence", "DOUBLE PRECISION NOT NULL"),
                  ("timestamp", "TIMESTAMPTZ NOT NULL"), ("metadata", "JSONB NOT NULL")],
        orderBy: "\"timestamp\" DESC, id COLLATE \"C\" ASC")

    static let outcomeTimestampIndexName = "idx_outcomes_project_timestamp"

    /// The secondary indexes a configuration wants (review HIGH-003, HIGH-004), by table and
    /// name. Without the timestamp index, `(project_id, agent)` serves outcomes instead (with it,
    /// that is a prefix of `(project_id, agent, timestamp)`). Nothing here is ever dropped.
    static func indexSQL(_ schema: String, timestampIndex: Bool, hnsw: (m: Int, efConstruction: Int)?) -> [(table: String, name: String, sql: String)] {
        let s = quoteIdent(schema)
        var specs: [(String, String, String)] = [
            ("heuristics", "idx_heuristics_project_agent", "(project_id, agent)"),
            ("heuristics", "idx_heuristics_project_confidence", "(project_id, confidence)"),
            ("outcomes", "idx_outcomes_project_task_type", "(project_id, task_type)"),
            ("domain_knowledge", "idx_knowledge_project_agent", "(project_id, agent)"),
            ("domain_knowledge", "idx_knowledge_project_confidence", "(project_id, confidence)"),
            ("domain_knowledge", "idx_knowledge_project_domain", "(project_id, domain)"),
            ("anti_patterns", "idx_anti_patterns_project_agent", "(project_id, agent)"),
            ("anti_patterns", "idx_anti_patterns_project_occurrences", "(project_id, occurrence_count)"),
            ("preferences", "idx_preferences_user_category", "(user_id, category)"),
        ]
        if timestampIndex {
            specs += [("outcomes", outcomeTimestampIndexName, "(project_id, \"timestamp\")"),
                      ("outcomes", "idx_outcomes_project_agent_timestamp", "(project_id, agent, \"timestamp\")")]
        } else {
            specs.append(("outcomes", "idx_outcomes_project_agent", "(project_id, agent)"))
        }
        if let hnsw {
            for t in all where t.hasEmbedding {
                specs.append((t.name, "idx_\(t.name)_embedding_hnsw",
                              "USING hnsw (embedding vector_cosine_ops) WITH (m = \(hnsw.m), ef_construction = \(hnsw.efConstruction))"))
            }
        }
        return specs.map { table, name, body in (table, name, "CREATE INDEX IF NOT EXISTS \(name) ON \(s).\(table) \(body)") }
    }

    // MARK: Row mapping

    func values(_ record: MemoryRecord) -> [PGValue] {
        let meta = PGValue.jsonb(record.metadata)
        switch record {
        case .heuristic(let h):
            return [.text(h.projectId), .text(h.id), .text(h.agent), .text(h.condition), .text(h.strategy),
                    .float8(h.confidence), .int8(Int64(h.occurrenceCount)), .int8(Int64(h.successCount)),
                    .timestamp(h.lastValidated), .timestamp(h.createdAt), .optional(h.embedding), meta]
        case .outcome(let o):
            return [.text(o.projectId), .text(o.id), .text(o.agent), .text(o.taskType), .text(o.taskDescription),
                    .bool(o.success), .text(o.strategyUsed), .optional(o.durationMs), .optional(o.errorMessage),
                    .optional(o.userFeedback), .timestamp(o.timestamp), .optional(o.embedding), meta]
        case .domainKnowledge(let d):
            return [.text(d.projectId), .text(d.id), .text(d.agent), .text(d.domain), .text(d.fact), .text(d.source),
                    .float8(d.confidence), .timestamp(d.lastVerified), .optional(d.embedding), meta]
        case .antiPattern(let a):
            return [.text(a.projectId), .text(a.id), .text(a.agent), .text(a.pattern), .text(a.whyBad),
                    .text(a.betterAlternative), .int8(Int64(a.occurrenceCount)), .timestamp(a.lastSeen),
                    .timestamp(a.createdAt), .optional(a.embedding), meta]
        case .userPreference(let p):
            return [.text(p.userId), .text(p.id), .text(p.category), .text(p.preference), .text(p.source),
                    .float8(p.confidence), .timestamp(p.timestamp), meta]
        }
    }

    /// Decodes row `r` of a result selected with `columnList` (starting at column `offset`).
    func decode(_ res: PGResult, _ r: Int, offset: Int = 0) throws -> MemoryRecord {
        func v(_ c: Int) throws -> PGBytes {
            guard let b = res.value(r, offset + c) else { throw EngramError(.corrupt, "\(name): unexpected NULL in column \(columns[c].name)") }
            return b
        }
        func text(_ c: Int) throws -> String { try v(c).text }
        func optText(_ c: Int) -> String? { res.value(r, offset + c)?.text }
        func ts(_ c: Int) throws -> Timestamp { try v(c).timestamp }
        func vec(_ c: Int) throws -> [Float]? { try res.value(r, offset + c)?.vector() }
        let metadata = try v(columns.count - 1).jsonb()
        switch kind {
        case .heuristic:
            return .heuristic(Heuristic(
                id: try text(1), agent: try text(2), projectId: try text(0), condition: try text(3), strategy: try text(4),
                confidence: try v(5).float8, occurrenceCount: Int(try v(6).int8), successCount: Int(try v(7).int8),
                lastValidated: try ts(8), createdAt: try ts(9), embedding: try vec(10), metadata: metadata))
        case .outcome:
            return .outcome(Outcome(
                id: try text(1), agent: try text(2), projectId: try text(0), taskType: try text(3),
                taskDescription: try text(4), success: try v(5).bool, strategyUsed: try text(6),
                durationMs: res.value(r, offset + 7).map { Int($0.int8) }, errorMessage: optText(8), userFeedback: optText(9),
                timestamp: try ts(10), embedding: try vec(11), metadata: metadata))
        case .domainKnowledge:
            return .domainKnowledge(DomainKnowledge(
                id: try text(1), agent: try text(2), projectId: try text(0), domain: try text(3), fact: try text(4),
                source: try text(5), confidence: try v(6).float8, lastVerified: try ts(7), embedding: try vec(8),
                metadata: metadata))
        case .antiPattern:
            return .antiPattern(AntiPattern(
                id: try text(1), agent: try text(2), projectId: try text(0), pattern: try text(3), whyBad: try text(4),
                betterAlternative: try text(5), occurrenceCount: Int(try v(6).int8), lastSeen: try ts(7),
                createdAt: try ts(8), embedding: try vec(9), metadata: metadata))
        case .userPreference:
            return .userPreference(UserPreference(
                id: try text(1), userId: try text(0), category: try text(2), preference: try text(3), source: try text(4),
                confidence: try v(5).float8, timestamp: try ts(6), metadata: metadata))
        }
    }
}

/// A quoted SQL identifier (schema names come from configuration).
/// A string literal for SQL text (only for DDL, where parameters cannot be used).
func quoteLiteral(_ s: String) -> String { "'" + s.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''") + "'" }

func quoteIdent(_ s: String) -> String { "\"" + s.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\"" }

extension String {
    func replacingDimension(_ d: Int) -> String { split(separator: "DIM", omittingEmptySubsequences: false).joined(separator: String(d)) }
}
