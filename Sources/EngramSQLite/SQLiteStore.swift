import CSQLite
@_spi(Engine) import EngramCore
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
/// Reads run in parallel: gets and queries on a pool of read-only connections (WAL), searches
/// under the vector indexes' shared lock. Writes are serialised on one connection; each
/// commits and updates the indexes while holding that lock exclusively, so a search never
/// sees rows and vectors that disagree, and never returns a record whose delete has
/// returned. Several stores, in several processes, may open one file: each write journals the
/// records whose vectors it changed, and each store applies the others' entries before its
/// next search (`Journal`), so it never rebuilds.
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
        /// How deletes maintain the vector index: Engram's swap-remove; the original's rebuilds
        /// exist only for the benchmark runner (`@_spi(Benchmarks)`).
        @_spi(Benchmarks) public var vectorMaintenance: VectorMaintenance = .swapRemove
        /// The kernel that ranks vectors; FAISS's own is kept to measure the difference.
        @_spi(Benchmarks) public var vectorScan: VectorScan = .engram
        /// Keep the outcome timestamp indexes. Turning this off exists only to measure what
        /// they buy (review HIGH-003/NEW-001): it drops them and leaves the original's
        /// (project_id, agent) index.
        @_spi(Benchmarks) public var outcomeTimestampIndex = true

        public init(path: String, embeddingDimension: Int = 384) {
            self.path = path
            self.embeddingDimension = embeddingDimension
        }
    }

    public let backendName = "sqlite"
    public let configuration: Configuration
    public var capabilities: Set<Capability> { [.durability, .vectorIntrospection, .queryPlanIntrospection, .sharedAccess] }

    /// The writer connection and the file lock. `@unchecked Sendable`: only touched inside `writer.withLock`.
    private final class Writer: @unchecked Sendable {
        var connection: Connection?
        /// The database file's entry in `FileGuard` while the store is open.
        var file: FileGuard.FileID?
    }
    /// The vector indexes. `@unchecked Sendable`: read under `vectorLock.read`, changed only
    /// under `vectorLock.write`.
    private final class Vectors: @unchecked Sendable {
        var indexes: [IndexKey: VectorIndex] = [:]
        /// The agent of every vector, per index (see `AgentPostings`).
        var postings: [IndexKey: AgentPostings] = [:]
        /// Kinds whose indexes must be reloaded before the next search (`rebuildOnNextSearch`).
        var stale: Set<MemoryKind> = []
        /// The last journal version the indexes reflect.
        var applied: Int64 = 0
        var closed = false
    }
    private let writer: Mutex<Writer>
    private let vectors = Vectors()
    private let vectorLock = ReadersWriterLock()
    /// Read-only connections; nil for an in-memory database, which no second connection sees.
    private let readers: ReaderPool?
    /// This store's name in `engram_clients`, and the version last recorded there by a read.
    private let client = UUID().uuidString
    private let registered = Mutex<Int64>(0)

    /// Opens (or creates) the database at `configuration.path`.
    public init(_ configuration: Configuration) throws {
        try Validation.embeddingDimension(configuration.embeddingDimension)
        self.configuration = configuration
        let s = Writer()
        let clientName = client
        // Symlinks resolved, so every store of one file finds the same WAL beside it.
        let path = Self.canonical(configuration.path)
        s.file = Self.isPrivate(path) || path.hasPrefix("file:") ? nil : try FileGuard.acquire(path, given: configuration.path)
        do {
            let c = try Connection(path: path)
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
            try c.execute("PRAGMA cache_size = -\(Self.writerCacheKiB)")
            try Self.migrate(c, configuration)
            // Registered first, at a version no later than the snapshot below, so no other
            // store trims entries this one has not applied.
            try c.transaction { try Journal.register(c, client: clientName, applied: try Journal.latest(c)) }
            // The indexes and the journal version they reflect, from one snapshot.
            try c.execute("BEGIN")
            do {
                for kind in MemoryKind.vectorKinds { try Self.reload(c, vectors, kind, configuration.embeddingDimension) }
                vectors.applied = try Journal.latest(c)
                try c.execute("COMMIT")
            } catch {
                try? c.execute("ROLLBACK")
                throw error
            }
        } catch var e as EngramError {
            if let c = s.connection { try? c.transaction { try Journal.unregister(c, client: clientName) } }
            s.connection?.close()
            FileGuard.release(s.file)
            if !e.message.contains(configuration.path) { e.message = "\(configuration.path): " + e.message }
            throw e
        } catch {
            if let c = s.connection { try? c.transaction { try Journal.unregister(c, client: clientName) } }
            s.connection?.close()
            FileGuard.release(s.file)
            throw error
        }
        writer = Mutex(s)
        readers = Self.isPrivate(configuration.path) ? nil : ReaderPool(path: path)
        registered.withLock { $0 = vectors.applied }
    }

    /// Opens the database at `path` with default settings.
    public convenience init(path: String, embeddingDimension: Int = 384) throws {
        try self.init(Configuration(path: path, embeddingDimension: embeddingDimension))
    }

    deinit { try? close() }

    /// In-memory and temporary databases belong to their one connection.
    private static func isPrivate(_ path: String) -> Bool { path == ":memory:" || path.isEmpty }

    /// The path with symlinks resolved (of its directory when the file does not exist yet).
    private static func canonical(_ path: String) -> String {
        guard !isPrivate(path), !path.hasPrefix("file:") else { return path }
        if let real = realpath(path, nil) {
            defer { free(real) }
            return String(cString: real)
        }
        let url = URL(fileURLWithPath: path)
        guard let dir = realpath(url.deletingLastPathComponent().path, nil) else { return path }
        defer { free(dir) }
        return String(cString: dir) + "/" + url.lastPathComponent
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
            for sql in Journal.createSQL { try c.execute(sql) }
            for sql in Table.indexSQL(outcomeTimestampIndex: config.outcomeTimestampIndex) { try c.execute(sql) }
        }
    }

    /// Rebuilds every index of `kind` (and its agent postings) from its embedding column: the
    /// only source of truth.
    private static func reload(_ c: Connection, _ s: Vectors, _ kind: MemoryKind, _ dimension: Int) throws {
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

    /// Runs `body` with a connection to read from: one of the pool's, or, for an in-memory
    /// database, the writer's under its lock. (Lock order: a connection, then `vectorLock`.)
    private func reading<T>(_ body: (Connection) throws -> T) throws -> T {
        if let readers { return try readers.with(body) }
        return try writer.withLock { w in
            guard let c = w.connection else { throw EngramError(.unavailable, "the store is closed") }
            return try body(c)
        }
    }

    /// What a write does to the vector indexes once its rows are committed.
    private typealias VectorUpdate = (Connection, Vectors) throws -> Void

    /// Runs `body` in an IMMEDIATE transaction on the writer connection, then commits and
    /// applies the vector update it returns while holding `vectorLock` exclusively: a search
    /// sees both the rows and the vectors before the write, or both after it.
    private func writing<T>(_ body: (Connection) throws -> (value: T, update: VectorUpdate?)) throws -> T {
        try writer.withLock { w in
            guard let c = w.connection else { throw EngramError(.unavailable, "the store is closed") }
            try c.execute("BEGIN IMMEDIATE")
            let result: (value: T, update: VectorUpdate?)
            let before: Int64, after: Int64
            do {
                before = try Journal.latest(c)
                result = try body(c)
                after = try Journal.latest(c)
            } catch {
                try? c.execute("ROLLBACK")
                throw error
            }
            let applied = try vectorLock.write {
                do { try c.execute("COMMIT") } catch {
                    try? c.execute("ROLLBACK")
                    throw error
                }
                let caughtUp = vectors.applied == before
                do { try result.update?(c, vectors) } catch let e as VectorIndexError {
                    // The database is the source of truth: resynchronise the index, then report.
                    try? resynchronise(c)
                    throw EngramError(.internal, "vector index: \(e.message)")
                }
                if caughtUp {
                    // No other store's entry came between: the indexes reflect the journal up
                    // to our last one.
                    vectors.applied = after
                } else {
                    // Others' entries came first: apply every entry since the indexes' version
                    // (ours again among them) as the rows are now, so a store that only writes
                    // keeps up too. The write is committed: a failure here leaves `applied`
                    // where it was, for the next search to catch up, and is not the caller's.
                    try? catchUpLocked(c, inTransaction: false)
                }
                return vectors.applied
            }
            if after / Journal.trimEvery != before / Journal.trimEvery {
                // Best effort: a failed trim leaves a longer journal, nothing else.
                if (try? c.transaction { try Journal.trim(c, client: client, applied: applied) }) != nil {
                    registered.withLock { $0 = applied }
                }
            }
            return result.value
        }
    }

    /// Reloads every index and the version it reflects from one snapshot (under the exclusive
    /// vector lock, outside a transaction on `c`).
    private func resynchronise(_ c: Connection, inTransaction: Bool = false) throws {
        if !inTransaction { try c.execute("BEGIN") }
        defer { if !inTransaction { try? c.execute("COMMIT") } }
        for kind in MemoryKind.vectorKinds { try Self.reload(c, vectors, kind, embeddingDimension) }
        vectors.applied = try Journal.latest(c)
        vectors.stale.removeAll()
    }

    /// Applies the journal entries other stores committed since the indexes' version (none for
    /// an in-memory database, which no other store sees): each changed record as its row is
    /// now. A store whose entries were trimmed (it was taken for dead) reloads instead.
    private func catchUp(_ c: Connection) throws {
        guard readers != nil else { return }
        let latest = try Journal.latest(c)
        guard latest > vectorLock.read({ vectors.applied }) else { return }
        defer { recordProgress() }
        try vectorLock.write { try catchUpLocked(c, inTransaction: false) }
    }

    /// Under the exclusive vector lock: applies the entries newer than the indexes' version in
    /// one snapshot of `c` (a read transaction of its own unless `inTransaction`), or reloads
    /// every index when some were trimmed (the store was taken for dead: the oldest entry left
    /// is past its next one, or none is left though newer ones were written).
    private func catchUpLocked(_ c: Connection, inTransaction: Bool) throws {
        guard readers != nil, !vectors.closed else { return }
        if !inTransaction { try c.execute("BEGIN") }
        defer { if !inTransaction { try? c.execute("COMMIT") } }
        do {
            let applied = vectors.applied
            if try (Journal.oldest(c) ?? Journal.latest(c) + 1) > applied + 1 {
                try resynchronise(c, inTransaction: true)
            } else {
                try applyEntries(c, after: applied)
            }
        } catch let e as VectorIndexError {
            // A half-applied catch-up leaves the indexes unknown: rebuild them from the rows.
            try? resynchronise(c, inTransaction: true)
            throw EngramError(.internal, "vector index: \(e.message)")
        }
    }

    /// Records this store's applied version in `engram_clients` once it has moved by
    /// `Journal.trimEvery`, so a store that only searches does not hold the journal back
    /// (writers record theirs as they trim). Best effort, without waiting: when this store is
    /// writing, or another process holds the database's write lock, the next read tries again.
    /// (Lock order: a reader connection, then the writer's lock; never the reverse.)
    private func recordProgress() {
        let applied = vectorLock.read { vectors.applied }
        guard applied - registered.withLock({ $0 }) >= Journal.trimEvery else { return }
        _ = writer.withLockIfAvailable { w -> Void in
            guard let c = w.connection else { return }
            try? c.execute("PRAGMA busy_timeout = 0")
            defer { try? c.execute("PRAGMA busy_timeout = 5000") }
            if (try? c.transaction { try Journal.register(c, client: client, applied: applied) }) != nil {
                registered.withLock { $0 = applied }
            }
        }
    }

    /// Applies the journal entries after `version` (under the exclusive vector lock, in a read
    /// transaction on `c`): each record out of the index that held it, then back into its
    /// row's index when the row still has a vector.
    private func applyEntries(_ c: Connection, after version: Int64) throws {
        let entries = try Journal.entries(after: version, c)
        guard let last = entries.last?.version else { return }
        var rows: [MemoryKind: Set<Int64>] = [:]
        for e in entries {
            try vectors.indexes[e.key]?.remove([e.seq], using: .swapWithLast)
            vectors.postings[e.key]?.set(e.seq, agent: nil)
            rows[e.key.kind, default: []].insert(e.seq)
        }
        for (kind, seqs) in rows {
            let read = try c.statement("SELECT project_id, agent, embedding FROM \(Table.of(kind).name) WHERE seq = ?")
            for seq in seqs.sorted() {
                guard let (project, agent, vector) = try read.bind([.int(seq)]).first({ ($0.text(0), $0.optionalText(1) ?? "", $0.floats(2)) }), let vector else { continue }
                try applyVectors(vectors, IndexKey(kind: kind, project: project), [seq: (vector, agent)])
            }
        }
        vectors.applied = last
    }

    /// Runs `body` under the shared vector lock, failing once the store is closed.
    private func searching<T>(_ body: () throws -> T) throws -> T {
        try vectorLock.read {
            guard !vectors.closed else { throw EngramError(.unavailable, "the store is closed") }
            do { return try body() } catch let e as VectorIndexError { throw EngramError(.internal, "vector index: \(e.message)") }
        }
    }

    /// Reloads the kinds marked stale (`rebuildOnNextSearch`) from `c`.
    private func refreshStale(_ c: Connection, _ kinds: [MemoryKind]) throws {
        guard configuration.vectorMaintenance == .rebuildOnNextSearch else { return }
        try vectorLock.write {
            for kind in kinds where vectors.stale.remove(kind) != nil { try Self.reload(c, vectors, kind, embeddingDimension) }
        }
    }

    // MARK: Vector bookkeeping (called under the exclusive vector lock, after the SQL commit)

    /// Applies final vector states (`nil` = no vector) for the given row ids, with their agents.
    private func applyVectors(_ s: Vectors, _ key: IndexKey, _ changes: [Int64: (vector: [Float]?, agent: String)]) throws {
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
    private func removeVectors(_ c: Connection, _ s: Vectors, _ key: IndexKey, _ seqs: [Int64]) throws {
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

    @_spi(Engine) public func validatedSave(_ records: [MemoryRecord]) throws -> [String] {
        guard !records.isEmpty else { return [] }
        return try writing { c in
            var changes: [IndexKey: [Int64: (vector: [Float]?, agent: String)]] = [:]
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
            for (key, change) in changes { _ = try Journal.append(c, key, change.keys.sorted()) }
            return (records.map(\.id), { _, s in for (key, change) in changes { try self.applyVectors(s, key, change) } })
        }
    }

    @_spi(Engine) public func validatedGet(_ key: RecordKey) throws -> MemoryRecord? {
        return try reading { c in
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

    @_spi(Engine) public func validatedQuery(_ q: MemoryQuery) throws -> [ScoredRecord] {
        let t = Table.of(q.kind)
        let (whereSQL, values) = filterClause(q)
        return try reading { c in
            guard let vector = q.vector else {
                let stmt = try c.statement("SELECT \(t.selectList) FROM \(t.name) WHERE \(whereSQL) ORDER BY \(t.orderBy) LIMIT ?")
                    .bind(values + [.int(Int64(q.topK))])
                return try stmt.rows { ScoredRecord(record: try t.decode($0), score: nil) }
            }
            // Ranked in one read transaction whose journal version is the indexes' own, so the
            // rows read are exactly those the indexes describe; when another store committed
            // since the catch-up, catch up again (a store that keeps losing the race ranks
            // anyway: its fetch re-checks every condition, and skips rows gone meanwhile).
            for _ in 0..<3 {
                try catchUp(c)
                try refreshStale(c, [q.kind])
                let ranked: [ScoredRecord]? = try searching {
                    try c.execute("BEGIN")
                    defer { try? c.execute("COMMIT") }
                    guard try readers == nil || Journal.latest(c) == vectors.applied else { return nil }
                    return try rank(c, q, vector, t, whereSQL, values)
                }
                if let ranked { return ranked }
            }
            // Three times another store committed between the catch-up and the ranking: catch
            // up and rank in one snapshot under the exclusive lock (no other search runs).
            return try vectorLock.write {
                guard !vectors.closed else { throw EngramError(.unavailable, "the store is closed") }
                try c.execute("BEGIN")
                defer { try? c.execute("COMMIT") }
                try catchUpLocked(c, inTransaction: true)
                if vectors.stale.remove(q.kind) != nil { try Self.reload(c, vectors, q.kind, embeddingDimension) }
                do { return try rank(c, q, vector, t, whereSQL, values) } catch let e as VectorIndexError {
                    throw EngramError(.internal, "vector index: \(e.message)")
                }
            }
        }
    }

    /// A vector query under the shared vector lock: no commit happens while it runs, so the
    /// rows it reads through `c` are those the indexes describe.
    private func rank(_ c: Connection, _ q: MemoryQuery, _ vector: [Float], _ t: Table, _ whereSQL: String, _ values: [SQLValue]) throws -> [ScoredRecord] {
        let s = vectors
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
        // The query's own conditions again: a row id another process freed and reused for
        // another project's or agent's record must not be returned for this one.
        let fetch = try c.statement("SELECT \(t.selectList) FROM \(t.name) WHERE seq = ? AND \(whereSQL)")
        while true {
            var hits = try index.search(vector, k: k, allowed: restriction, scan: scan)
            while hits.count == k, k < candidates, q.topK < hits.count, hits[k - 1].score == hits[q.topK - 1].score {
                k = min(k * 2, candidates)
                hits = try index.search(vector, k: k, allowed: restriction, scan: scan)
            }
            var results: [ScoredRecord] = []
            for hit in hits {
                fetch.bind([.int(hit.id)] + values)
                // No row: another process deleted it after this search caught up (this store's
                // own deletes cannot commit while a search runs); it is gone, so it is skipped.
                if let record = try fetch.first({ try t.decode($0) }) { results.append(ScoredRecord(record: record, score: Double(hit.score))) }
            }
            if results.count == hits.count || results.count > q.topK || k >= candidates {
                return Array(results.sorted(by: MemoryKind.scoreOrder).prefix(q.topK))
            }
            k = min(k + (hits.count - results.count) + q.topK, candidates)
        }
    }

    @_spi(Engine) public func validatedQueryPreferences(userId: String, category: String?) throws -> [UserPreference] {
        let t = Table.of(.userPreference)
        return try reading { c in
            let sql = "SELECT \(t.selectList) FROM preferences WHERE user_id = ?" + (category == nil ? "" : " AND category = ?") + " ORDER BY \(t.orderBy)"
            return try c.statement(sql).bind([.text(userId)] + (category.map { [.text($0)] } ?? []))
                .rows { try t.decode($0).userPreference! }
        }
    }

    @_spi(Engine) public func validatedUpdateHeuristic(projectId: String, id: String, patch: HeuristicPatch) throws -> Bool {
        let t = Table.of(.heuristic)
        return try writing { c in
            let read = try c.statement("SELECT \(t.selectList) FROM heuristics WHERE project_id = ? AND id = ?")
                .bind([.text(projectId), .text(id)])
            guard try read.step(), let current = try t.decode(read).heuristic else {
                read.reset()
                return (false, nil)
            }
            let seq = read.int(0)
            try read.run()
            let next = patch.applied(to: current)
            try Validation.patched(next)
            try c.statement(t.upsertSQL).bind(record: .heuristic(next)).run()
            guard let e = patch.embedding else { return (true, nil) }
            _ = try Journal.append(c, IndexKey(kind: .heuristic, project: projectId), [seq])
            return (true, { _, s in try self.applyVectors(s, IndexKey(kind: .heuristic, project: projectId), [seq: (e, next.agent)]) })
        }
    }

    @_spi(Engine) public func validatedIncrementHeuristicOccurrence(projectId: String, id: String, success: Bool) throws -> Bool {
        return try writing { c in
            try c.statement("UPDATE heuristics SET occurrence_count = occurrence_count + 1, success_count = success_count + ?, last_validated = ? WHERE project_id = ? AND id = ?")
                .bind([.int(success ? 1 : 0), .int(Timestamp.now().microsecondsSinceEpoch), .text(projectId), .text(id)]).run()
            return (c.changes > 0, nil)
        }
    }

    @_spi(Engine) public func validatedUpdateHeuristicConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try setConfidence(.of(.heuristic), projectId: projectId, id: id, confidence: confidence)
    }

    @_spi(Engine) public func validatedUpdateKnowledgeConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try setConfidence(.of(.domainKnowledge), projectId: projectId, id: id, confidence: confidence)
    }

    private func setConfidence(_ t: Table, projectId: String, id: String, confidence: Double) throws -> Bool {
        return try writing { c in
            try c.statement("UPDATE \(t.name) SET confidence = ? WHERE project_id = ? AND id = ?")
                .bind([.double(confidence), .text(projectId), .text(id)]).run()
            return (c.changes > 0, nil)
        }
    }

    @_spi(Engine) public func validatedDelete(_ key: RecordKey) throws -> Bool {
        let t = Table.of(key.kind)
        let sql = "DELETE FROM \(t.name) WHERE \(t.scope) = ? AND id = ? RETURNING seq"
        return try deleteRows(IndexKey(kind: key.kind, project: key.scope), sql, [.text(key.scope), .text(key.id)]) > 0
    }

    private func deleteRows(_ key: IndexKey, _ sql: String, _ values: [SQLValue]) throws -> Int {
        try writing { c in
            let seqs = try c.statement(sql).bind(values).rows { $0.int(0) }
            if key.kind != .userPreference { _ = try Journal.append(c, key, seqs) }
            return (seqs.count, { c, s in try self.removeVectors(c, s, key, seqs) })
        }
    }

    /// The prune statement; `explainDeleteOutcomes` shows the plan of exactly this text.
    private func pruneOutcomesSQL(agent: String?) -> String {
        "DELETE FROM outcomes WHERE project_id = ? AND timestamp < ?" + (agent == nil ? "" : " AND agent = ?") + " RETURNING seq"
    }

    @_spi(Engine) public func validatedDeleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> Int {
        let values: [SQLValue] = [.text(projectId), .int(olderThan.microsecondsSinceEpoch)] + (agent.map { [.text($0)] } ?? [])
        return try deleteRows(IndexKey(kind: .outcome, project: projectId), pruneOutcomesSQL(agent: agent), values)
    }

    @_spi(Engine) public func validatedDeleteHeuristics(projectId: String, confidenceBelow: Double, agent: String?) throws -> Int {
        let sql = "DELETE FROM heuristics WHERE project_id = ? AND confidence < ?" + (agent == nil ? "" : " AND agent = ?") + " RETURNING seq"
        let values: [SQLValue] = [.text(projectId), .double(confidenceBelow)] + (agent.map { [.text($0)] } ?? [])
        return try deleteRows(IndexKey(kind: .heuristic, project: projectId), sql, values)
    }

    @_spi(Engine) public func validatedStats(projectId: String, agent: String?) throws -> StoreStats {
        return try reading { c in
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
        writer.withLock { w in
            if let c = w.connection { try? c.transaction { try Journal.unregister(c, client: client) } }
            let file = w.file
            w.file = nil
            vectorLock.write {
                w.connection?.close()
                w.connection = nil
                vectors.indexes.removeAll()
                vectors.postings.removeAll()
                vectors.closed = true
                // The file's lock descriptor outlives every connection of this store: readers
                // still in use close when handed back, and the last one releases it.
                if let readers { readers.close { FileGuard.release(file) } } else { FileGuard.release(file) }
            }
        }
    }

    // MARK: Measurement hooks

    /// Reloads every vector index from the database: the original project's rebuild,
    /// kept for the benchmark runner's comparisons (Engram itself never needs it).
    @_spi(Benchmarks) public func rebuildVectorIndexes() throws {
        try writing { c in
            ((), { c, s in
                for kind in MemoryKind.vectorKinds { try Self.reload(c, s, kind, self.embeddingDimension) }
                s.stale.removeAll()
            })
        }
    }

    /// Copies the write-ahead log into the database file and truncates it. SQLite does this
    /// by itself every 1,000 pages; the benchmark runner calls it after loading, so that a
    /// measurement does not pay for the load's deferred checkpoint.
    public func checkpoint() throws {
        try writer.withLock { w in
            guard let c = w.connection else { throw EngramError(.unavailable, "the store is closed") }
            try c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }

    /// Versions of the libraries this store runs on.
    public static var libraryVersions: [String: String] {
        ["sqlite": String(cString: sqlite3_libversion()), "faiss": VectorIndex.faissVersion]
    }

    /// Approximate heap bytes held by the vector indexes.
    public func vectorIndexMemoryBytes() throws -> Int {
        try searching { vectors.indexes.values.reduce(0) { $0 + $1.memoryBytes } }
    }

    /// Bytes the vector indexes hold ahead of need (their arrays grow by doubling).
    public func vectorIndexSlackBytes() throws -> Int {
        try searching { vectors.indexes.values.reduce(0) { $0 + $1.slackBytes } }
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
        try reading { c in
            try catchUp(c)
            try refreshStale(c, MemoryKind.vectorKinds)
            return try searching {
                var out: [MemoryKind: Int] = [:]
                for kind in MemoryKind.vectorKinds {
                    out[kind] = vectors.indexes.filter { $0.key.kind == kind }.reduce(0) { $0 + $1.value.count }
                }
                return out
            }
        }
    }

    public func recordsWithEmbedding() throws -> [MemoryKind: Int] {
        try reading { c in
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
        try writer.withLock { w in
            guard let c = w.connection else { throw EngramError(.unavailable, "the store is closed") }
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

extension SQLiteStore: DiskUsageReporting {
    /// The database file with its WAL and shared-memory files (beside its real path).
    public func diskBytes() throws -> Int {
        let path = Self.canonical(configuration.path)
        return [path, path + "-wal", path + "-shm"].reduce(0) { total, path in
            total + ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)
        }
    }
}

extension SQLiteStore: CacheReleasing {
    /// The writer's page cache and each reader connection's (`ReaderPool`), in KiB.
    static let writerCacheKiB = 65_536, readerCacheKiB = 16_384

    /// Empties every connection's page cache (`PRAGMA shrink_memory`).
    public func releaseCaches() throws {
        try writer.withLock { w in try w.connection?.execute("PRAGMA shrink_memory") }
        try readers?.forEachIdle { try $0.execute("PRAGMA shrink_memory") }
    }

    /// The writer's cache and two readers' (one per core of a 2-core machine; more threads
    /// reading at once open more).
    public var cacheBoundBytes: Int { (Self.writerCacheKiB + 2 * Self.readerCacheKiB) * 1024 }
}
