import EngramCore
import Foundation

extension BenchmarkScenario {
    /// Top-10 vector search, unfiltered and with one agent's quarter of the project: QPS,
    /// latency, recall@10 against exact ranking, and the share of memory bandwidth a scan uses.
    static let search = BenchmarkScenario(
        id: .search, summary: "top-10 vector search, unfiltered and filtered: QPS, latency, recall",
        charts: [.init(file: "search", title: "Vector search, top 10 (p50)", metric: .latency(.query, .p50), yLabel: "µs per query", xLabel: "vectors in the project (n)")],
        steps: { r in
            let bandwidth = Step(label: "copy bandwidth", weight: 0.5) {
                r.emit(.search, VariantName.memcpy, n: 0, rep: 0, .copyBandwidth, r.copyBandwidth)
            }
            return [bandwidth] + r.steps(.search, sizes: r.options.searchSizes, weight: { n, _ in
                let d = r.dimensionScale, dn = Double(n)
                return dn * 4e-5 * d + Double(r.options.searchQueries) * 2 * dn * 2e-7 * d + 60 * dn * 1e-6 * d
            }) { n, v in try runSearch(r, n: n, variant: v) }
        },
        summarize: { rows, _ in
            // `search.<metric>.<variant>/<filter>@n`, and `search.qps_vs_raw_sql.<variant>/<filter>@n`
            // where the backend offers the same query written by hand (`<variant>_raw_sql`).
            var out: [SummaryKey: Double] = [:]
            for row in rows {
                for metric in [Metric.recallAt10, .scanBandwidthFraction, .queriesPerSecond] where row.metric == metric.name {
                    out[SummaryKey(.search, metric.name, row.variant, n: row.n)] = median(rows, row.variant, row.n, metric)
                }
            }
            let rawMarker = VariantName.rawSQLSuffix + "/"
            for row in rows where row.metric == Metric.queriesPerSecond.name && row.variant.contains(rawMarker) {
                let engram = row.variant.replacingOccurrences(of: rawMarker, with: "/")
                if let mine = median(rows, engram, row.n, .queriesPerSecond), let raw = median(rows, row.variant, row.n, .queriesPerSecond), raw > 0 {
                    out[SummaryKey(.search, "\(Metric.queriesPerSecond.name)_vs\(VariantName.rawSQLSuffix)", engram, n: row.n)] = mine / raw
                }
            }
            return out
        },
        vectorsNeeded: { $0.searchSizes.max() ?? 0 })

    private static func runSearch(_ r: BenchRunner, n: Int, variant: BenchVariant) throws {
        let w = r.workload
        try r.withStore(variant) { store in
            try w.load(store, n: n, embedding: true)
            try variant.settle(store)
            for (filterName, agents) in [(VariantName.unfiltered, nil), (VariantName.filtered, ["a0"])] as [(String, [String]?)] {
                func query(_ j: Int) -> MemoryQuery {
                    MemoryQuery(kind: .outcome, projectId: w.project, agents: agents, topK: 10, vector: w.query(j))
                }
                let v = "\(variant.name)/\(filterName)"
                let results = try r.measureQueries(.search, v, n: n, on: store, keep: 30, query)
                let (recall, nearest) = recallAt10(w, results, n: n, agents: agents.map(Set.init))
                r.emit(.search, v, n: n, rep: 1, .recallAt10, recall)
                if agents == nil {
                    // The data's neighbour structure: how similar each query's nearest record is.
                    for (metric, q) in [(Metric.nearestSimilarityP10, 0.1), (.nearestSimilarityP50, 0.5), (.nearestSimilarityP90, 0.9)] {
                        r.emit(.search, v, n: n, rep: 1, metric, Stats.quantile(nearest, q))
                    }
                    let bytes = Double(n * r.options.dimension * 4)
                    r.emit(.search, v, n: n, rep: 1, .scanBandwidthFraction, bytes / (r.lastMedianLatency / 1e9) / r.copyBandwidth)
                }
            }
        }
    }

    /// Recall@10 of `results` (one id list per query j) against exact cosine ranking, and each
    /// query's similarity to its nearest eligible record.
    static func recallAt10(_ w: Workload, _ results: [[String]], n: Int, agents: Set<String>?) -> (Double, [Double]) {
        let eligible = (0..<n).filter { agents?.contains(w.agents[$0 % w.agents.count]) ?? true }
        let vectors = eligible.map { (i: $0, v: w.vector($0)) }
        var truth: [[String]] = [], nearest: [Double] = []
        for j in results.indices {
            let q = w.query(j)
            let best = top10(vectors.lazy.map { (id: "o\($0.i)", s: cosineSimilarity(q, $0.v)) })
            truth.append((agents == nil ? w.fileNeighbors(j, n: n) : nil) ?? best.map(\.id))
            if let top = best.first { nearest.append(top.s) }
        }
        return (recallOf(results, truth), nearest)
    }
}
