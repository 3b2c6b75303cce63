import EngramCore

extension BenchmarkScenario {
    /// Delete one outcome, and delete-then-search, at each index size: the review's MED-004.
    static let delete = BenchmarkScenario(
        id: .delete, summary: "delete one record, and delete then search, per vector-maintenance strategy",
        charts: [
            .init(file: "delete-only", title: "Delete one record (p50)", metric: .latency(.delete, .p50), yLabel: "µs per delete", xLabel: "vectors in the index (n)"),
            .init(file: "delete-pair", title: "Delete then search (p50)", metric: .latency(.pair, .p50), yLabel: "µs per delete+search pair", xLabel: "vectors in the index (n)"),
        ],
        steps: { r in
            r.steps(.delete, sizes: r.options.deleteSizes, weight: { n, v in
                let d = r.dimensionScale, dn = Double(n)
                let ops = Double(deleteOps(r, v, n: n)) * Double(r.options.repetitions)
                return dn * 4e-5 * d + ops * (v.deleteBudget != nil ? 2 * dn * 4e-6 * d : 2e-4) + ops * dn * 2e-7 * d
            }) { n, v in try runDelete(r, n: n, variant: v) }
        },
        summarize: { rows, engram in
            // `delete.<op>.<variant>_vs_<engram>@n`: the variant's median p50 over Engram's.
            var out: [SummaryKey: Double] = [:]
            for n in Set(rows.map(\.n)) {
                for op in [Metric.Operation.delete, .pair] {
                    let metric = Metric.latency(op, .p50)
                    guard let base = median(rows, engram, n, metric), base > 0 else { continue }
                    for variant in Set(rows.filter { $0.n == n }.map(\.variant)) where variant != engram {
                        if let v = median(rows, variant, n, metric) { out[.deleteRatio(op, variant, over: engram, n: n)] = v / base }
                    }
                }
            }
            return out
        },
        vectorsNeeded: { $0.deleteSizes.max() ?? 0 })

    /// Deletes per repetition: fewer for variants whose delete cost grows with n, and never
    /// more than the index can give for every repetition of both workloads.
    static func deleteOps(_ r: BenchRunner, _ v: BenchVariant, n: Int) -> Int {
        min(r.options.deleteOps(for: v, n: n), n / (2 * r.options.repetitions + 2))
    }

    private static func runDelete(_ r: BenchRunner, n: Int, variant: BenchVariant) throws {
        let w = r.workload
        try r.withStore(variant) { store in
            try w.load(store, n: n, embedding: true)
            try variant.settle(store)
            if let m = store as? any IndexMemoryReporting {
                r.emit(.delete, variant.name, n: n, rep: 0, .indexBytesPer1kVectors, Double(try m.vectorIndexMemoryBytes()) / Double(n) * 1000)
            }
            let order = w.permutation(n, salt: 0xDE1E7E)
            var cursor = 0
            let ops = deleteOps(r, variant, n: n)
            func next() -> RecordKey {
                defer { cursor += 1 }
                return RecordKey(.outcome, scope: w.project, id: "o\(order[cursor])")
            }
            for rep in 1...r.options.repetitions {
                var deletes: [Double] = []
                for _ in 0..<ops {
                    let key = next()
                    var ok = false
                    deletes.append(try r.time(.delete, .delete, variant) { ok = try store.delete(key) })
                    guard ok else { throw EngramError(.internal, "benchmark delete of \(key) found nothing") }
                }
                r.emitLatencies(.delete, variant.name, n: n, rep: rep, .delete, deletes)
                var pairs: [Double] = []
                for j in 0..<ops {
                    let key = next()
                    let q = MemoryQuery(kind: .outcome, projectId: w.project, topK: 10, vector: w.query(j))
                    var hits = 0
                    pairs.append(try r.time(.delete, .delete, variant) {
                        _ = try store.delete(key)
                        hits = try store.query(q).count
                    })
                    guard hits == 10 else { throw EngramError(.internal, "benchmark search returned \(hits) results, expected 10") }
                }
                r.emitLatencies(.delete, variant.name, n: n, rep: rep, .pair, pairs)
            }
        }
    }
}

extension SummaryKey {
    /// `delete.<op>.<variant>_vs_<engram>@n`: the variant's median p50 of `op` over Engram's.
    public static func deleteRatio(_ op: Metric.Operation, _ variant: String, over engram: String, n: Int) -> SummaryKey {
        SummaryKey(.delete, op.rawValue, "\(variant)_vs_\(engram)", n: n)
    }
}
