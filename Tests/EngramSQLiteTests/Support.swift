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

