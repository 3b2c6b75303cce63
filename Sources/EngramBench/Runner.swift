import EngramCore
import Foundation

/// The result of one `engram bench` run: what it ran on (the manifest) and every measurement.
public struct BenchRun: Sendable {
    public var manifest: Manifest
    public var measurements: [Measurement]
}

/// Runs the selected scenarios over one backend, side by side in one process.
public final class BenchRunner {
    let backend: BenchBackend
    private(set) var options: BenchOptions
    let workload: Workload
    let scratch: URL
    private var rows: [Measurement] = []
    private var plans: [String: String] = [:]
    private var progress: Progress!

    /// Reads the vector files the options name (a typed error naming the file and row when one
    /// is malformed); a file's vectors set the run's dimension.
    public init(backend: BenchBackend, options: BenchOptions, scratch: URL) throws {
        if let problem = options.problem { throw BenchError(problem) }
        self.backend = backend
        self.options = options
        self.workload = try Workload(options: options)
        self.options.dimension = workload.dimension
        self.scratch = scratch
        if let capacity = workload.capacity {
            let needed = plannedScenarios.map { BenchmarkScenario.of($0).vectorsNeeded(self.options) }.max() ?? 0
            guard needed <= capacity else {
                throw EngramError.invalid("vectors", "\(self.options.vectorFile ?? "the file") has \(capacity) vectors for records; the selected scenarios and sizes need \(needed)")
            }
        }
    }

    /// The run's embedding dimension (a vector file's own when one is used).
    public var dimension: Int { options.dimension }

    /// The scenarios that will run: `scale` fits exponents over `delete` and `prune`, so it brings them in.
    var plannedScenarios: [BenchScenario] {
        var s = options.scenarios
        if s.contains(.scale) {
            for needed in [BenchScenario.delete, .prune] where !s.contains(needed) { s.insert(needed, at: 0) }
        }
        return BenchScenario.allCases.filter { s.contains($0) }
    }

    public func run() throws -> BenchRun {
        let started = Date()
        let startNs = now()
        let sampler = MachineLoad.Sampler()
        defer { backend.finish() }
        let steps = plannedScenarios.flatMap { BenchmarkScenario.of($0).steps(self) }
        progress = Progress(totalWeight: steps.reduce(0) { $0 + $1.weight })
        for step in steps {
            progress.begin(step.label)
            try step.run()
            progress.end(weight: step.weight)
        }
        progress.finish()
        let manifest = Manifest(
            runId: Self.runId(started, seed: options.seed), startedAt: Timestamp(started).rfc3339,
            gitCommit: Machine.gitCommit(), host: Machine.hostname(), backend: backend.name, options: options,
            versions: backend.versions.merging(Machine.toolVersions()) { a, _ in a }
                .merging(plannedScenarios.contains(.hotpaths) ? [HotPath.methodKey: HotPath.method] : [:]) { a, _ in a },
            machine: Machine.describe(),
            plans: plans, summary: [:], durationSeconds: Double(now() - startNs) / 1e9, measurementCount: rows.count,
            vectors: workload.fingerprint, load: sampler.finish())
        var run = BenchRun(manifest: manifest, measurements: rows)
        run.manifest.summary = Summary.ratios(run, engramVariant: backend.engramVariant).filter { $0.value.isFinite }
        // A key written must read back: a scenario that built a malformed one fails the run here.
        for key in run.manifest.summary.keys where try SummaryKey(parsing: key.description) != key { throw BenchError("summary key \(key) does not read back") }
        return run
    }

    static func runId(_ date: Date, seed: UInt64) -> String {
        let t = Timestamp(date).rfc3339.prefix(19).replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
        return "\(t)Z-s\(seed)"
    }

    // MARK: what scenarios use

    /// Times `body`. With an injected slowdown s for `path` (test only: the self-tests of
    /// `engram ab` and `engram gate`) on Engram's own variant of `scenario`, it then spins
    /// until (1 + s) × its time has passed, so the path does the same work and costs s more.
    func time(_ path: HotPath, _ scenario: BenchScenario, _ variant: BenchVariant, _ body: () throws -> Void) rethrows -> Double {
        let start = now()
        try body()
        if let s = options.injectSlowdown?[path], s > 0, backend.engramVariant(scenario) == variant.name {
            let until = start + UInt64(Double(now() - start) * (1 + s))
            while now() < until {}
        }
        return Double(now() - start)
    }

    /// The rows measured so far (the `scale` scenario fits over them).
    var measurements: [Measurement] { rows }

    /// Records a query plan shown beside the numbers.
    func recordPlan(_ key: String, _ detail: String) { plans[key] = detail }

    func emit(_ scenario: BenchScenario, _ variant: String, n: Int, batch: Int = 0, rep: Int, step: Int = 0, _ metric: Metric, _ value: Double) {
        rows.append(Measurement(backend: backend.name, scenario: scenario.rawValue, variant: variant, n: n, dim: options.dimension, batchSize: batch, repetition: rep, metric: metric.name, value: value, unit: metric.unit, step: step))
    }

    /// Emits every latency statistic of `op` (from latencies in ns).
    func emitLatencies(_ scenario: BenchScenario, _ variant: String, n: Int, rep: Int, step: Int = 0, _ op: Metric.Operation, _ ns: [Double]) {
        for stat in Metric.LatencyStat.allCases {
            let value = stat == .ops ? Double(ns.count) : (stat.quantile.map { Stats.quantile(ns, $0) } ?? Stats.mean(ns)) / 1000
            emit(scenario, variant, n: n, rep: rep, step: step, .latency(op, stat), value)
        }
    }

    private func freshDirectory() -> URL {
        let dir = scratch.appendingPathComponent(UUID().uuidString)
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Makes a store, runs `body`, closes it and deletes its files.
    func withStore<T>(_ variant: BenchVariant, _ body: (any MemoryStore) throws -> T) throws -> T {
        try withDirectory { dir in
            let store = try variant.make(dir)
            defer { try? store.close() }
            return try body(store)
        }
    }

    /// Runs `body` with a new scratch directory, deleted afterwards.
    func withDirectory<T>(_ body: (URL) throws -> T) throws -> T {
        let dir = freshDirectory()
        currentStoreDirectory = dir
        defer {
            currentStoreDirectory = nil
            try? FileManager.default.removeItem(at: dir)
        }
        return try body(dir)
    }

    /// Runs `warmup` untimed queries, then `searchQueries` timed ones; emits their latencies
    /// and QPS as `variant`, and returns the result ids of the first `keep` (for recall).
    func measureQueries(_ scenario: BenchScenario, _ variant: String, n: Int, step: Int = 0, queries: Int? = nil, warmup: Int = 5, on store: any MemoryStore, keep: Int,
                        _ query: (Int) -> MemoryQuery) throws -> [[String]] {
        for j in 0..<warmup { _ = try store.query(query(j)) }
        var latencies: [Double] = []
        var results: [[String]] = []
        for j in 0..<(queries ?? options.searchQueries) {
            var hits: [ScoredRecord] = []
            latencies.append(try EngramBench.time { hits = try store.query(query(j)) })
            if j < keep { results.append(hits.map(\.record.id)) }
        }
        emitLatencies(scenario, variant, n: n, rep: 1, step: step, .query, latencies)
        emit(scenario, variant, n: n, rep: 1, step: step, .queriesPerSecond, Double(latencies.count) / (latencies.reduce(0, +) / 1e9))
        lastMedianLatency = Stats.median(latencies)
        return results
    }

    /// The directory of the store `withStore` is running `body` on (a second store opens it).
    private(set) var currentStoreDirectory: URL?

    /// The median latency (ns) of the last `measureQueries`.
    private(set) var lastMedianLatency: Double = .nan

    /// A step per size and variant of `scenario`.
    func steps(_ scenario: BenchScenario, sizes: [Int], weight: @escaping (Int, BenchVariant) -> Double,
               _ body: @escaping (Int, BenchVariant) throws -> Void) -> [BenchmarkScenario.Step] {
        sizes.flatMap { n in
            backend.variants(scenario, options.dimension).map { v in
                BenchmarkScenario.Step(label: "\(scenario.rawValue) n=\(n) \(v.name)", weight: weight(n, v)) { try body(n, v) }
            }
        }
    }

    /// The machine's memory copy bandwidth, measured once per run.
    private(set) lazy var copyBandwidth: Double = Machine.copyBandwidth()

    /// Dimension relative to the 384 the weights were measured at.
    var dimensionScale: Double { Double(options.dimension) / 384 }
}
