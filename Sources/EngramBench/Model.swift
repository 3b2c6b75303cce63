import EngramCore
import Foundation

/// The benchmark scenarios of docs/benchmarks.md.
public enum BenchScenario: String, CaseIterable, Sendable, Codable {
    case delete, prune, batch, search, filter, recall, tenants, runbook, concurrency, get, hotpaths, scale

    /// Whether it ranks vectors (its Engram variant is the exact one where a backend has several).
    public var ranksVectors: Bool { [.search, .filter, .recall, .tenants, .runbook, .concurrency].contains(self) }
}

/// An approximate index's search-effort knob, swept by the `recall` scenario on one loaded
/// store: e.g. PostgreSQL's HNSW `ef_search`.
public struct SearchSweep: Sendable {
    /// The knob's name in reports (`ef_search`).
    public var parameter: String
    public var values: [Int]
    /// A store over the same data that searches with `value`, or ranks exactly when nil.
    /// The caller closes it (closing must leave the data in place).
    public var tune: @Sendable (_ store: any MemoryStore, _ value: Int?) throws -> any MemoryStore

    public init(parameter: String, values: [Int], tune: @escaping @Sendable (any MemoryStore, Int?) throws -> any MemoryStore) {
        self.parameter = parameter
        self.values = values
        self.tune = tune
    }
}

/// One way of running a backend that a scenario compares (a delete strategy, an index
/// present or absent, exact or approximate search).
public struct BenchVariant: Sendable {
    public var name: String
    /// What the variant is, for reports.
    public var summary: String
    /// For a variant whose delete cost grows with n: the runner measures about
    /// `deleteBudget / n` deletes (at least 5) instead of the full count, to bound the run.
    /// nil for in-place deletes, whose cost does not grow with n.
    public var deleteBudget: Int?
    /// Makes an empty store under `directory`.
    public var make: @Sendable (_ directory: URL) throws -> any MemoryStore
    /// Called after a bulk load and before measuring: finishes work the load deferred
    /// (an SQLite WAL checkpoint), so it is not charged to the operation measured next.
    public var settle: @Sendable (any MemoryStore) throws -> Void
    /// For an approximate index: its search-effort sweep (the `recall` scenario).
    public var sweep: SearchSweep?
    /// Opens the store a `make` left in a directory again (file-based stores; nil for a
    /// server, where opening is a connection): `engram plan` times it.
    public var reopen: (@Sendable (URL) throws -> any MemoryStore)?

    public init(
        name: String, summary: String, deleteBudget: Int? = nil,
        settle: @escaping @Sendable (any MemoryStore) throws -> Void = { _ in },
        sweep: SearchSweep? = nil,
        reopens: Bool = false,
        make: @escaping @Sendable (URL) throws -> any MemoryStore
    ) {
        reopen = reopens ? make : nil
        self.settle = settle
        self.sweep = sweep
        self.name = name
        self.summary = summary
        self.deleteBudget = deleteBudget
        self.make = make
    }
}

/// A program that saves a batch the way one written without Engram would (the naive
/// baseline: plain inserts and a FAISS add), so `batch` reports Engram's rate over it.
public struct BatchReference: Sendable {
    /// Its name in reports: rows of variant `reference.<name>`, summary `batch_vs_<name>`.
    public var name: String
    /// Saves `records` into a new store under `directory`; returns the nanoseconds the save
    /// itself took (as `save` is timed: opening, creating the table and closing are not).
    public var run: @Sendable (_ directory: URL, _ records: [MemoryRecord], _ dimension: Int) throws -> Double

    public init(name: String, run: @escaping @Sendable (URL, [MemoryRecord], Int) throws -> Double) {
        self.name = name
        self.run = run
    }
}

/// What the runner needs to know about a backend: the variants it offers per scenario
/// and which of them is Engram's own (the denominator of every ratio). A backend that
/// offers one variant is still measured; it just has nothing to compare against.
public struct BenchBackend: Sendable {
    public var name: String
    public var versions: [String: String]
    public var variants: @Sendable (_ scenario: BenchScenario, _ dimension: Int) -> [BenchVariant]
    /// The name of Engram's variant in `scenario`.
    public var engramVariant: @Sendable (_ scenario: BenchScenario) -> String
    /// Called once after the run (stops a server the backend started, for example).
    public var finish: @Sendable () -> Void
    /// A program doing a batch save's job without Engram, timed beside it by `batch`.
    public var batchReference: BatchReference?
    /// Whether the store lives in this process (its memory is this process's heap), not in a
    /// server, a service or an adapter process.
    public var inProcess: Bool

    public init(
        name: String, versions: [String: String],
        variants: @escaping @Sendable (BenchScenario, Int) -> [BenchVariant],
        engramVariant: @escaping @Sendable (BenchScenario) -> String,
        finish: @escaping @Sendable () -> Void = {},
        inProcess: Bool = true,
        batchReference: BatchReference? = nil
    ) {
        self.batchReference = batchReference
        self.inProcess = inProcess
        self.name = name
        self.versions = versions
        self.variants = variants
        self.engramVariant = engramVariant
        self.finish = finish
    }
}

/// The run's configuration. Sizes default to docs/benchmarks.md's; `quick` shrinks them for CI.
public struct BenchOptions: Sendable, Codable {
    public var scenarios: [BenchScenario] = BenchScenario.allCases
    /// Records saved, then read back one `get` each, in the `get` scenario.
    public var getCount = 1_000
    public var deleteSizes = [1_000, 10_000, 100_000]
    public var pruneSizes = [10_000, 100_000, 1_000_000]
    public var batchSizes = [100, 1_000, 10_000]
    public var searchSizes = [10_000, 100_000]
    public var dimension = 384
    public var repetitions = 3
    public var seed: UInt64 = 42
    /// In-place deletes measured per repetition (rebuilding variants do fewer, see `deleteOps`).
    public var deleteOps = 200
    /// Outcomes pruned per repetition: a fixed count, the oldest first.
    public var pruneCount = 1_000
    public var searchQueries = 200
    /// Where embeddings come from (optional in the manifest: older runs were uniform).
    public var vectors: VectorSource? = .clustered
    /// With `vectors` = `file`: the vectors' file, and optionally the queries' and the true
    /// neighbours' (see `VectorFileSet` for the formats).
    public var vectorFile: String?
    public var queryFile: String?
    public var neighborFile: String?
    /// Store size of the `filter` scenario (optional in the manifest: older runs lack it).
    public var filterSize: Int?
    /// The fractions of the project a filter matches in the `filter` scenario.
    public var filterFractions: [Double]?
    /// Store size of the `recall` and `tenants` scenarios, and the project counts of `tenants`.
    public var recallSize: Int?
    public var tenantSize: Int?
    public var tenantCounts: [Int]?
    /// The runbooks of the `runbook` scenario (built-in names or JSON files) and the factor
    /// their record counts are scaled by.
    public var runbooks: [String]?
    public var runbookScale: Double?
    /// Store size of the `concurrency` scenario (default 100,000) and its client thread counts.
    public var concurrencySize: Int?
    public var concurrencyClients: [Int]?
    /// Outcomes of the `hotpaths` store (default 10,000).
    public var hotPathSize: Int?
    /// Test only, for the gate's self-test: the fraction each named hot path is slowed down by
    /// (busy work after the real work, inside the timing). Recorded in the manifest.
    public var injectSlowdown: [HotPath: Double]?
    public var quick = false

    public init() {}

    /// Small enough that every scenario together runs in well under two minutes on 2 cores.
    public static var quickPreset: BenchOptions {
        var o = BenchOptions()
        o.deleteSizes = [1_000, 10_000]
        o.pruneSizes = [10_000, 100_000]
        o.batchSizes = [100, 1_000]
        o.searchSizes = [10_000]
        o.repetitions = 2
        o.deleteOps = 100
        o.searchQueries = 100
        o.filterSize = 20_000
        o.recallSize = 10_000
        o.tenantSize = 10_000
        o.tenantCounts = [1, 100]
        o.runbookScale = 0.1
        o.concurrencySize = 10_000
        o.quick = true
        return o
    }

    /// The smallest `hotpaths` store: the prunes take 40 steps of a quarter percent each.
    public static let minimumHotPathSize = 100

    /// Why these options cannot run, naming the option (nil: they can). Checked by the runner
    /// before anything is measured, and by the command line before it starts the runner.
    public var problem: String? {
        let sizes: [(String, Int?)] = [("filter-size", filterSize), ("recall-size", recallSize), ("tenant-size", tenantSize), ("concurrency-size", concurrencySize),
                                       ("dimension", dimension), ("repetitions", repetitions), ("delete-ops", deleteOps), ("queries", searchQueries)]
        if let (name, _) = sizes.first(where: { ($0.1 ?? 1) < 1 }) { return "--\(name) must be at least 1" }
        if !(tenantCounts ?? [1]).allSatisfy({ $0 >= 1 }) { return "--tenant-counts must be at least 1" }
        if !(concurrencyClients ?? [1]).allSatisfy({ (1...256).contains($0) }) { return "--clients must be between 1 and 256" }
        if let hotPathSize, hotPathSize < Self.minimumHotPathSize { return "--hotpath-size must be at least \(Self.minimumHotPathSize)" }
        if let runbookScale, !(runbookScale > 0 && runbookScale <= 100) { return "--runbook-scale must be in (0, 100]" }
        if (queryFile != nil || neighborFile != nil) && vectors != .file { return "--queries-file and --neighbors-file go with --vectors FILE" }
        if let (path, s) = injectSlowdown?.first(where: { !($0.value >= 0 && $0.value <= 10) }) { return "--inject-slowdown \(path.rawValue)=\(s): the fraction must be in [0, 10]" }
        if !(deleteSizes + pruneSizes + batchSizes + searchSizes).allSatisfy({ $0 >= 1 }) { return "--delete-sizes, --prune-sizes, --batch-sizes and --search-sizes must be positive" }
        if !pruneSizes.allSatisfy({ $0 >= pruneCount * (repetitions + 1) }) { return "--prune-sizes must be at least \(pruneCount) × (repetitions + 1)" }
        return nil
    }

    /// Deletes per repetition for a variant at size n: fewer when each one reloads the index.
    func deleteOps(for variant: BenchVariant, n: Int) -> Int {
        variant.deleteBudget.map { max(5, min(deleteOps, $0 / max(n, 1))) } ?? deleteOps
    }
}

/// One tidy row of the CSV: one measurement.
public struct Measurement: Sendable, Codable, Equatable {
    public var backend: String
    public var scenario: String
    public var variant: String
    public var n: Int
    public var dim: Int
    public var batchSize: Int
    public var repetition: Int
    public var metric: String
    public var value: Double
    public var unit: String
    /// A runbook's step number (0 elsewhere): its rows form a time series.
    public var step: Int

    public init(backend: String, scenario: String, variant: String, n: Int, dim: Int, batchSize: Int, repetition: Int, metric: String, value: Double, unit: String, step: Int = 0) {
        self.backend = backend; self.scenario = scenario; self.variant = variant; self.n = n; self.dim = dim
        self.batchSize = batchSize; self.repetition = repetition; self.metric = metric; self.value = value; self.unit = unit; self.step = step
    }
}
