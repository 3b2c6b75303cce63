extension BenchmarkScenario {
    /// Fits cost ≈ a·n^b over every size measured, per variant and per-operation metric of
    /// `delete` and `prune` (which it brings into the run).
    static let scale = BenchmarkScenario(
        id: .scale, summary: "fit cost ≈ a·n^b over the delete and prune sizes",
        charts: [],
        steps: { r in [Step(label: "scale fits", weight: 0) { fit(r) }] },
        summarize: { rows, _ in
            // `scale.b.<scenario>.<variant>.<metric>@<min n>-<max n>`.
            // The row's variant is the key's name after `b.`, with its sizes (see `fit`).
            Dictionary(rows.filter { $0.metric == Metric.exponent.name }.map { row in
                let at = row.variant.lastIndex(of: "@") ?? row.variant.endIndex
                let sizes = at < row.variant.endIndex ? String(row.variant[row.variant.index(after: at)...]) : nil
                return (SummaryKey(.scale, ["b", String(row.variant[..<at])], sizes: sizes), row.value)
            }) { a, _ in a }
        })

    static let fitted: [(BenchScenario, Metric)] = [(.delete, .latency(.delete, .p50)), (.delete, .latency(.pair, .p50)), (.prune, .pruneMs)]

    private static func fit(_ r: BenchRunner) {
        for (scenario, metric) in fitted {
            let relevant = r.measurements.filter { $0.scenario == scenario.rawValue && $0.metric == metric.name }
            for variant in Set(relevant.map(\.variant)).sorted() {
                let byN = Dictionary(grouping: relevant.filter { $0.variant == variant }, by: \.n)
                let points = byN.map { (n: Double($0.key), cost: Stats.median($0.value.map(\.value))) }
                if let b = Stats.fitExponent(points), let lo = byN.keys.min(), let hi = byN.keys.max() {
                    // The size range is part of the name: a fit over 10k…100k is not one over 10k…1M.
                    r.emit(.scale, String(SummaryKey.exponent(scenario, variant, metric, from: lo, to: hi).description.dropFirst("scale.b.".count)), n: hi, rep: 0, .exponent, b)
                }
            }
        }
    }
}

extension SummaryKey {
    /// `scale.b.<scenario>.<variant>.<metric>@<lo>-<hi>`: the growth exponent b of cost ∝ n^b
    /// of `metric` in `scenario`'s `variant`, fitted over the sizes from `lo` to `hi`.
    public static func exponent(_ scenario: BenchScenario, _ variant: String, _ metric: Metric, from lo: Int, to hi: Int) -> SummaryKey {
        SummaryKey(.scale, ["b", scenario.rawValue, variant, metric.name], from: lo, to: hi)
    }
}
