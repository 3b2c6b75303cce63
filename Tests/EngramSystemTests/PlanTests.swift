@testable import EngramBench
import EngramCatalog
import EngramCore
import Foundation
import Testing

/// Capacity planning: the models recover what generated their points, their intervals widen
/// with distance, the verdict names the first resource to run out, and a tiny real plan on
/// the in-memory store measures every metric it projects.
@Suite struct Planning {
    @Test func modelsRecoverTheirParametersAndWidenWithDistance() throws {
        let ns: [Double] = [1_000, 3_000, 9_000, 27_000]
        let linear = try #require(PlanModel.fit(.linear, ns.enumerated().map { ($1, 500 + 1_600 * $1 * (1 + 0.01 * Double($0 % 2))) }))
        #expect(abs(linear.b - 1_600) / 1_600 < 0.02)
        let power = try #require(PlanModel.fit(.power, ns.map { ($0, 2 * pow($0, 0.9)) }))
        #expect(abs(power.b - 0.9) < 1e-9 && abs(power.a - 2) < 1e-6)
        let near = linear.interval(30_000), far = linear.interval(3_000_000)
        #expect(near.low < linear.predict(30_000) && linear.predict(30_000) < near.high)
        #expect(far.high - far.low > near.high - near.low)
        #expect(abs(try #require(power.solve(2 * pow(1e6, 0.9))) - 1e6) / 1e6 < 1e-6)
        #expect(PlanModel.fit(.power, [(1_000, 1), (1_000, 2)]) == nil)
        #expect(Planner.ladder(cap: 100_000) == [1_234, 3_703, 11_111, 33_333, 100_000])
        #expect(Planner.ladder(cap: 300) == [33, 100, 300])
    }

    @Test func theVerdictNamesTheFirstLimit() throws {
        let points = [1_000, 3_000, 9_000].map { n in
            PlanPoint(n: n, values: [PlanMetric.heapBytes.rawValue: 1_000 * Double(n), PlanMetric.diskBytes.rawValue: 100 * Double(n),
                                     PlanMetric.searchP95Us.rawValue: Double(n) / 10, PlanMetric.searchP50Us.rawValue: Double(n) / 20], seconds: 1)
        }
        var target = PlanTarget(records: 10_000_000, dimension: 384)
        target.sloP95Ms = 50
        let machine = PlanMachine(memoryBytes: 16e9, diskFreeBytes: 1e12, cores: 2)
        let projections = Planner.project(points, to: target.records)
        let verdict = PlanVerdict.judge(projections, target: target, machine: machine, embedded: true)
        // Memory (1 kB a record) runs out at 12.8M, the SLO (n/10 µs ≤ 50 ms) at 500k: the SLO first.
        #expect(!verdict.fits && verdict.sloHolds == false)
        #expect(verdict.firstLimit?.hasPrefix("search p95 SLO") == true, "\(verdict.firstLimit ?? "-")")
        #expect(verdict.warnings.contains { $0.contains("beyond the largest calibrated size") })
        #expect(verdict.memoryMetric == PlanMetric.heapBytes.rawValue)  // no heap_live_bytes measured here
        // A flat latency above the SLO: no size "runs out" by the model, and still it does not fit.
        let flat = [1_000, 3_000, 9_000].map { n in PlanPoint(n: n, values: [PlanMetric.searchP95Us.rawValue: 80_000 + Double(n % 7)], seconds: 1) }
        let slow = PlanVerdict.judge(Planner.project(flat, to: 100_000), target: target, machine: machine, embedded: true)
        #expect(!slow.fits && slow.sloHolds == false)
    }

    @Test func aTinyPlanMeasuresAndWritesItsReports() throws {
        let scratch = ScratchDirectory(prefix: "engram-plan-test")
        var target = PlanTarget(records: 3_000, dimension: 8)
        target.budgetSeconds = 5
        let planner = try Planner(backend: BackendCatalog.entry("sqlite").bench!, target: target, scratch: scratch.url)
        let points = try planner.calibrate(cap: 300)
        #expect(points.map(\.n) == [33, 100, 300])
        let point = try planner.measure(n: 1_000)
        for m in [PlanMetric.diskBytes, .indexBytes, .openMs, .searchP50Us, .searchP95Us, .filteredP50Us, .saveRecordsPerSecond, .deleteP50Us, .pruneUsPerRow] {
            #expect((point.values[m.rawValue] ?? -1) > 0, "\(m)")
        }
        // The RSS growth is measured, but its sign is not this test's: other tests in this
        // process allocate and free at the same time (it failed once under load at 0).
        #expect(point.values[PlanMetric.rssBytes.rawValue] != nil)
        let projections = Planner.project(points + [point], to: 3_000)
        let report = PlanReport(backend: "sqlite", target: target, machine: .this(dataDirectory: scratch.url.path), jemalloc: Jemalloc.available, points: points + [point],
                                projections: projections, verdict: PlanVerdict.judge(projections, target: target, machine: .this(dataDirectory: scratch.url.path), embedded: planner.embedded))
        let files = try report.write(to: scratch.url.appendingPathComponent("out"))
        #expect(files.contains { $0.lastPathComponent == "plan-sqlite.json" } && files.contains { $0.lastPathComponent == "search_p95_us.svg" })
        #expect(report.table.contains("verdict: FITS"))
    }
}
