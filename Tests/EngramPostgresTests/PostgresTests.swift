import CLibPQ
import Conformance
import EngramCore
import EngramPostgres
import Foundation
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

@Suite(.serialized) struct PostgresConformance {
    @Test func passesEveryScenarioWithNoneSkipped() throws {
        let fixture = StoreFixture(
            name: "postgres",
            makeEmpty: { try PostgresStore(url: serverURL, schema: freshSchema()) },
            reopen: { old in
                let schema = (old as! PostgresStore).configuration.schema
                try old.close()
                return try PostgresStore(url: serverURL, schema: schema)
            })
        let results = ConformanceSuite(fixture: fixture).run()
        let notPassed = results.filter { $0.status != .passed }
        #expect(notPassed.isEmpty, "\(notPassed.map { "\($0.id) \($0.status): \($0.reason)" })")
        #expect(results.count == ConformanceSuite.scenarios.count)
        for schema in try adminSQL("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'test\\_%'") {
            _ = try adminSQL("DROP SCHEMA \"\(schema)\" CASCADE")
        }
    }
}

@Suite struct PostgresFaults {
    func outcome(_ id: String) -> Outcome {
        Outcome(id: id, agent: "a", projectId: "p", taskType: "t", taskDescription: "d", success: true, strategyUsed: "s",
                timestamp: Timestamp(microsecondsSinceEpoch: 0), embedding: nil)
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

    @Test func anUnreachableServerFailsWithinTheTimeout() {
        var config = PostgresStore.Configuration(url: "postgresql://engram@127.0.0.1:1/engram")
        config.connectTimeout = 3
        let start = Date()
        #expect { try PostgresStore(config) } throws: { ($0 as? EngramError)?.code == .unavailable }
        #expect(Date().timeIntervalSince(start) < 5)
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
        let indexes = try adminSQL("SELECT indexname FROM pg_indexes WHERE schemaname = '\(store.configuration.schema)' AND indexdef LIKE '%hnsw%' ORDER BY 1")
        #expect(indexes == ["idx_anti_patterns_embedding_hnsw", "idx_domain_knowledge_embedding_hnsw", "idx_heuristics_embedding_hnsw", "idx_outcomes_embedding_hnsw"])
    }
}
