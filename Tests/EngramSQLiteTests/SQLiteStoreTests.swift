import CSQLite
import Conformance
import EngramCore
@_spi(Benchmarks) import EngramSQLite
import Foundation
import Testing

@Suite struct SQLiteStoreTests {
    let t0 = Timestamp(microsecondsSinceEpoch: 1_000_000)

    func outcome(_ id: String, at: Int64 = 0, embedding: [Float]? = nil) -> Outcome {
        Outcome(id: id, agent: "a", projectId: "p", taskType: "t", taskDescription: "d", success: true,
                strategyUsed: "s", timestamp: t0.adding(microseconds: at), embedding: embedding)
    }

    @Test func reopeningWithAnotherDimensionIsAClearError() throws {
        let path = temporaryDatabasePath()
        try SQLiteStore(path: path, embeddingDimension: 8).close()
        #expect {
            try SQLiteStore(path: path, embeddingDimension: 16)
        } throws: { error in
            guard let e = error as? EngramError else { return false }
            return e.code == .invalidInput && e.field == "embedding_dimension" && e.message.contains("8")
        }
    }

    func search(_ store: SQLiteStore, _ v: [Float], k: Int = 10) throws -> [String] {
        try store.query(MemoryQuery(kind: .outcome, projectId: "p", topK: k, vector: v)).map(\.record.id)
    }

    /// Two stores on one file — through its path or a symlink — each see the other's
    /// committed saves, re-saves, deletes and prunes in their next search, vectors included,
    /// and neither rebuilds its indexes to do it.
    @Test(arguments: ["path", "symlink"])
    func twoStoresOnOneFileSeeEachOthersWrites(via: String) throws {
        let path = temporaryDatabasePath()
        let a = try SQLiteStore(path: path, embeddingDimension: 4)
        let other = path + "-" + via
        if via == "symlink" { try FileManager.default.createSymbolicLink(atPath: other, withDestinationPath: path) }
        let b = try SQLiteStore(path: via == "path" ? path : other, embeddingDimension: 4)
        try a.save(outcome("x", at: 1, embedding: [1, 0, 0, 0]))
        try a.save(outcome("y", at: 2, embedding: [0, 1, 0, 0]))
        #expect(try search(b, [1, 0, 0, 0]) == ["x", "y"])
        // A re-save with another vector moves it; a delete removes it from the other's top-k.
        try a.save(outcome("x", at: 1, embedding: [0, 0, 1, 0]))
        #expect(try search(b, [0, 0, 1, 0], k: 1) == ["x"])
        #expect(try a.delete(RecordKey(.outcome, scope: "p", id: "y")))
        #expect(try search(b, [0, 1, 0, 0]) == ["x"])
        // B's prune removes A's vectors from A's next search; B's save shows in A's.
        try b.save(outcome("z", at: 10, embedding: [0, 0, 0, 1]))
        #expect(try b.deleteOutcomes(projectId: "p", olderThan: t0.adding(microseconds: 5), agent: nil) == 1)
        #expect(try search(a, [0, 0, 1, 0]) == ["z"])
        #expect(try a.vectorsHeld()[.outcome] == 1 && b.vectorsHeld()[.outcome] == 1)
        try a.close()
        try b.close()
        try SQLiteStore(path: path, embeddingDimension: 4).close()
    }

    /// A file with two hard-linked names would get two write-ahead logs: while one store has
    /// it open, a second is refused by either name; one at a time, either name works.
    @Test func aHardLinkedFileIsOpenedByOneStoreAtATime() throws {
        let path = temporaryDatabasePath()
        let a = try SQLiteStore(path: path, embeddingDimension: 4)
        try a.save(outcome("x", embedding: [1, 0, 0, 0]))
        let other = path + "-hardlink"
        #expect(link(path, other) == 0)
        for name in [other, path] {
            #expect { try SQLiteStore(path: name, embeddingDimension: 4) } throws: { e in
                guard let e = e as? EngramError else { return false }
                return e.code == .unavailable && e.message.contains("hard links")
            }
        }
        try a.close()
        let b = try SQLiteStore(path: other, embeddingDimension: 4)
        #expect(try search(b, [1, 0, 0, 0]) == ["x"])
        try b.close()
    }

    /// The journal is trimmed once every open store has applied it, and a store that was
    /// taken for dead (its entries trimmed before it applied them) reloads instead of missing
    /// them.
    @Test func theJournalIsTrimmedBehindTheSlowestStore() throws {
        try withTwoStores { path, a, b in
            func journalRows() throws -> Int64 { try count(path, "SELECT count(*) FROM engram_changes") }
            // B has applied nothing: A's 1,100 saves stay journaled.
            for i in 0..<1_100 { try a.save(outcome("o\(i)", at: Int64(i), embedding: [1, Float(i % 7), 0, 1])) }
            #expect(try journalRows() >= 1_100)
            // B catches up in a search, then its own writes record how far it got: trimmed.
            #expect(try search(b, [1, 0, 0, 1], k: 1).count == 1)
            for i in 0..<600 { try b.save(outcome("b\(i)", at: Int64(i), embedding: [0, 1, Float(i % 5), 0])) }
            #expect(try journalRows() < 1_100)
            #expect(try a.vectorsHeld()[.outcome] == 1_700 && b.vectorsHeld()[.outcome] == 1_700)
            // A taken for dead (its row gone from engram_clients): B's trims pass it by, and A's
            // next read reloads rather than missing B's changes.
            try sql(path, "DELETE FROM engram_clients WHERE applied = (SELECT min(applied) FROM engram_clients)")
            for i in 0..<1_100 { try b.save(outcome("c\(i)", at: Int64(i), embedding: [0, 0, 1, Float(i % 3)])) }
            #expect(try b.delete(RecordKey(.outcome, scope: "p", id: "o0")))
            #expect(try a.vectorsHeld()[.outcome] == 2_799)
            #expect(try search(a, [0, 0, 1, 0], k: 1) == search(b, [0, 0, 1, 0], k: 1))
        }
    }

    /// Two stores on one new database file, closed after `body`.
    func withTwoStores(_ body: (String, SQLiteStore, SQLiteStore) throws -> Void) throws {
        let path = temporaryDatabasePath()
        let a = try SQLiteStore(path: path, embeddingDimension: 4)
        let b = try SQLiteStore(path: path, embeddingDimension: 4)
        do { try body(path, a, b) } catch {
            try? a.close()
            try? b.close()
            throw error
        }
        try a.close()
        try b.close()
    }

    /// A store whose entries were all trimmed (the journal is empty) reloads rather than
    /// missing them.
    @Test func aStoreTakenForDeadReloadsWhenTheJournalIsTrimmedEmpty() throws {
        try withTwoStores { path, a, b in
            try sql(path, "DELETE FROM engram_clients WHERE applied = 0 AND rowid = (SELECT min(rowid) FROM engram_clients)")
            for i in 0..<512 { try b.save(outcome("o\(i)", at: Int64(i), embedding: [1, Float(i % 7), 0, 1])) }
            #expect(try count(path, "SELECT count(*) FROM engram_changes") == 0)
            #expect(try a.vectorsHeld()[.outcome] == 512)
            #expect(try search(a, [1, 0, 0, 1], k: 3) == search(b, [1, 0, 0, 1], k: 3))
        }
    }

    /// A row id another process freed and reused for another project's record (here: a row
    /// moved behind the journal's back) is not returned by a search of the first project.
    @Test func aSearchNeverReturnsAnotherProjectsRowUnderAReusedId() throws {
        let path = temporaryDatabasePath()
        let a = try SQLiteStore(path: path, embeddingDimension: 4)
        try a.save(outcome("x", embedding: [1, 0, 0, 0]))
        try a.save(outcome("y", embedding: [0, 1, 0, 0]))
        try sql(path, "UPDATE outcomes SET project_id = 'q' WHERE id = 'x'")
        #expect(try search(a, [1, 0, 0, 0]) == ["y"])
        try a.close()
    }

    /// A file another program holds an exclusive lock on is refused, promptly.
    @Test func anExclusivelyLockedFileIsRefusedWithoutHanging() throws {
        let path = temporaryDatabasePath()
        try SQLiteStore(path: path, embeddingDimension: 4).close()
        let fd = open(path, O_RDWR)
        defer { close(fd) }
        #expect(flock(fd, LOCK_EX | LOCK_NB) == 0)
        #expect { try SQLiteStore(path: path, embeddingDimension: 4) } throws: { ($0 as? EngramError)?.code == .unavailable }
    }

    func count(_ path: String, _ query: String) throws -> Int64 {
        var db: OpaquePointer?
        defer { sqlite3_close(db) }
        guard sqlite3_open(path, &db) == SQLITE_OK else { throw EngramError(.internal, "open") }
        var stmt: OpaquePointer?
        sqlite3_prepare_v2(db, query, -1, &stmt, nil)
        defer { sqlite3_finalize(stmt) }
        sqlite3_step(stmt)
        return sqlite3_column_int64(stmt, 0)
    }

    /// Runs SQL on the file through a connection of its own.
    func sql(_ path: String, _ text: String) throws {
        var db: OpaquePointer?
        defer { sqlite3_close(db) }
        guard sqlite3_open(path, &db) == SQLITE_OK, sqlite3_exec(db, text, nil, nil, nil) == SQLITE_OK else { throw EngramError(.internal, "sql failed") }
    }

    /// In-memory databases are private to their store: any number at once, none sees another's.
    @Test func inMemoryStoresNeedNoLock() throws {
        let a = try SQLiteStore(path: ":memory:", embeddingDimension: 4)
        let b = try SQLiteStore(path: ":memory:", embeddingDimension: 4)
        try a.save(outcome("only-in-a", embedding: [1, 0, 0, 0]))
        #expect(try b.get(RecordKey(.outcome, scope: "p", id: "only-in-a")) == nil)
        #expect(!FileManager.default.fileExists(atPath: ":memory:.lock") && !FileManager.default.fileExists(atPath: ":memory:"))
        try a.close()
        try b.close()
    }

    /// Another program's database — with unrelated tables, with a table named like one of
    /// Engram's, or a file that is not a database at all — is refused and left byte for byte.
    @Test(arguments: ["CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers VALUES (1, 'Ada');",
                      "CREATE TABLE outcomes (id TEXT, note TEXT); INSERT INTO outcomes VALUES ('x', 'theirs');",
                      "garbage"])
    func aForeignDatabaseIsRefusedAndLeftUnchanged(content: String) throws {
        let path = temporaryDatabasePath()
        if content == "garbage" {
            let page = Data("SQLite format 3\u{0}".utf8) + Data((0..<4080).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            try page.write(to: URL(fileURLWithPath: path))
        } else {
            var db: OpaquePointer?
            #expect(sqlite3_open(path, &db) == SQLITE_OK)
            #expect(sqlite3_exec(db, content, nil, nil, nil) == SQLITE_OK)
            sqlite3_close(db)
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect { try SQLiteStore(path: path, embeddingDimension: 4) } throws: { error in
            guard let e = error as? EngramError else { return false }
            return content == "garbage" ? [.corrupt, .invalidInput].contains(e.code) : (e.field == "path" && e.message.contains("another program"))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before, "the foreign file was modified")
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
    }

    @Test func callsAfterCloseFailAsUnavailable() throws {
        let store = try SQLiteStore(path: temporaryDatabasePath(), embeddingDimension: 4)
        try store.close()
        #expect { try store.save(outcome("o")) } throws: { ($0 as? EngramError)?.code == .unavailable }
    }

    @Test func corruptMetadataNamesTheRow() throws {
        let path = temporaryDatabasePath()
        let store = try SQLiteStore(path: path, embeddingDimension: 4)
        try store.save(outcome("o"))
        try store.close()
        try rawSQL(path, "UPDATE outcomes SET metadata = '{broken' WHERE id = 'o'")
        let reopened = try SQLiteStore(path: path, embeddingDimension: 4)
        #expect {
            try reopened.get(RecordKey(.outcome, scope: "p", id: "o"))
        } throws: { error in
            guard let e = error as? EngramError else { return false }
            return e.code == .corrupt && e.message.contains("outcomes row")
        }
    }

    @Test func aTruncatedEmbeddingBlobFailsTheOpenInsteadOfServingWrongVectors() throws {
        let path = temporaryDatabasePath()
        let store = try SQLiteStore(path: path, embeddingDimension: 4)
        try store.save(outcome("o", embedding: [1, 2, 3, 4]))
        try store.close()
        try rawSQL(path, "UPDATE outcomes SET embedding = substr(embedding, 1, 8) WHERE id = 'o'")
        #expect { try SQLiteStore(path: path, embeddingDimension: 4) } throws: { ($0 as? EngramError)?.code == .corrupt }
    }

    @Test func withoutTheTimestampIndexThePlanScenarioFails() throws {
        var config = SQLiteStore.Configuration(path: temporaryDatabasePath(), embeddingDimension: 4)
        config.outcomeTimestampIndex = false
        let store = try SQLiteStore(config)
        _ = try store.save((0..<2000).map { .outcome(outcome("o\($0)", at: Int64($0))) })
        let plan = try store.explainDeleteOutcomes(projectId: "p", olderThan: t0.adding(microseconds: 10), agent: nil)
        #expect(plan.indexUsed != store.outcomeTimestampIndexName, "\(plan.detail)")
        let indexed = try SQLiteStore(path: temporaryDatabasePath(), embeddingDimension: 4)
        let good = try indexed.explainDeleteOutcomes(projectId: "p", olderThan: t0, agent: nil)
        #expect(good.indexUsed == indexed.outcomeTimestampIndexName && !good.fullScan && good.detail.hasPrefix("SEARCH"), "\(good.detail)")
    }

    /// Every vector-maintenance strategy the benchmark compares keeps the contract.
    @Test(arguments: SQLiteStore.VectorMaintenance.allCases)
    func everyMaintenanceStrategyKeepsTheContract(mode: SQLiteStore.VectorMaintenance) {
        let fixture = StoreFixture(name: "sqlite-\(mode.rawValue)", makeEmpty: {
            var c = SQLiteStore.Configuration(path: temporaryDatabasePath())
            c.vectorMaintenance = mode
            return try SQLiteStore(c)
        }, reopen: { old in
            var c = (old as! SQLiteStore).configuration
            try old.close()
            c.vectorMaintenance = mode
            return try SQLiteStore(c)
        })
        let results = ConformanceSuite(fixture: fixture, only: ["delete.", "prune.", "upsert.", "introspection.", "durability."]).run()
        let failed = results.filter { $0.status != .passed }
        #expect(!results.isEmpty && failed.isEmpty, "\(failed.map { "\($0.id): \($0.reason)" })")
    }

    func rawSQL(_ path: String, _ sql: String) throws {
        var db: OpaquePointer?
        guard sqlite3_open(path, &db) == SQLITE_OK else { throw EngramError(.internal, "open") }
        defer { sqlite3_close(db) }
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else {
            throw EngramError(.internal, String(cString: sqlite3_errmsg(db)))
        }
    }
}

/// A database file moved, replaced or deleted under an open store: the store acknowledges no
/// write it could not read back (`unavailable`, naming the path), opens no reader on another
/// file, and a second store at the old or new name sees exactly what was acknowledged.
@Suite struct MovedDatabaseFile {
    func outcome(_ id: String) -> Outcome {
        Outcome(id: id, agent: "a", projectId: "p", taskType: "t", taskDescription: "d", success: true, strategyUsed: "s",
                timestamp: Timestamp(microsecondsSinceEpoch: 1), embedding: [1, 0, 0, 0])
    }

    func key(_ id: String) -> RecordKey { RecordKey(.outcome, scope: "p", id: id) }

    func refusedNaming(_ path: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("the write was acknowledged", sourceLocation: sourceLocation)
        } catch let e as EngramError {
            #expect(e.code == .unavailable && e.message.contains(path), "\(e)", sourceLocation: sourceLocation)
        } catch {
            Issue.record(error, sourceLocation: sourceLocation)
        }
    }

    func remove(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    @Test func renamed() throws {
        let path = temporaryDatabasePath(), moved = path + ".moved"
        let a = try SQLiteStore(path: path, embeddingDimension: 4)
        try a.save(outcome("before"))
        #expect(rename(path, moved) == 0)
        refusedNaming(path) { try a.save(outcome("after")) }
        // The same file under its new name, while this process still holds it under the old one.
        #expect { try SQLiteStore(path: moved, embeddingDimension: 4) } throws: { ($0 as? EngramError)?.code == .unavailable }
        try a.close()
        let b = try SQLiteStore(path: moved, embeddingDimension: 4)
        #expect(try b.get(key("before")) != nil, "an acknowledged write is in the moved file")
        #expect(try b.get(key("after")) == nil)
        try b.close()
    }

    @Test func replaced() throws {
        let path = temporaryDatabasePath(), other = path + ".other"
        let a = try SQLiteStore(path: path, embeddingDimension: 4)
        try a.save(outcome("before"))
        let c = try SQLiteStore(path: other, embeddingDimension: 4)
        try c.save(outcome("theirs"))
        try c.close()
        remove(path)
        #expect(rename(other, path) == 0)
        refusedNaming(path) { try a.save(outcome("after")) }
        let b = try SQLiteStore(path: path, embeddingDimension: 4)
        #expect(try b.get(key("theirs")) != nil && b.get(key("after")) == nil)
        try b.save(outcome("new"))
        refusedNaming(path) { try a.save(outcome("after")) }
        try b.close()
        try a.close()
    }

    @Test func deletedAndCreatedAgain() throws {
        let path = temporaryDatabasePath()
        let a = try SQLiteStore(path: path, embeddingDimension: 4)
        try a.save(outcome("before"))
        remove(path)
        let b = try SQLiteStore(path: path, embeddingDimension: 4)
        refusedNaming(path) { try a.save(outcome("a1")) }
        #expect(try b.get(key("a1")) == nil)
        try b.save(outcome("b1"))
        #expect(try b.get(key("b1")) != nil)
        try b.close()
        try a.close()
        // Deleted with no second store: the write is refused too, and nothing is created.
        let c = try SQLiteStore(path: path, embeddingDimension: 4)
        remove(path)
        refusedNaming(path) { try c.save(outcome("c1")) }
        #expect(!FileManager.default.fileExists(atPath: path))
        try c.close()
    }
}

/// Another program writing the database through SQLite (here: a connection of its own, as the
/// `sqlite3` shell would) and journaling its change as Engram does: a journal row no store
/// could have written costs one resynchronisation, not every search; a vector of another
/// length is `corrupt`, naming its row.
@Suite struct ForeignWriters {
    func outcome(_ id: String, _ v: [Float]) -> Outcome {
        Outcome(id: id, agent: "a", projectId: "p", taskType: "t", taskDescription: "d", success: true, strategyUsed: "s",
                timestamp: Timestamp(microsecondsSinceEpoch: 1), embedding: v)
    }

    /// Runs SQL through a connection of its own; `blob` binds to the single `?`.
    func foreign(_ path: String, _ text: String, blob: [Float]? = nil) throws {
        var db: OpaquePointer?
        defer { sqlite3_close(db) }
        guard sqlite3_open(path, &db) == SQLITE_OK else { throw EngramError(.internal, "open") }
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, text, -1, &stmt, nil) == SQLITE_OK else { throw EngramError(.internal, String(cString: sqlite3_errmsg(db))) }
        defer { sqlite3_finalize(stmt) }
        if let blob { _ = blob.withUnsafeBytes { sqlite3_bind_blob(stmt, 1, $0.baseAddress, Int32($0.count), nil) } }
        guard sqlite3_step(stmt) == SQLITE_DONE else { throw EngramError(.internal, String(cString: sqlite3_errmsg(db))) }
    }

    func top(_ store: SQLiteStore, _ v: [Float]) throws -> (id: String, score: Double)? {
        try store.query(MemoryQuery(kind: .outcome, projectId: "p", topK: 1, vector: v)).first.map { ($0.record.id, $0.score ?? 0) }
    }

    /// A vector of another length written by another program is `corrupt`, naming its row.
    @Test func aForeignVectorOfAnotherLengthIsCorruptNamingItsRow() throws {
        let path = temporaryDatabasePath()
        let store = try SQLiteStore(path: path, embeddingDimension: 4)
        defer { try? store.close() }
        for i in 0..<5 { try store.save(outcome("o\(i)", [1, Float(i), 0, 0])) }
        try foreign(path, "UPDATE outcomes SET embedding = ? WHERE id = 'o3'", blob: [1, 2, 3])
        try foreign(path, "INSERT INTO engram_changes (kind, project, seq) SELECT 'outcome', 'p', seq FROM outcomes WHERE id = 'o3'")
        #expect { try top(store, [1, 0, 0, 0]) } throws: { error in
            guard let e = error as? EngramError else { return false }
            return e.code == .corrupt && e.message.contains("outcomes row") && e.message.contains("3 components")
        }
    }

    @Test func aMalformedJournalRowCostsOneResynchronisation() throws {
        let path = temporaryDatabasePath()
        let store = try SQLiteStore(path: path, embeddingDimension: 4)
        defer { try? store.close() }
        for i in 0..<10 { try store.save(outcome("o\(i)", [1, Float(i), 0, 0])) }
        try foreign(path, "INSERT INTO engram_changes (kind, project, seq) VALUES ('no-such-kind', 'p', 3)")
        try foreign(path, "UPDATE outcomes SET embedding = ? WHERE id = 'o2'", blob: [0, 0, 1, 0])
        for _ in 0..<3 { #expect(try top(store, [0, 0, 1, 0])?.id == "o2") }
        #expect(try store.vectorResynchronisations() == 1)
        try store.save(outcome("o10", [0, 0, 1, 0.1]))
        #expect(try store.vectorsHeld()[.outcome] == 11)
    }
}
