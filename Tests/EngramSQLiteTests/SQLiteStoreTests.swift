import CSQLite
import Conformance
import EngramCore
import EngramSQLite
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

    @Test func aSecondOpenOfTheSameFileIsRefused() throws {
        let path = temporaryDatabasePath()
        let first = try SQLiteStore(path: path, embeddingDimension: 4)
        #expect {
            try SQLiteStore(path: path, embeddingDimension: 4)
        } throws: { ($0 as? EngramError)?.code == .unavailable }
        try first.close()
        try SQLiteStore(path: path, embeddingDimension: 4).close()  // free again once closed
    }

    /// The lock belongs to the file: a symlink or a hard link to an open database is refused
    /// too (two stores on one file would each miss the other's vector changes).
    @Test func aLinkToAnOpenDatabaseIsRefused() throws {
        let path = temporaryDatabasePath()
        let first = try SQLiteStore(path: path, embeddingDimension: 4)
        let symlink = path + "-symlink", hardlink = path + "-hardlink"
        try FileManager.default.createSymbolicLink(atPath: symlink, withDestinationPath: path)
        #expect(link(path, hardlink) == 0)
        for other in [symlink, hardlink] {
            #expect { try SQLiteStore(path: other, embeddingDimension: 4) } throws: { ($0 as? EngramError)?.code == .unavailable }
        }
        try first.close()
        try SQLiteStore(path: symlink, embeddingDimension: 4).close()
    }

    /// In-memory databases are private to their store: no lock file, any number at once.
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
