import EngramCore
import Foundation

extension BenchmarkScenario {
    /// Top-10 vector search under filters that match a known fraction of the project (0.1%,
    /// 1%, 10%, 50% by default), by agent (a set of agents) and by task type (one value), and
    /// unfiltered: QPS, latency and recall@10 per point. A filter that does its work first
    /// costs in proportion to its matches; one applied after a full scan costs as much as the
    /// unfiltered search.
    static let filter = BenchmarkScenario(
        id: .filter, summary: "vector search under agent and task-type filters matching 0.1%–50% of the project",
        charts: [.init(file: "filter-qps", title: "Filtered search: queries per second", metric: .queriesPerSecond,
                       yLabel: "queries per second", xLabel: "fraction of the project the filter matches",
                       x: { FilterPoint(variant: $0.variant)?.fraction }, series: { FilterPoint(variant: $0.variant)?.series ?? $0.variant })],
        steps: { r in
            let n = size(r.options)
            return r.steps(.filter, sizes: [n], weight: { n, _ in
                let d = r.dimensionScale, dn = Double(n)
                return dn * 5e-5 * d + Double(fractions(r).count * 2 + 1) * Double(r.options.searchQueries) * dn * 1e-7 * d + dn * 4e-6 * d * Double(fractions(r).count)
            }) { n, v in try runFilter(r, n: n, variant: v) }
        },
        summarize: { rows, _ in
            // `filter.qps_vs_unfiltered.<variant>/<filter>/<fraction>@n` and `filter.recall_at_10.…`.
            var out: [SummaryKey: Double] = [:]
            for row in rows where row.metric == Metric.queriesPerSecond.name {
                guard let point = FilterPoint(variant: row.variant), point.filter != FilterPoint.none else { continue }
                let base = point.variant + "/" + FilterPoint.none
                if let q = median(rows, row.variant, row.n, .queriesPerSecond), let u = median(rows, base, row.n, .queriesPerSecond), u > 0 {
                    out[SummaryKey(.filter, "qps_vs_unfiltered", row.variant, n: row.n)] = q / u
                }
                out[SummaryKey(.filter, Metric.recallAt10.name, row.variant, n: row.n)] = median(rows, row.variant, row.n, .recallAt10)
            }
            return out
        },
        vectorsNeeded: size)

    private static func size(_ o: BenchOptions) -> Int { o.filterSize ?? 100_000 }

    static func fractions(_ r: BenchRunner) -> [Double] { r.options.filterFractions ?? [0.001, 0.01, 0.1, 0.25, 0.5] }

    /// 1,000 agents of equal share, so a filter naming m of them matches m per mille; and task
    /// types whose shares are the fractions themselves (the rest in one more type).
    struct Layout {
        static let agents = 1_000
        let fractions: [Double]
        /// Record i's bucket in 0..<1000, spread by a multiplicative hash (not by i's order).
        func bucket(_ i: Int) -> Int { Int((UInt64(i) &* 0x9E37_79B9_7F4A_7C15) >> 32) % Self.agents }
        func agent(_ i: Int) -> String { "g\(bucket(i))" }
        /// Task type t<k> covers a share fractions[k] of the buckets (in order), the rest "t_rest".
        func taskType(_ i: Int) -> String {
            var start = 0
            let b = bucket(i)
            for (k, f) in fractions.enumerated() {
                let width = Int((f * Double(Self.agents)).rounded())
                if b < start + width { return "t\(k)" }
                start += width
            }
            return "t_rest"
        }
    }

    private static func runFilter(_ r: BenchRunner, n: Int, variant: BenchVariant) throws {
        let w = r.workload, fractions = fractions(r)
        let layout = Layout(fractions: fractions)
        guard fractions.reduce(0, +) <= 1, fractions.allSatisfy({ $0 * Double(Layout.agents) >= 1 }) else {
            throw EngramError.invalid("filter_fractions", "each fraction must be at least 1/\(Layout.agents), and they must add up to at most 1")
        }
        try r.withStore(variant) { store in
            try w.load(store, n: n, embedding: true) { i, o in
                o.agent = layout.agent(i)
                o.taskType = layout.taskType(i)
            }
            try variant.settle(store)
            var points: [(FilterPoint, agents: Set<String>?, taskType: String?, eligible: (Int) -> Bool)] = [
                (FilterPoint(variant: variant.name, filter: FilterPoint.none, fraction: 1), nil, nil, { _ in true }),
            ]
            for (k, f) in fractions.enumerated() {
                let m = Int((f * Double(Layout.agents)).rounded())
                points.append((FilterPoint(variant: variant.name, filter: "agent", fraction: f), Set((0..<m).map { "g\($0)" }), nil, { layout.bucket($0) < m }))
                points.append((FilterPoint(variant: variant.name, filter: "task_type", fraction: f), nil, "t\(k)", { layout.taskType($0) == "t\(k)" }))
            }
            let vectors = (0..<n).map(w.vector)
            for point in points {
                func query(_ j: Int) -> MemoryQuery {
                    MemoryQuery(kind: .outcome, projectId: w.project, agents: point.agents.map(Array.init), taskType: point.taskType, topK: 10, vector: w.query(j))
                }
                let results = try r.measureQueries(.filter, point.0.name, n: n, on: store, keep: 20, query)
                let eligible = (0..<n).filter(point.eligible)
                let truth = results.indices.map { j in exactTop10(w.query(j), eligible.lazy.map { (id: "o\($0)", v: vectors[$0]) }) }
                r.emit(.filter, point.0.name, n: n, rep: 1, .recallAt10, recallOf(results, truth))
            }
        }
    }
}

/// The ids of the 10 records most similar to `q` by cosine, in one pass.
func exactTop10(_ q: [Float], _ candidates: some Sequence<(id: String, v: [Float])>) -> [String] {
    top10(candidates.lazy.map { (id: $0.id, s: cosineSimilarity(q, $0.v)) }).map(\.id)
}

/// Recall: the share of the true ids (one list per query) found in the results.
func recallOf(_ results: [[String]], _ truth: [[String]]) -> Double {
    var found = 0, total = 0
    for (got, want) in zip(results, truth) {
        found += Set(want).intersection(got).count
        total += want.count
    }
    return total > 0 ? Double(found) / Double(total) : .nan
}

/// The 10 highest scores, best first (ties in input order), in one pass.
func top10(_ scored: some Sequence<(id: String, s: Double)>) -> [(id: String, s: Double)] {
    var best: [(id: String, s: Double)] = []
    for x in scored where best.count < 10 || x.s > best[best.count - 1].s {
        let at = best.firstIndex { x.s > $0.s } ?? best.count
        best.insert(x, at: at)
        if best.count > 10 { best.removeLast() }
    }
    return best
}

/// A filter scenario point, named `<variant>/<filter>/<percent>%` (`<variant>/none` unfiltered).
struct FilterPoint {
    static let none = "none"
    let variant: String
    let filter: String
    let fraction: Double

    init(variant: String, filter: String, fraction: Double) {
        self.variant = variant
        self.filter = filter
        self.fraction = fraction
    }

    /// Parses a row's variant back.
    init?(variant name: String) {
        let parts = name.split(separator: "/").map(String.init)
        if parts.count == 2, parts[1] == Self.none { self.init(variant: parts[0], filter: Self.none, fraction: 1); return }
        guard parts.count == 3, parts[2].hasSuffix("%"), let pct = Double(parts[2].dropLast()) else { return nil }
        self.init(variant: parts[0], filter: parts[1], fraction: pct / 100)
    }

    var name: String { filter == Self.none ? "\(variant)/\(Self.none)" : "\(variant)/\(filter)/\(Self.percent(fraction))%" }
    /// The chart's line: the filter kind (unfiltered is drawn at fraction 1 of both).
    var series: String { "\(variant)/\(filter)" }

    static func percent(_ f: Double) -> String {
        let p = f * 100
        return p == p.rounded() ? String(Int(p)) : String(format: "%g", p)
    }
}
