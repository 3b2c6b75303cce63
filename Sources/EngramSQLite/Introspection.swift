import CSQLite
import EngramCore
import EngramVectorIndex
import Foundation
import Synchronization

/// Introspection and measurement: what the benchmark runner and the conformance suite read
/// (vectors held, plans, disk and cache use) and the hooks they drive.
extension SQLiteStore {
    /// Reloads every vector index from the database: the original project's rebuild,
    /// kept for the benchmark runner's comparisons (Engram itself never needs it).
    @_spi(Benchmarks) public func rebuildVectorIndexes() throws {
        try writing { c in
            ((), { c, v in
                for kind in MemoryKind.vectorKinds { try v.reload(kind, from: c) }
                v.stale.removeAll()
            })
        }
    }

    /// Copies the write-ahead log into the database file and truncates it. SQLite does this
    /// by itself every 1,000 pages; the benchmark runner calls it after loading, so that a
    /// measurement does not pay for the load's deferred checkpoint.
    public func checkpoint() throws {
        try writer.withLock { w in
            guard let c = w.connection else { throw EngramError(.unavailable, "the store is closed") }
            // Never into a file the path no longer names (another store's log may have the name).
            if fileMoved { throw FileGuard.moved(configuration.path, rescued: false) }
            try c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }

    /// Versions of the libraries this store runs on.
    public static var libraryVersions: [String: String] {
        ["sqlite": String(cString: sqlite3_libversion()), "faiss": VectorIndex.faissVersion]
    }

    /// Approximate heap bytes held by the vector indexes.
    public func vectorIndexMemoryBytes() throws -> Int {
        try searching { v in v.indexes.values.reduce(0) { $0 + $1.memoryBytes } }
    }

    /// Times this store read its vector indexes again from the rows because the change journal
    /// could not bring them up to date: it was taken for dead and its entries were trimmed, or
    /// another program wrote a journal entry it could not read.
    public func vectorResynchronisations() throws -> Int {
        try searching { $0.resynchronisations }
    }

    /// Bytes the vector indexes hold ahead of need (their arrays grow by doubling).
    public func vectorIndexSlackBytes() throws -> Int {
        try searching { v in v.indexes.values.reduce(0) { $0 + $1.slackBytes } }
    }
}

extension SQLiteStore: IndexMemoryReporting {}

extension SQLiteStore: VectorIntrospecting {
    public func vectorsHeld() throws -> [MemoryKind: Int] {
        try reading { c in
            try catchUp(c)
            try refreshStale(c, MemoryKind.vectorKinds)
            return try searching { v in
                var out: [MemoryKind: Int] = [:]
                for kind in MemoryKind.vectorKinds {
                    out[kind] = v.indexes.filter { $0.key.kind == kind }.reduce(0) { $0 + $1.value.count }
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
