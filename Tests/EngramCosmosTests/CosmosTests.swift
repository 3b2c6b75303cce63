import Conformance
import EngramCore
@testable import EngramCosmos
import Foundation
import Testing

/// The REST stand-in (Tests/CosmosStandIn), started once per test process; it exits when
/// this process closes its stdin. Its key is Cosmos DB's public emulator key.
struct StandIn: Sendable {
    let endpoint: String
    static let key = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU9DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="

    static let shared: StandIn = {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("CosmosStandIn/cosmos_standin.py")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script.path, "--port", "0", "--key", key, "--exit-on-stdin-eof"]
        let out = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardInput = input
        try! p.run()
        keepAlive.append(input)
        var line = Data()
        while true {
            let byte = out.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        let port = String(decoding: line, as: UTF8.self).split(separator: " ").last.map(String.init) ?? "0"
        return StandIn(endpoint: "http://127.0.0.1:\(port)")
    }()

    nonisolated(unsafe) static var keepAlive: [Pipe] = []

    func store(database: String = "db_" + UUID().uuidString.prefix(8).lowercased(), key: String = StandIn.key) throws -> CosmosStore {
        try CosmosStore(CosmosStore.Configuration(endpoint: endpoint, key: key, database: database))
    }

    func admin(_ method: String, _ path: String, _ body: String? = nil) throws -> JSONValue {
        let r = try CurlHTTP.perform(method: method, url: endpoint + path, headers: [("Content-Type", "application/json")], body: body.map { Data($0.utf8) }, timeout: 10)
        return r.body.isEmpty ? .null : try JSONValue.parse(String(decoding: r.body, as: UTF8.self))
    }
}

@Suite struct CosmosAuthTests {
    /// The example in Microsoft's REST documentation (access control on Cosmos DB resources).
    @Test func signatureMatchesTheDocumentedExample() throws {
        let auth = try CosmosAuth.authorization(
            verb: "GET", resourceType: "dbs", resourceLink: "dbs/ToDoList", date: "Thu, 27 Apr 2017 00:51:12 GMT",
            key: "dsZQi3KtZmCv1ljt3VNWNm7sQUF1y5rJfC6kv5JiwvW0EndXdDku/dkKBp8/ufDToSxLzR4y+O/0H/t4bQtVNw==")
        #expect(auth == "type%3dmaster%26ver%3d1.0%26sig%3dc09PEVJrgp2uQRkr934kFbTqhByc7TVr3OHyqlu%2bc%2bc%3d")
    }

    @Test func documentIdsAreValidForAnyRecordId() {
        let id = CosmosAuth.documentId("a/b?c#d\\e " + String(repeating: "é", count: 128))
        #expect(id.count == 64 && id.allSatisfy { $0.isHexDigit })
    }
}

@Suite(.serialized) struct CosmosAgainstTheStandIn {
    @Test func singleRecordOperationsNeverQueryAcrossPartitions() throws {
        let standIn = StandIn.shared
        let store = try standIn.store()
        var before = 0
        try Probes.singleRecordCalls(on: store) {
            _ = try standIn.admin("POST", "/_standin/reset-stats")
            before = store.crossPartitionQueries
        }
        // The client's own count (what `engram findings` reads) agrees with the server's,
        // and it does count: introspection reads every partition, once per vector kind.
        #expect(store.crossPartitionQueries == before)
        _ = try store.recordsWithEmbedding()
        #expect(store.crossPartitionQueries == before + MemoryKind.vectorKinds.count)
        _ = try standIn.admin("POST", "/_standin/reset-stats")
        try Probes.singleRecordCalls(on: store)
        _ = try store.delete(RecordKey(.domainKnowledge, scope: "p", id: "d"))
        let stats = try standIn.admin("GET", "/_standin/stats").objectValue
        #expect(stats?["cross_partition_queries"] == .int(0))
        #expect(stats?["requests_by_kind"]?.objectValue?["query"] == .int(0), "single-record calls are point operations")
        #expect((stats?["requests"].flatMap { if case .int(let n) = $0 { n } else { nil } } ?? 0) >= 6)
    }

    /// A container made by someone else with another layout is refused, naming what differs:
    /// partitioned by version 1, without the composite index, or of another dimension.
    @Test(arguments: ["version1", "noComposite", "otherDimension"])
    func anExistingContainerWithAnotherLayoutIsRefused(mismatch: String) throws {
        let database = "db_" + UUID().uuidString.prefix(8).lowercased()
        guard case .object(var c) = CosmosStore.containerDefinition(.heuristic, dimension: 384) else { return }
        switch mismatch {
        case "version1": c["partitionKey"] = .object(["paths": .array([.string("/project_id")]), "kind": .string("Hash")])
        case "noComposite":
            guard case .object(var policy)? = c["indexingPolicy"] else { return }
            policy["compositeIndexes"] = nil
            c["indexingPolicy"] = .object(policy)
        default: c = CosmosStore.containerDefinition(.heuristic, dimension: 16).objectValue!
        }
        _ = try StandIn.shared.admin("POST", "/_standin/precreate", JSONValue.object(["database": .string(database), "container": .object(c)]).jsonText)
        #expect { try StandIn.shared.store(database: database) } throws: { error in
            let e = error as? EngramError
            switch mismatch {
            case "version1": return e?.code == .conflict && e!.message.contains("version")
            case "noComposite": return e?.code == .conflict && e!.message.contains("composite index")
            default: return e?.field == "embedding_dimension"
            }
        }
        // The same layout Engram makes is accepted as it is.
        let fine = "db_" + UUID().uuidString.prefix(8).lowercased()
        _ = try StandIn.shared.admin("POST", "/_standin/precreate", JSONValue.object(["database": .string(fine), "container": CosmosStore.containerDefinition(.heuristic, dimension: 384)]).jsonText)
        try StandIn.shared.store(database: fine).close()
    }

    /// A batch whose body would pass 2 MB is sent as several transactional batches.
    @Test func aBatchOverTwoMegabytesIsSplitByBytes() throws {
        let store = try StandIn.shared.store()
        let text = String(repeating: "x", count: 800_000)
        let records = (0..<4).map { i in
            MemoryRecord.outcome(Outcome(id: "big\(i)", agent: "a", projectId: "p", taskType: "t", taskDescription: text, success: true,
                                         strategyUsed: "s", timestamp: Timestamp(microsecondsSinceEpoch: Int64(i))))
        }
        #expect(try store.save(records) == ["big0", "big1", "big2", "big3"])
        #expect(try store.stats(projectId: "p", agent: nil).records[.outcome] == 4)
        #expect(CosmosStore.batches(Array(repeating: String(repeating: "o", count: 700_000), count: 7)).map(\.count) == [2, 2, 2, 1])
        #expect(CosmosStore.batches(Array(repeating: "{}", count: 250)).map(\.count) == [100, 100, 50])
    }

    /// Every request carries the API version the current SDK sends.
    @Test func requestsUseTheCurrentAPIVersion() throws {
        try StandIn.shared.store().close()
        let versions = try StandIn.shared.admin("GET", "/_standin/stats").objectValue?["api_versions"]?.objectValue ?? [:]
        #expect(versions.filter { $0.value != .int(0) }.keys.sorted() == [CosmosStore.apiVersion], "\(versions)")
    }

    @Test func aBadKeyIsRefused() {
        #expect {
            try StandIn.shared.store(key: Data(repeating: 7, count: 64).base64EncodedString())
        } throws: { error in
            guard let e = error as? EngramError else { return false }
            return e.nativeCode == "401"
        }
    }

    @Test func throttlingIsRetriedAndNothingIsLost() throws {
        let standIn = StandIn.shared
        let store = try standIn.store()
        let t = Timestamp(microsecondsSinceEpoch: 0)
        _ = try standIn.admin("POST", "/_standin/throttle", "{\"count\": 3, \"retry_after_ms\": 5}")
        try store.save(Outcome(id: "o", agent: "a", projectId: "p", taskType: "t", taskDescription: "d", success: true, strategyUsed: "s", timestamp: t))
        #expect(try store.get(RecordKey(.outcome, scope: "p", id: "o")) != nil)
        _ = try standIn.admin("POST", "/_standin/throttle", "{\"count\": 50, \"retry_after_ms\": 1}")
        #expect { try store.get(RecordKey(.outcome, scope: "p", id: "o")) } throws: { ($0 as? EngramError)?.nativeCode == "429" }
        _ = try standIn.admin("POST", "/_standin/throttle", "{\"count\": 0}")
        #expect(store.requestCharge.total > 0 && store.requestCharge.requests > 0)
    }
}
