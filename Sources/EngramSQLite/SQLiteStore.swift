import CSQLite
import EngramCore
import EngramVectorIndex
import Foundation
import Glibc
import Synchronization

/// The embedded default store: records in one SQLite database (WAL), vectors in an
/// in-memory FAISS index per kind and project that is kept in step with the tables.
///
/// The index is built once at open from the embedding column, so a crash can never leave
/// the two disagreeing after a reopen; afterwards every save, re-save, delete and prune
/// updates it in place (a delete costs O(d), not a rebuild: review MED-004 / HIGH-001).
/// One index per project makes the project filter free: a query that filters only by
/// project scans its project's vectors with no id restriction; other filters first
/// select the matching row ids in SQL, then rank only those (filter-then-rank).
/// One connection serves all calls behind a mutex; an advisory lock on `<path>.lock`
/// keeps a second process from opening the same database (its index would go stale).
public final class SQLiteStore: ConfiguredStore, StorageEngine {
    /// How the vector index follows deletes. Engram uses `swapRemove`; the others exist so
    /// the benchmark runner can measure the original project's behaviours side by side.
    public enum VectorMaintenance: String, Sendable, CaseIterable {
        /// O(d) per deleted vector: the last vector moves into the freed slot.
        case swapRemove = "swap_remove"
        /// FAISS `remove_ids`: one O(n) pass per delete call.
        case faissRemoveIds = "faiss_remove_ids"
        /// Reload the whole index from the database after every delete (the original's first behaviour).
        case rebuildOnDelete = "full_rebuild"
        /// Mark the index stale on delete and reload it before the next search (the original's current behaviour).
        case rebuildOnNextSearch = "lazy_rebuild"
    }

    /// SQLite's `synchronous` setting. `normal` (the default, with WAL) keeps every returned
    /// write across a killed process; `full` also across power loss, at one fsync per commit.
    public enum Synchronous: String, Sendable { case normal = "NORMAL", full = "FULL" }

    public struct Configuration: StoreConfiguration {
        /// The database file; created when missing.
        public var path: String
        public var embeddingDimension: Int = 384
        public var synchronous: Synchronous = .normal
        public var vectorMaintenance: VectorMaintenance = .swapRemove
        /// The kernel that ranks vectors; FAISS's own is kept to measure the difference.
        public var vectorScan: VectorScan = .engram
        /// Keep the outcome timestamp indexes. Turning this off exists only to measure what
        /// they buy (review HIGH-003/NEW-001): it drops them and leaves the original's
        /// (project_id, agent) index.
        public var outcomeTimestampIndex = true

        public init(path: String, embeddingDimension: Int = 384) {
            self.path = path
            self.embeddingDimension = embeddingDimension
        }
    }

    public let backendName = "sqlite"
    public let configuration: Configuration
    public var capabilities: Set<Capability> { [.durability, .vectorIntrospection, .queryPlanIntrospection] }

    /// Everything mutable. `@unchecked Sendable`: it is only ever touched inside `state.withLock`.
    private final class State: @unchecked Sendable {
        var connection: Connection?
        var indexes: [IndexKey: VectorIndex] = [:]
        /// The agent of every vector, per index (see `AgentPostings`).
        var postings: [IndexKey: AgentPostings] = [:]
        /// Kinds whose indexes must be reloaded before the next search (`rebuildOnNextSearch`).
        var stale: Set<MemoryKind> = []
        var lockFD: Int32 = -1
    }
    private let state: Mutex<State>

    /// Opens (or creates) the database at `configuration.path`.
    public init(_ configuration: Configuration) throws {
        try Validation.embeddingDimension(configuration.embeddingDimension)
        self.configuration = configuration
        let s = State()
        s.lockFD = try Self.lockFile(configuration.path)
        do {
            let c = try Connection(path: configuration.path)
            s.connection = c
            try c.execute("PRAGMA busy_timeout = 5000")
            try Self.checkOwnership(c, configuration.path)
            let mode = try c.statement("PRAGMA journal_mode = WAL")
            if try mode.step(), mode.text(0).lowercased() != "wal", configuration.path != ":memory:" {
                throw EngramError(.unavailable, "could not switch \(configuration.path) to WAL (got \(mode.text(0)))")
            }
            try mode.run()
            try c.execute("PRAGMA synchronous = \(configuration.synchronous.rawValue)")
            // A 64 MB page cache keeps the rows that searches fetch hot.
            try c.execute("PRAGMA cache_size = -65536")
            try Self.migrate(c, configuration)
            for kind in MemoryKind.vectorKinds { try Self.reload(c, s, kind, configuration.embeddingDimension) }
        } catch var e as EngramError {
            s.connection?.close()
            FileLock.unlock(s.lockFD)
            if !e.message.contains(configuration.path) { e.message = "\(configuration.path): " + e.message }
            throw e
        } catch {
            s.connection?.close()
            FileLock.unlock(s.lockFD)
            throw error
        }
        state = Mutex(s)
    }

    /// Opens the database at `path` with default settings.
    public convenience init(path: String, embeddingDimension: Int = 384) throws {
        try self.init(Configuration(path: path, embeddingDimension: embeddingDimension))
    }

    deinit { try? close() }

    /// Locks the database file itself (so a symlink or hard link to it finds it locked);
    /// in-memory and temporary databases are private to their connection and need no lock.
    private static func lockFile(_ path: String) throws -> Int32 {
        guard path != ":memory:", !path.isEmpty, !path.hasPrefix("file:") else { return -1 }
        return try FileLock.lock(path, busy: "the database \(path) is in use by another process or store (it is locked)")
    }

    /// 'Engr', in the database header's application_id: marks a file as an Engram database.
    static let applicationId: Int64 = 0x456E_6772

    /// Refuses, before anything is written, a database that holds another program's schema:
    /// only an empty database or one with Engram's marker or meta table is changed (and it
    /// is read first, so a file that is not a database at all fails here too, unchanged).
    private static func checkOwnership(_ c: Connection, _ path: String) throws {
        let objects = try c.statement("SELECT count(*), coalesce(sum(type = 'table' AND name = 'engram_meta'), 0) FROM sqlite_master")
        guard try objects.step() else { return }
        let (count, hasMeta) = (objects.int(0), objects.int(1) > 0)
        try objects.run()
        let app = try c.statement("PRAGMA application_id")
        let marked = try app.step() && app.int(0) == applicationId
        try app.run()
        guard count == 0 || hasMeta || marked else {
            throw EngramError.invalid("path", "\(path) is an SQLite database of another program (\(count) schema objects, no engram_meta table); Engram leaves it unchanged")
        }
    }

    private static func migrate(_ c: Connection, _ config: Configuration) throws {
        try c.execute("PRAGMA application_id = \(applicationId)")
        try c.transaction {
            try c.execute("CREATE TABLE IF NOT EXISTS engram_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            let read = try c.statement("SELECT value FROM engram_meta WHERE key = 'embedding_dimension'")
            if try read.step() {
                let existing = read.text(0)
                try read.run()
                guard existing == String(config.embeddingDimension) else {
                    throw EngramError.invalid(
                        "embedding_dimension",
                        "\(config.path) holds embeddings of dimension \(existing); the store was opened with \(config.embeddingDimension)")
                }
            } else {
                try c.statement("INSERT INTO engram_meta (key, value) VALUES ('embedding_dimension', ?), ('schema_version', '1')")
                    .bind([.text(String(config.embeddingDimension))]).run()
            }
            for table in Table.tables { try c.execute(table.createSQL) }
            for sql in Table.indexSQL(outcomeTimestampIndex: config.outcomeTimestampIndex) { try c.execute(sql) }
        }
    }

    /// Rebuilds every index of `kind` (and its agent postings) from its embedding column: the
    /// only source of truth.
    private static func reload(_ c: Connection, _ s: State, _ kind: MemoryKind, _ dimension: Int) throws {
        let table = Table.of(kind)
        var fresh: [IndexKey: VectorIndex] = [:]
        var postings: [IndexKey: AgentPostings] = [:]
        var pending: [IndexKey: (ids: [Int64], vectors: [[Float]])] = [:]
        func flush(_ key: IndexKey) throws {
            guard let batch = pending.removeValue(forKey: key) else { return }
            if fresh[key] == nil { fresh[key] = try VectorIndex(dimension: dimension) }
            try fresh[key]!.add(batch.vectors, ids: batch.ids)
        }
        let rows = try c.statement("SELECT seq, project_id, agent, embedding FROM \(table.name) WHERE embedding IS NOT NULL")
        defer { rows.reset() }
        while try rows.step() {
            let v = rows.floats(3) ?? []
            guard v.count == dimension else {
                throw EngramError(.corrupt, "\(table.name) row \(rows.int(0)) has an embedding of \(v.count) components, expected \(dimension)")
            }
            let key = IndexKey(kind: kind, project: rows.text(1))
            pending[key, default: ([], [])].ids.append(rows.int(0))
            pending[key]!.vectors.append(v)
            postings[key, default: AgentPostings()].set(rows.int(0), agent: rows.text(2))
            if pending[key]!.ids.count == 8192 { try flush(key) }
        }
        for key in Array(pending.keys) { try flush(key) }
        s.indexes = s.indexes.filter { $0.key.kind != kind }.merging(fresh) { $1 }
        s.postings = s.postings.filter { $0.key.kind != kind }.merging(postings) { $1 }
    }

    /// Runs `body` with the open connection under the store's lock.
    private func locked<T>(_ body: (Connection, State) throws -> T) throws -> T {
        try state.withLock { s in
            guard let c = s.connection else { throw EngramError(.unavailable, "the store is closed") }
            do {
                return try body(c, s)
            } catch let e as VectorIndexError {
                // The database is the source of truth: resynchronise the index, then report.
                for kind in MemoryKind.vectorKinds { try? Self.reload(c, s, kind, embeddingDimension) }
                throw EngramError(.internal, "vector index: \(e.message)")
            }
        }
    }

    // MARK: Vector bookkeeping (called under the lock, after the SQL commit)

    /// Applies final vector states (`nil` = no vector) for the given row ids, with their agents.
    private func applyVectors(_ s: State, _ key: IndexKey, _ changes: [Int64: (vector: [Float]?, agent: String)]) throws {
        guard !changes.isEmpty else { return }
        if s.indexes[key] == nil { s.indexes[key] = try VectorIndex(dimension: embeddingDimension) }
        let index = s.indexes[key]!
        let present = changes.keys.filter { index.contains($0) }
        try index.remove(present, using: configuration.vectorMaintenance == .faissRemoveIds ? .faissRemoveIds : .swapWithLast)
        let added = changes.compactMap { seq, change in change.vector.map { (seq, $0) } }
        try index.add(added.map(\.1), ids: added.map(\.0))
        for (seq, change) in changes { s.postings[key, default: AgentPostings()].set(seq, agent: change.vector == nil ? nil : change.agent) }
    }

    /// Removes deleted rows' vectors according to `vectorMaintenance`.
    private func removeVectors(_ c: Connection, _ s: State, _ key: IndexKey, _ seqs: [Int64]) throws {
        guard key.kind != .userPreference, !seqs.isEmpty else { return }
        switch configuration.vectorMaintenance {
        case .swapRemove: try s.indexes[key]?.remove(seqs, using: .swapWithLast)
        case .faissRemoveIds: try s.indexes[key]?.remove(seqs, using: .faissRemoveIds)
        case .rebuildOnDelete: try Self.reload(c, s, key.kind, embeddingDimension); return
        case .rebuildOnNextSearch: s.stale.insert(key.kind); return
        }
        for seq in seqs { s.postings[key]?.set(seq, agent: nil) }
    }

    // MARK: MemoryStore

    public func validatedSave(_ records: [MemoryRecord]) throws -> [String] {
        guard !records.isEmpty else { return [] }
        return try locked { c, s in
            var changes: [IndexKey: [Int64: (vector: [Float]?, agent: String)]] = [:]
            try c.transaction {
                for r in records {
                    let table = Table.of(r.kind)
                    let stmt = try c.statement(table.upsertSQL).bind(record: r)
                    guard try stmt.step() else { throw EngramError(.internal, "upsert into \(table.name) returned no row") }
                    let seq = stmt.int(0)
                    try stmt.run()
                    if table.hasEmbedding {
                        changes[IndexKey(kind: r.kind, project: r.scope), default: [:]][seq] = (r.embedding, r.agent ?? "")
                    }
                }
            }
            for (key, change) in changes { try applyVectors(s, key, change) }
            return records.map(\.id)
        }
    }

    public func validatedGet(_ key: RecordKey) throws -> MemoryRecord? {
        return try locked { c, _ in
            let t = Table.of(key.kind)
            let s = try c.statement("SELECT \(t.selectList) FROM \(t.name) WHERE \(t.scope) = ? AND id = ?")
                .bind([.text(key.scope), .text(key.id)])
            return try s.first { try t.decode($0) }
        }
    }

    /// The query's conditions as a WHERE clause with `?` parameters.
    private func filterClause(_ q: MemoryQuery) -> (sql: String, values: [SQLValue]) {
        var values: [SQLValue] = []
        let sql = q.conditions.map { condition -> String in
            switch condition {
            case .equals(let field, let text): values.append(.text(text)); return "\(sqlIdentifier(field)) = ?"
            case .atLeast(let field, let x): values.append(.double(x)); return "\(sqlIdentifier(field)) >= ?"
            case .isTrue(let field): return "\(sqlIdentifier(field)) = 1"
            case .oneOf(let field, let texts):
                values += texts.map(SQLValue.text)
                return "\(sqlIdentifier(field)) IN (" + Array(repeating: "?", count: texts.count).joined(separator: ", ") + ")"
            }
        }.joined(separator: " AND ")
        return (sql, values)
    }

    public func validatedQuery(_ q: MemoryQuery) throws -> [ScoredRecord] {
        let t = Table.of(q.kind)
        let (whereSQL, values) = filterClause(q)
        return try locked { c, s in
            guard let vector = q.vector else {
                let stmt = try c.statement("SELECT \(t.selectList) FROM \(t.name) WHERE \(whereSQL) ORDER BY \(t.orderBy) LIMIT ?")
                    .bind(values + [.int(Int64(q.topK))])
                return try stmt.rows { ScoredRecord(record: try t.decode($0), score: nil) }
            }
            if s.stale.remove(q.kind) != nil { try Self.reload(c, s, q.kind, embeddingDimension) }
            guard let index = s.indexes[IndexKey(kind: q.kind, project: q.projectId)], index.count > 0 else { return [] }
            // Filter first: unless the project is the only filter, the row ids that match; then
            // rank only those. An agent filter alone is answered from the postings, without SQL.
            var restriction: [Int64]?
            let conditions = q.conditions
            if conditions.count == 2, case .oneOf("agent", let agents) = conditions[1] {
                restriction = s.postings[IndexKey(kind: q.kind, project: q.projectId)]?.allowed(agents) ?? []
            } else if conditions.count > 1 {
                // No `embedding IS NOT NULL` here: that would read every row, while the filter
                // alone is answered from an index; ids without a vector are ignored by the index.
                restriction = try c.statement("SELECT seq FROM \(t.name) WHERE \(whereSQL)")
                    .bind(values).rows { $0.int(0) }
            }
            let candidates = restriction?.count ?? index.count
            guard candidates > 0 else { return [] }
            // Ask for one more than topK so a tie at the boundary shows; widen until it is resolved.
            var k = min(q.topK + 1, candidates)
            let scan = configuration.vectorScan
            var hits = try index.search(vector, k: k, allowed: restriction, scan: scan)
            while hits.count == k, k < candidates, q.topK < hits.count, hits[k - 1].score == hits[q.topK - 1].score {
                k = min(k * 2, candidates)
                hits = try index.search(vector, k: k, allowed: restriction, scan: scan)
            }
            let fetch = try c.statement("SELECT \(t.selectList) FROM \(t.name) WHERE seq = ?")
            var results: [ScoredRecord] = []
            for hit in hits {
                fetch.bind([.int(hit.id)])
                guard let record = try fetch.first({ try t.decode($0) }) else {
                    throw EngramError(.internal, "vector \(hit.id) has no row in \(t.name)")
                }
                results.append(ScoredRecord(record: record, score: Double(hit.score)))
            }
            return Array(results.sorted(by: MemoryKind.scoreOrder).prefix(q.topK))
        }
    }

    public func validatedQueryPreferences(userId: String, category: String?) throws -> [UserPreference] {
        let t = Table.of(.userPreference)
        return try locked { c, _ in
            let sql = "SELECT \(t.selectList) FROM preferences WHERE user_id = ?" + (category == nil ? "" : " AND category = ?") + " ORDER BY \(t.orderBy)"
            return try c.statement(sql).bind([.text(userId)] + (category.map { [.text($0)] } ?? []))
                .rows { try t.decode($0).userPreference! }
        }
    }

    public func validatedUpdateHeuristic(projectId: String, id: String, patch: HeuristicPatch) throws -> Bool {
        let t = Table.of(.heuristic)
        return try locked { c, s in
            var seq: Int64 = 0
            var updated: Heuristic?
            try c.transaction {
                let read = try c.statement("SELECT \(t.selectList) FROM heuristics WHERE project_id = ? AND id = ?")
                    .bind([.text(projectId), .text(id)])
                guard try read.step(), let current = try t.decode(read).heuristic else { return }
                seq = read.int(0)
                try read.run()
                let next = patch.applied(to: current)
                try Validation.patched(next)
                try c.statement(t.upsertSQL).bind(record: .heuristic(next)).run()
                updated = next
            }
            guard let updated else { return false }
            if let e = patch.embedding { try applyVectors(s, IndexKey(kind: .heuristic, project: projectId), [seq: (e, updated.agent)]) }
            return true
        }
    }

    public func validatedIncrementHeuristicOccurrence(projectId: String, id: String, success: Bool) throws -> Bool {
        return try locked { c, _ in
            try c.statement("UPDATE heuristics SET occurrence_count = occurrence_count + 1, success_count = success_count + ?, last_validated = ? WHERE project_id = ? AND id = ?")
                .bind([.int(success ? 1 : 0), .int(Timestamp.now().microsecondsSinceEpoch), .text(projectId), .text(id)]).run()
            return c.changes > 0
        }
    }

    public func validatedUpdateHeuristicConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try setConfidence(.of(.heuristic), projectId: projectId, id: id, confidence: confidence)
    }

    public func validatedUpdateKnowledgeConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try setConfidence(.of(.domainKnowledge), projectId: projectId, id: id, confidence: confidence)
    }

    private func setConfidence(_ t: Table, projectId: String, id: String, confidence: Double) throws -> Bool {
        return try locked { c, _ in
            try c.statement("UPDATE \(t.name) SET confidence = ? WHERE project_id = ? AND id = ?")
                .bind([.double(confidence), .text(projectId), .text(id)]).run()
            return c.changes > 0
        }
    }

    public func validatedDelete(_ key: RecordKey) throws -> Bool {
        let t = Table.of(key.kind)
        let sql = "DELETE FROM \(t.name) WHERE \(t.scope) = ? AND id = ? RETURNING seq"
        return try deleteRows(IndexKey(kind: key.kind, project: key.scope), sql, [.text(key.scope), .text(key.id)]) > 0
    }

    private func deleteRows(_ key: IndexKey, _ sql: String, _ values: [SQLValue]) throws -> Int {
        try locked { c, s in
            let seqs = try c.transaction { try c.statement(sql).bind(values).rows { $0.int(0) } }
            try removeVectors(c, s, key, seqs)
            return seqs.count
        }
    }

    /// The prune statement; `explainDeleteOutcomes` shows the plan of exactly this text.
    private func pruneOutcomesSQL(agent: String?) -> String {
        "DELETE FROM outcomes WHERE project_id = ? AND timestamp < ?" + (agent == nil ? "" : " AND agent = ?") + " RETURNING seq"
    }

    public func validatedDeleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> Int {
        let values: [SQLValue] = [.text(projectId), .int(olderThan.microsecondsSinceEpoch)] + (agent.map { [.text($0)] } ?? [])
        return try deleteRows(IndexKey(kind: .outcome, project: projectId), pruneOutcomesSQL(agent: agent), values)
    }

    public func validatedDeleteHeuristics(projectId: String, confidenceBelow: Double, agent: String?) throws -> Int {
        let sql = "DELETE FROM heuristics WHERE project_id = ? AND confidence < ?" + (agent == nil ? "" : " AND agent = ?") + " RETURNING seq"
        let values: [SQLValue] = [.text(projectId), .double(confidenceBelow)] + (agent.map { [.text($0)] } ?? [])
        return try deleteRows(IndexKey(kind: .heuristic, project: projectId), sql, values)
    }

    public func validatedStats(projectId: String, agent: String?) throws -> StoreStats {
        return try locked { c, _ in
            var stats = StoreStats()
            for kind in MemoryKind.vectorKinds {
                let t = Table.of(kind)
                let s = try c.statement("SELECT count(*), count(embedding) FROM \(t.name) WHERE project_id = ?" + (agent == nil ? "" : " AND agent = ?"))
                    .bind([.text(projectId)] + (agent.map { [.text($0)] } ?? []))
                _ = try s.step()
                stats.records[kind] = Int(s.int(0))
                stats.vectors[kind] = Int(s.int(1))
                try s.run()
            }
            return stats
        }
    }

    public func close() throws {
        state.withLock { s in
            s.connection?.close()
            s.connection = nil
            s.indexes.removeAll()
            s.postings.removeAll()
            FileLock.unlock(s.lockFD)
            s.lockFD = -1
        }
    }

    // MARK: Measurement hooks

    /// Reloads every vector index from the database: the original project's rebuild,
    /// kept for the benchmark runner's comparisons (Engram itself never needs it).
    public func rebuildVectorIndexes() throws {
        try locked { c, s in
            for kind in MemoryKind.vectorKinds { try Self.reload(c, s, kind, embeddingDimension) }
            s.stale.removeAll()
        }
    }

    /// Copies the write-ahead log into the database file and truncates it. SQLite does this
    /// by itself every 1,000 pages; the benchmark runner calls it after loading, so that a
    /// measurement does not pay for the load's deferred checkpoint.
    public func checkpoint() throws {
        try locked { c, _ in try c.execute("PRAGMA wal_checkpoint(TRUNCATE)") }
    }

    /// Versions of the libraries this store runs on.
    public static var libraryVersions: [String: String] {
        ["sqlite": String(cString: sqlite3_libversion()), "faiss": VectorIndex.faissVersion]
    }

    /// Approximate heap bytes held by the vector indexes.
    public func vectorIndexMemoryBytes() throws -> Int {
        try locked { _, s in s.indexes.values.reduce(0) { $0 + $1.memoryBytes } }
    }
}

/// One vector index per kind and project.
/// The agent of every vector in one index and the vectors of every agent, kept in step with
/// the index: an agent filter (the contract's most common) becomes an allow-list without a
/// query, so a filtered search costs in proportion to its matches.
struct AgentPostings {
    private var agentOf: [Int64: String] = [:]
    private var members: [String: Set<Int64>] = [:]

    /// Records `seq`'s agent; nil when it no longer has a vector.
    mutating func set(_ seq: Int64, agent: String?) {
        if let old = agentOf[seq], old != agent {
            members[old]?.remove(seq)
            if members[old]?.isEmpty == true { members[old] = nil }
        }
        agentOf[seq] = agent
        if let agent { members[agent, default: []].insert(seq) }
    }

    /// The vectors of any of `agents`.
    func allowed(_ agents: [String]) -> [Int64] {
        var out: [Int64] = []
        out.reserveCapacity(agents.reduce(0) { $0 + (members[$1]?.count ?? 0) })
        for a in agents { if let m = members[a] { out.append(contentsOf: m) } }
        return out
    }
}

struct IndexKey: Hashable {
    var kind: MemoryKind
    var project: String
}

extension SQLiteStore: IndexMemoryReporting {}

extension SQLiteStore: VectorIntrospecting {
    public func vectorsHeld() throws -> [MemoryKind: Int] {
        try locked { c, s in
            var out: [MemoryKind: Int] = [:]
            for kind in MemoryKind.vectorKinds {
                if s.stale.remove(kind) != nil { try Self.reload(c, s, kind, embeddingDimension) }
                out[kind] = s.indexes.filter { $0.key.kind == kind }.reduce(0) { $0 + $1.value.count }
            }
            return out
        }
    }

    public func recordsWithEmbedding() throws -> [MemoryKind: Int] {
        try locked { c, _ in
            var out: [MemoryKind: Int] = [:]
            for kind in MemoryKind.vectorKinds {
                let s = try c.statement("SELECT count(*) FROM \(Table.of(kind).name) WHERE embedding IS NOT NULL")
                _ = try s.step()
                out[kind] = Int(s.int(0))
                try s.run()
            }
            return out
        }
    }
}

extension SQLiteStore: QueryPlanIntrospecting {
    public var outcomeTimestampIndexName: String { Table.outcomeTimestampIndexName }

    /// `EXPLAIN QUERY PLAN` of the prune statement; its detail begins with `SEARCH` (an
    /// index narrows the rows) or `SCAN` (the whole table is read).
    public func explainDeleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> QueryPlan {
        try locked { c, _ in
            let s = try c.statement("EXPLAIN QUERY PLAN " + pruneOutcomesSQL(agent: agent))
                .bind([.text(projectId), .int(olderThan.microsecondsSinceEpoch)] + (agent.map { [.text($0)] } ?? []))
            let details = try s.rows { $0.text(3) }
            let main = details.first { $0.contains("outcomes") } ?? details.first ?? ""
            var index: String?
            for marker in ["USING COVERING INDEX ", "USING INDEX "] {
                if let r = main.range(of: marker) {
                    index = String(main[r.upperBound...].prefix { $0 != " " })
                    break
                }
            }
            return QueryPlan(indexUsed: index, fullScan: main.hasPrefix("SCAN"), detail: details.joined(separator: "; "))
        }
    }
}
