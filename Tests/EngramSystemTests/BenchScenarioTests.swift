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
        o.recallSize = 500
        o.tenantSize = 600
        o.tenantCounts = [1, 10]
        o.runbookScale = 0.01
        o.concurrencySize = 400
        o.concurrencyClients = [1, 2]
        o.hotPathSize = 400
        o.quick = true  // one-second concurrency points
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
        if [.batch, .search, .filter, .recall, .tenants, .runbook, .concurrency, .get, .hotpaths, .scale].contains(id) {
            #expect(Self.run.manifest.summary.keys.contains { $0.scenario == id }, "\(id) added nothing to the summary")
        }
    }

    /// The concurrency scenario ran every load at every client count, the paced writer kept its
    /// 100 saves a second, and the hot paths wrote each path's summary key.
    @Test func concurrencyAndHotPathsMeasureWhatTheyName() {
        let qps = Self.run.measurements.filter { $0.scenario == "concurrency" && $0.metric == Metric.queriesPerSecond.name }
        #expect(Set(qps.map { "\($0.variant)#\($0.step)" }) == ["exact/search#1", "exact/search#2", "exact/mixed_90_10#1", "exact/mixed_90_10#2",
                                                                "exact/paced_writer#1", "exact/paced_writer#2", "exact/readers_alone#1", "exact/readers_alone#2"])
        let paced = Self.run.measurements.filter { $0.variant == "exact/paced_writer" && $0.metric == Metric.savesPerSecond.name }
        #expect(!paced.isEmpty && paced.allSatisfy { $0.value > 80 && $0.value < 110 }, "\(paced.map(\.value))")
        let mixed = Self.run.measurements.filter { $0.variant == "exact/mixed_90_10" && $0.metric == Metric.latency(.save, .ops).name }
        #expect(mixed.count == 2 && mixed.allSatisfy { $0.value > 0 })
        for path in HotPath.allCases { #expect((Self.run.manifest.summary[path.summaryKey] ?? 0) > 0, "\(path)") }
    }

    /// On SQLite the sweep also runs two stores over one file: each save in one is found by
    /// the other's very next search.
    @Test func twoSQLiteStoresSeeEachOthersSavesInTheirNextSearch() throws {
        var o = BenchOptions()
        o.scenarios = [.concurrency]
        o.concurrencySize = 300
        o.concurrencyClients = [1]
        o.quick = true
        o.dimension = 8
        let scratch = ScratchDirectory(prefix: "engram-bench-test")
        let run = try BenchRunner(backend: BackendCatalog.entry("sqlite").bench!, options: o, scratch: scratch.url).run()
        #expect(run.manifest.summary[SummaryKey(.concurrency, "visible_in_next_search", "exact/visibility", n: 300)] == 1)
        #expect((run.manifest.summary[SummaryKey(.concurrency, "qps", "exact/two_stores/clients=2", n: 300)] ?? 0) > 0)
    }

    @Test func everyChartHasItsMetric() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-charts-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let files = try Charts.write(Self.run.measurements, backend: "memory", to: dir).map(\.lastPathComponent)
        #expect(Set(files) == ["memory-delete-only.svg", "memory-delete-pair.svg", "memory-prune.svg", "memory-batch.svg", "memory-search.svg", "memory-filter-qps.svg",
                               "memory-recall-qps.svg", "memory-tenants-qps.svg", "memory-runbook-recall.svg", "memory-runbook-search.svg",
                               "memory-concurrency-qps.svg", "memory-concurrency-p95.svg"])
    }

    /// The exact store finds the true top 10 wherever recall is checked: in one project of
    /// many, in the recall scenario, and at every runbook checkpoint over the live records.
    @Test func exactSearchHasFullRecallInTheWorkloadScenarios() {
        let recall = Self.run.measurements.filter { $0.metric == Metric.recallAt10.name && ["recall", "tenants", "runbook"].contains($0.scenario) }
        #expect(Set(recall.map(\.scenario)) == ["recall", "tenants", "runbook"])
        #expect(recall.allSatisfy { $0.value == 1 }, "\(recall.filter { $0.value != 1 })")
        // Both built-in runbooks ran, their steps numbered in order, and the live count moved.
        let steps = Self.run.measurements.filter { $0.scenario == "runbook" }
        #expect(Set(steps.map(\.variant)) == ["exact/agent-retention", "exact/churn"])
        let retention = steps.filter { $0.variant == "exact/agent-retention" && $0.metric == Metric.recallAt10.name }
        #expect(retention.count == 30 && retention.map(\.step) == retention.map(\.step).sorted())
        // The 7-day window holds at most 7 days of 20 outcomes once it is full.
        #expect(retention.last!.n == 7 * 20, "\(retention.map(\.n))")
        #expect(Set(steps.map(\.metric)).isSuperset(of: ["insert_ms", "prune_outcomes_ms", "decay_confidence_ms", "prune_heuristics_ms", "replace_ms", "delete_ms"]))
    }

    /// The recall summary finds the smallest setting that reaches 0.95 and compares it with
    /// the same variant's exact ranking.
    @Test func recallSummaryFindsTheSmallestSettingReachingTheTarget() throws {
        func row(_ variant: String, _ metric: Metric, _ value: Double) -> EngramBench.Measurement {
            Measurement(backend: "x", scenario: "recall", variant: variant, n: 100, dim: 8, batchSize: 0, repetition: 1, metric: metric.name, value: value, unit: metric.unit)
        }
        let rows = [row("hnsw/exact", .recallAt10, 1), row("hnsw/exact", .queriesPerSecond, 100),
                     row("hnsw/ef_search=10", .recallAt10, 0.8), row("hnsw/ef_search=10", .queriesPerSecond, 900),
                     row("hnsw/ef_search=40", .recallAt10, 0.96), row("hnsw/ef_search=40", .queriesPerSecond, 400),
                     row("hnsw/ef_search=200", .recallAt10, 0.99), row("hnsw/ef_search=200", .queriesPerSecond, 150)]
        let s = BenchmarkScenario.recall.summarize(rows, "hnsw")
        #expect(s[try SummaryKey(parsing: "recall.min_ef_search_for_0.95.hnsw@100")] == 40)
        #expect(s[try SummaryKey(parsing: "recall.qps_vs_exact_at_0.95.hnsw@100")] == 4)
        #expect(s[try SummaryKey(parsing: "recall.qps_vs_exact.hnsw/ef_search=10@100")] == 9)
        #expect(SweepPoint(variant: "hnsw/ef_search=40").setting?.value == 40 && SweepPoint(variant: "exact").setting == nil)
    }

    /// The CSV carries the runbook step and still reads files written before the column.
    @Test func csvRoundTripsTheStepAndReadsTheEarlierHeader() throws {
        let back = try BenchReports.readCSV(BenchReports.csv(Self.run))
        #expect(back.count == Self.run.measurements.count && back.map(\.step) == Self.run.measurements.map(\.step))
        #expect(back.contains { $0.step > 0 })
        let old = BenchReports.earlierCSVHeader + "\nr,t,c,h,sqlite,search,exact/unfiltered,10,8,0,1,qps,5.5,queries/s\n"
        #expect(try BenchReports.readCSV(old).first?.step == 0)
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

/// Runbook files are checked before anything runs: each bad field is a typed error naming its
/// path, and a runbook cannot expand past the step and record bounds.
@Suite struct Runbooks {
    func invalid(_ json: String) -> (field: String, message: String)? {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("runbook-\(UUID().uuidString).json")
        try! Data(json.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        do {
            _ = try Runbook.load(url.path)
            return nil
        } catch let e as EngramError where e.code == .invalidInput {
            return (e.field ?? "", e.message)
        } catch {
            return ("untyped", "\(error)")
        }
    }

    /// Work over the live set is bounded before the run: a million heuristics decayed 99,999
    /// times is refused by the dry run (it counts the work; it plays nothing).
    @Test func aRunbookThatWouldTouchTooManyRecordsIsRefused() throws {
        let book = try JSONDecoder().decode(Runbook.self, from: Data(#"{"name": "w", "steps": [{"op": "insert_heuristics", "count": 1000000}, {"repeat": 99999, "steps": [{"op": "decay_confidence", "factor": 0.99}]}]}"#.utf8))
        try book.validate()
        #expect(throws: EngramError.self) { _ = try RunbookPlayer.vectorsNeeded(book, scale: 1) }
    }

    @Test func theBuiltInRunbooksAreValid() throws {
        for name in Runbook.builtIn.keys { _ = try Runbook.load(name) }
        #expect(try RunbookPlayer.vectorsNeeded(Runbook.load("agent-retention"), scale: 1) == 60_000)
        // churn: 20,000, then 20 rounds of 5% replaced (new vectors) and 1,000 inserted.
        #expect(try RunbookPlayer.vectorsNeeded(Runbook.load("churn"), scale: 1) == 20_000 + 20 * (1_000 + 1_000))
    }

    @Test func badRunbooksNameTheField() {
        let fraction = invalid(#"{"name": "x", "steps": [{"repeat": 2, "steps": [{"op": "delete", "fraction": 1.5}]}]}"#)
        #expect(fraction?.field == "runbook.steps[0].steps[0].fraction")
        #expect(invalid(#"{"name": "x", "steps": [{"op": "search"}]}"#)?.field == "runbook.steps[0].queries")
        let unknown = invalid(#"{"name": "x", "steps": [{"op": "drop_table"}]}"#)
        #expect(unknown?.field == "runbook" && unknown?.message.contains("steps") == true)
        #expect(invalid(#"{"name": "../x", "steps": []}"#)?.field == "runbook.name")
        #expect(invalid(#"{"name": "x", "steps": [{"repeat": 1000, "steps": [{"repeat": 1000, "steps": [{"op": "advance_days", "days": 1}]}]}]}"#)?.field
            == "runbook.steps[0].steps[0].repeat")
        #expect(invalid(#"{"name": "x", "steps": [{"repeat": 2000, "steps": [{"op": "insert", "count": 10000}]}]}"#)?.field == "runbook.steps[0].steps[0].count")
        #expect(invalid("[" + String(repeating: "[", count: 5_000))?.field == "runbook")
        #expect(invalid(#"{"name": "x", "steps": [{"op": "insert", "count": 3}]}"#) == nil)
        // A misspelt key, and a step that is both a repeat and an op, are errors naming the key.
        #expect(invalid(#"{"name": "x", "steps": [{"op": "insert", "count": 3, "batchh": 1}]}"#)?.message.contains("batchh") == true)
        #expect(invalid(#"{"name": "x", "steps": [{"repeat": 2, "op": "insert", "count": 3, "steps": []}]}"#)?.message.contains("unknown key") == true)
        #expect(invalid(#"{"name": "x", "stepz": []}"#)?.message.contains("stepz") == true)
        // Simulated time is bounded, so timestamps cannot overflow.
        #expect(invalid(#"{"name": "x", "steps": [{"repeat": 99999, "steps": [{"op": "advance_days", "days": 100000}]}]}"#)?.field == "runbook.steps[0].steps[0].days")
        do {
            _ = try Runbook.load("no-such-runbook")
            Issue.record("an unknown runbook loaded")
        } catch let e as EngramError {
            #expect(e.code == .invalidInput && e.field == "runbook")
        } catch {
            Issue.record("untyped error \(error)")
        }
    }
}
