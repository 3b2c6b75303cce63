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

    /// The writer connection and the database file's entry in `FileGuard` while the store is open.
    struct WriterState {
        var connection: Connection?
        var file: FileGuard.FileID?
    }

    // Invariants and lock order.
    //
    // - The database is the source of truth; the vector indexes (`VectorState`) describe its
    //   rows as of journal version `applied`. They change only under `vectors.write`, and a
    //   write commits its rows inside that exclusive section, so a search (under
    //   `vectors.read`) sees rows and vectors from the same commit.
    // - Writes are serialised on the one writer connection, owned by `writer`.
    // - Reads use the `ReaderPool`'s connections (WAL): any number at once.
    // - `registered` is the version last recorded in `engram_clients`; it only grows.
    //
    // Lock order: `writer`, or a reader connection, first; then `vectors`; `registered` last
    // and alone. A reader connection's holder may take `writer` only without waiting
    // (`recordProgress`); `writer`'s holder never waits for a reader connection. SQLite's own
    // locks are taken under these, with a 5 s busy timeout. `FileGuard`'s process-wide mutex
    // is taken last (at open, on a write's file check, at close under `writer` and `vectors`)
    // and takes nothing else; its flock is taken at open and released after the last
    // connection closes.
    let writer: Mutex<WriterState>
    let vectors: ReadersWriterLock<VectorState>
    /// Read-only connections; nil for an in-memory database, which no second connection sees.
    let readers: ReaderPool?
    /// The database file's real path, and its identity while the store is open (nil: in memory).
    let path: String
    let file: FileGuard.FileID?

    /// The path no longer names the file this store opened (moved, replaced or deleted).
    var fileMoved: Bool { file.map { !FileGuard.names(path, $0) } ?? false }
    /// This store's name in `engram_clients`, and the version last recorded there by a read.
    let client = UUID().uuidString
    let registered = Mutex<Int64>(0)

    /// Opens (or creates) the database at `configuration.path`.
    public init(_ configuration: Configuration) throws {
        try Validation.embeddingDimension(configuration.embeddingDimension)
        self.configuration = configuration
        var s = WriterState()
        var state = VectorState(dimension: configuration.embeddingDimension, maintenance: configuration.vectorMaintenance)
        let clientName = client
        // Symlinks resolved, so every store of one file finds the same WAL beside it.
        let path = Self.canonical(configuration.path)
        s.file = Self.isPrivate(path) || path.hasPrefix("file:") ? nil : try FileGuard.acquire(path, given: configuration.path)
        do {
            let c = try Connection(path: path)
            s.connection = c
            try Self.prepare(c, configuration)
            // Registered first, at a version no later than the snapshot below, so no other
            // store trims entries this one has not applied.
            try c.transaction { try Journal.register(c, client: clientName, applied: try Journal.latest(c)) }
            // The indexes and the journal version they reflect, from one snapshot.
            try state.resynchronise(from: c)
        } catch {
            if let c = s.connection { try? c.transaction { try Journal.unregister(c, client: clientName) } }
            s.connection?.close()
            FileGuard.release(s.file)
            if var e = error as? EngramError, !e.message.contains(configuration.path) {
                e.message = "\(configuration.path): " + e.message
                throw e
            }
            throw error
        }
        let applied = state.applied
        self.path = path
        file = s.file
        writer = Mutex(s)
        vectors = ReadersWriterLock(state)
        readers = Self.isPrivate(configuration.path) ? nil : ReaderPool(path: path, file: s.file, given: configuration.path)
        registered.withLock { $0 = applied }
    }

    /// Opens the database at `path` with default settings.
    public convenience init(path: String, embeddingDimension: Int = 384) throws {
        try self.init(Configuration(path: path, embeddingDimension: embeddingDimension))
    }

    deinit { try? close() }

    public func close() throws {
        writer.withLock { w in
            if let c = w.connection { try? c.transaction { try Journal.unregister(c, client: client) } }
            // SQLite does not copy the write-ahead log into a file that was moved when it closes.
            if let c = w.connection, let file, fileMoved { _ = rescue(c, file) }
            let file = w.file
            w.file = nil
            vectors.write { v in
                w.connection?.close()
                w.connection = nil
                v.indexes.removeAll()
                v.postings.removeAll()
                v.closed = true
                // The file's lock descriptor outlives every connection of this store: readers
                // still in use close when handed back, and the last one releases it.
                if let readers { readers.close { FileGuard.release(file) } } else { FileGuard.release(file) }
            }
        }
    }

    /// After the file was moved, replaced or deleted under the store: copies the write-ahead
    /// log's acknowledged writes into the file itself (the WAL sits beside the old name, where
    /// a store opening the file's new name would not look), unless another process holds the
    /// file (it may be writing through a log of its own). True when the log was copied whole.
    /// Only when the path names no file any more: a file now at the path may be another
    /// store's, using the log and shared memory by that name.
    private func rescue(_ c: Connection, _ file: FileGuard.FileID) -> Bool {
        guard access(path, F_OK) != 0 else { return false }
        return FileGuard.alone(file) { () -> Bool in
            guard let s = try? c.statement("PRAGMA wal_checkpoint(TRUNCATE)") else { return false }
            defer { s.reset() }
            guard (try? s.step()) == true else { return false }
            return s.int(0) == 0 && s.int(1) == s.int(2)
        } ?? false
    }

    // MARK: Reading and writing

    /// Runs `body` with a connection to read from: one of the pool's, or, for an in-memory
    /// database, the writer's under its lock.
    func reading<T>(_ body: (Connection) throws -> T) throws -> T {
        if let readers { return try readers.with(body) }
        return try writer.withLock { w in
            guard let c = w.connection else { throw EngramError(.unavailable, "the store is closed") }
            return try body(c)
        }
    }

    /// What a write does to the vector indexes once its rows are committed.
    typealias VectorUpdate = (Connection, inout VectorState) throws -> Void

    /// Runs `body` in an IMMEDIATE transaction on the writer connection, then commits and
    /// applies the vector update it returns while holding `vectors` exclusively: a search
    /// sees both the rows and the vectors before the write, or both after it.
    func writing<T>(_ body: (Connection) throws -> (value: T, update: VectorUpdate?)) throws -> T {
        try writer.withLock { w in
            guard let c = w.connection else { throw EngramError(.unavailable, "the store is closed") }
            // A write is acknowledged only into the file the path names, where the next reader
            // connection, and the next store, will read it.
            if let file, fileMoved { throw FileGuard.moved(configuration.path, rescued: rescue(c, file)) }
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
            let applied = try vectors.write { v in
                do { try c.execute("COMMIT") } catch {
                    try? c.execute("ROLLBACK")
                    throw error
                }
                let caughtUp = v.applied == before
                do { try result.update?(c, &v) } catch let e as VectorIndexError {
                    // The database is the source of truth: resynchronise the index, then report.
                    try? v.resynchronise(from: c)
                    throw EngramError(.internal, "vector index: \(e.message)")
                }
                if caughtUp {
                    // No other store's entry came between: the indexes reflect the journal up
                    // to our last one.
                    v.applied = after
                } else if readers != nil {
                    // Others' entries came first: apply every entry since the indexes' version
                    // (ours again among them) as the rows are now, so a store that only writes
                    // keeps up too. The write is committed: a failure here leaves `applied`
                    // where it was, for the next search to catch up, and is not the caller's.
                    try? Journal.catchUp(c, &v, inTransaction: false)
                }
                return v.applied
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

    /// Applies the journal entries other stores committed since the indexes' version (none for
    /// an in-memory database, which no other store sees).
    func catchUp(_ c: Connection) throws {
        guard readers != nil else { return }
        let latest = try Journal.latest(c)
        guard latest > vectors.read({ $0.applied }) else { return }
        defer { recordProgress() }
        try vectors.write { try Journal.catchUp(c, &$0, inTransaction: false) }
    }

    /// Records this store's applied version in `engram_clients` once it has moved by
    /// `Journal.trimEvery`, so a store that only searches does not hold the journal back
    /// (writers record theirs as they trim). Best effort, without waiting: when this store is
    /// writing, or another process holds the database's write lock, the next read tries again.
    private func recordProgress() {
        let applied = vectors.read { $0.applied }
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

    /// Runs `body` under the shared vector lock, failing once the store is closed.
    func searching<T>(_ body: (VectorState) throws -> T) throws -> T {
        try vectors.read { v in
            guard !v.closed else { throw EngramError(.unavailable, "the store is closed") }
            do { return try body(v) } catch let e as VectorIndexError { throw EngramError(.internal, "vector index: \(e.message)") }
        }
    }

    /// Reloads the kinds marked stale (`rebuildOnNextSearch`) from `c`.
    func refreshStale(_ c: Connection, _ kinds: [MemoryKind]) throws {
        guard configuration.vectorMaintenance == .rebuildOnNextSearch else { return }
        try vectors.write { v in
            for kind in kinds where v.stale.remove(kind) != nil { try v.reload(kind, from: c) }
        }
    }
}
