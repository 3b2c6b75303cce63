import Foundation

/// The gate's self-test: does it flag an unchanged build (false alarms), and does it catch a
/// build whose delete or prune was made slower (detections)? Each trial is a quick run of the
/// scenarios the slowed paths feed, gated against the baseline with re-measurement, as CI
/// gates a run; the caller measures (`measure(nil)` is the first run, `measure(scenarios)` a
/// re-measurement of those).
public enum GateSelfTest {
    public struct Trial: Codable, Sendable {
        /// The slowed path (nil: unchanged).
        public var slowed: HotPath?
        public var outcome: String
        public var failed: [SummaryKey]
        public var inconclusive: [SummaryKey]
        public var remeasurements: Int
        public var load: MachineLoad?

        /// Caught: the run regressed on a check the slowed path's scenario measures.
        public var caught: Bool {
            guard let slowed else { return false }
            return failed.contains { GateSelfTest.scenarios(of: slowed).contains($0.scenario) }
        }
        public var falseAlarm: Bool { slowed == nil && !failed.isEmpty }

        public var line: String {
            "\(slowed.map { "\($0.rawValue) slowed" } ?? "unchanged"): \(outcome), failed [\(failed.map(\.description).joined(separator: ", "))], inconclusive [\(inconclusive.map(\.description).joined(separator: ", "))], \(remeasurements) re-measurements" + (load.map { "; \($0)" } ?? "")
        }
    }

    /// The scenarios whose figures a slowed path moves.
    static func scenarios(of path: HotPath) -> Set<BenchScenario> {
        switch path {
        case .delete: [.delete, .scale]
        case .prune: [.prune, .scale]
        default: [.hotpaths]
        }
    }

    public static func trial(slowed: HotPath?, rules: Gate.Thresholds, baseline: Manifest, policy: Gate.Remeasure,
                             measure: (Set<BenchScenario>?) throws -> Manifest) throws -> Trial {
        let run = try measure(nil)
        var passes = 0
        let (rows, loads) = Gate.decide(Gate.evaluate(run: run, baseline: baseline, thresholds: rules), run: run, baseline: baseline,
                                        thresholds: rules, policy: policy) { scenarios in
            passes += 1
            guard let again = try? measure(scenarios) else { return ([:], nil) }
            return (again.summary, again.load)
        }
        return Trial(slowed: slowed, outcome: "\(Gate.outcome(rows, failOnImprovement: false))",
                     failed: rows.filter { $0.verdict.failing }.map(\.key), inconclusive: rows.filter { $0.verdict == .inconclusive }.map(\.key),
                     remeasurements: passes, load: ([run.load].compactMap { $0 } + loads).max { $0.otherCPUShare < $1.otherCPUShare })
    }

    public struct Report: Sendable {
        public var trials: [Trial]
        public var slowdown: Double
        public var load: [MachineLoad]

        public init(trials: [Trial], slowdown: Double, load: [MachineLoad]) {
            self.trials = trials
            self.slowdown = slowdown
            self.load = load
        }

        public var markdown: String {
            let unchanged = trials.filter { $0.slowed == nil }, slowed = trials.filter { $0.slowed != nil }
            func pct(_ k: Int, _ n: Int) -> String { n == 0 ? "-" : String(format: "%.0f%%", Double(k) / Double(n) * 100) }
            let alarms = unchanged.filter(\.falseAlarm).count, caught = slowed.filter(\.caught).count
            var md = "### `engram gate` self-test\n\n"
            md += "Quick runs of delete, prune and scale, each gated against the committed baseline with re-measurement; a slowed build's Engram delete or prune takes \(String(format: "%.0f", (1 + slowdown)))x its time.\n\n"
            if let busiest = load.max(by: { $0.otherCPUShare < $1.otherCPUShare }) { md += "Busiest measurement: \(busiest).\n\n" }
            md += "| trials | kind | failed (exit 1) | inconclusive (exit 5) | rate |\n|---|---|---|---|---|\n"
            md += "| \(unchanged.count) | unchanged build | \(alarms) false alarms | \(unchanged.filter { $0.outcome == "inconclusive" }.count) | \(pct(alarms, unchanged.count)) false alarms |\n"
            for path in [HotPath.delete, .prune] {
                let ts = slowed.filter { $0.slowed == path }
                md += "| \(ts.count) | \(path.rawValue) \(String(format: "%.0f", (1 + slowdown)))x slower | \(ts.filter(\.caught).count) caught | \(ts.filter { $0.outcome == "inconclusive" }.count) | \(pct(ts.filter(\.caught).count, ts.count)) detected |\n"
            }
            md += "\nDetected \(caught) of \(slowed.count) slowed builds; \(alarms) false alarms in \(unchanged.count) unchanged ones.\n"
            return md
        }
    }
}
