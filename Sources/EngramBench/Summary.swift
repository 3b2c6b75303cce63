import Foundation

/// Turns a run's measurements into named comparisons, each measured within the run:
///
/// - `delete.<workload>.<variant>_vs_<engram>@n`: the variant's median per-operation p50
///   divided by Engram's (how many times costlier), workload `delete` or `pair`;
/// - `prune.no_index_vs_index@n`: median prune time without the timestamp index over with it;
/// - `batch.batch_vs_single@size`: records/s of one batch save over single saves;
/// - `search.recall_at_10.<variant>/<filter>@n`, `search.scan_bandwidth_fraction.<variant>/unfiltered@n`,
///   `search.qps.<variant>/<filter>@n`, and `search.qps_vs_raw_sql.<variant>/<filter>@n` where the
///   backend offers the same query written by hand (`<variant>_raw_sql`);
/// - `get.p50_us.<variant>`: the median point-read latency (an absolute figure, not a ratio);
/// - `scale.b.<scenario>.<variant>.<metric>@<min n>-<max n>`: the fitted exponent of cost ≈ a·n^b.
public enum Summary {
    public static func ratios(_ run: BenchRun, engramVariant: (BenchScenario) -> String) -> [String: Double] {
        var out: [String: Double] = [:]
        let rows = run.measurements
        func median(_ scenario: String, _ variant: String, _ n: Int, _ metric: String) -> Double? {
            let v = rows.filter { $0.scenario == scenario && $0.variant == variant && $0.n == n && $0.metric == metric }.map(\.value)
            return v.isEmpty ? nil : Stats.median(v)
        }
        let engramDelete = engramVariant(.delete)
        for n in Set(rows.filter { $0.scenario == "delete" }.map(\.n)) {
            for workload in ["delete", "pair"] {
                guard let base = median("delete", engramDelete, n, "\(workload)_p50_us"), base > 0 else { continue }
                for variant in Set(rows.filter { $0.scenario == "delete" && $0.n == n }.map(\.variant)) where variant != engramDelete {
                    if let v = median("delete", variant, n, "\(workload)_p50_us") {
                        out["delete.\(workload).\(variant)_vs_\(engramDelete)@\(n)"] = v / base
                    }
                }
            }
        }
        for n in Set(rows.filter { $0.scenario == "prune" }.map(\.n)) {
            if let without = median("prune", "no_index", n, "prune_ms"), let with = median("prune", "index", n, "prune_ms"), with > 0 {
                out["prune.no_index_vs_index@\(n)"] = without / with
            }
        }
        let batchRows = rows.filter { $0.scenario == "batch" }
        for n in Set(batchRows.map(\.n)) {
            for v in Set(batchRows.map(\.variant)) where v == "batch" || v.hasSuffix(".batch") {
                let prefix = String(v.dropLast("batch".count))
                if let b = median("batch", v, n, "records_per_s"), let s = median("batch", prefix + "single", n, "records_per_s"), s > 0 {
                    out["batch.\(prefix)batch_vs_single@\(n)"] = b / s
                }
            }
        }
        for r in rows where r.scenario == "search" {
            switch r.metric {
            case "recall_at_10", "scan_bandwidth_fraction", "qps":
                out["search.\(r.metric).\(r.variant)@\(r.n)"] = median("search", r.variant, r.n, r.metric)
            default: break
            }
        }
        // A variant `<v>_raw_sql` is the same query written by hand: Engram's QPS over it.
        for r in rows where r.scenario == "search" && r.metric == "qps" && r.variant.contains("_raw_sql/") {
            let engram = r.variant.replacingOccurrences(of: "_raw_sql/", with: "/")
            if let mine = median("search", engram, r.n, "qps"), let raw = median("search", r.variant, r.n, "qps"), raw > 0 {
                out["search.qps_vs_raw_sql.\(engram)@\(r.n)"] = mine / raw
            }
        }
        for r in rows where r.scenario == "get" && r.metric == "get_p50_us" {
            out["get.p50_us.\(r.variant)"] = median("get", r.variant, r.n, "get_p50_us")
        }
        for r in rows where r.scenario == "scale" && r.metric == "exponent_b" {
            out["scale.b.\(r.variant)"] = r.value
        }
        return out
    }
}
