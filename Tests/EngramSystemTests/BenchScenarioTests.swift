@testable import EngramBench
import EngramCatalog
import EngramCore
import Foundation
import Testing

/// The benchmark scenarios, run for real at tiny sizes on the in-memory store: each writes
/// the metrics its charts draw and the comparisons it adds to the summary, so a renamed
/// metric or variant breaks here rather than leaving an empty chart or a gate check unmeasured.
@Suite struct BenchScenarios {
    static let run: BenchRun = {
        var o = BenchOptions()
        o.deleteSizes = [200, 400]
        o.pruneSizes = [3_000, 4_000]
        o.batchSizes = [50]
        o.searchSizes = [300]
        o.getCount = 50
        o.repetitions = 2
        o.deleteOps = 10
        o.searchQueries = 10
        o.filterSize = 3_000
        o.dimension = 8
        let scratch = ScratchDirectory(prefix: "engram-bench-test")
        return try! BenchRunner(backend: BackendCatalog.entry("memory").bench!, options: o, scratch: scratch.url).run()
    }()

    @Test(arguments: BenchScenario.allCases)
    func everyScenarioMeasuresAndSummarizes(id: BenchScenario) {
        let rows = Self.run.measurements.filter { $0.scenario == id.rawValue }
        #expect(!rows.isEmpty, "\(id) wrote no rows")
        #expect(rows.allSatisfy { $0.value.isFinite }, "\(id): \(rows.filter { !$0.value.isFinite })")
        // delete and prune compare variants the in-memory store does not have; the others summarize.
        if [.batch, .search, .filter, .get, .scale].contains(id) {
            #expect(Self.run.manifest.summary.keys.contains { $0.hasPrefix(id.rawValue + ".") }, "\(id) added nothing to the summary")
        }
    }

    @Test func everyChartHasItsMetric() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-charts-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let files = try Charts.write(Self.run.measurements, backend: "memory", to: dir).map(\.lastPathComponent)
        #expect(Set(files) == ["memory-delete-only.svg", "memory-delete-pair.svg", "memory-prune.svg", "memory-batch.svg", "memory-search.svg", "memory-filter-qps.svg"])
    }

    @Test func latencyMetricsAreNamedAsBefore() {
        #expect(Metric.latency(.delete, .p50).name == "delete_p50_us" && Metric.latency(.pair, .ops).name == "pair_ops")
        #expect(Self.run.measurements.contains { $0.metric == "query_p99_us" && $0.unit == "us" })
    }

    /// The clustered source is deterministic, unit length, and gives queries near neighbours
    /// where the uniform one does not.
    @Test func clusteredVectorsHaveNearNeighboursUniformOnesDoNot() {
        func nearestMedian(_ w: Workload) -> Double {
            let records = (0..<2_000).map(w.vector)
            let best = (0..<21).map { j in records.map { cosineSimilarity(w.query(j), $0) }.max()! }.sorted()
            return best[10]
        }
        let clustered = Workload(dimension: 64, seed: 3, vectors: .clustered)
        #expect(clustered.vector(7) == clustered.vector(7) && clustered.vector(7) != clustered.vector(8))
        #expect(abs(clustered.vector(7).reduce(0) { $0 + Double($1) * Double($1) } - 1) < 1e-5)
        #expect(nearestMedian(clustered) > 0.6)
        #expect(nearestMedian(Workload(dimension: 64, seed: 3, vectors: .uniform)) < 0.5)
    }
}
