import Conformance
import EngramCatalog
import EngramCore
import EngramSQLite
import Foundation
import Testing

/// The contract's scenarios on every built-in backend, through the catalog's fixtures (the
/// ones `engram conform --backend NAME` runs): one test case per backend and scenario, so a
/// failure names both and `--filter` picks it. PostgreSQL runs on ENGRAM_POSTGRES_URL or the
/// project's server; Cosmos DB on ENGRAM_COSMOS_ENDPOINT/KEY or the REST stand-in.
@Suite(.serialized) struct BackendConformance {
    static let workDir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-conformance-\(UUID().uuidString)")

    /// What each backend does not declare, so its scenario skips: a directory of JSON files and
    /// Cosmos DB have no query planner to show.
    static let expectedSkips: [String: Set<String>] = [
        "files": multiprocess.union(["query-plan.prune-uses-timestamp-index"]),
        "cosmos": multiprocess.union(["query-plan.prune-uses-timestamp-index"]),
    ]
    static let multiprocess = Set(ConformanceSuite.scenarios.map(\.id).filter { $0.hasPrefix("multiprocess.") })

    @Test(arguments: ["sqlite", "files", "postgres", "cosmos"], ConformanceSuite.scenarios.map(\.id))
    func scenario(backend: String, id: String) throws {
        let entry = try BackendCatalog.entry(backend)
        // Files and schemas go after each case; a server or stand-in this process started stays up until it exits.
        defer {
            entry.removeScratch()
            try? FileManager.default.removeItem(at: Self.workDir)
        }
        let result = try #require(entry.conformance(id, workDir: Self.workDir))
        let expected: ScenarioResult.Status = Self.expectedSkips[backend, default: []].contains(id) ? .skipped : .passed
        #expect(result.status == expected, "\(result.status): \(result.reason)")
    }
}

/// The whole contract on two SQLite stores over one file, as two processes would hold it:
/// every write goes to store A, every read to store B, so each scenario also proves that B
/// sees A's committed writes — rows and vectors — in its next call. Reopening opens a third
/// store while the others stay open.
@Suite struct SharedFileConformance {
    @Test func theSuitePassesWithWritesAndReadsOnTwoStores() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-shared-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fixture = StoreFixture(
            name: "sqlite-split",
            makeEmpty: {
                let path = dir.appendingPathComponent(UUID().uuidString + ".sqlite").path
                return SplitStore(writer: try SQLiteStore(path: path, embeddingDimension: 16), reader: try SQLiteStore(path: path, embeddingDimension: 16))
            },
            reopen: { old in
                let split = old as! SplitStore
                return SplitStore(writer: split.writer, reader: try SQLiteStore(path: split.writer.configuration.path, embeddingDimension: 16), previous: split.reader)
            },
            openAnother: { try SQLiteStore(path: ($0 as! SplitStore).writer.configuration.path, embeddingDimension: 16) })
        let results = ConformanceSuite(fixture: fixture).run()
        #expect(results.count == ConformanceSuite.scenarios.count)
        for r in results { #expect(r.status == .passed, "\(r.id): \(r.status) \(r.reason)") }
    }
}

/// Writes through one store, reads through another on the same file.
final class SplitStore: ForwardingStore, VectorIntrospecting, QueryPlanIntrospecting {
    let writer: SQLiteStore
    let reader: SQLiteStore
    /// A reader replaced by a reopen, closed with the rest.
    let previous: SQLiteStore?
    init(writer: SQLiteStore, reader: SQLiteStore, previous: SQLiteStore? = nil) {
        self.writer = writer
        self.reader = reader
        self.previous = previous
    }
    var writes: any MemoryStore { writer }
    var reads: any MemoryStore { reader }
    var backendName: String { "sqlite-split" }
    var outcomeTimestampIndexName: String { writer.outcomeTimestampIndexName }
    func explainDeleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> QueryPlan {
        try writer.explainDeleteOutcomes(projectId: projectId, olderThan: olderThan, agent: agent)
    }
    func vectorsHeld() throws -> [MemoryKind: Int] { try reader.vectorsHeld() }
    func recordsWithEmbedding() throws -> [MemoryKind: Int] { try reader.recordsWithEmbedding() }
    func close() throws {
        try? previous?.close()
        try reader.close()
        try writer.close()
    }
}
