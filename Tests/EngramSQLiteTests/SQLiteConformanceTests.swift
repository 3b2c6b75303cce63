import Conformance
import EngramCatalog
import EngramCore
import EngramSQLite
import Foundation
import Testing

/// A fresh database file in its own temporary directory.
func temporaryDatabasePath() -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-test-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent("engram.sqlite").path
}

/// The contract's scenarios on the catalog's `sqlite` fixture (the one `engram conform
/// --backend sqlite` runs), each its own test case so a failure names it and `--filter` picks it.
@Suite(.serialized) struct SQLiteConformance {
    static let workDir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-conformance-sqlite-\(UUID().uuidString)")

    @Test(arguments: ConformanceSuite.scenarios.map(\.id))
    func scenario(id: String) throws {
        let entry = try BackendCatalog.entry("sqlite")
        defer { entry.cleanup() }
        let result = try #require(entry.conformance(id, workDir: Self.workDir))
        #expect(result.status == .passed, "\(result.status): \(result.reason)")
    }
}
