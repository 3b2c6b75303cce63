import EngramBench
import EngramCore
import EngramCosmos
import EngramExternal
import EngramFiles
@_spi(Benchmarks) import EngramPostgres
import EngramReference
@_spi(Benchmarks) import EngramSQLite
import EngramVectorIndex
import Foundation

// The benchmark variants of each backend: what its scenarios compare.

let referenceBench = BenchBackend(
    name: "memory", versions: [:],
    variants: { scenario, dim in
        [BenchVariant(name: scenario.ranksVectors ? VariantName.exact : VariantName.engram, summary: "in-memory reference store") { _ in ReferenceStore(embeddingDimension: dim) }]
    },
    engramVariant: { $0.ranksVectors ? VariantName.exact : VariantName.engram })

/// The prune comparison of the SQL backends (review HIGH-003): the original's outcome indexes,
/// and Engram's with (project_id, timestamp); `make` builds a variant with or without it.
func pruneVariants(_ make: (_ name: String, _ summary: String, _ withIndex: Bool) -> BenchVariant) -> [BenchVariant] {
    [make(VariantName.noIndex, "outcomes without the timestamp indexes (the original's)", false),
     make(VariantName.index, "Engram: outcomes (project_id, timestamp) index", true)]
}

let sqliteBench = BenchBackend(
    name: "sqlite", versions: SQLiteStore.libraryVersions,
    variants: { scenario, dim in
        func variant(_ name: String, _ summary: String, budget: Int? = nil, _ change: @escaping @Sendable (inout SQLiteStore.Configuration) -> Void = { _ in }) -> BenchVariant {
            BenchVariant(name: name, summary: summary, deleteBudget: budget, settle: { try ($0 as? SQLiteStore)?.checkpoint() }, reopens: true) { dir in
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
        case .prune: return pruneVariants { name, summary, withIndex in variant(name, summary) { $0.outcomeTimestampIndex = withIndex } }
        case .search:
            return [
                variant(VariantName.exact, "Engram: exact cosine over the FAISS flat codes with the shim's SIMD kernel"),
                variant("exact_faiss_kernel", "exact cosine with FAISS's own flat search (Debian build)") { $0.vectorScan = .faiss },
            ]
        case .filter: return [variant(VariantName.exact, "Engram: an agent filter from the in-memory postings, other filters from SQL; then the SIMD scan of the matches")]
        case .recall, .tenants, .runbook, .concurrency: return [variant(VariantName.exact, "Engram: exact cosine, per-project indexes")]
        case .batch, .get, .hotpaths, .scale:
            return [variant(VariantName.engram, "default configuration")]
        }
    },
    engramVariant: { scenario in
        switch scenario {
        case .delete: "swap_remove"
        case .prune: VariantName.index
        case .search, .filter, .recall, .tenants, .runbook, .concurrency: VariantName.exact
        case .batch, .get, .hotpaths, .scale: VariantName.engram
        }
    },
    // NaiveBaseline's doc comment says what it does (and docs/benchmarks.md).
    batchReference: BatchReference(name: "naive_sqlite_faiss") { dir, records, dim in
        try NaiveBaseline.insert(path: dir.appendingPathComponent("naive.sqlite").path, records: records, dimension: dim)
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
        case .delete: return [variant(VariantName.engram, "row delete; the HNSW index marks the entry deleted")]
        case .prune: return pruneVariants { name, summary, withIndex in variant(name, summary) { $0.outcomeTimestampIndex = withIndex } }
        case .search:
            return [
                variant(VariantName.exact, "Engram: exact ranking (narrow sort by distance, then the k rows by key), no vector index") { $0.hnsw = nil },
                variant(VariantName.exact + VariantName.rawSQLSuffix, "the same query written by hand: SELECT * … ORDER BY embedding <=> q LIMIT k", rawSQL: true) { $0.hnsw = nil },
                variant("hnsw", "Engram: HNSW (m 16, ef_construction 64) with iterative scans") { $0.exactSearchLimit = 0 },
                variant("hnsw" + VariantName.rawSQLSuffix, "the same HNSW query written by hand (settings once per connection)", rawSQL: true) { $0.exactSearchLimit = 0 },
            ]
        case .get: return [variant(VariantName.engram, "point read by primary key")]
        case .filter, .tenants, .concurrency: return [variant(VariantName.engram, "default: exact ranking up to 20,000 matches, HNSW with iterative scans above")]
        case .recall:
            let sweep = SearchSweep(parameter: "ef_search", values: [10, 20, 40, 80, 120, 200, 400]) { store, value in
                // A second store on the same schema, searching with this ef_search (or exactly).
                guard let dropping = store as? DroppingPostgresStore else { throw BenchError("the sweep needs a benchmark PostgreSQL store") }
                var c = dropping.inner.configuration
                if let value {
                    c.efSearch = value
                    c.exactSearchLimit = 0
                } else {
                    c.exactSearchLimit = Int(Int32.max)
                }
                c.poolSize = 1
                return try PostgresStore(c)
            }
            return [BenchVariant(name: "hnsw", summary: "HNSW (m 16, ef_construction 64) with iterative scans, ef_search swept; exact ranking of the same rows as reference", sweep: sweep) { _ in
                DroppingPostgresStore(try PostgresStore(PostgresStore.Configuration(url: try PostgresService.url(), schema: scratchSchema(), embeddingDimension: dim)))
            }]
        case .runbook:
            return [
                variant(VariantName.engram, "default: exact ranking up to 20,000 matches, HNSW with iterative scans above"),
                variant("hnsw", "HNSW for every search (exactSearchLimit 0), ef_search 40") { $0.exactSearchLimit = 0 },
            ]
        case .batch, .hotpaths, .scale:
            return [
                variant("hnsw", "Engram: COPY binary into a staging table, one upsert; HNSW maintained on insert"),
                variant("no_vector_index", "the same without the HNSW indexes (exact search only)") { $0.hnsw = nil },
            ]
        }
    },
    engramVariant: { scenario in
        switch scenario {
        case .prune: VariantName.index
        case .search: VariantName.exact
        case .batch, .hotpaths, .scale, .recall: "hnsw"
        default: VariantName.engram
        }
    },
    finish: { PostgresService.stop() },
    inProcess: false)

/// A PostgreSQL store whose schema is dropped when it is closed (benchmark scratch stores).
final class DroppingPostgresStore: ForwardingStore, IndexMemoryReporting, QueryPlanIntrospecting, DiskUsageReporting {
    let inner: PostgresStore
    /// Vector queries go through `rawSQLQuery` (the hand-written reference), not the store.
    let rawSQLSearch: Bool
    init(_ inner: PostgresStore, rawSQLSearch: Bool = false) {
        self.inner = inner
        self.rawSQLSearch = rawSQLSearch
    }
    var writes: any MemoryStore { inner }
    var reads: any MemoryStore { inner }
    func query(_ query: MemoryQuery) throws -> [ScoredRecord] {
        rawSQLSearch && query.vector != nil ? try inner.rawSQLQuery(query) : try inner.query(query)
    }
    func close() throws {
        try? inner.dropSchema()
        try inner.close()
    }
    func vectorIndexMemoryBytes() throws -> Int { try inner.relationBytes() }
    func diskBytes() throws -> Int { try inner.diskBytes() }
    var outcomeTimestampIndexName: String { inner.outcomeTimestampIndexName }
    func explainDeleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> QueryPlan {
        try inner.explainDeleteOutcomes(projectId: projectId, olderThan: olderThan, agent: agent)
    }
}

/// An external adapter measured as it is: one variant per scenario.
func externalBench(_ command: String) -> BenchBackend {
    BenchBackend(
        name: "external", versions: ["adapter": command],
        variants: { _, _ in [BenchVariant(name: VariantName.engram, summary: "the adapter as it is") { _ in try ExternalStore(command: command) }] },
        engramVariant: { _ in VariantName.engram },
        inProcess: false)
}

/// The file store measured as it is: one variant per scenario.
let filesBench = BenchBackend(
    name: "files", versions: [:],
    variants: { scenario, dim in
        [BenchVariant(name: scenario.ranksVectors ? VariantName.exact : VariantName.engram, summary: "snapshot + one log file per call", reopens: true) { dir in
            try FileStore(directory: dir.appendingPathComponent("store"), embeddingDimension: dim)
        }]
    },
    engramVariant: { $0.ranksVectors ? VariantName.exact : VariantName.engram })

/// Cosmos DB measured as it is (against the stand-in unless an account is configured); each
/// store gets its own database, removed with the stand-in.
let cosmosBench = BenchBackend(
    name: "cosmos", versions: [:],
    variants: { scenario, dim in
        [BenchVariant(name: scenario.ranksVectors ? VariantName.exact : VariantName.engram, summary: "REST, point operations, transactional batch") { _ in
            let (endpoint, key) = try CosmosStandInService.account()
            return try CosmosStore(CosmosStore.Configuration(endpoint: endpoint, key: key, database: scratchSchema(), embeddingDimension: dim))
        }]
    },
    engramVariant: { $0.ranksVectors ? VariantName.exact : VariantName.engram },
    finish: { CosmosStandInService.stop() },
    inProcess: false)
