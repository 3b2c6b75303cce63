import Conformance
import EngramCore
import EngramReference
import EngramSQLite
import EngramVectorIndex
import EngramBench
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

extension BackendCatalog.Entry {
    /// The backend as the benchmark runner sees it.
    var bench: BenchBackend {
        switch name {
        case "sqlite": return sqliteBench
        default: return referenceBench
        }
    }
}

let referenceBench = BenchBackend(
    name: "memory", versions: [:],
    variants: { scenario, dim in
        [BenchVariant(name: scenario == .search ? "exact" : "engram", summary: "in-memory reference store") { _ in ReferenceStore(embeddingDimension: dim) }]
    },
    engramVariant: { $0 == .search ? "exact" : "engram" })

let sqliteBench = BenchBackend(
    name: "sqlite", versions: SQLiteStore.libraryVersions,
    variants: { scenario, dim in
        func variant(_ name: String, _ summary: String, budget: Int? = nil, _ change: @escaping @Sendable (inout SQLiteStore.Configuration) -> Void = { _ in }) -> BenchVariant {
            BenchVariant(name: name, summary: summary, deleteBudget: budget, settle: { try ($0 as? SQLiteStore)?.checkpoint() }) { dir in
                var c = SQLiteStore.Configuration(path: dir.appendingPathComponent("bench.sqlite").path, embeddingDimension: dim)
                change(&c)
                return try SQLiteStore(c)
            }
        }
        switch scenario {
        case .delete:
            return [
                variant("full_rebuild", "reload the index from the database after every delete (the original's first behaviour)", budget: 300_000) { $0.vectorMaintenance = .rebuildOnDelete },
                variant("lazy_rebuild", "mark the index stale, reload it before the next search (the original's current behaviour)", budget: 300_000) { $0.vectorMaintenance = .rebuildOnNextSearch },
                variant("faiss_remove_ids", "FAISS remove_ids through IndexIDMap2: one O(n) pass per delete", budget: 3_000_000) { $0.vectorMaintenance = .faissRemoveIds },
                variant("swap_remove", "Engram: O(d) swap-with-last removal in the shim") { $0.vectorMaintenance = .swapRemove },
            ]
        case .prune:
            return [
                variant("no_index", "outcomes without the (project_id, timestamp) index") { $0.outcomeTimestampIndex = false },
                variant("index", "Engram: outcomes (project_id, timestamp) index"),
            ]
        case .search:
            return [
                variant("exact", "Engram: exact cosine over the FAISS flat codes with the shim's SIMD kernel"),
                variant("exact_faiss_kernel", "exact cosine with FAISS's own flat search (Debian build)") { $0.vectorScan = .faiss },
            ]
        case .batch, .scale:
            return [variant("engram", "default configuration")]
        }
    },
    engramVariant: { scenario in
        switch scenario {
        case .delete: "swap_remove"
        case .prune: "index"
        case .search: "exact"
        case .batch, .scale: "engram"
        }
    })
