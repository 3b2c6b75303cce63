import Conformance
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

let sqliteFixture = StoreFixture(
    name: "sqlite",
    makeEmpty: { try SQLiteStore(path: temporaryDatabasePath()) },
    reopen: { old in
        let path = (old as! SQLiteStore).configuration.path
        try old.close()
        return try SQLiteStore(path: path)
    })

@Suite struct SQLiteConformance {
    @Test func passesEveryScenarioWithNoneSkipped() {
        let results = ConformanceSuite(fixture: sqliteFixture).run()
        let notPassed = results.filter { $0.status != .passed }
        #expect(notPassed.isEmpty, "\(notPassed.map { "\($0.id) \($0.status): \($0.reason)" })")
        #expect(results.count == ConformanceSuite.scenarios.count)
    }
}
