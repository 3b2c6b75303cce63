@testable import Conformance
import EngramCore
import EngramFindings
import Foundation
import Testing

/// Each verdict rule of `engram findings`, on evidence given directly (no backend runs).
@Suite struct FindingsVerdicts {
    let run = FindingsRun(records: 20_000, dimension: 8)
    func finding(_ id: String) -> Finding { Finding.all.first { $0.id == id }! }
    func result(_ id: String, _ status: ScenarioResult.Status, _ reason: String = "") -> [String: ScenarioResult] {
        [id: ScenarioResult(id: id, description: "", backend: "b", status: status, durationMs: 1, reason: reason)]
    }
    func verdict(_ id: String, family: String = "sqlite", entry: String = "sqlite", _ results: [String: ScenarioResult] = [:],
                 figures: [String: Double] = [:], probes: FindingsRun.ProbeResults = .init()) -> Verdict {
        run.verdict(finding(id), family: family, name: "b", entryName: entry, results, figures, probes)
    }

    @Test func anotherFamilyIsNotApplicableAndAnUnreachableOneSaysWhy() {
        #expect(verdict("MED-001", family: "sqlite").kind == .notApplicable)
        #expect(verdict("MED-001", family: "").evidence.contains("not named"))
        #expect(verdict("NEW-003", family: "postgres").kind == .notReachable)
    }

    @Test func scenariosDecideWhenNothingIsMeasured() {
        #expect(verdict("MED-001", family: "files", result("upsert.no-duplicates", .failed, "two copies")).kind == .reproduced)
        #expect(verdict("MED-001", family: "files", result("upsert.no-duplicates", .passed)).kind == .fixed)
        let skipped = verdict("MED-001", family: "files", result("upsert.no-duplicates", .skipped, "no capability"))
        #expect(skipped.kind == .notReachable && skipped.evidence.contains("no capability"))
    }

    @Test func batchAtomicityAndSpeed() {
        var p = FindingsRun.ProbeResults()
        let fast = ["batch_records_per_s": 60_000.0, "single_records_per_s": 10_000.0]
        let slow = ["batch_records_per_s": 12_000.0, "single_records_per_s": 10_000.0]
        p.batch = .atomic
        #expect(verdict("MED-003", figures: fast, probes: p).kind == .fixed)
        #expect(verdict("MED-003", figures: slow, probes: p).kind == .reproduced)
        p.batch = .leftPart(1)
        #expect(verdict("MED-003", figures: fast, probes: p).kind == .reproduced)
        p.batch = .acceptedInvalid(3)
        #expect(verdict("MED-003", figures: fast, probes: p).kind == .notReachable)
        #expect(verdict("MED-003", figures: slow, probes: p).kind == .reproduced)
        p.batch = nil
        #expect(verdict("MED-003").kind == .notReachable)
    }

    @Test func deleteGrowthAgainstItsTargets() {
        var p = FindingsRun.ProbeResults()
        for (b, kind) in [(0.9, Verdict.Kind.reproduced), (0.05, .fixed), (0.3, .inconclusive)] {
            p.deleteGrowth = (b, [5_000: 10, 20_000: 10 * pow(4, b)])
            #expect(verdict("MED-004", probes: p).kind == kind, "b = \(b)")
        }
        #expect(verdict("MED-004").kind == .notReachable)
    }

    @Test func leakedVectors() {
        var p = FindingsRun.ProbeResults()
        p.leak = [.heuristic: 2, .outcome: 0, .domainKnowledge: 0, .antiPattern: 0]
        #expect(verdict("HIGH-001", probes: p).kind == .reproduced)
        p.leak = [.heuristic: 0, .outcome: 0, .domainKnowledge: 0, .antiPattern: 0]
        #expect(verdict("HIGH-001", probes: p).kind == .fixed)
        p.leak = [.heuristic: -1, .outcome: 0, .domainKnowledge: 0, .antiPattern: 0]
        #expect(verdict("HIGH-001", probes: p).kind == .inconclusive)
    }

    @Test func crossPartitionQueries() {
        var p = FindingsRun.ProbeResults()
        p.crossPartition = 4
        #expect(verdict("MED-007", family: "cosmos", entry: "cosmos", probes: p).kind == .reproduced)
        p.crossPartition = 0
        #expect(verdict("MED-007", family: "cosmos", entry: "cosmos", probes: p).kind == .fixed)
        #expect(verdict("MED-007", family: "cosmos", entry: "external").kind == .notReachable)
    }

    @Test func theReportCarriesEveryFindingAndBackend() {
        let rows = Dictionary(uniqueKeysWithValues: Finding.all.map { ($0.id, ["b": Verdict(kind: .fixed, evidence: "e|1")]) })
        let report = FindingsReport(targets: ["b"], rows: rows, performance: [("b", ["prune_ms": 3])], records: 20_000, dimension: 8, versions: [:])
        let md = report.markdown()
        #expect(Finding.all.allSatisfy { md.contains("### \($0.id)") } && md.contains("| prune 1,000 oldest outcomes, ms | 3 |"))
        #expect(report.screen().split(separator: "\n").count == Finding.all.count + 1)
    }
}
