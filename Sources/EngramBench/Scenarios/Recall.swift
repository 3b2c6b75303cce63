import EngramCore
import Foundation

extension BenchmarkScenario {
    /// Recall@10 against QPS on one loaded store: for a variant with an approximate index its
    /// search effort is swept (e.g. HNSW `ef_search` 10…400) with exact ranking of the same
    /// data as the reference point; other variants give their single point.
    static let recall = BenchmarkScenario(
        id: .recall, summary: "recall@10 against QPS as an approximate index's search effort is swept; exact ranking as the reference",
        charts: [.init(file: "recall-qps", title: "Recall@10 against queries per second", metric: .queriesPerSecond,
                       yLabel: "queries per second", xLabel: "recall@10",
                       series: { SweepPoint(variant: $0.variant).series }, xMetric: .recallAt10,
                       order: { SweepPoint(variant: $0.variant).setting.map { Double($0.value) } }, linearX: true)],
        steps: { r in
            r.steps(.recall, sizes: [size(r.options)], weight: { n, v in
                let d = r.dimensionScale, dn = Double(n), points = Double((v.sweep?.values.count ?? 0) + 1)
                return dn * 5e-5 * d + points * Double(r.options.searchQueries) * dn * 1e-7 * d + 100 * dn * 1e-6 * d
            }) { n, v in try runRecall(r, n: n, variant: v) }
        },
        summarize: { rows, _ in
            // `recall.recall_at_10.<point>@n`, `recall.qps_vs_exact.<point>@n` (against the same
            // variant's exact ranking), and per swept variant the smallest setting reaching
            // recall 0.95: `recall.min_<parameter>_for_0.95.<variant>@n` with its `qps_vs_exact_at_0.95`.
            var out: [SummaryKey: Double] = [:]
            var best: [String: (value: Int, ratio: Double?, parameter: String, variant: String, n: Int)] = [:]
            for row in rows where row.metric == Metric.recallAt10.name {
                let point = SweepPoint(variant: row.variant)
                out[SummaryKey(.recall, Metric.recallAt10.name, row.variant, n: row.n)] = row.value
                out[SummaryKey(.recall, "qps", row.variant, n: row.n)] = median(rows, row.variant, row.n, .queriesPerSecond)
                guard let setting = point.setting else { continue }
                let exact = point.variant + "/" + SweepPoint.exact
                var ratio: Double?
                if let q = median(rows, row.variant, row.n, .queriesPerSecond), let e = median(rows, exact, row.n, .queriesPerSecond), e > 0 {
                    ratio = q / e
                    out[SummaryKey(.recall, "qps_vs_exact", row.variant, n: row.n)] = q / e
                }
                let key = "\(point.variant)@\(row.n)"
                if row.value >= 0.95, best[key].map({ setting.value < $0.value }) ?? true {
                    best[key] = (setting.value, ratio, setting.parameter, point.variant, row.n)
                }
            }
            for b in best.values {
                out[SummaryKey(.recall, "min_\(b.parameter)_for_0.95", b.variant, n: b.n)] = Double(b.value)
                if let ratio = b.ratio { out[SummaryKey(.recall, "qps_vs_exact_at_0.95", b.variant, n: b.n)] = ratio }
            }
            return out
        },
        vectorsNeeded: size)

    private static func size(_ o: BenchOptions) -> Int { o.recallSize ?? 100_000 }

    /// Queries whose recall is measured (the rest only count towards QPS and latency).
    static let recallQueries = 100

    private static func runRecall(_ r: BenchRunner, n: Int, variant: BenchVariant) throws {
        let w = r.workload
        try r.withStore(variant) { store in
            try w.load(store, n: n, embedding: true)
            try variant.settle(store)
            let vectors = (0..<n).map { (id: "o\($0)", v: w.vector($0)) }
            let keep = min(recallQueries, r.options.searchQueries)
            let truth = (0..<keep).map { j in w.fileNeighbors(j, n: n) ?? exactTop10(w.query(j), vectors) }
            // A swept store is a new connection over pages the previous point may have evicted
            // (an exact scan reads every row): more warm-up, so the first point is not the coldest.
            func measure(_ name: String, _ on: any MemoryStore) throws {
                let results = try r.measureQueries(.recall, name, n: n, warmup: variant.sweep == nil ? 5 : 50, on: on, keep: keep) { j in
                    MemoryQuery(kind: .outcome, projectId: w.project, topK: 10, vector: w.query(j))
                }
                r.emit(.recall, name, n: n, rep: 1, .recallAt10, recallOf(results, truth))
            }
            guard let sweep = variant.sweep else { return try measure(variant.name, store) }
            for value in [nil] + sweep.values.map(Optional.some) {
                let tuned = try sweep.tune(store, value)
                defer { try? tuned.close() }
                let point = SweepPoint(variant: variant.name, setting: value.map { (sweep.parameter, $0) })
                try measure(point.name, tuned)
            }
        }
    }
}

/// A point of the `recall` scenario: `<variant>/<parameter>=<value>`, `<variant>/exact` for
/// the same store ranked exactly, or a bare `<variant>` that has no sweep.
struct SweepPoint {
    static let exact = "exact"
    let variant: String
    let setting: (parameter: String, value: Int)?

    init(variant: String, setting: (parameter: String, value: Int)?) {
        self.variant = variant
        self.setting = setting
        original = nil
    }

    /// The row's variant as written, when parsed from one.
    private let original: String?

    init(variant name: String) {
        let parts = name.split(separator: "/", maxSplits: 1).map(String.init)
        variant = parts[0]
        original = name
        if parts.count == 2, let eq = parts[1].firstIndex(of: "="), let v = Int(parts[1][parts[1].index(after: eq)...]) {
            setting = (String(parts[1][..<eq]), v)
        } else {
            setting = nil
        }
    }

    var name: String { setting.map { "\(variant)/\($0.parameter)=\($0.value)" } ?? "\(variant)/\(Self.exact)" }
    /// The chart's line: the swept setting's family, or the point alone (`hnsw/exact`, `exact`).
    var series: String { setting.map { "\(variant)/\($0.parameter)" } ?? original ?? name }
}
