import EngramCore

/// How one kind maps to one PostgreSQL table, derived from the kind's `RecordSchema`: proper
/// column types (TIMESTAMPTZ, JSONB, `vector(dim)`, DOUBLE PRECISION, BIGINT), the contract's
/// record key as primary key. Counts are BIGINT so that any Swift `Int` reads back as it was
/// written. Confidence is DOUBLE PRECISION rather than REAL: REAL is 4 bytes and would not
/// give back the Double it was given (0.731 reads back as 0.73100001).
struct PGTable: SchemaTable {
    let schema: RecordSchema
    var fieldCount: Int { schema.fields.count }
    let orderBy: String

    init(_ schema: RecordSchema) {
        self.schema = schema
        orderBy = "\(sqlIdentifier(schema.orderField)) DESC, id COLLATE \"C\" ASC"
    }

    var columnList: String { columnList(prefix: "") }
    /// The fields' columns in schema order, each qualified by `prefix` (e.g. `r.`).
    func columnList(prefix: String) -> String { schema.fields.map { prefix + sqlIdentifier($0.name) }.joined(separator: ", ") }
    /// `col = excluded.col` for every field but the key.
    var updateList: String { schema.fields.dropFirst(2).map { "\(sqlIdentifier($0.name)) = excluded.\(sqlIdentifier($0.name))" }.joined(separator: ", ") }

    func qualified(_ schema: String) -> String { "\(sqlIdentifier(schema)).\(name)" }

    func createSQL(_ schemaName: String, dimension: Int) -> String {
        let cols = schema.fields.map { "\(sqlIdentifier($0.name)) \(Self.type($0, dimension: dimension))" }.joined(separator: ", ")
        // Autovacuum looks at 5% dead rows rather than its default 20% (`Maintenance` does the
        // store's own share sooner; this covers writes by other clients).
        return "CREATE TABLE IF NOT EXISTS \(qualified(schemaName)) (\(cols), PRIMARY KEY (\(scope), id)) WITH (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.05)"
    }

    /// A field's column type.
    static func type(_ f: Field, dimension: Int) -> String {
        let base = switch f.type {
        case .key, .text: "TEXT"
        case .confidence: "DOUBLE PRECISION"
        case .count: "BIGINT"
        case .bool: "BOOLEAN"
        case .timestamp: "TIMESTAMPTZ"
        case .embedding: "vector(\(dimension))"
        case .metadata: "JSONB"
        }
        return f.nullable ? base : base + " NOT NULL"
    }

    static let all = RecordSchema.all.map(PGTable.init)
    static func of(_ kind: MemoryKind) -> PGTable { all.first { $0.kind == kind }! }

    static let outcomeTimestampIndexName = RecordSchema.outcomeTimestampIndexes[0].name

    /// The secondary indexes a configuration wants (review HIGH-003, HIGH-004), by table and
    /// name (see `RecordSchema.secondaryIndexes`), and with `hnsw` one HNSW index per vector
    /// table. Nothing here is ever dropped.
    static func indexSQL(_ schema: String, timestampIndex: Bool, hnsw: (m: Int, efConstruction: Int)?) -> [(table: String, name: String, sql: String)] {
        var specs = RecordSchema.secondaryIndexes(timestampIndex: timestampIndex).map {
            ($0.table, $0.name, "(" + $0.fields.map(sqlIdentifier).joined(separator: ", ") + ")")
        }
        if let hnsw {
            for t in all where t.hasEmbedding {
                specs.append((t.name, "idx_\(t.name)_embedding_hnsw",
                              "USING hnsw (embedding vector_cosine_ops) WITH (m = \(hnsw.m), ef_construction = \(hnsw.efConstruction))"))
            }
        }
        let s = sqlIdentifier(schema)
        return specs.map { table, name, body in (table, name, "CREATE INDEX IF NOT EXISTS \(name) ON \(s).\(table) \(body)") }
    }

    // MARK: Row mapping

    /// The parameters of `record`, in the schema's field order.
    func values(_ record: MemoryRecord) -> [PGValue] {
        schema.values(of: record).map { v in
            switch v {
            case .null: .null
            case .text(let s): .text(s)
            case .double(let d): .float8(d)
            case .int(let n): .int8(Int64(n))
            case .bool(let b): .bool(b)
            case .timestamp(let t): .timestamp(t)
            case .embedding(let e): .vector(e)
            case .metadata(let m): .jsonb(m)
            }
        }
    }

    /// Decodes row `r` of a result selected with `columnList` (field i in column `offset + i`),
    /// by each field's type.
    func decode(_ res: PGResult, _ r: Int, offset: Int = 0) throws -> MemoryRecord {
        try schema.record { i, f in
            guard let b = res.value(r, offset + i) else { return .null }
            switch f.type {
            case .key, .text: return .text(b.text)
            case .confidence: return .double(b.float8)
            case .count: return .int(Int(b.int8))
            case .bool: return .bool(b.bool)
            case .timestamp: return .timestamp(b.timestamp)
            case .embedding: return .embedding(try b.vector())
            case .metadata: return .metadata(try b.jsonb())
            }
        }
    }
}

/// A string literal for SQL text (only for DDL, where parameters cannot be used).
func quoteLiteral(_ s: String) -> String { "'" + s.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''") + "'" }

