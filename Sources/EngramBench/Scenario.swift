/// A benchmark scenario as a value, like a conformance `Scenario`: it owns its steps (each a
/// measurement with its expected cost, which both the progress estimate and the progress bar
/// use), the charts its measurements feed, and the named comparisons it adds to the summary.
/// The runner knows nothing about any one scenario.
public struct BenchmarkScenario: Sendable {
    public let id: BenchScenario
    /// What it measures, for `--help` and reports.
    public let summary: String
    /// The charts drawn from its rows.
    let charts: [Charts.Spec]
    /// Its steps in this run, given the runner (options, backend, workload, emit).
    let steps: @Sendable (BenchRunner) -> [Step]
    /// Named comparisons of its rows, each measured within the run; `engram` is the name of
    /// Engram's own variant in this scenario.
    let summarize: @Sendable (_ rows: [Measurement], _ engram: String) -> [SummaryKey: Double]
    /// The most record vectors it embeds with these options (a vector file must have as many).
    var vectorsNeeded: @Sendable (BenchOptions) -> Int = { _ in 0 }

    /// One unit of measurement: a label for the progress bar, its expected cost in seconds
    /// (roughly, on 2 cores) and what it does.
    struct Step {
        let label: String
        let weight: Double
        let run: () throws -> Void
    }

    /// Every scenario, in run order (`scale` last: it fits curves over the others' rows).
    public static let all: [BenchmarkScenario] = [.delete, .prune, .batch, .search, .filter, .recall, .tenants, .runbook, .concurrency, .get, .hotpaths, .scale]

    public static func of(_ id: BenchScenario) -> BenchmarkScenario { all.first { $0.id == id }! }
}

/// The median of `metric` over the rows of one variant at one n, if any.
func median(_ rows: [Measurement], _ variant: String, _ n: Int, _ metric: Metric) -> Double? {
    let v = rows.filter { $0.variant == variant && $0.n == n && $0.metric == metric.name }.map(\.value)
    return v.isEmpty ? nil : Stats.median(v)
}
