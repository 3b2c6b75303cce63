import CSQLite
import Dispatch
import EngramCore
import EngramVectorIndex

/// What a program written without Engram does to save a batch (issue 28's "naive
/// baseline"): the same rows into a plain table through the same SQLite, in SQLite's default
/// settings (rollback journal, `synchronous = FULL`), one transaction of plain INSERTs, then
/// the vectors into a FAISS `IndexIDMap2(IndexFlatIP)` by row id. No key lookup, no secondary
/// index, no change journal, no validation of its own (the FAISS add goes through Engram's
/// shim, which normalises and refuses non-finite or zero vectors, as `faiss.normalize_L2`
/// would need anyway). The benchmark's `batch` scenario times it beside `save`.
@_spi(Benchmarks) public enum NaiveBaseline {
    /// Creates a database at `path` with one plain table for `records`' kind (all of one
    /// kind), then times the inserts and the index add; returns the nanoseconds they took.
    public static func insert(path: String, records: [MemoryRecord], dimension: Int) throws -> Double {
        guard let kind = records.first?.kind else { return 0 }
        guard records.allSatisfy({ $0.kind == kind }) else { throw EngramError.invalid("records", "the naive baseline saves one kind") }
        let table = Table.of(kind)
        let c = try Connection(path: path)
        defer { c.close() }
        try c.execute("CREATE TABLE \(table.name) (\(table.columnDefinitions))")
        let insert = try c.statement(table.insertSQL)
        let index = try VectorIndex(dimension: dimension)
        let start = DispatchTime.now().uptimeNanoseconds
        var vectors: [[Float]] = [], ids: [Int64] = []
        try c.transaction {
            for r in records {
                try insert.bind(record: r).run()
                if let e = r.embedding {
                    vectors.append(e)
                    ids.append(c.lastInsertRowid)
                }
            }
        }
        try index.add(vectors, ids: ids)
        return Double(DispatchTime.now().uptimeNanoseconds - start)
    }
}
