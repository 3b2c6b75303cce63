import CSQLite
import EngramCore
import Foundation
import Glibc

/// Opening a database file: its real path, the check that it is Engram's, WAL and the
/// page cache, the schema.
extension SQLiteStore {
    /// Settings, ownership and schema of a freshly opened writer connection.
    static func prepare(_ c: Connection, _ configuration: Configuration) throws {
        try c.execute("PRAGMA busy_timeout = 5000")
        try checkOwnership(c, configuration.path)
        let mode = try c.statement("PRAGMA journal_mode = WAL")
        if try mode.step(), mode.text(0).lowercased() != "wal", configuration.path != ":memory:" {
            throw EngramError(.unavailable, "could not switch \(configuration.path) to WAL (got \(mode.text(0)))")
        }
        try mode.run()
        try c.execute("PRAGMA synchronous = \(configuration.synchronous.rawValue)")
        // A 64 MB page cache keeps the rows that searches fetch hot.
        try c.execute("PRAGMA cache_size = -\(writerCacheKiB)")
        try migrate(c, configuration)
    }

    /// In-memory and temporary databases belong to their one connection.
    static func isPrivate(_ path: String) -> Bool { path == ":memory:" || path.isEmpty }

    /// The path with symlinks resolved (of its directory when the file does not exist yet).
    static func canonical(_ path: String) -> String {
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
    static func checkOwnership(_ c: Connection, _ path: String) throws {
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

    static func migrate(_ c: Connection, _ config: Configuration) throws {
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
}
