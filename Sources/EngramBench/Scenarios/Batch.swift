import EngramCore

extension BenchmarkScenario {
    /// Save outcomes one by one and as one batch: MED-003.
    static let batch = BenchmarkScenario(
        id: .batch, summary: "save records one at a time and as one batch",
        charts: [.init(file: "batch", title: "Saving outcomes with embeddings", metric: .recordsPerSecond, yLabel: "records per second", xLabel: "records saved")],
        steps: { r in
            r.options.batchSizes.map { size in
                Step(label: "batch size=\(size)", weight: Double(size) * 8e-5 * Double(r.options.repetitions) * r.dimensionScale) {
                    try runBatch(r, size: size)
                }
            }
        },
        summarize: { rows, _ in
            // `batch.[<variant>.]batch_vs_single@size`: records/s of one batch over single saves;
            // `batch.batch_vs_<reference>@size`: Engram's batch over the reference program's.
            var out: [SummaryKey: Double] = [:]
            for n in Set(rows.map(\.n)) {
                for reference in Set(rows.filter { $0.variant.hasSuffix(referenceSuffix) }.map(\.variant)) {
                    let name = String(reference.dropLast(referenceSuffix.count))
                    if let e = median(rows, VariantName.batch, n, .recordsPerSecond), let b = median(rows, reference, n, .recordsPerSecond), b > 0 {
                        out[SummaryKey(.batch, "\(VariantName.batch)_vs_\(name)", n: n)] = e / b
                    }
                }
                for v in Set(rows.map(\.variant)) where v == VariantName.batch || v.hasSuffix("." + VariantName.batch) {
                    let prefix = String(v.dropLast(VariantName.batch.count))
                    if let b = median(rows, v, n, .recordsPerSecond), let s = median(rows, prefix + VariantName.single, n, .recordsPerSecond), s > 0 {
                        out[SummaryKey(.batch, prefix + "\(VariantName.batch)_vs_\(VariantName.single)", n: n)] = b / s
                    }
                }
            }
            return out
        },
        vectorsNeeded: { $0.batchSizes.max() ?? 0 })

    private static func runBatch(_ r: BenchRunner, size: Int) throws {
        let variants = r.backend.variants(.batch, r.options.dimension)
        let records = (0..<size).map { r.workload.outcome($0, of: size, embedding: true) }
        for variant in variants {
            // One variant: rows `single` and `batch`; several: `<variant>.single`, `<variant>.batch`.
            let prefix = variants.count == 1 ? "" : variant.name + "."
            for rep in 1...r.options.repetitions {
                let single = try r.withStore(variant) { store in try time { for x in records { try store.save(x) } } }
                r.emit(.batch, prefix + VariantName.single, n: size, batch: 1, rep: rep, .recordsPerSecond, Double(size) / (single / 1e9))
                let batch = try r.withStore(variant) { store in try time { _ = try store.save(records) } }
                r.emit(.batch, prefix + VariantName.batch, n: size, batch: size, rep: rep, .recordsPerSecond, Double(size) / (batch / 1e9))
                if let reference = r.backend.batchReference, variants.count == 1 {
                    let ns = try r.withDirectory { dir in try reference.run(dir, records, r.options.dimension) }
                    r.emit(.batch, reference.name + referenceSuffix, n: size, batch: size, rep: rep, .recordsPerSecond, Double(size) / (ns / 1e9))
                }
            }
        }
    }

    /// A reference program's rows: `<name>.batch`.
    private static let referenceSuffix = "." + VariantName.batch
}
