import CLibPQ
import Conformance
import EngramCore
@_spi(Benchmarks) import EngramPostgres
import Dispatch
import Foundation
import Synchronization
import Testing

/// The server under test: `ENGRAM_POSTGRES_URL`, or the project's own (started on demand;
/// `scripts/test.sh` starts it before and stops it after `swift test`).
let serverURL: String = {
    if let url = ProjectPostgres.configuredURL { return url }
    let repo = ProjectPostgres.repository(from: URL(fileURLWithPath: #filePath))!
    return try! ProjectPostgres.start(repository: repo)
}()

func freshSchema() -> String { "test_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "") }

/// Runs SQL on a connection of its own (administration from the test's side).
func adminSQL(_ sql: String) throws -> [String] {
    guard let conn = PQconnectdb(serverURL), PQstatus(conn) == CONNECTION_OK else { throw EngramError(.unavailable, "admin connect failed") }
    defer { PQfinish(conn) }
    engram_pq_silence(conn)  // DROP ... CASCADE sends NOTICEs
    guard let res = PQexec(conn, sql) else { throw EngramError(.internal, "no result") }
    defer { PQclear(res) }
    let status = PQresultStatus(res)
    guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
        throw EngramError(.internal, String(cString: PQresultErrorMessage(res)))
    }
    return (0..<PQntuples(res)).map { String(cString: PQgetvalue(res, $0, 0)) }
}

@Suite struct PostgresFaults {
    /// An outcome of agent "a" in project "p", `at` microseconds after the epoch.
    func outcome(_ id: String, at us: Int64 = 0) -> Outcome {
        Outcome(id: id, agent: "a", projectId: "p", taskType: "t", taskDescription: "d", success: true, strategyUsed: "s",
                timestamp: Timestamp(microsecondsSinceEpoch: us), embedding: nil)
    }

    @Test func aMalformedURLIsAClearError() {
        #expect {
            try PostgresStore(url: "postgresql://nobody@127.0.0.1:notaport/db")
        } throws: { error in
            guard let e = error as? EngramError else { return false }
            return e.code == .unavailable && e.message.contains("cannot connect")
        }
    }

    /// libpq's own messages repeat parts of the connection string; no form of password
    /// reaches the error (key=value, URL query parameter, URL userinfo, a malformed URL).
    @Test(arguments: ["host=127.0.0.1 port=1 user=u password=s3cret dbname=db connect_timeout=3",
                      "postgresql://u@127.0.0.1:1/db?password=s3cret&connect_timeout=3",
                      "postgresql://u:s3cret@127.0.0.1:1/db?connect_timeout=3",
                      "postgresql://u:s3cret@[::1:1/db",
                      "host=127.0.0.1 port=1 password='s3cret with spaces' dbname=db"])
    func passwordsNeverReachAnError(url: String) {
        #expect { try PostgresStore(url: url) } throws: { error in
            let text = "\(error)" + ((error as? EngramError)?.nativeMessage ?? "")
            #expect(!text.contains("s3cret"), "\(text)")
            return (error as? EngramError)?.code == .unavailable
        }
    }

    /// The reproduction at its size: 25,000 vectors in the queried project, 30,000
    /// nearer ones in another. HNSW's iterative scan stops at hnsw.max_scan_tuples (20,000)
    /// with fewer than k rows of the project; the store must still return the exact k nearest.
    @Test func anIndexScanCutShortStillReturnsKResults() throws {
        let schema = freshSchema()
        // 32 dimensions: the index's scan budget is what matters here, and inserts into the graph stay quick.
        let fixture = StoreFixture(name: "postgres") { try PostgresStore(url: serverURL, schema: schema, embeddingDimension: 32) }
        let results = ConformanceSuite(fixture: fixture, only: ["query.filter-then-rank.at-scale"], scale: ConformanceSuite.fullScale).run()
        #expect(results.map(\.status) == [.passed], "\(results.map(\.reason))")
        try PostgresStore.dropSchema(url: serverURL, schema: schema)
    }

    @Test func anUnreachableServerIsUnavailable() {
        var config = PostgresStore.Configuration(url: "postgresql://engram@127.0.0.1:1/engram")
        config.connectTimeout = 3
        #expect { try PostgresStore(config) } throws: { ($0 as? EngramError)?.code == .unavailable }
    }

    @Test func anotherDimensionThanTheTablesIsAClearError() throws {
        let schema = freshSchema()
        let first = try PostgresStore(url: serverURL, schema: schema, embeddingDimension: 8)
        defer { try? first.dropSchema() }
        #expect {
            try PostgresStore(url: serverURL, schema: schema, embeddingDimension: 16)
        } throws: { error in
            guard let e = error as? EngramError else { return false }
            return e.code == .invalidInput && e.field == "embedding_dimension" && e.message.contains("8")
        }
    }

    @Test func aConnectionKilledByTheServerIsReplaced() throws {
        var config = PostgresStore.Configuration(url: serverURL, schema: freshSchema(), embeddingDimension: 4)
        config.poolSize = 1
        config.applicationName = "engram-kill-test"
        let store = try PostgresStore(config)
        defer { try? store.dropSchema() }
        try store.save(outcome("before"))
        let killed = try adminSQL("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'engram-kill-test' AND datname = current_database() AND pid <> pg_backend_pid()")
        #expect(!killed.isEmpty)
        try store.save(outcome("after"))
        #expect(try store.get(RecordKey(.outcome, scope: "p", id: "before")) != nil)
        #expect(try store.get(RecordKey(.outcome, scope: "p", id: "after")) != nil)
    }

    @Test func aBatchThatFailsHalfWayLeavesNothing() throws {
        let store = try PostgresStore(url: serverURL, schema: freshSchema(), embeddingDimension: 4)
        defer { try? store.dropSchema() }
        _ = try adminSQL("DROP TABLE \"\(store.configuration.schema)\".anti_patterns")  // the second half will fail
        let t = Timestamp(microsecondsSinceEpoch: 0)
        let batch: [MemoryRecord] = [
            .outcome(outcome("first")),
            .antiPattern(AntiPattern(id: "x", agent: "a", projectId: "p", pattern: "p", whyBad: "w", betterAlternative: "b",
                                     occurrenceCount: 1, lastSeen: t, createdAt: t)),
        ]
        #expect(throws: EngramError.self) { try store.save(batch) }
        #expect(try store.get(RecordKey(.outcome, scope: "p", id: "first")) == nil)
    }

    /// Only a schema Engram created is dropped: never `public` (whose pgvector every other
    /// schema's embeddings depend on), a catalog, or a schema made by someone else.
    @Test func dropSchemaTouchesOnlyEngramsSchemas() throws {
        // A store first: it creates pgvector in a fresh cluster (the check below is that no
        // refused drop took it away, whichever test ran first).
        let store = try PostgresStore(url: serverURL, schema: freshSchema(), embeddingDimension: 4)
        let foreign = freshSchema()
        _ = try adminSQL("CREATE SCHEMA \(foreign); CREATE TABLE \(foreign).keep (x int)")
        for schema in ["public", "pg_catalog", "information_schema", foreign] {
            #expect { try PostgresStore.dropSchema(url: serverURL, schema: schema) } throws: { ($0 as? EngramError)?.field == "schema" }
        }
        #expect(try adminSQL("SELECT count(*) FROM pg_extension WHERE extname = 'vector'") == ["1"])
        #expect(try adminSQL("SELECT count(*) FROM \(foreign).keep") == ["0"])
        _ = try adminSQL("DROP SCHEMA \(foreign) CASCADE")
        // Something outside that depends on Engram's tables stops the drop (CASCADE would take it).
        let view = freshSchema()
        _ = try adminSQL("CREATE SCHEMA \(view); CREATE VIEW \(view).report AS SELECT id FROM \(store.configuration.schema).outcomes")
        #expect { try store.dropSchema() } throws: { ($0 as? EngramError)?.code == .conflict }
        #expect(try adminSQL("SELECT count(*) FROM \(view).report") == ["0"])
        _ = try adminSQL("DROP SCHEMA \(view) CASCADE")
        try store.dropSchema()
        #expect(try adminSQL("SELECT count(*) FROM pg_namespace WHERE nspname = '\(store.configuration.schema)'") == ["0"])
    }

    /// The URL's own `options` reach the server (Engram's timeouts are set after connecting).
    @Test func theURLsOwnOptionsAreKept() throws {
        let url = serverURL + (serverURL.contains("?") ? "&" : "?") + "options=-c%20default_transaction_read_only%3Don"
        #expect { try PostgresStore(url: url, schema: freshSchema(), embeddingDimension: 4) } throws: { error in
            (error as? EngramError)?.nativeMessage?.contains("read-only") == true
        }
    }

    /// Two batches over the same keys in opposite orders, at once, many times: no deadlock.
    @Test func concurrentBatchesOverTheSameKeysDoNotDeadlock() throws {
        let store = try PostgresStore(url: serverURL, schema: freshSchema(), embeddingDimension: 4)
        defer { try? store.dropSchema() }
        let records = (0..<2_000).map { i in
            MemoryRecord.outcome(Outcome(id: "o\(i)", agent: "a", projectId: "p", taskType: "t", taskDescription: "d", success: true,
                                         strategyUsed: "s", timestamp: Timestamp(microsecondsSinceEpoch: Int64(i))))
        }
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { side in
            for _ in 0..<5 {
                do { _ = try store.save(side == 0 ? records : records.reversed()) } catch { failures.withLock { $0.append("\(error)") } }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 }.prefix(2))")
    }

    /// Names PostgreSQL would cut at 63 bytes, and dimensions HNSW cannot hold, are refused at configuration.
    @Test func configurationLimitsAreCheckedUpFront() {
        #expect { try PostgresStore(url: serverURL, schema: "s" + String(repeating: "x", count: 63)) } throws: { ($0 as? EngramError)?.field == "schema" }
        #expect { try PostgresStore(url: serverURL, schema: freshSchema(), embeddingDimension: 2_001) } throws: { ($0 as? EngramError)?.field == "embedding_dimension" }
        var config = PostgresStore.Configuration(url: serverURL, schema: freshSchema())
        config.vacuumShare = -0.1
        #expect { try PostgresStore(config) } throws: { ($0 as? EngramError)?.field == "vacuum_share" }
        config.vacuumShare = 0.1
        config.vacuumMinimumRows = 0
        #expect { try PostgresStore(config) } throws: { ($0 as? EngramError)?.field == "vacuum_minimum_rows" }
    }

    /// Dead rows are the store's to clear (issue 27): a prune that leaves a tenth of the table
    /// dead is vacuumed in the background, once; a small prune is not; with `vacuumShare` 0 it
    /// is left to autovacuum. The server's own count (`pg_stat_user_tables`) says the same.
    @Test func aLargePruneIsVacuumedInTheBackground() throws {
        for share in [0.1, 0] {
            try withThreeThousandOutcomes({ $0.vacuumShare = share }) { store, config in
                #expect(try store.deleteOutcomes(projectId: "p", olderThan: Timestamp(microsecondsSinceEpoch: 10), agent: nil) == 10)
                #expect(store.vacuums() == (0, 0))
                #expect(try store.deleteOutcomes(projectId: "p", olderThan: Timestamp(microsecondsSinceEpoch: 2_000), agent: nil) == 1_990)
                let (run, failed) = store.vacuums()
                #expect(run == (share > 0 ? 1 : 0) && failed == 0, "share \(share): \(run) vacuums, \(failed) failed")
                let counted = try adminSQL("SELECT vacuum_count FROM pg_stat_user_tables WHERE schemaname = '\(config.schema)' AND relname = 'outcomes'")
                #expect(counted == [share > 0 ? "1" : "0"], "share \(share): the server counted \(counted)")
            }
        }
    }

    /// The share is of the table's rows: with no minimum, 100 dead rows of 3,000 (3%) start no
    /// vacuum, 400 (13%) start one.
    @Test func theVacuumWaitsForItsShareOfTheTable() throws {
        try withThreeThousandOutcomes({ $0.vacuumMinimumRows = 1 }) { store, _ throws in
            #expect(try store.deleteOutcomes(projectId: "p", olderThan: Timestamp(microsecondsSinceEpoch: 100), agent: nil) == 100)
            #expect(store.vacuums() == (0, 0))
            #expect(try store.deleteOutcomes(projectId: "p", olderThan: Timestamp(microsecondsSinceEpoch: 400), agent: nil) == 300)
            #expect(store.vacuums() == (1, 0))
        }
    }

    /// A store in a fresh schema, configured by `change`, holding outcomes o0…o2999 at
    /// t = 0…2999 µs; its schema is dropped afterwards.
    func withThreeThousandOutcomes(_ change: (inout PostgresStore.Configuration) -> Void, _ body: (PostgresStore, PostgresStore.Configuration) throws -> Void) throws {
        var config = PostgresStore.Configuration(url: serverURL, schema: freshSchema(), embeddingDimension: 4)
        change(&config)
        let store = try PostgresStore(config)
        defer { try? store.dropSchema(); try? store.close() }
        _ = try store.save((0..<3_000).map { .outcome(outcome("o\($0)", at: Int64($0))) })
        try body(store, config)
    }

    /// Opening never drops an index another store relies on, and does not build one on a
    /// table that holds rows (that is the explicit `createMissingIndexes()`).
    @Test func openingNeverDropsOrBuildsBehindOthersBacks() throws {
        let schema = freshSchema()
        let first = try PostgresStore(url: serverURL, schema: schema, embeddingDimension: 4)
        defer { try? first.dropSchema() }
        var plain = PostgresStore.Configuration(url: serverURL, schema: schema, embeddingDimension: 4)
        plain.hnsw = nil
        plain.outcomeTimestampIndex = false
        try PostgresStore(plain).close()
        let indexes = try adminSQL("SELECT ci.relname FROM pg_class ci JOIN pg_namespace n ON n.oid = ci.relnamespace WHERE n.nspname = '\(schema)' AND ci.relkind = 'i'")
        #expect(indexes.contains("idx_outcomes_embedding_hnsw") && indexes.contains("idx_outcomes_project_timestamp"), "\(indexes)")

        let filled = freshSchema()
        var bare = PostgresStore.Configuration(url: serverURL, schema: filled, embeddingDimension: 4)
        bare.hnsw = nil
        let store = try PostgresStore(bare)
        defer { try? store.dropSchema() }
        try store.save(Outcome(id: "o", agent: "a", projectId: "p", taskType: "t", taskDescription: "d", success: true, strategyUsed: "s",
                               timestamp: Timestamp(microsecondsSinceEpoch: 0), embedding: [1, 0, 0, 0]))
        let withIndexes = try PostgresStore(PostgresStore.Configuration(url: serverURL, schema: filled, embeddingDimension: 4))
        #expect(try withIndexes.missingIndexes().contains("idx_outcomes_embedding_hnsw"))
        try withIndexes.createMissingIndexes()
        #expect(try withIndexes.missingIndexes().isEmpty)
        try withIndexes.close()
    }

    /// A statement waiting on a lock held elsewhere gives up after `lockTimeout` as `unavailable`.
    @Test func aLockWaitIsBounded() throws {
        var config = PostgresStore.Configuration(url: serverURL, schema: freshSchema(), embeddingDimension: 4)
        config.lockTimeout = 0.5
        let store = try PostgresStore(config)
        defer { try? store.dropSchema() }
        guard let holder = PQconnectdb(serverURL), PQstatus(holder) == CONNECTION_OK else { throw EngramError(.unavailable, "admin connect failed") }
        defer { PQfinish(holder) }
        PQclear(PQexec(holder, "BEGIN; LOCK TABLE \(config.schema).outcomes IN ACCESS EXCLUSIVE MODE"))
        #expect { try store.save(Outcome(id: "o", agent: "a", projectId: "p", taskType: "t", taskDescription: "d", success: true, strategyUsed: "s",
                                         timestamp: Timestamp(microsecondsSinceEpoch: 0))) } throws: { error in
            // 55P03 lock_not_available: the server's lock_timeout ended the wait.
            (error as? EngramError)?.code == .unavailable && (error as? EngramError)?.nativeCode == "55P03"
        }
        PQclear(PQexec(holder, "ROLLBACK"))
    }

    @Test func ddlFailuresAreReportedNotSwallowed() throws {
        // A schema name the server rejects (too long is truncated, so use a reserved prefix).
        #expect {
            try PostgresStore(url: serverURL, schema: "pg_engram_reserved")
        } throws: { error in
            guard let e = error as? EngramError else { return false }
            return e.nativeCode == "42939" && e.message.contains("pg_")
        }
    }

    @Test func theHNSWIndexesExistOnAFreshSchema() throws {
        let store = try PostgresStore(url: serverURL, schema: freshSchema(), embeddingDimension: 4)
        defer { try? store.dropSchema() }
        // By access method, from the catalogs: pg_indexes.indexdef would run pg_get_indexdef on
        // every index of the database, and fail on one another test drops at that moment.
        let indexes = try adminSQL("""
            SELECT ci.relname FROM pg_class ci JOIN pg_namespace n ON n.oid = ci.relnamespace JOIN pg_am am ON am.oid = ci.relam
            WHERE n.nspname = '\(store.configuration.schema)' AND am.amname = 'hnsw' ORDER BY 1
            """)
        #expect(indexes == ["idx_anti_patterns_embedding_hnsw", "idx_domain_knowledge_embedding_hnsw", "idx_heuristics_embedding_hnsw", "idx_outcomes_embedding_hnsw"])
    }
}
