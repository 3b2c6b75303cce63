import EngramCore

/// Engram's own paths, each an absolute figure of one store in its default configuration:
/// what `engram ab` compares between two builds on the same machine.
public enum HotPath: String, CaseIterable, Sendable, Codable {
    case save, get, search, prune, delete

    /// The metric the path reports and the summary key the A/B comparison reads.
    public var metric: Metric {
        switch self {
        case .save: .recordsPerSecond
        case .get: .latency(.get, .p50)
        case .search: .latency(.query, .p50)
        case .prune: .pruneMs
        case .delete: .latency(.delete, .p50)
        }
    }

    public var summaryKey: SummaryKey { SummaryKey(.hotpaths, rawValue, metric.name) }

    /// Throughput is higher-is-better; times are lower-is-better.
    public var higherIsBetter: Bool { self == .save }

    /// How the scenario measures, recorded in the manifest's `versions` under `hotpaths`: two
    /// builds that measure differently are not compared (`ABRun`). 1 (no entry): each path in one
    /// burst; 2 (2026-12-07): get, search, prune and delete in eight slices, 2,000 gets.
    public static let method = "2"
    public static let methodKey = "hotpaths"
}

extension BenchmarkScenario {
    /// Save in batches, get, search, prune and delete on one store of `hotPathSize` outcomes,
    /// in that order (the prune runs before the deletes so its counts are exact).
    static let hotpaths = BenchmarkScenario(
        id: .hotpaths, summary: "Engram's own paths in absolute terms (batch save, get, search, prune, delete) for A/B comparisons of two builds",
        charts: [],
        steps: { r in
            let n = r.options.hotPathSize ?? 10_000
            guard let variant = r.backend.variants(.batch, r.options.dimension).first(where: { $0.name == r.backend.engramVariant(.batch) }) else { return [] }
            return [Step(label: "hotpaths n=\(n)", weight: Double(n) * 1.5e-4 * r.dimensionScale) { try runHotPaths(r, n: n, variant: variant) }]
        },
        summarize: { rows, _ in
            var out: [SummaryKey: Double] = [:]
            for path in HotPath.allCases {
                let v = rows.filter { $0.scenario == BenchScenario.hotpaths.rawValue && $0.variant == path.rawValue && $0.metric == path.metric.name }.map(\.value)
                if !v.isEmpty { out[path.summaryKey] = Stats.median(v) }
            }
            return out
        },
        vectorsNeeded: { $0.scenarios.contains(.hotpaths) ? ($0.hotPathSize ?? 10_000) : 0 })

    private static func runHotPaths(_ r: BenchRunner, n: Int, variant: BenchVariant) throws {
        let w = r.workload, chunk = 500
        func timed(_ path: HotPath, _ body: () throws -> Void) rethrows -> Double { try r.time(path, .hotpaths, variant, body) }
        try r.withStore(variant) { store in
            var rates: [Double] = []
            var begin = 0
            while begin < n {
                let end = min(n, begin + chunk)
                let records = (begin..<end).map { w.outcome($0, of: n, embedding: true) }
                let ns = try timed(.save) { _ = try store.save(records) }
                rates.append(Double(end - begin) / (ns / 1e9))
                begin = end
            }
            r.emit(.hotpaths, HotPath.save.rawValue, n: n, batch: chunk, rep: 1, .recordsPerSecond, Stats.median(rates))
            try variant.settle(store)

            let order = w.permutation(n, salt: 0x407)
            for j in 0..<5 { _ = try store.query(MemoryQuery(kind: .outcome, projectId: w.project, topK: 10, vector: w.query(j))) }
            // Deletes take outcomes the prunes leave (timestamps at or after t0 + prunes·step).
            // Outcome timestamps are t0 + a permutation of 0..<n µs; each prune takes the oldest 0.25%.
            let step = max(1, n / 400), prunesRun = 40
            let survivors = order.filter { i in
                guard case .outcome(let o) = w.outcome(i, of: n, embedding: false) else { return false }
                return o.timestamp >= w.t0.adding(microseconds: Int64(prunesRun * step))
            }
            let deleting = Array(survivors.suffix(min(r.options.deleteOps, survivors.count / 2)))
            // Gets read outcomes no prune or delete takes.
            let gets = Array(survivors.prefix(min(2_000, survivors.count - deleting.count)))
            // The paths take turns in `passes` slices rather than one burst each: a burst of a few
            // milliseconds (500 gets take 6) sees one moment of a shared machine, and its median
            // moved between runs by more than the 10% a comparison must see.
            let passes = 8, queries = 5 * r.options.searchQueries
            var getNs: [Double] = [], searchNs: [Double] = [], pruneNs: [Double] = [], deleteNs: [Double] = []
            for pass in 0..<passes {
                /// This pass's share of `count` items, by position.
                func part(_ count: Int) -> Range<Int> { count * pass / passes..<count * (pass + 1) / passes }
                for i in gets[part(gets.count)] {
                    var found = false
                    getNs.append(try timed(.get) { found = try store.get(RecordKey(.outcome, scope: w.project, id: "o\(i)")) != nil })
                    guard found else { throw EngramError(.internal, "hot path get of o\(i) found nothing") }
                }
                for j in part(queries) {
                    let q = MemoryQuery(kind: .outcome, projectId: w.project, topK: 10, vector: w.query(j))
                    searchNs.append(try timed(.search) { _ = try store.query(q) })
                }
                for k in part(prunesRun) {
                    var deleted = 0
                    // Prune k + 1 takes the timestamps below t0 + (k + 1)·step.
                    pruneNs.append(try timed(.prune) { deleted = try store.deleteOutcomes(projectId: w.project, olderThan: w.t0.adding(microseconds: Int64((k + 1) * step)), agent: nil) })
                    guard deleted == step else { throw EngramError(.internal, "hot path prune deleted \(deleted) outcomes, expected \(step)") }
                }
                for i in deleting[part(deleting.count)] {
                    var ok = false
                    deleteNs.append(try timed(.delete) { ok = try store.delete(RecordKey(.outcome, scope: w.project, id: "o\(i)")) })
                    guard ok else { throw EngramError(.internal, "hot path delete of o\(i) found nothing") }
                }
            }
            r.emitLatencies(.hotpaths, HotPath.get.rawValue, n: n, rep: 1, .get, getNs)
            r.emitLatencies(.hotpaths, HotPath.search.rawValue, n: n, rep: 1, .query, searchNs)
            r.emit(.hotpaths, HotPath.prune.rawValue, n: n, rep: 1, .pruneMs, Stats.median(pruneNs) / 1e6)
            r.emitLatencies(.hotpaths, HotPath.delete.rawValue, n: n, rep: 1, .delete, deleteNs)
        }
    }
}
