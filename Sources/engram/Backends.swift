import Conformance
import EngramCore
import EngramReference
import EngramSQLite
import Foundation

/// Every built-in backend, by name: the one place the CLI learns about backends, so the
/// conformance and benchmark commands pick up a new backend without other changes.
struct BackendCatalog {
    struct Entry: Sendable {
        let name: String
        let summary: String
        /// A conformance fixture whose stores live under `workDir`.
        let fixture: @Sendable (_ workDir: URL, _ dimension: Int) -> StoreFixture
    }

    static let entries: [Entry] = [
        Entry(name: "memory", summary: "in-memory reference store") { _, dim in
            StoreFixture(name: "memory") { ReferenceStore(embeddingDimension: dim) }
        },
        Entry(name: "sqlite", summary: "SQLite + FAISS, the embedded default") { dir, dim in
            StoreFixture(
                name: "sqlite",
                makeEmpty: { try SQLiteStore(path: uniqueFile(in: dir, "sqlite"), embeddingDimension: dim) },
                reopen: { old in
                    let path = (old as! SQLiteStore).configuration.path
                    try old.close()
                    return try SQLiteStore(path: path, embeddingDimension: dim)
                })
        },
    ]

    static var names: [String] { entries.map(\.name) }

    static func entry(_ name: String) throws -> Entry {
        guard let e = entries.first(where: { $0.name == name }) else {
            throw EngramError.invalid("backend", "unknown backend '\(name)'; known: \(names.joined(separator: ", "))")
        }
        return e
    }

    /// A new file path inside `dir` (which is created).
    static func uniqueFile(in dir: URL, _ ext: String) -> String {
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent("\(UUID().uuidString).\(ext)").path
    }
}

/// A scratch directory removed when the command ends.
final class ScratchDirectory {
    let url: URL
    init(prefix: String) {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
}
