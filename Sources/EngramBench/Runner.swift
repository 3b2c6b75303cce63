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
    let options: BenchOptions
    let workload: Workload
    let scratch: URL
    private var rows: [Measurement] = []
    private var plans: [String: String] = [:]
    private var progress: Progress!

    public init(backend: BenchBackend, options: BenchOptions, scratch: URL) {
        self.backend = backend
        self.options = options
        self.workload = Workload(dimension: options.dimension, seed: options.seed)
        self.scratch = scratch
    }

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
        progress = Progress(totalWeight: estimatedWeight())
        defer { backend.finish() }
        for scenario in plannedScenarios {
            switch scenario {
            case .delete: try runDelete()
            case .prune: try runPrune()
            case .batch: try runBatch()
            case .search: try runSearch()
            case .get: try runGet()
            case .scale: runScale()
            }
        }
        progress.finish()
        let manifest = Manifest(
            runId: Self.runId(started, seed: options.seed), startedAt: Timestamp(started).rfc3339,
            gitCommit: Machine.gitCommit(), host: Machine.hostname(), backend: backend.name, options: options,
            versions: backend.versions.merging(Machine.toolVersions()) { a, _ in a }, machine: Machine.describe(),
            plans: plans, summary: [:], durationSeconds: Double(now() - startNs) / 1e9, measurementCount: rows.count)
        var run = BenchRun(manifest: manifest, measurements: rows)
        run.manifest.summary = Summary.ratios(run, engramVariant: backend.engramVariant).filter { $0.value.isFinite }
        return run
    }

    static func runId(_ date: Date, seed: UInt64) -> String {
        let t = Timestamp(date).rfc3339.prefix(19).replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
        return "\(t)Z-s\(seed)"
    }

    // MARK: helpers

    private func emit(_ scenario: BenchScenario, _ variant: String, n: Int, batch: Int = 0, rep: Int, _ metric: String, _ value: Double, _ unit: String) {
        rows.append(Measurement(backend: backend.name, scenario: scenario.rawValue, variant: variant, n: n, dim: options.dimension, batchSize: batch, repetition: rep, metric: metric, value: value, unit: unit))
    }

    /// Emits p50/p95/p99/mean in microseconds for `prefix` from latencies in ns.
    private func emitLatencies(_ scenario: BenchScenario, _ variant: String, n: Int, rep: Int, _ prefix: String, _ ns: [Double]) {
        for (name, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)] {
            emit(scenario, variant, n: n, rep: rep, "\(prefix)_\(name)_us", Stats.quantile(ns, q) / 1000, "us")
        }
        emit(scenario, variant, n: n, rep: rep, "\(prefix)_mean_us", Stats.mean(ns) / 1000, "us")
        emit(scenario, variant, n: n, rep: rep, "\(prefix)_ops", Double(ns.count), "count")
    }

    private func freshDirectory() -> URL {
        let dir = scratch.appendingPathComponent(UUID().uuidString)
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Makes a store, runs `body`, closes it and deletes its files.
    private func withStore<T>(_ variant: BenchVariant, _ body: (any MemoryStore) throws -> T) throws -> T {
        let dir = freshDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try variant.make(dir)
        defer { try? store.close() }
        return try body(store)
    }

    private func deleteOps(_ v: BenchVariant, n: Int) -> Int {
        min(options.deleteOps(for: v, n: n), n / (2 * options.repetitions + 2))
    }

    // MARK: weights for the progress estimate (seconds, roughly, on 2 cores)

    private func estimatedWeight() -> Double {
        let r = Double(options.repetitions), d = Double(options.dimension) / 384
        var w = 0.0
        for s in plannedScenarios {
            switch s {
            case .delete:
                for n in options.deleteSizes { for v in backend.variants(.delete, options.dimension) { w += deleteWeight(v, n) } }
            case .prune:
                for n in options.pruneSizes { w += pruneWeight(n) }
            case .batch:
                w += options.batchSizes.reduce(0) { $0 + Double($1) * 8e-5 * r * d }
            case .search:
                for n in options.searchSizes { w += searchWeight(n) * Double(backend.variants(.search, options.dimension).count) }
            case .get: w += Double(options.getCount) * 4e-4
            case .scale: break
            }
        }
        return w
    }

    private func deleteWeight(_ v: BenchVariant, _ n: Int) -> Double {
        let d = Double(options.dimension) / 384, dn = Double(n)
        let ops = Double(deleteOps(v, n: n)) * Double(options.repetitions)
        return dn * 4e-5 * d + ops * (v.deleteBudget != nil ? 2 * dn * 4e-6 * d : 2e-4) + ops * dn * 2e-7 * d
    }

    private func pruneWeight(_ n: Int) -> Double {
        Double(n) * 3e-5 + Double(options.repetitions) * Double(n) * 1e-6
    }

    private func searchWeight(_ n: Int) -> Double {
        let d = Double(options.dimension) / 384, dn = Double(n)
        return dn * 4e-5 * d + Double(options.searchQueries) * 2 * dn * 2e-7 * d + 60 * dn * 1e-6 * d
    }

    // MARK: delete

    private func runDelete() throws {
        for n in options.deleteSizes {
            for variant in backend.variants(.delete, options.dimension) {
                progress.begin("delete n=\(n) \(variant.name)")
                try withStore(variant) { store in
                    try workload.load(store, n: n, embedding: true)
                    try variant.settle(store)
                    if let m = store as? any IndexMemoryReporting {
                        emit(.delete, variant.name, n: n, rep: 0, "index_bytes_per_1k_vectors", Double(try m.vectorIndexMemoryBytes()) / Double(n) * 1000, "bytes")
                    }
                    let order = workload.permutation(n, salt: 0xDE1E7E)
                    var cursor = 0
                    let ops = deleteOps(variant, n: n)
                    func next() -> RecordKey {
                        defer { cursor += 1 }
                        return RecordKey(.outcome, scope: workload.project, id: "o\(order[cursor])")
                    }
                    for rep in 1...options.repetitions {
                        var deletes: [Double] = []
                        for _ in 0..<ops {
                            let key = next()
                            var ok = false
                            deletes.append(try time { ok = try store.delete(key) })
                            guard ok else { throw EngramError(.internal, "benchmark delete of \(key) found nothing") }
                        }
                        emitLatencies(.delete, variant.name, n: n, rep: rep, "delete", deletes)
                        var pairs: [Double] = []
                        for j in 0..<ops {
                            let key = next()
                            let q = MemoryQuery(kind: .outcome, projectId: workload.project, topK: 10, vector: workload.query(j))
                            var hits = 0
                            pairs.append(try time {
                                _ = try store.delete(key)
                                hits = try store.query(q).count
                            })
                            guard hits == 10 else { throw EngramError(.internal, "benchmark search returned \(hits) results, expected 10") }
                        }
                        emitLatencies(.delete, variant.name, n: n, rep: rep, "pair", pairs)
                    }
                }
                progress.end(weight: deleteWeight(variant, n))
            }
        }
    }

    // MARK: prune

    private func runPrune() throws {
        for n in options.pruneSizes {
            for variant in backend.variants(.prune, options.dimension) {
                progress.begin("prune n=\(n) \(variant.name)")
                try withStore(variant) { store in
                    // Outcomes arrive in time order, as an agent logs them; the prune takes the oldest.
                    try workload.load(store, n: n, embedding: false, timeOrdered: true, chunk: 10_000)
                    try variant.settle(store)
                    if let explain = store as? any QueryPlanIntrospecting {
                        let plan = try explain.explainDeleteOutcomes(projectId: workload.project, olderThan: workload.t0.adding(microseconds: Int64(options.pruneCount)), agent: nil)
                        plans["\(variant.name)@\(n)"] = plan.detail
                        emit(.prune, variant.name, n: n, rep: 0, "plan_uses_timestamp_index", plan.indexUsed == explain.outcomeTimestampIndexName ? 1 : 0, "bool")
                        emit(.prune, variant.name, n: n, rep: 0, "plan_full_scan", plan.fullScan ? 1 : 0, "bool")
                    }
                    for rep in 1...options.repetitions {
                        let cut = workload.t0.adding(microseconds: Int64(rep * options.pruneCount))
                        var deleted = 0
                        let ns = try time { deleted = try store.deleteOutcomes(projectId: workload.project, olderThan: cut, agent: nil) }
                        guard deleted == options.pruneCount else {
                            throw EngramError(.internal, "prune deleted \(deleted) outcomes, expected \(options.pruneCount)")
                        }
                        emit(.prune, variant.name, n: n, rep: rep, "prune_ms", ns / 1e6, "ms")
                    }
                }
                progress.end(weight: pruneWeight(n))
            }
        }
    }

    // MARK: batch

    private func runBatch() throws {
        let variants = backend.variants(.batch, options.dimension)
        for size in options.batchSizes {
            progress.begin("batch size=\(size)")
            let records = (0..<size).map { workload.outcome($0, of: size, embedding: true) }
            for variant in variants {
                // One variant: rows `single` and `batch`; several: `<variant>.single`, `<variant>.batch`.
                let prefix = variants.count == 1 ? "" : variant.name + "."
                for rep in 1...options.repetitions {
                    let single = try withStore(variant) { store in try time { for r in records { try store.save(r) } } }
                    emit(.batch, prefix + "single", n: size, batch: 1, rep: rep, "records_per_s", Double(size) / (single / 1e9), "records/s")
                    let batch = try withStore(variant) { store in try time { _ = try store.save(records) } }
                    emit(.batch, prefix + "batch", n: size, batch: size, rep: rep, "records_per_s", Double(size) / (batch / 1e9), "records/s")
                }
            }
            progress.end(weight: Double(size) * 8e-5 * Double(options.repetitions) * Double(options.dimension) / 384)
        }
    }

    // MARK: search

    private func runSearch() throws {
        let bandwidth = Machine.copyBandwidth()
        emit(.search, "memcpy", n: 0, rep: 0, "copy_bandwidth_bytes_per_s", bandwidth, "bytes/s")
        for n in options.searchSizes {
            for variant in backend.variants(.search, options.dimension) {
                progress.begin("search n=\(n) \(variant.name)")
                try withStore(variant) { store in
                    try workload.load(store, n: n, embedding: true)
                    try variant.settle(store)
                    for (filterName, agents) in [("unfiltered", nil), ("filtered", Set(["a0"]))] as [(String, Set<String>?)] {
                        func query(_ j: Int) -> MemoryQuery {
                            MemoryQuery(kind: .outcome, projectId: workload.project, agents: agents, topK: 10, vector: workload.query(j))
                        }
                        for j in 0..<5 { _ = try store.query(query(j)) }  // warm-up
                        var latencies: [Double] = []
                        var results: [[String]] = []
                        for j in 0..<options.searchQueries {
                            var hits: [ScoredRecord] = []
                            latencies.append(try time { hits = try store.query(query(j)) })
                            if j < 30 { results.append(hits.map(\.record.id)) }
                        }
                        let v = "\(variant.name)/\(filterName)"
                        emitLatencies(.search, v, n: n, rep: 1, "query", latencies)
                        emit(.search, v, n: n, rep: 1, "qps", Double(latencies.count) / (latencies.reduce(0, +) / 1e9), "queries/s")
                        let recall = recallAt10(results, n: n, agents: agents)
                        emit(.search, v, n: n, rep: 1, "recall_at_10", recall, "fraction")
                        if agents == nil {
                            let bytes = Double(n * options.dimension * 4)
                            emit(.search, v, n: n, rep: 1, "scan_bandwidth_fraction", bytes / (Stats.median(latencies) / 1e9) / bandwidth, "fraction")
                        }
                    }
                }
                progress.end(weight: searchWeight(n))
            }
        }
    }

    /// Recall@10 of `results` (one id list per query j) against exact cosine ranking.
    private func recallAt10(_ results: [[String]], n: Int, agents: Set<String>?) -> Double {
        let eligible = (0..<n).filter { agents?.contains(workload.agents[$0 % workload.agents.count]) ?? true }
        let vectors = eligible.map { (i: $0, v: workload.vector($0)) }
        var found = 0, total = 0
        for (j, got) in results.enumerated() {
            let q = workload.query(j)
            let truth = vectors.map { (id: "o\($0.i)", s: cosineSimilarity(q, $0.v)) }
                .sorted { $0.s > $1.s }.prefix(10).map(\.id)
            found += Set(truth).intersection(got).count
            total += truth.count
        }
        return total > 0 ? Double(found) / Double(total) : .nan
    }

    // MARK: get

    /// The cost of one point read: saves `getCount` outcomes, then reads each back once.
    private func runGet() throws {
        guard let variant = backend.variants(.get, options.dimension).first else { return }
        let n = options.getCount
        progress.begin("get n=\(n)")
        try withStore(variant) { store in
            try workload.load(store, n: n, embedding: true, chunk: 500)
            try variant.settle(store)
            let charges = store as? any RequestChargeReporting
            for rep in 1...options.repetitions {
                var latencies: [Double] = []
                let before = charges?.requestCharge.total
                for i in workload.permutation(n, salt: UInt64(rep)) {
                    let key = RecordKey(.outcome, scope: workload.project, id: "o\(i)")
                    var found = false
                    latencies.append(try time { found = try store.get(key) != nil })
                    guard found else { throw EngramError(.internal, "benchmark get of \(key) found nothing") }
                }
                emitLatencies(.get, variant.name, n: n, rep: rep, "get", latencies)
                if let before, let after = charges?.requestCharge.total {
                    emit(.get, variant.name, n: n, rep: rep, "request_units_per_get", (after - before) / Double(n), "RU")
                }
            }
        }
        progress.end(weight: Double(n) * 4e-4)
    }

    // MARK: scale

    /// Fits cost ≈ a·n^b over every size measured, per variant and per-operation metric.
    private func runScale() {
        let targets: [(BenchScenario, String)] = [(.delete, "delete_p50_us"), (.delete, "pair_p50_us"), (.prune, "prune_ms")]
        for (scenario, metric) in targets {
            let relevant = rows.filter { $0.scenario == scenario.rawValue && $0.metric == metric }
            for variant in Set(relevant.map(\.variant)).sorted() {
                let byN = Dictionary(grouping: relevant.filter { $0.variant == variant }, by: \.n)
                let points = byN.map { (n: Double($0.key), cost: Stats.median($0.value.map(\.value))) }
                if let b = Stats.fitExponent(points), let lo = byN.keys.min(), let hi = byN.keys.max() {
                    // The size range is part of the name: a fit over 10k…100k is not one over 10k…1M.
                    emit(.scale, "\(scenario.rawValue).\(variant).\(metric)@\(lo)-\(hi)", n: hi, rep: 0, "exponent_b", b, "1")
                }
            }
        }
    }
}
