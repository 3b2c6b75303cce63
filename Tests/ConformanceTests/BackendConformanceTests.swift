import Conformance
import EngramCatalog
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
        "files": ["query-plan.prune-uses-timestamp-index"],
        "cosmos": ["query-plan.prune-uses-timestamp-index"],
    ]

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
