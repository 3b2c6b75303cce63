@testable import EngramBench
import EngramCore
import Foundation
import Testing

/// The gate's verdicts, exit codes and outputs, on the committed baseline and copies of it.
@Suite struct GateOutcomes {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let baseline = try! JSONDecoder().decode(Manifest.self, from: Data(contentsOf: root.appendingPathComponent("benchmarks/baseline/bench-sqlite-manifest.json")))
    let rules = try! JSONDecoder().decode(Gate.Thresholds.self, from: Data(contentsOf: root.appendingPathComponent("benchmarks/thresholds.json")))

    func run(_ change: (inout Manifest) -> Void) -> Manifest {
        var m = baseline
        change(&m)
        return m
    }

    @Test func theBaselinePassesItsOwnGate() {
        let rows = Gate.evaluate(run: baseline, baseline: baseline, thresholds: rules)
        #expect(Gate.outcome(rows, failOnImprovement: true) == .pass)
        #expect(rows.allSatisfy { $0.verdict == .pass || $0.verdict == .knownMiss || $0.verdict == .notMeasured })
        #expect(Gate.machineWarnings(run: baseline, baseline: baseline).isEmpty)
    }

    @Test func aRegressionAMissingMeasurementAndAnImprovementHaveTheirOwnCodes() throws {
        // A check whose threshold lies well below the baseline's tolerance band.
        let tolerance = rules.relativeTolerance
        let check = try #require(rules.checks.first { c in
            guard let min = c.min, let b = baseline.summary[c.key] else { return false }
            return min < b * (1 - tolerance) * 0.9
        })
        let key = check.key, base = baseline.summary[key]!, floor = check.min!
        // Below baseline × (1 − tolerance) but above the threshold: a regression.
        let regressed = run { $0.summary[key] = base * (1 - tolerance) * 0.95 }
        let regressedRows = Gate.evaluate(run: regressed, baseline: baseline, thresholds: rules)
        #expect(regressedRows.first { $0.key == key }?.verdict == .regression)
        #expect(Gate.outcome(regressedRows, failOnImprovement: false) == .regression)
        // Below its threshold: a failure, whatever the baseline says.
        let failed = run { $0.summary[key] = floor - 1 }
        #expect(Gate.outcome(Gate.evaluate(run: failed, baseline: nil, thresholds: rules), failOnImprovement: false) == .regression)
        // Nothing measured, or a required key missing.
        let empty = run { $0.summary = [:] }
        #expect(Gate.outcome(Gate.evaluate(run: empty, baseline: baseline, thresholds: rules), failOnImprovement: false) == .missingMeasurement)
        var strict = rules
        strict.checks[strict.checks.firstIndex { $0.key == key }!].required = true
        let missing = run { $0.summary[key] = nil }
        #expect(Gate.outcome(Gate.evaluate(run: missing, baseline: baseline, thresholds: strict), failOnImprovement: false) == .missingMeasurement)
        // Far above the baseline: reported, and an exit code only when asked.
        let better = run { $0.summary[key] = base * (1 + tolerance) * 2 }
        let rows = Gate.evaluate(run: better, baseline: baseline, thresholds: rules)
        #expect(rows.first { $0.key == key }?.verdict == .improved)
        #expect(Gate.outcome(rows, failOnImprovement: false) == .pass && Gate.outcome(rows, failOnImprovement: true) == .improvement)
    }

    /// A check with only a max is lower-is-better: a rise beyond the tolerance regresses.
    @Test func lowerIsBetterChecksAreComparedWithTheBaselineToo() throws {
        let check = try #require(rules.checks.first { $0.min == nil && $0.max != nil && (baseline.summary[$0.key] ?? 0) > 0 })
        let base = baseline.summary[check.key]!
        let worse = run { $0.summary[check.key] = min(base * (1 + rules.relativeTolerance) * 1.5, check.max! * 0.999) }
        try #require(worse.summary[check.key]! > base * (1 + rules.relativeTolerance))
        #expect(Gate.evaluate(run: worse, baseline: baseline, thresholds: rules).first { $0.key == check.key }?.verdict == .regression)
    }

    /// A target missed for a stated reason is a known miss, not a pass and not a failure; a
    /// target missed without one fails, whatever the limit allows.
    @Test func targetsAreNotLoweredToTheMeasuredValue() throws {
        let known = try #require(rules.checks.first { $0.knownMiss != nil && baseline.summary[$0.key] != nil })
        let row = try #require(Gate.evaluate(run: baseline, baseline: baseline, thresholds: rules).first { $0.key == known.key })
        #expect(row.verdict == .knownMiss && row.why == known.knownMiss && row.limit.contains("target"))
        var strict = rules
        strict.checks[strict.checks.firstIndex { $0.key == known.key }!].knownMiss = nil
        let rows = Gate.evaluate(run: baseline, baseline: baseline, thresholds: strict)
        #expect(rows.first { $0.key == known.key }?.verdict == .fail)
        #expect(Gate.outcome(rows, failOnImprovement: false) == .regression)
        #expect(Gate.markdown(Gate.evaluate(run: baseline, baseline: baseline, thresholds: rules), outcome: .pass, warnings: [], run: baseline).contains("Known misses"))
    }

    @Test func unusableThresholdsAreNamed() {
        var t = rules
        t.relativeTolerance = -0.1
        t.checks.append(t.checks[0])
        t.checks.append(Gate.Check(key: "x", min: 10, max: 1, why: nil, required: nil))
        let problems = Gate.problems(t)
        #expect(problems.count == 3, "\(problems)")
        #expect(Gate.problems(rules).isEmpty)
    }

    @Test func markdownAndJUnitCarryEveryCheck() throws {
        let key = try #require(rules.checks.first { $0.min != nil && baseline.summary[$0.key] != nil }).key
        let failed = run {
            $0.summary[key] = -1
            $0.machine["cpu"] = "Another <CPU>"
        }
        let rows = Gate.evaluate(run: failed, baseline: baseline, thresholds: rules)
        let warnings = Gate.machineWarnings(run: failed, baseline: baseline)
        #expect(warnings.count == 1 && warnings[0].contains("Another <CPU>"))
        let md = Gate.markdown(rows, outcome: .regression, warnings: warnings, run: failed)
        #expect(md.contains("| \(key) |") && md.contains("FAIL") && md.contains("⚠️"))
        #expect(md.split(separator: "\n").filter { $0.hasPrefix("| ") }.count == rules.checks.count + 1)
        let xml = Gate.junit(rows)
        #expect(xml.contains("tests=\"\(rules.checks.count)\"") && xml.contains("failures=\"1\""))
        #expect(xml.components(separatedBy: "<testcase ").count - 1 == rules.checks.count)
    }
}

/// The A/B comparison's statistics: a slowdown well beyond the flagging line is a regression,
/// noise is not, throughput is inverted, and a wide interval across the line asks for more runs.
@Suite struct ABComparison {
    let policy = ABCompare.Policy()

    /// `count` figures around `centre` with ±`spread` relative noise (deterministic).
    func figures(_ centre: Double, spread: Double, count: Int = 7, seed: UInt64 = 1) -> [Double] {
        var g = EngramCore.SeededGenerator(seed: seed)
        return (0..<count).map { _ in centre * (1 + Double.random(in: -spread...spread, using: &g)) }
    }

    @Test func aTwentyPercentSlowdownIsARegressionNoiseIsNot() {
        let base = figures(100, spread: 0.03, seed: 1)
        let slow = ABCompare.compare(.delete, baseline: base, candidate: figures(120, spread: 0.03, seed: 2), policy: policy, final: true)
        #expect(slow.verdict == .regression && slow.ratio > 1.15 && slow.low > 1, "\(slow)")
        let same = ABCompare.compare(.delete, baseline: base, candidate: figures(100, spread: 0.03, seed: 3), policy: policy, final: true)
        #expect(same.verdict == .same && same.low < 1 && same.high > 1, "\(same)")
        let fast = ABCompare.compare(.search, baseline: base, candidate: figures(80, spread: 0.03, seed: 4), policy: policy, final: true)
        #expect(fast.verdict == .improved, "\(fast)")
    }

    @Test func throughputIsHigherIsBetter() {
        // Records per second falling by a sixth is the same 20% slowdown.
        let r = ABCompare.compare(.save, baseline: figures(1_200, spread: 0.02), candidate: figures(1_000, spread: 0.02, seed: 5), policy: policy, final: true)
        #expect(r.verdict == .regression && abs(r.ratio - 1.2) < 0.05, "\(r)")
    }

    @Test func anIntervalAcrossTheLineIsAmbiguousUntilTheLastRound() {
        let base = figures(100, spread: 0.2, count: 5, seed: 6), cand = figures(110, spread: 0.2, count: 5, seed: 7)
        #expect(ABCompare.compare(.prune, baseline: base, candidate: cand, policy: policy, final: false).verdict == .ambiguous)
        #expect(ABCompare.compare(.prune, baseline: base, candidate: cand, policy: policy, final: true).verdict != .ambiguous)
    }

    @Test func rowsCarryTheIntervalAndFailWhereTheGateDoes() {
        let results = [ABCompare.compare(.delete, baseline: figures(100, spread: 0.02), candidate: figures(130, spread: 0.02, seed: 9), policy: policy, final: true)]
        let rows = ABCompare.rows(results, policy: policy)
        #expect(rows[0].verdict == .regression && rows[0].limit.contains("slowdown"))
        #expect(Gate.outcome(rows, failOnImprovement: false) == .regression)
        #expect(Gate.junit(rows).contains("<failure"))
    }
}
