import EngramCore

/// How one kind maps to one SQLite table, derived from the kind's `RecordSchema`. Every table
/// has `seq INTEGER PRIMARY KEY` (the stable row id, also the vector's id in the FAISS index)
/// and a unique (scope, id) key; timestamps are INTEGER microseconds, embeddings Float32
/// blobs, metadata JSON text.
struct Table: SchemaTable {
    let schema: RecordSchema

    /// SQL text derived from the schema, built once (it is used on every call).
    let columnList: String
    /// `seq` then the schema's fields: a row's field i is column i + 1.
    let selectList: String
    let orderBy: String
    let createSQL: String
    /// `seq INTEGER PRIMARY KEY` and each field's column, as in `createSQL` (no key constraint).
    let columnDefinitions: String
    /// A plain INSERT of every field; `upsertSQL` is it with the conflict clause.
    let insertSQL: String
    let upsertSQL: String
    /// The row id of a (scope, id) key, for an upsert that updated instead of inserting.
    let seqSQL: String

    init(_ schema: RecordSchema) {
        self.schema = schema
        let names = schema.fields.map { sqlIdentifier($0.name) }
        columnList = names.joined(separator: ", ")
        selectList = "seq, " + columnList
        orderBy = "\(sqlIdentifier(schema.orderField)) DESC, id ASC"
        columnDefinitions = (["seq INTEGER PRIMARY KEY"] + schema.fields.map { "\(sqlIdentifier($0.name)) \(Self.type($0))" }).joined(separator: ",\n  ")
        createSQL = "CREATE TABLE IF NOT EXISTS \(schema.table) (\n  \(columnDefinitions),\n  UNIQUE (\(schema.scope.name), id)\n)"
        let placeholders = Array(repeating: "?", count: names.count).joined(separator: ", ")
        insertSQL = "INSERT INTO \(schema.table) (\(columnList)) VALUES (\(placeholders))"
        let updates = names.dropFirst(2).map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
        upsertSQL = insertSQL + " ON CONFLICT (\(schema.scope.name), id) DO UPDATE SET \(updates)"
        seqSQL = "SELECT seq FROM \(schema.table) WHERE \(schema.scope.name) = ? AND id = ?"
    }

    /// A field's column type.
    static func type(_ f: Field) -> String {
        let base = switch f.type {
        case .key, .text, .metadata: "TEXT"
        case .confidence: "REAL"
        case .count, .bool, .timestamp: "INTEGER"
        case .embedding: "BLOB"
        }
        return f.nullable ? base : base + " NOT NULL"
    }

    /// Inserts or updates `record`'s row; returns its row id. No RETURNING clause: SQLite
    /// gives a statement with one a statement journal, which for a large batch spills to a
    /// temporary file and costs more than the rows (alone: 27,000 → 33,000 records/s at 100k).
    /// An insert sets the last row id; an update leaves the 0 set before it, so the id is read.
    func upsert(_ c: Connection, _ record: MemoryRecord) throws -> Int64 {
        c.lastInsertRowid = 0
        try c.statement(upsertSQL).bind(record: record).run()
        let inserted = c.lastInsertRowid
        if inserted != 0 { return inserted }
        let read = try c.statement(seqSQL).bind([.text(record.scope), .text(record.id)])
        guard let seq = try read.first({ $0.int(0) }) else { throw EngramError(.internal, "upsert into \(name) left no row for id \(record.id)") }
        return seq
    }

    private static let all = RecordSchema.all.map(Table.init)
    static func of(_ kind: MemoryKind) -> Table { all.first { $0.kind == kind }! }
    static var tables: [Table] { all }

    /// Secondary indexes: every filter and order the contract uses (see `RecordSchema.indexes`).
    /// Without the outcome time indexes (the original's, review HIGH-003) those are dropped.
    static func indexSQL(outcomeTimestampIndex: Bool) -> [String] {
        let unwanted = outcomeTimestampIndex ? [RecordSchema.outcomeAgentIndex] : RecordSchema.outcomeTimestampIndexes
        return unwanted.map { "DROP INDEX IF EXISTS \($0.name)" } + RecordSchema.secondaryIndexes(timestampIndex: outcomeTimestampIndex).map {
            "CREATE INDEX IF NOT EXISTS \($0.name) ON \($0.table) (\($0.fields.map(sqlIdentifier).joined(separator: ", ")))"
        }
    }

    static let outcomeTimestampIndexName = RecordSchema.outcomeTimestampIndexes[0].name

    // MARK: Row mapping

    /// Decodes a row selected with `selectList` (field i in column i + 1), by each field's type.
    func decode(_ s: Statement) throws -> MemoryRecord {
        try schema.record { i, f in
            let c = Int32(i + 1)
            if s.isNull(c) { return .null }
            switch f.type {
            case .key, .text: return .text(s.text(c))
            case .confidence: return .double(s.double(c))
            case .count: return .int(Int(s.int(c)))
            case .bool: return .bool(s.int(c) != 0)
            case .timestamp: return .timestamp(Timestamp(microsecondsSinceEpoch: s.int(c)))
            case .embedding: return s.floats(c).map(FieldValue.embedding) ?? .null
            case .metadata:
                do { return .metadata(try JSONValue.parse(s.text(c))) } catch {
                    throw EngramError(.corrupt, "metadata of \(name) row \(s.int(0)) is not valid JSON: \(error)")
                }
            }
        }
    }
}
