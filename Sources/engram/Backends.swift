import ArgumentParser
import Conformance
import EngramCore
import EngramCosmos
import EngramExternal
import EngramFiles
import EngramPostgres
import EngramReference
import EngramSQLite
import EngramVectorIndex
import EngramBench
import Foundation
import Synchronization

/// Every built-in backend, by name: the one place the CLI learns about backends, so the
/// conformance and benchmark commands pick up a new backend without other changes.
struct BackendCatalog {
    struct Entry: Sendable {
        let name: String
        let summary: String
        /// A conformance fixture whose stores live under `workDir`.
        let fixture: @Sendable (_ workDir: URL, _ dimension: Int) -> StoreFixture
        /// Removes what the fixture's stores left behind (run when the command ends).
        var cleanup: @Sendable () -> Void = {}
        /// The adapter command, for `external`.
        var command = ""
        /// Opens the durable store at `location` (a file, a directory, a schema), for
        /// commands that reopen a store another process wrote (`engram torture`).
        var open: (@Sendable (_ location: String, _ dimension: Int) throws -> any MemoryStore)?

        /// The backend as the benchmark runner sees it (its variants per scenario); nil until
        /// registered, so a backend without one is refused by `bench`, never measured as another.
        var bench: BenchBackend?

        func opening(_ open: @escaping @Sendable (_ location: String, _ dimension: Int) throws -> any MemoryStore) -> Entry {
            var e = self
            e.open = open
            return e
        }

        func benchmarking(_ bench: BenchBackend) -> Entry {
            var e = self
            e.bench = bench
            return e
        }
    }

    /// A backend in another process: each store (each scenario) starts the adapter anew.
    static func externalEntry(command: String, timeout: Double) -> Entry {
        var entry = Entry(name: "external", summary: command) { _, _ in
            StoreFixture(name: "external") {
                var c = ExternalStore.Configuration(command: command)
                c.timeout = timeout
                c.validatesLocally = false  // bad input reaches the adapter: the suite checks its validation, not Engram's
                return try ExternalStore(c)
            }
        }
        entry.command = command
        entry.bench = externalBench(command)
        return entry
    }

    static let entries: [Entry] = [
        Entry(name: "memory", summary: "in-memory reference store") { _, dim in
            StoreFixture(name: "memory") { ReferenceStore(embeddingDimension: dim) }
        }.benchmarking(referenceBench),
        Entry(name: "sqlite", summary: "SQLite + FAISS, the embedded default") { dir, dim in
            StoreFixture(
                name: "sqlite",
                makeEmpty: { try SQLiteStore(path: uniqueFile(in: dir, "sqlite"), embeddingDimension: dim) },
                reopen: { old in
                    let path = (old as! SQLiteStore).configuration.path
                    try old.close()
                    return try SQLiteStore(path: path, embeddingDimension: dim)
                })
        }.opening { path, dim in try SQLiteStore(path: path, embeddingDimension: dim) }.benchmarking(sqliteBench),
        Entry(name: "files", summary: "JSON files: a snapshot plus one log file per call") { dir, dim in
            StoreFixture(
                name: "files",
                makeEmpty: { try FileStore(directory: URL(fileURLWithPath: uniqueFile(in: dir, "files")), embeddingDimension: dim) },
                reopen: { old in
                    let directory = (old as! FileStore).directory
                    try old.close()
                    return try FileStore(directory: directory, embeddingDimension: dim)
                })
        }.opening { path, dim in try FileStore(directory: URL(fileURLWithPath: path), embeddingDimension: dim) }.benchmarking(filesBench),
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
        } cleanup: {
            CosmosStandInService.stop()
        }.benchmarking(cosmosBench),
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
                })
        } cleanup: {
            let schemas = createdSchemas.withLock { s in defer { s.removeAll() }; return s }
            if let url = try? PostgresService.url() {
                for schema in schemas { try? PostgresStore.dropSchema(url: url, schema: schema) }
            }
            PostgresService.stop()
        }.opening { schema, dim in try PostgresStore(url: try PostgresService.url(), schema: schema, embeddingDimension: dim) }.benchmarking(postgresBench),
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

let createdSchemas = Mutex<[String]>([])

/// The options that choose a backend, shared by `conform`, `bench` and `replay`.
struct BackendOptions: ParsableArguments {
    @Option(help: "Backend: \(BackendCatalog.names.joined(separator: ", ")).")
    var backend = "sqlite"

    @Option(help: "A backend in another process instead: the command that starts its adapter.")
    var external: String?

    @Option(help: "Seconds to wait for each adapter response (with --external).")
    var timeout: Double = 30

    /// The chosen backend's catalog entry.
    func entry() throws -> BackendCatalog.Entry {
        try external.map { BackendCatalog.externalEntry(command: $0, timeout: timeout) } ?? BackendCatalog.entry(backend)
    }
}

/// Redacts the credentials of the environment's connection settings (ENGRAM_POSTGRES_URL,
/// ENGRAM_COSMOS_ENDPOINT and ENGRAM_COSMOS_KEY) from anything the CLI prints or writes.
func environmentRedactor() -> Redactor {
    let env = ProcessInfo.processInfo.environment
    return Redactor(connectionStrings: [env["ENGRAM_POSTGRES_URL"], env["ENGRAM_COSMOS_ENDPOINT"]].compactMap { $0 },
                    secrets: [env["ENGRAM_COSMOS_KEY"]].compactMap { $0 })
}

/// A new schema name for one store under test.
func scratchSchema() -> String { "engram_" + UUID().uuidString.prefix(8).lowercased() }

/// A scratch directory removed when the command ends.
final class ScratchDirectory {
    let url: URL
    init(prefix: String) {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
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
        case .batch, .get, .scale:
            return [variant("engram", "default configuration")]
        }
    },
    engramVariant: { scenario in
        switch scenario {
        case .delete: "swap_remove"
        case .prune: "index"
        case .search: "exact"
        case .batch, .get, .scale: "engram"
        }
    })

/// PostgreSQL variants: deletes are row deletes (the vector goes with the row), so the
/// delete scenario has one variant; prune compares the timestamp index; search compares
/// exact ranking with HNSW. Each store gets its own schema, dropped after the measurement.
let postgresBench = BenchBackend(
    name: "postgres", versions: ["libpq": PostgresStore.libpqVersion],
    variants: { scenario, dim in
        func variant(_ name: String, _ summary: String, rawSQL: Bool = false, _ change: @escaping @Sendable (inout PostgresStore.Configuration) -> Void = { _ in }) -> BenchVariant {
            BenchVariant(name: name, summary: summary) { _ in
                var c = PostgresStore.Configuration(url: try PostgresService.url(), schema: scratchSchema(), embeddingDimension: dim)
                change(&c)
                return DroppingPostgresStore(try PostgresStore(c), rawSQLSearch: rawSQL)
            }
        }
        switch scenario {
        case .delete: return [variant("engram", "row delete; the HNSW index marks the entry deleted")]
        case .prune:
            return [
                variant("no_index", "outcomes without the timestamp indexes") { $0.outcomeTimestampIndex = false },
                variant("index", "Engram: outcomes (project_id, timestamp) index"),
            ]
        case .search:
            return [
                variant("exact", "Engram: exact ranking (narrow sort by distance, then the k rows by key), no vector index") { $0.hnsw = nil },
                variant("exact_raw_sql", "the same query written by hand: SELECT * … ORDER BY embedding <=> q LIMIT k", rawSQL: true) { $0.hnsw = nil },
                variant("hnsw", "Engram: HNSW (m 16, ef_construction 64) with iterative scans") { $0.exactSearchLimit = 0 },
                variant("hnsw_raw_sql", "the same HNSW query written by hand (settings once per connection)", rawSQL: true) { $0.exactSearchLimit = 0 },
            ]
        case .get: return [variant("engram", "point read by primary key")]
        case .batch, .scale:
            return [
                variant("hnsw", "Engram: COPY binary into a staging table, one upsert; HNSW maintained on insert"),
                variant("no_vector_index", "the same without the HNSW indexes (exact search only)") { $0.hnsw = nil },
            ]
        }
    },
    engramVariant: { scenario in
        switch scenario {
        case .prune: "index"
        case .search: "exact"
        default: "engram"
        }
    },
    finish: { PostgresService.stop() })

/// A PostgreSQL store whose schema is dropped when it is closed (benchmark scratch stores).
final class DroppingPostgresStore: MemoryStore, IndexMemoryReporting, QueryPlanIntrospecting {
    let inner: PostgresStore
    /// Vector queries go through `rawSQLQuery` (the hand-written reference), not the store.
    let rawSQLSearch: Bool
    init(_ inner: PostgresStore, rawSQLSearch: Bool = false) {
        self.inner = inner
        self.rawSQLSearch = rawSQLSearch
    }
    var backendName: String { inner.backendName }
    var embeddingDimension: Int { inner.embeddingDimension }
    var capabilities: Set<Capability> { inner.capabilities }
    func save(_ records: [MemoryRecord]) throws -> [String] { try inner.save(records) }
    func get(_ key: RecordKey) throws -> MemoryRecord? { try inner.get(key) }
    func query(_ query: MemoryQuery) throws -> [ScoredRecord] {
        rawSQLSearch && query.vector != nil ? try inner.rawSQLQuery(query) : try inner.query(query)
    }
    func queryPreferences(userId: String, category: String?) throws -> [UserPreference] { try inner.queryPreferences(userId: userId, category: category) }
    func updateHeuristic(projectId: String, id: String, patch: HeuristicPatch) throws -> Bool { try inner.updateHeuristic(projectId: projectId, id: id, patch: patch) }
    func incrementHeuristicOccurrence(projectId: String, id: String, success: Bool) throws -> Bool { try inner.incrementHeuristicOccurrence(projectId: projectId, id: id, success: success) }
    func updateHeuristicConfidence(projectId: String, id: String, confidence: Double) throws -> Bool { try inner.updateHeuristicConfidence(projectId: projectId, id: id, confidence: confidence) }
    func updateKnowledgeConfidence(projectId: String, id: String, confidence: Double) throws -> Bool { try inner.updateKnowledgeConfidence(projectId: projectId, id: id, confidence: confidence) }
    func delete(_ key: RecordKey) throws -> Bool { try inner.delete(key) }
    func deleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> Int { try inner.deleteOutcomes(projectId: projectId, olderThan: olderThan, agent: agent) }
    func deleteHeuristics(projectId: String, confidenceBelow: Double, agent: String?) throws -> Int { try inner.deleteHeuristics(projectId: projectId, confidenceBelow: confidenceBelow, agent: agent) }
    func stats(projectId: String, agent: String?) throws -> StoreStats { try inner.stats(projectId: projectId, agent: agent) }
    func close() throws {
        try? inner.dropSchema()
        try inner.close()
    }
    func vectorIndexMemoryBytes() throws -> Int { try inner.relationBytes() }
    var outcomeTimestampIndexName: String { inner.outcomeTimestampIndexName }
    func explainDeleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> QueryPlan {
        try inner.explainDeleteOutcomes(projectId: projectId, olderThan: olderThan, agent: agent)
    }
}

/// An external adapter measured as it is: one variant per scenario.
func externalBench(_ command: String) -> BenchBackend {
    BenchBackend(
        name: "external", versions: ["adapter": command],
        variants: { _, _ in [BenchVariant(name: "engram", summary: "the adapter as it is") { _ in try ExternalStore(command: command) }] },
        engramVariant: { _ in "engram" })
}

/// The file store measured as it is: one variant per scenario.
let filesBench = BenchBackend(
    name: "files", versions: [:],
    variants: { scenario, dim in
        [BenchVariant(name: scenario == .search ? "exact" : "engram", summary: "snapshot + one log file per call") { dir in
            try FileStore(directory: dir.appendingPathComponent("store"), embeddingDimension: dim)
        }]
    },
    engramVariant: { $0 == .search ? "exact" : "engram" })

/// Cosmos DB measured as it is (against the stand-in unless an account is configured); each
/// store gets its own database, removed with the stand-in.
let cosmosBench = BenchBackend(
    name: "cosmos", versions: [:],
    variants: { scenario, dim in
        [BenchVariant(name: scenario == .search ? "exact" : "engram", summary: "REST, point operations, transactional batch") { _ in
            let (endpoint, key) = try CosmosStandInService.account()
            return try CosmosStore(CosmosStore.Configuration(endpoint: endpoint, key: key, database: scratchSchema(), embeddingDimension: dim))
        }]
    },
    engramVariant: { $0 == .search ? "exact" : "engram" },
    finish: { CosmosStandInService.stop() })
