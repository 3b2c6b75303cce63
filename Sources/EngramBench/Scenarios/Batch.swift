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
        summarize: { rows, engram in
            // `batch.[<variant>.]batch_vs_single@size`: records/s of one batch over single saves;
            // `batch.batch_vs_<reference>@size`: Engram's batch over the reference program's.
            var out: [SummaryKey: Double] = [:]
            let variants = Set(rows.map(\.variant))
            let engramBatch = variants.contains(VariantName.batch) ? VariantName.batch : engram + "." + VariantName.batch
            for n in Set(rows.map(\.n)) {
                for reference in variants where reference.hasPrefix(referencePrefix) {
                    if let e = median(rows, engramBatch, n, .recordsPerSecond), let b = median(rows, reference, n, .recordsPerSecond), b > 0 {
                        out[SummaryKey(.batch, "\(VariantName.batch)_vs_\(reference.dropFirst(referencePrefix.count))", n: n)] = e / b
                    }
                }
                for v in variants where v == VariantName.batch || v.hasSuffix("." + VariantName.batch) {
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
        for rep in 1...r.options.repetitions {
            for variant in variants {
                // One variant: rows `single` and `batch`; several: `<variant>.single`, `<variant>.batch`.
                let prefix = variants.count == 1 ? "" : variant.name + "."
                let single = try r.withStore(variant) { store in try time { for x in records { try store.save(x) } } }
                r.emit(.batch, prefix + VariantName.single, n: size, batch: 1, rep: rep, .recordsPerSecond, Double(size) / (single / 1e9))
                let batch = try r.withStore(variant) { store in try time { _ = try store.save(records) } }
                r.emit(.batch, prefix + VariantName.batch, n: size, batch: size, rep: rep, .recordsPerSecond, Double(size) / (batch / 1e9))
            }
            if let reference = r.backend.batchReference {
                let ns = try r.withDirectory { dir in try reference.run(dir, records, r.options.dimension) }
                r.emit(.batch, referencePrefix + reference.name, n: size, batch: size, rep: rep, .recordsPerSecond, Double(size) / (ns / 1e9))
            }
        }
    }

    /// A reference program's rows: `reference.<name>`.
    private static let referencePrefix = "reference."
}
