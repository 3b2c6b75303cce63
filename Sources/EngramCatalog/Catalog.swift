import Conformance
import EngramCore
import EngramCosmos
import EngramExternal
import EngramFiles
import EngramPostgres
import EngramReference
import EngramSQLite
import EngramBench
import Foundation
import Synchronization

/// Every built-in backend, by name: the one place the command line and the test targets
/// learn about backends. Each entry carries everything they need: the conformance fixture,
/// how to reopen a durable store from another process, the service the backend runs on,
/// and its benchmark variants (`BenchVariants.swift`). Adding a backend is its module, its
/// entry here and its variants.
public enum BackendCatalog {
    public struct Entry: Sendable {
        public let name: String
        public let summary: String
        /// A conformance fixture whose stores live under `workDir`.
        public let fixture: @Sendable (_ workDir: URL, _ dimension: Int) -> StoreFixture
        /// The server the backend needs, if any (started on first use).
        public var service: Service?
        /// For a durable backend: how another process reopens a store (`engram torture`).
        public var durable: Durable?
        /// The backend as the benchmark runner sees it (its variants per scenario); nil until
        /// registered, so a backend without one is refused by `bench`, never measured as another.
        public var bench: BenchBackend?

        public init(name: String, summary: String, fixture: @escaping @Sendable (URL, Int) -> StoreFixture) {
            self.name = name
            self.summary = summary
            self.fixture = fixture
        }

        /// Removes what the fixture's stores left outside their work directory (a schema).
        public internal(set) var removeScratch: @Sendable () -> Void = {}

        /// Removes the fixture's leftovers and stops the service (run when a command ends).
        public func cleanup() {
            removeScratch()
            service?.stop()
        }

        /// Runs conformance scenario `id` on a fresh store of this backend under `workDir`:
        /// what each backend's test target runs, one test case per scenario.
        public func conformance(_ id: String, workDir: URL, dimension: Int = 384) -> ScenarioResult? {
            ConformanceSuite(fixture: fixture(workDir, dimension)).run(id: id)
        }

        func with(_ change: (inout Entry) -> Void) -> Entry {
            var e = self
            change(&e)
            return e
        }
    }

    /// A durable store's location (a file, a directory, a schema) and how to open it.
    public struct Durable: Sendable {
        /// A new location for a store, using `scratch` (a directory removed afterwards) if it needs one.
        public let newLocation: @Sendable (_ scratch: URL) throws -> String
        public let open: @Sendable (_ location: String, _ dimension: Int) throws -> any MemoryStore
        /// Removes what lives outside `scratch` (a schema).
        public var discard: @Sendable (_ location: String) -> Void = { _ in }
    }

    /// A backend in another process: each store (each scenario) starts the adapter anew.
    public static func externalEntry(command: String, timeout: Double) -> Entry {
        Entry(name: "external", summary: command) { _, _ in
            StoreFixture(name: "external") {
                var c = ExternalStore.Configuration(command: command)
                c.timeout = timeout
                c.validatesLocally = false  // bad input reaches the adapter: the suite checks its validation, not Engram's
                return try ExternalStore(c)
            }
        }.with { $0.bench = externalBench(command) }
    }

    public static let entries: [Entry] = [
        Entry(name: "memory", summary: "in-memory reference store") { _, dim in
            StoreFixture(name: "memory") { ReferenceStore(embeddingDimension: dim) }
        }.with { $0.bench = referenceBench },
        Entry(name: "sqlite", summary: "SQLite + FAISS, the embedded default") { dir, dim in
            StoreFixture(
                name: "sqlite",
                makeEmpty: { try SQLiteStore(path: uniqueFile(in: dir, "sqlite"), embeddingDimension: dim) },
                reopen: { old in
                    let path = (old as! SQLiteStore).configuration.path
                    try old.close()
                    return try SQLiteStore(path: path, embeddingDimension: dim)
                },
                openAnother: { try SQLiteStore(path: ($0 as! SQLiteStore).configuration.path, embeddingDimension: dim) })
        }.with {
            $0.durable = Durable(newLocation: { $0.appendingPathComponent("store.sqlite").path }) { try SQLiteStore(path: $0, embeddingDimension: $1) }
            $0.bench = sqliteBench
        },
        Entry(name: "files", summary: "JSON files: a snapshot plus one log file per call") { dir, dim in
            StoreFixture(
                name: "files",
                makeEmpty: { try FileStore(directory: URL(fileURLWithPath: uniqueFile(in: dir, "files")), embeddingDimension: dim) },
                reopen: { old in
                    let directory = (old as! FileStore).directory
                    try old.close()
                    return try FileStore(directory: directory, embeddingDimension: dim)
                })
        }.with {
            $0.durable = Durable(newLocation: { $0.appendingPathComponent("store").path }) { try FileStore(directory: URL(fileURLWithPath: $0), embeddingDimension: $1) }
            $0.bench = filesBench
        },
        Entry(name: "cosmos", summary: "Azure Cosmos DB (ENGRAM_COSMOS_ENDPOINT/KEY, or the in-repo REST stand-in)") { _, dim in
            StoreFixture(
                name: "cosmos",
                makeEmpty: {
                    let (endpoint, key) = try CosmosStandInService.account()
                    return try CosmosStore(CosmosStore.Configuration(endpoint: endpoint, key: key, database: scratchSchema(), embeddingDimension: dim))
                },
                reopen: { old in
                    let config = (old as! CosmosStore).configuration
                    try old.close()
                    return try CosmosStore(config)
                })
        }.with {
            $0.service = CosmosStandInService.service
            $0.bench = cosmosBench
        },
        Entry(name: "postgres", summary: "PostgreSQL + pgvector (ENGRAM_POSTGRES_URL, or the project's own server)") { _, dim in
            StoreFixture(
                name: "postgres",
                makeEmpty: {
                    let store = try PostgresStore(url: try PostgresService.url(), schema: scratchSchema(), embeddingDimension: dim)
                    createdSchemas.withLock { $0.append(store.configuration.schema) }
                    return store
                },
                reopen: { old in
                    let schema = (old as! PostgresStore).configuration.schema
                    try old.close()
                    return try PostgresStore(url: try PostgresService.url(), schema: schema, embeddingDimension: dim)
                },
                openAnother: { try PostgresStore((($0 as! PostgresStore).configuration)) })
        }.with {
            $0.service = PostgresService.service
            $0.removeScratch = {
                let schemas = createdSchemas.withLock { s in defer { s.removeAll() }; return s }
                if let url = try? PostgresService.url() {
                    for schema in schemas { try? PostgresStore.dropSchema(url: url, schema: schema) }
                }
            }
            $0.durable = Durable(newLocation: { _ in "engram_torture_" + UUID().uuidString.prefix(8).lowercased() },
                                 open: { try PostgresStore(url: try PostgresService.url(), schema: $0, embeddingDimension: $1) },
                                 discard: { schema in if let url = try? PostgresService.url() { try? PostgresStore.dropSchema(url: url, schema: schema) } })
            $0.bench = postgresBench
        },
    ]

    public static var names: [String] { entries.map(\.name) }

    public static func entry(_ name: String) throws -> Entry {
        guard let e = entries.first(where: { $0.name == name }) else {
            throw EngramError.invalid("backend", "unknown backend '\(name)'; known: \(names.joined(separator: ", "))")
        }
        return e
    }

    /// Schemas the PostgreSQL fixture created, dropped by `cleanup()`.
    static let createdSchemas = Mutex<[String]>([])

    /// A new file path inside `dir` (which is created).
    static func uniqueFile(in dir: URL, _ ext: String) -> String {
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent("\(UUID().uuidString).\(ext)").path
    }
}

/// A new schema name for one store under test.
public func scratchSchema() -> String { "engram_" + UUID().uuidString.prefix(8).lowercased() }

/// A scratch directory removed when the command ends.
public final class ScratchDirectory {
    public let url: URL
    public init(prefix: String) {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
}


