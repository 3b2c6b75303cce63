import EngramCore

extension BenchmarkScenario {
    /// Prune the oldest outcomes at each table size, with and without the timestamp index: HIGH-003.
    static let prune = BenchmarkScenario(
        id: .prune, summary: "prune the oldest outcomes, with and without the timestamp index",
        charts: [.init(file: "prune", title: "Prune the 1,000 oldest outcomes", metric: .pruneMs, yLabel: "ms per prune", xLabel: "outcomes (n)")],
        steps: { r in
            r.steps(.prune, sizes: r.options.pruneSizes, weight: { n, _ in Double(n) * 3e-5 + Double(r.options.repetitions) * Double(n) * 1e-6 }) { n, v in
                try runPrune(r, n: n, variant: v)
            }
        },
        summarize: { rows, _ in
            // `prune.no_index_vs_index@n`: median prune time without the index over with it.
            var out: [SummaryKey: Double] = [:]
            for n in Set(rows.map(\.n)) {
                if let without = median(rows, VariantName.noIndex, n, .pruneMs), let with = median(rows, VariantName.index, n, .pruneMs), with > 0 {
                    out[.pruneRatio(n: n)] = without / with
                }
            }
            return out
        })

    private static func runPrune(_ r: BenchRunner, n: Int, variant: BenchVariant) throws {
        let w = r.workload, count = r.options.pruneCount
        try r.withStore(variant) { store in
            // Outcomes arrive in time order, as an agent logs them; the prune takes the oldest.
            try w.load(store, n: n, embedding: false, timeOrdered: true, chunk: 10_000)
            try variant.settle(store)
            if let explain = store as? any QueryPlanIntrospecting {
                let plan = try explain.explainDeleteOutcomes(projectId: w.project, olderThan: w.t0.adding(microseconds: Int64(count)), agent: nil)
                r.recordPlan("\(variant.name)@\(n)", plan.detail)
                r.emit(.prune, variant.name, n: n, rep: 0, .planUsesTimestampIndex, plan.indexUsed == explain.outcomeTimestampIndexName ? 1 : 0)
                r.emit(.prune, variant.name, n: n, rep: 0, .planFullScan, plan.fullScan ? 1 : 0)
            }
            for rep in 1...r.options.repetitions {
                let cut = w.t0.adding(microseconds: Int64(rep * count))
                var deleted = 0
                let ns = try r.time(.prune, .prune, variant) { deleted = try store.deleteOutcomes(projectId: w.project, olderThan: cut, agent: nil) }
                guard deleted == count else { throw EngramError(.internal, "prune deleted \(deleted) outcomes, expected \(count)") }
                r.emit(.prune, variant.name, n: n, rep: rep, .pruneMs, ns / 1e6)
            }
        }
    }
}

extension SummaryKey {
    /// `prune.no_index_vs_index@n`: the median prune time without the timestamp index over with it.
    public static func pruneRatio(n: Int) -> SummaryKey { SummaryKey(.prune, "\(VariantName.noIndex)_vs_\(VariantName.index)", n: n) }
}
