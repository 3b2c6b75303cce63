import CSQLite
import EngramCore
import Foundation
import Glibc

/// The change journal that lets several stores — in other processes, or in this one — share one
/// database file. Every write that changes vectors appends one row per changed record
/// (kind, project, seq) to `engram_changes` in the same transaction as the rows; its
/// AUTOINCREMENT `version` orders the commits. Each store remembers the last version its
/// indexes reflect; before a search it applies the newer entries, each as its row's state now
/// (so applying one twice, or out of order, comes to the same index). `engram_clients` lists
/// the open stores with the version each has recorded as applied, so the journal can be
/// trimmed behind the slowest; a client more than `forgetAfter` versions behind is forgotten
/// (a process that died, or one that neither reads nor writes), and a store whose entries
/// were trimmed that way reloads its indexes when it next reads. No pid is consulted: pids
/// differ across containers sharing a volume, and are reused.
enum Journal {
    static let createSQL = [
        "CREATE TABLE IF NOT EXISTS engram_changes (version INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, project TEXT NOT NULL, seq INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS engram_clients (client TEXT PRIMARY KEY, pid INTEGER NOT NULL, applied INTEGER NOT NULL)",
    ]

    /// A client this many versions behind the latest is forgotten by the next trim, which
    /// bounds the journal at about this many entries.
    static let forgetAfter: Int64 = 65_536

    /// Trim the journal (and forget far-behind clients) each time the version passes a multiple of this.
    static let trimEvery: Int64 = 512

    /// Appends one entry per changed record; returns the versions written (nil when none).
    static func append(_ c: Connection, _ key: IndexKey, _ seqs: [Int64]) throws -> ClosedRange<Int64>? {
        guard !seqs.isEmpty else { return nil }
        let insert = try c.statement("INSERT INTO engram_changes (kind, project, seq) VALUES (?, ?, ?)")
        var first: Int64?
        for seq in seqs {
            try insert.bind([.text(key.kind.rawValue), .text(key.project), .int(seq)]).run()
            if first == nil { first = c.lastInsertRowid }
        }
        return first!...c.lastInsertRowid
    }

    /// The highest version ever written (kept by SQLite even when the journal is trimmed empty).
    static func latest(_ c: Connection) throws -> Int64 {
        try c.statement("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'engram_changes'), 0)").first { $0.int(0) } ?? 0
    }

    /// The oldest version still in the journal, or nil when it is empty.
    static func oldest(_ c: Connection) throws -> Int64? {
        try c.statement("SELECT min(version) FROM engram_changes").first { $0.optionalInt(0) } ?? nil
    }

    /// The entries after `version`, oldest first.
    static func entries(after version: Int64, _ c: Connection) throws -> [(version: Int64, key: IndexKey, seq: Int64)] {
        try c.statement("SELECT version, kind, project, seq FROM engram_changes WHERE version > ? ORDER BY version").bind([.int(version)]).rows { r in
            guard let kind = MemoryKind(rawValue: r.text(1)) else { throw EngramError(.corrupt, "engram_changes version \(r.int(0)) names an unknown kind '\(r.text(1))'") }
            return (r.int(0), IndexKey(kind: kind, project: r.text(2)), r.int(3))
        }
    }

    static func register(_ c: Connection, client: String, applied: Int64) throws {
        try c.statement("INSERT OR REPLACE INTO engram_clients (client, pid, applied) VALUES (?, ?, ?)")
            .bind([.text(client), .int(Int64(getpid())), .int(applied)]).run()
    }

    static func unregister(_ c: Connection, client: String) throws {
        try c.statement("DELETE FROM engram_clients WHERE client = ?").bind([.text(client)]).run()
    }

    /// In a write transaction: records this client's applied version, forgets clients more
    /// than `forgetAfter` versions behind, and deletes the entries every remaining client has
    /// applied.
    static func trim(_ c: Connection, client: String, applied: Int64) throws {
        try register(c, client: client, applied: applied)
        try c.statement("DELETE FROM engram_clients WHERE applied < ?").bind([.int(try latest(c) - forgetAfter)]).run()
        try c.statement("DELETE FROM engram_changes WHERE version <= (SELECT min(applied) FROM engram_clients)").run()
    }
}
