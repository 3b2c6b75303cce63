import EngramCore
import Foundation

/// The regression gate: every check of a committed thresholds file applied to a run's
/// ratios (which are measured within the run), and each ratio compared with the committed
/// baseline within a tolerance that fits its quantity: relative for throughputs, latencies
/// and ratios, absolute for exponents and fractions that live near zero.
///
/// A check that misses is not failed on one figure: `decide` re-measures its scenario in
/// interleaved passes and judges the bootstrap interval of the median. A miss whose interval
/// straddles the line after the allowed passes is INCONCLUSIVE, and so is a missed target (an
/// absolute goal, judged on a quiet machine) measured while other processes took a large
/// share of the CPU; a move beyond the baseline's tolerance band fails whatever the load.
public enum Gate {
    public struct Thresholds: Codable, Sendable {
        /// A ratio may fall to baseline × (1 − this) before it counts as a regression, and
        /// rise above baseline × (1 + this) before it counts as an improvement.
        public var relativeTolerance: Double
        public var checks: [Check]
    }

    public struct Check: Codable, Sendable {
        /// The figure checked (checked when the file is decoded: a known scenario, valid sizes).
        public var key: SummaryKey
        public var min: Double?
        public var max: Double?
        public var why: String?
        /// The run must measure this key (else the gate exits `missingMeasurement`); keys of
        /// sizes a preset does not run are left optional.
        public var required: Bool?
        /// The benchmark docs' target for this figure: a floor when the check is
        /// higher-is-better (it has a `min`), a ceiling otherwise. Missing it fails, unless
        /// `knownMiss` says why it is missed today: then it is reported as a known miss, and the
        /// target stays where it is.
        public var target: Double?
        public var knownMiss: String?
        /// The smallest move against the baseline worth flagging for this figure (default: the
        /// file's `relativeTolerance`).
        public var tolerance: Double?
        /// For a figure that lives near zero (a growth exponent, a fraction): the band around
        /// the baseline is baseline ± this, in the figure's own units, instead of a relative one.
        public var absoluteTolerance: Double?

        /// Higher is better when the check has a floor.
        var higherIsBetter: Bool { min != nil }
    }

    public struct Row: Sendable {
        public enum Verdict: String, Sendable {
            case pass = "PASS", fail = "FAIL", regression = "REGRESSION", improved = "IMPROVED", knownMiss = "KNOWN MISS", notMeasured = "NOT MEASURED"
            case inconclusive = "INCONCLUSIVE"
            public var failing: Bool { self == .fail || self == .regression }
        }
        public var key: SummaryKey
        public var value: Double?
        public var limit: String
        public var baseline: Double?
        public var verdict: Verdict
        public var why: String?
        public var required: Bool
        /// Every figure the check was judged on when it was re-measured (the run's first), and
        /// the bootstrap interval of their median.
        public var runs: [Double] = []
        public var interval: ClosedRange<Double>?

        public init(key: SummaryKey, value: Double?, limit: String, baseline: Double?, verdict: Verdict, why: String?, required: Bool) {
            self.key = key
            self.value = value
            self.limit = limit
            self.baseline = baseline
            self.verdict = verdict
            self.why = why
            self.required = required
        }
    }

    /// The gate's exit codes, distinct so a CI step can tell what happened (documented in
    /// docs/benchmarks.md). Usage errors exit 64 (EX_USAGE), as the argument parser does.
    public enum Outcome: Int32, Sendable {
        case pass = 0
        /// A check failed its limit or regressed against the baseline.
        case regression = 1
        /// A required check was not measured, or the run measured none of the checks.
        case missingMeasurement = 2
        /// With `--fail-on-improvement`: a ratio beat the baseline beyond the tolerance (the
        /// baseline is stale; `engram baseline update`).
        case improvement = 3
        /// The verdict was printed, but a report (`--markdown`, `--junit`) could not be written.
        case outputFailed = 4
        /// No check failed, but one could not be decided: its interval straddled the line after
        /// every allowed re-measurement, or it missed a target on a busy machine.
        case inconclusive = 5
        case usage = 64
    }

    /// Problems that make a thresholds file unusable (the gate exits `usage` on any): a
    /// tolerance outside [0, 1), no checks, a key twice, a limit that is not finite, or min
    /// above max (a malformed key fails to decode: `SummaryKey(parsing:)`).
    public static func problems(_ t: Thresholds) -> [String] {
        var out: [String] = []
        if !(t.relativeTolerance >= 0 && t.relativeTolerance < 1) { out.append("relativeTolerance must be in [0, 1), not \(t.relativeTolerance)") }
        if t.checks.isEmpty { out.append("checks is empty") }
        var seen: Set<SummaryKey> = []
        for c in t.checks {
            if !seen.insert(c.key).inserted { out.append("\(c.key): listed twice") }
            if c.min == nil, c.max == nil { out.append("\(c.key): neither min nor max") }
            if [c.min, c.max].contains(where: { $0.map { !$0.isFinite } ?? false }) { out.append("\(c.key): a limit is not finite") }
            if let lo = c.min, let hi = c.max, lo > hi { out.append("\(c.key): min \(lo) is above max \(hi)") }
            if let tol = c.tolerance, !(tol >= 0 && tol < 1) { out.append("\(c.key): tolerance must be in [0, 1)") }
            if let tol = c.absoluteTolerance, !(tol >= 0 && tol.isFinite) { out.append("\(c.key): absoluteTolerance must be finite and at least 0") }
            if c.absoluteTolerance != nil, c.tolerance != nil { out.append("\(c.key): a tolerance is relative or absolute, not both") }
            if let target = c.target, !target.isFinite { out.append("\(c.key): the target is not finite") }
            if c.knownMiss != nil, c.target == nil { out.append("\(c.key): knownMiss without a target") }
        }
        return out
    }

    /// One row per check; a check whose key the run did not measure is reported, not failed.
    /// A check with a `min` is higher-is-better, one with only a `max` lower-is-better: either
    /// way a move beyond the tolerance against the baseline is a regression or an improvement.
    public static func evaluate(run: Manifest, baseline: Manifest?, thresholds: Thresholds) -> [Row] {
        thresholds.checks.map { judge($0, value: run.summary[$0.key], baseline: baseline?.summary[$0.key], thresholds: thresholds) }
    }

    /// One check judged on one figure.
    static func judge(_ check: Check, value: Double?, baseline base: Double?, thresholds: Thresholds) -> Row {
        var limits: [String] = []
        if let m = check.min { limits.append(">= \(fmt(m))") }
        if let m = check.max { limits.append("<= \(fmt(m))") }
        var row = Row(key: check.key, value: value, limit: "", baseline: base, verdict: .pass, why: check.why, required: check.required ?? false)
        guard let value else {
            row.verdict = .notMeasured
            row.limit = limits.joined(separator: ", ")
            return row
        }
        if let m = check.min, value < m { row.verdict = .fail }
        if let m = check.max, value > m { row.verdict = .fail }
        if let target = check.target {
            limits.append("target \(check.higherIsBetter ? ">=" : "<=") \(fmt(target))")
            let missed = check.higherIsBetter ? value < target : value > target
            if missed, row.verdict == .pass {
                row.verdict = check.knownMiss == nil ? .fail : .knownMiss
                if let reason = check.knownMiss { row.why = reason }
            }
        }
        if row.verdict == .pass || row.verdict == .knownMiss, let base {
            let band = band(check, base: base, thresholds: thresholds)
            if check.higherIsBetter {
                limits.append(">= \(fmt(band.lowerBound)) (baseline)")
                if value < band.lowerBound { row.verdict = .regression } else if value > band.upperBound, row.verdict == .pass { row.verdict = .improved }
            } else {
                limits.append("<= \(fmt(band.upperBound)) (baseline)")
                if value > band.upperBound { row.verdict = .regression } else if value < band.lowerBound, row.verdict == .pass { row.verdict = .improved }
            }
        }
        row.limit = limits.joined(separator: ", ")
        return row
    }

    /// Whether `value` lies beyond the baseline's band on the worse side.
    static func worseThanBand(_ check: Check, value: Double, base: Double?, thresholds: Thresholds) -> Bool {
        guard let base else { return false }
        let band = band(check, base: base, thresholds: thresholds)
        return check.higherIsBetter ? value < band.lowerBound : value > band.upperBound
    }

    /// The figures around the baseline that count as unchanged.
    static func band(_ check: Check, base: Double, thresholds: Thresholds) -> ClosedRange<Double> {
        if let absolute = check.absoluteTolerance { return (base - absolute)...(base + absolute) }
        let tolerance = check.tolerance ?? thresholds.relativeTolerance
        let a = base * (1 - tolerance), b = base * (1 + tolerance)
        return min(a, b)...max(a, b)
    }

    /// How `decide` re-measures a missed check.
    public struct Remeasure: Sendable {
        /// Re-measurement passes at most (0: judge the run's figure alone).
        public var maxPasses = 4
        /// Passes before an interval is judged. The run's own figure is reported but not judged:
        /// it was chosen for re-measurement because it missed, so it would bias the interval.
        public var minPasses = 2
        public var confidence = 0.95
        public var resamples = 2_000
        public var seed: UInt64 = 0x6A7E
        public init() {}
    }

    /// The gate under noise: every check that failed or regressed on the run's figure is
    /// re-measured — `measure` runs the scenarios named and returns their figures and the
    /// machine's load — in passes over all such scenarios in turn (so they share the noise),
    /// until the bootstrap interval of the median of the re-measured figures lies wholly on one
    /// side of the line that it missed, or `maxPasses` is reached. Wholly on the passing side: the row takes the
    /// verdict of the median. Wholly on the failing side: it fails, except that a missed
    /// target or limit measured while the machine was busy is INCONCLUSIVE (a move against the
    /// baseline beyond its band fails all the same). Straddling after the last pass: INCONCLUSIVE.
    public static func decide(
        _ rows: [Row], run: Manifest, baseline: Manifest?, thresholds: Thresholds, policy: Remeasure,
        measure: (Set<BenchScenario>) -> (summary: [SummaryKey: Double], load: MachineLoad?)
    ) -> (rows: [Row], loads: [MachineLoad]) {
        var rows = rows
        var open = Set(rows.indices.filter { rows[$0].verdict.failing })
        guard !open.isEmpty, policy.maxPasses > 0 else { return (rows, []) }
        let checks = Dictionary(thresholds.checks.map { ($0.key, $0) }) { a, _ in a }
        var runs: [Int: [Double]] = [:]
        var loads: [MachineLoad] = []
        var pass = 0
        while !open.isEmpty, pass < policy.maxPasses {
            pass += 1
            let scenarios = Set(open.map { rows[$0].key.scenario })
            let (summary, load) = measure(scenarios)
            if let load { loads.append(load) }
            for i in open { if let v = summary[rows[i].key], v.isFinite { runs[i, default: []].append(v) } }
            guard pass >= policy.minPasses || pass == policy.maxPasses else { continue }
            let busy = loads.contains { $0.busy } || (run.load?.busy ?? false)
            for i in open.sorted() {
                let figures = runs[i] ?? []
                guard let check = checks[rows[i].key] else { continue }
                guard figures.count >= 2 else {
                    if pass == policy.maxPasses {
                        rows[i].verdict = .inconclusive
                        rows[i].why = "re-measuring gave \(figures.count) figure(s) of it in \(pass) passes: too few to judge"
                        open.remove(i)
                    }
                    continue
                }
                let (median, low, high) = medianInterval(figures, policy: policy)
                let base = baseline?.summary[check.key]
                let atLow = judge(check, value: low, baseline: base, thresholds: thresholds)
                let atHigh = judge(check, value: high, baseline: base, thresholds: thresholds)
                var row = judge(check, value: median, baseline: base, thresholds: thresholds)
                row.runs = [rows[i].value!] + figures
                row.interval = low...high
                let sides = [atLow.verdict.failing, atHigh.verdict.failing]
                if sides == [false, false] {
                    rows[i] = row
                    open.remove(i)
                } else if sides == [true, true] {
                    // Both ends fail. A move against the baseline beyond its band fails on any
                    // machine; a missed target or limit on a busy one is not decided here.
                    let base = baseline?.summary[check.key]
                    if worseThanBand(check, value: low, base: base, thresholds: thresholds), worseThanBand(check, value: high, base: base, thresholds: thresholds) {
                        row.verdict = .regression
                    } else if busy {
                        row.verdict = .inconclusive
                        row.why = "missed its limit or target while other processes took \(percent(loads.map(\.otherCPUShare).max() ?? run.load?.otherCPUShare ?? 0)) of the CPU: judge it on a quiet machine"
                    }
                    rows[i] = row
                    open.remove(i)
                } else if pass == policy.maxPasses {
                    row.verdict = .inconclusive
                    row.why = "the interval [\(fmt(low)), \(fmt(high))] of \(figures.count) figures straddles the line after \(pass) re-measurements"
                    rows[i] = row
                    open.remove(i)
                }
            }
        }
        return (rows, loads)
    }

    /// The median of `figures` and the percentile bootstrap interval of it (seeded). With five
    /// figures or fewer it is their range (no narrower interval has 95% coverage there).
    static func medianInterval(_ figures: [Double], policy: Remeasure) -> (Double, Double, Double) {
        var g = SeededGenerator(seed: policy.seed)
        let draws = Stats.bootstrapMedians(figures, resamples: policy.resamples, using: &g)
        let tail = (1 - policy.confidence) / 2
        return (Stats.median(figures), Stats.quantile(draws, tail), Stats.quantile(draws, 1 - tail))
    }

    static func percent(_ share: Double) -> String { String(format: "%.0f%%", share * 100) }

    /// What the rows add up to, worst first: regression, then a missing measurement, then
    /// (only when asked) an improvement.
    public static func outcome(_ rows: [Row], failOnImprovement: Bool) -> Outcome {
        if rows.contains(where: { $0.verdict.failing }) { return .regression }
        if rows.allSatisfy({ $0.verdict == .notMeasured }) || rows.contains(where: { $0.required && $0.verdict == .notMeasured }) {
            return .missingMeasurement
        }
        if rows.contains(where: { $0.verdict == .inconclusive }) { return .inconclusive }
        if failOnImprovement, rows.contains(where: { $0.verdict == .improved }) { return .improvement }
        return .pass
    }

    /// Differences between the machine a baseline was measured on and this run's, which make
    /// the comparison weaker (ratios travel better than times, but not perfectly).
    public static func machineWarnings(run: Manifest, baseline: Manifest?) -> [String] {
        guard let baseline else { return [] }
        var out: [String] = []
        for key in ["cpu", "cores", "memory_bytes"] {
            let a = baseline.machine[key], b = run.machine[key]
            // Memory as the kernel reports it moves by a few megabytes between boots.
            if key == "memory_bytes", let x = a.flatMap(Double.init), let y = b.flatMap(Double.init), abs(x - y) <= 0.05 * max(x, y) { continue }
            if a != b { out.append("the baseline was measured on a machine with \(key) \(a ?? "unknown"), this run on \(b ?? "unknown")") }
        }
        let source = { (m: Manifest) in m.vectors?.source ?? m.options.vectors?.rawValue ?? VectorSource.uniform.rawValue }
        if source(run) != source(baseline) {
            out.append("the baseline used \(source(baseline)) vectors, this run \(source(run))")
        }
        return out
    }

    public static func table(_ rows: [Row]) -> String {
        var out = pad("check", 58) + pad("value", 12) + pad("baseline", 12) + pad("limit", 34) + "verdict\n"
        for r in rows {
            out += pad(r.key.description, 58) + pad(r.value.map(fmt) ?? "-", 12) + pad(r.baseline.map(fmt) ?? "-", 12) + pad(r.limit, 34) + r.verdict.rawValue + "\n"
        }
        return out
    }

    /// A markdown summary for a pull request or `$GITHUB_STEP_SUMMARY`.
    public static func markdown(_ rows: [Row], outcome: Outcome, warnings: [String], run: Manifest, loads: [MachineLoad] = []) -> String {
        let icon: [Row.Verdict: String] = [.pass: "✅", .fail: "❌", .regression: "❌", .improved: "🚀", .knownMiss: "⚠️", .notMeasured: "➖", .inconclusive: "❔"]
        var out = "### Engram benchmark gate: \(outcome == .pass ? "passed" : "\(outcome)")\n\n"
        out += "Run `\(run.runId)` on `\(run.host)` (\(run.machine["cpu"] ?? "?"), \(run.machine["cores"] ?? "?") cores), commit `\(run.gitCommit.prefix(12))`.\n\n"
        for (what, load) in [("the run", run.load)] + loads.enumerated().map({ ("re-measurement \($0.offset + 1)", $0.element) }) {
            if let load { out += "Machine during \(what): \(load.description)\n\n" }
        }
        for w in warnings { out += "> ⚠️ \(w)\n" }
        if !warnings.isEmpty { out += "\n" }
        out += "| check | baseline | this run | change | limit | verdict |\n|---|---|---|---|---|---|\n"
        for r in rows {
            var change = "-"
            if let v = r.value, let b = r.baseline, b != 0 { change = String(format: "%+.1f%%", (v / b - 1) * 100) }
            let cells = [r.key.description, r.baseline.map(fmt) ?? "-", r.value.map(fmt) ?? "-", change, r.limit.isEmpty ? "-" : r.limit, "\(icon[r.verdict] ?? "") \(r.verdict.rawValue)"]
            out += "| " + cells.map(markdownCell).joined(separator: " | ") + " |\n"
        }
        let remeasured = rows.filter { !$0.runs.isEmpty }
        if !remeasured.isEmpty {
            out += "\nRe-measured (a miss is judged on the 95% bootstrap interval of the median of every figure):\n"
            for r in remeasured {
                let interval = r.interval.map { "[\(fmt($0.lowerBound)), \(fmt($0.upperBound))]" } ?? "-"
                out += "- `\(markdownCell(r.key.description))`: \(r.runs.map(fmt).joined(separator: ", ")) → median \(r.value.map(fmt) ?? "-"), interval \(interval): \(r.verdict.rawValue)"
                out += r.verdict == .inconclusive ? ", \(markdownCell(r.why ?? ""))\n" : "\n"
            }
        }
        let misses = rows.filter { $0.verdict == .knownMiss }
        if !misses.isEmpty {
            out += "\nKnown misses (the target stands; the reason is why it is missed today):\n"
            for r in misses { out += "- `\(markdownCell(r.key.description))`: \(markdownCell(r.why ?? ""))\n" }
        }
        return out
    }

    /// A table cell: backslashes and pipes escaped, line breaks as spaces.
    static func markdownCell(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "|", with: "\\|")
            .components(separatedBy: .newlines).joined(separator: " ")
    }

    /// JUnit XML: one test case per check. It fails where the exit code does: failed and
    /// regressed checks, a required check not measured, and (with `failOnImprovement`) an
    /// improvement; other unmeasured checks skip.
    public static func junit(_ rows: [Row], failOnImprovement: Bool = false) -> String {
        func failing(_ r: Row) -> Bool {
            r.verdict == .fail || r.verdict == .regression || (r.required && r.verdict == .notMeasured) || (failOnImprovement && r.verdict == .improved)
        }
        let failures = rows.filter(failing).count
        let skipped = rows.filter { ($0.verdict == .notMeasured || $0.verdict == .inconclusive) && !failing($0) }.count
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuite name=\"engram-gate\" tests=\"\(rows.count)\" failures=\"\(failures)\" skipped=\"\(skipped)\">\n"
        for r in rows {
            out += "  <testcase classname=\"engram.gate\" name=\"\(XML.escape(r.key.description))\""
            let detail = "value \(r.value.map(fmt) ?? "-"), baseline \(r.baseline.map(fmt) ?? "-"), limit \(r.limit)" + (r.why.map { ": \($0)" } ?? "")
            if failing(r) {
                let what = r.verdict == .notMeasured ? "REQUIRED, NOT MEASURED" : r.verdict.rawValue
                out += ">\n    <failure message=\"\(XML.escape(what + ": " + detail))\"/>\n  </testcase>\n"
            } else if r.verdict == .notMeasured {
                out += ">\n    <skipped message=\"not measured in this run\"/>\n  </testcase>\n"
            } else if r.verdict == .inconclusive {
                out += ">\n    <skipped message=\"\(XML.escape("INCONCLUSIVE: " + detail))\"/>\n  </testcase>\n"
            } else {
                out += "/>\n"
            }
        }
        return out + "</testsuite>\n"
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
    static func fmt(_ v: Double) -> String { String(format: "%.4g", v) }
}
