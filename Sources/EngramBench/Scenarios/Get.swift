import EngramCore

extension BenchmarkScenario {
    /// One point read: saves `getCount` outcomes, then reads each back once per repetition.
    static let get = BenchmarkScenario(
        id: .get, summary: "read records back one by one by key",
        charts: [],
        steps: { r in
            guard let variant = r.backend.variants(.get, r.options.dimension).first else { return [] }
            return [Step(label: "get n=\(r.options.getCount)", weight: Double(r.options.getCount) * 4e-4) { try runGet(r, variant: variant) }]
        },
        summarize: { rows, _ in
            // `get.p50_us.<variant>`: the median point-read latency (an absolute figure).
            var out: [SummaryKey: Double] = [:]
            let metric = Metric.latency(.get, .p50)
            for row in rows where row.metric == metric.name { out[SummaryKey(.get, "p50_us", row.variant)] = median(rows, row.variant, row.n, metric) }
            return out
        },
        vectorsNeeded: { $0.getCount })

    private static func runGet(_ r: BenchRunner, variant: BenchVariant) throws {
        let w = r.workload, n = r.options.getCount
        try r.withStore(variant) { store in
            try w.load(store, n: n, embedding: true, chunk: 500)
            try variant.settle(store)
            let charges = store as? any RequestChargeReporting
            for rep in 1...r.options.repetitions {
                var latencies: [Double] = []
                let before = charges?.requestCharge.total
                for i in w.permutation(n, salt: UInt64(rep)) {
                    let key = RecordKey(.outcome, scope: w.project, id: "o\(i)")
                    var found = false
                    latencies.append(try time { found = try store.get(key) != nil })
                    guard found else { throw EngramError(.internal, "benchmark get of \(key) found nothing") }
                }
                r.emitLatencies(.get, variant.name, n: n, rep: rep, .get, latencies)
                if let before, let after = charges?.requestCharge.total {
                    r.emit(.get, variant.name, n: n, rep: rep, .requestUnitsPerGet, (after - before) / Double(n))
                }
            }
        }
    }
}
