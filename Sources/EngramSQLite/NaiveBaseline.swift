import CSQLite
import EngramCore
import EngramVectorIndex

/// What a program written without Engram does to save a batch (issue 28's "naive
/// baseline"): the same rows into a plain table through the same SQLite, in SQLite's default
/// settings (rollback journal, `synchronous = FULL`), one transaction of plain INSERTs, then
/// the vectors into a FAISS `IndexIDMap2(IndexFlatIP)` by row id. No key lookup, no secondary
/// index, no change journal, no validation: the benchmark's `batch` scenario times it beside
/// `save` so the ratio comes out of one run.
@_spi(Benchmarks) public enum NaiveBaseline {
    /// Inserts `records` (all of one kind) into a new database at `path`; returns the index.
    @discardableResult
    public static func insert(path: String, records: [MemoryRecord], dimension: Int) throws -> VectorIndex {
        let index = try VectorIndex(dimension: dimension)
        guard let kind = records.first?.kind else { return index }
        let table = Table.of(kind)
        let c = try Connection(path: path)
        defer { c.close() }
        let columns = table.schema.fields.map { "\(sqlIdentifier($0.name)) \(Table.type($0))" }.joined(separator: ", ")
        try c.execute("CREATE TABLE \(table.name) (seq INTEGER PRIMARY KEY, \(columns))")
        let placeholders = Array(repeating: "?", count: table.schema.fields.count).joined(separator: ", ")
        var vectors: [[Float]] = [], ids: [Int64] = []
        try c.transaction {
            let insert = try c.statement("INSERT INTO \(table.name) (\(table.columnList)) VALUES (\(placeholders))")
            for r in records {
                guard r.kind == kind else { throw EngramError.invalid("records", "the naive baseline saves one kind") }
                try insert.bind(record: r).run()
                insert.reset()
                if let e = r.embedding {
                    vectors.append(e)
                    ids.append(c.lastInsertRowid)
                }
            }
        }
        try index.add(vectors, ids: ids)
        return index
    }
}
