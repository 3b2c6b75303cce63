import CSQLite
import EngramCore
import Foundation
import EngramVectorIndex
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

    /// Appends one entry per changed record, in `seqs` order. One statement for the lot: the
    /// seqs go in as one JSON array (a statement per entry took 0.11 s of a 100k batch, this 0.05 s). Needs
    /// SQLite's JSON functions, built in since 3.38 (Debian 12 has 3.40).
    static func append(_ c: Connection, _ key: IndexKey, _ seqs: [Int64]) throws {
        guard !seqs.isEmpty else { return }
        try c.statement("INSERT INTO engram_changes (kind, project, seq) SELECT ?, ?, value FROM json_each(?) ORDER BY key")
            .bind([.text(key.kind.rawValue), .text(key.project), .text("[" + seqs.map(String.init).joined(separator: ",") + "]")]).run()
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

    // MARK: Catching up (under the store's exclusive vector lock)

    /// Applies the entries newer than the indexes' version in one snapshot of `c` (a read
    /// transaction of its own unless `inTransaction`), or reloads every index when some were
    /// trimmed (the store was taken for dead: the oldest entry left is past its next one, or
    /// none is left though newer ones were written).
    static func catchUp(_ c: Connection, _ v: inout VectorState, inTransaction: Bool) throws {
        guard !v.closed else { return }
        if !inTransaction { try c.execute("BEGIN") }
        defer { if !inTransaction { try? c.execute("COMMIT") } }
        do {
            if try (oldest(c) ?? latest(c) + 1) > v.applied + 1 {
                try v.reloadAll(from: c)
                v.resynchronisations += 1
            } else {
                do { try apply(c, &v) } catch let e as EngramError where e.code == .corrupt {
                    // A journal row no store writes (another program's): read the
                    // indexes from the rows once, past it, rather than fail every search.
                    try v.reloadAll(from: c)
                    v.resynchronisations += 1
                }
            }
        } catch let e as VectorIndexError {
            // A half-applied catch-up leaves the indexes unknown: rebuild them from the rows.
            try? v.reloadAll(from: c)
            throw EngramError(.internal, "vector index: \(e.message)")
        }
    }

    /// Applies the entries after the indexes' version (in a read transaction on `c`): each
    /// record out of the index that held it, then back into its row's index when the row
    /// still has a vector.
    private static func apply(_ c: Connection, _ v: inout VectorState) throws {
        let changes = try entries(after: v.applied, c)
        guard let last = changes.last?.version else { return }
        var rows: [MemoryKind: Set<Int64>] = [:]
        for e in changes {
            try v.forget(e.key, e.seq)
            rows[e.key.kind, default: []].insert(e.seq)
        }
        for (kind, seqs) in rows {
            let read = try c.statement("SELECT project_id, agent, embedding FROM \(Table.of(kind).name) WHERE seq = ?")
            for seq in seqs.sorted() {
                guard let (project, agent, vector) = try read.bind([.int(seq)]).first({ ($0.text(0), $0.optionalText(1) ?? "", $0.floats(2)) }), let vector else { continue }
                // A row another program wrote with a vector of another length: corrupt, named.
                guard vector.count == v.dimension else {
                    throw EngramError(.corrupt, "\(Table.of(kind).name) row \(seq) has an embedding of \(vector.count) components, expected \(v.dimension)")
                }
                try v.apply(IndexKey(kind: kind, project: project), [seq: (vector, agent)])
            }
        }
        v.applied = last
    }
}
