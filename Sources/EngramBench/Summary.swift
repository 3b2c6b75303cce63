/// Turns a run's measurements into named comparisons, each measured within the run: each
/// scenario's own (see its `summarize`), keyed `<scenario>.…`, e.g.
/// `delete.pair.full_rebuild_vs_swap_remove@100000`, `prune.no_index_vs_index@100000`,
/// `batch.batch_vs_single@1000`, `search.recall_at_10.exact/filtered@10000`,
/// `get.p50_us.engram`, `scale.b.delete.swap_remove.delete_p50_us@1000-100000`.
public enum Summary {
    public static func ratios(_ run: BenchRun, engramVariant: (BenchScenario) -> String) -> [String: Double] {
        var out: [String: Double] = [:]
        for scenario in BenchmarkScenario.all {
            let rows = run.measurements.filter { $0.scenario == scenario.id.rawValue }
            guard !rows.isEmpty else { continue }
            out.merge(scenario.summarize(rows, engramVariant(scenario.id))) { a, _ in a }
        }
        return out
    }
}
