import EngramCore
import Foundation

/// The regression gate: every check of a committed thresholds file applied to a run's
/// ratios (which are measured within the run, so they hold on a noisy machine), and each
/// ratio compared with the committed baseline within a relative tolerance.
public enum Gate {
    public struct Thresholds: Codable, Sendable {
        /// A ratio may fall to baseline × (1 − this) before it counts as a regression, and
        /// rise above baseline × (1 + this) before it counts as an improvement.
        public var relativeTolerance: Double
        public var checks: [Check]
    }

    public struct Check: Codable, Sendable {
        public var key: String
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

        /// Higher is better when the check has a floor.
        var higherIsBetter: Bool { min != nil }
    }

    public struct Row: Sendable {
        public enum Verdict: String, Sendable {
            case pass = "PASS", fail = "FAIL", regression = "REGRESSION", improved = "IMPROVED", knownMiss = "KNOWN MISS", notMeasured = "NOT MEASURED"
        }
        public var key: String
        public var value: Double?
        public var limit: String
        public var baseline: Double?
        public var verdict: Verdict
        public var why: String?
        public var required: Bool
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
        case usage = 64
    }

    /// Problems that make a thresholds file unusable (the gate exits `usage` on any): a
    /// tolerance outside [0, 1), no checks, a key twice, a key with control characters, a
    /// limit that is not finite, or min above max.
    public static func problems(_ t: Thresholds) -> [String] {
        var out: [String] = []
        if !(t.relativeTolerance >= 0 && t.relativeTolerance < 1) { out.append("relativeTolerance must be in [0, 1), not \(t.relativeTolerance)") }
        if t.checks.isEmpty { out.append("checks is empty") }
        var seen: Set<String> = []
        for c in t.checks {
            if !seen.insert(c.key).inserted { out.append("\(c.key): listed twice") }
            if c.key.isEmpty || c.key.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0.properties.generalCategory == .unassigned }) {
                out.append("\(c.key.debugDescription): a key must be non-empty printable text")
            }
            if c.min == nil, c.max == nil { out.append("\(c.key): neither min nor max") }
            if [c.min, c.max].contains(where: { $0.map { !$0.isFinite } ?? false }) { out.append("\(c.key): a limit is not finite") }
            if let lo = c.min, let hi = c.max, lo > hi { out.append("\(c.key): min \(lo) is above max \(hi)") }
            if let tol = c.tolerance, !(tol >= 0 && tol < 1) { out.append("\(c.key): tolerance must be in [0, 1)") }
            if let target = c.target, !target.isFinite { out.append("\(c.key): the target is not finite") }
            if c.knownMiss != nil, c.target == nil { out.append("\(c.key): knownMiss without a target") }
        }
        return out
    }

    /// One row per check; a check whose key the run did not measure is reported, not failed.
    /// A check with a `min` is higher-is-better, one with only a `max` lower-is-better: either
    /// way a move beyond the tolerance against the baseline is a regression or an improvement.
    public static func evaluate(run: Manifest, baseline: Manifest?, thresholds: Thresholds) -> [Row] {
        thresholds.checks.map { check in
            let value = run.summary[check.key]
            let base = baseline?.summary[check.key]
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
                let tolerance = check.tolerance ?? thresholds.relativeTolerance
                if check.min != nil {
                    let floor = base * (1 - tolerance)
                    limits.append(">= \(fmt(floor)) (baseline)")
                    if value < floor { row.verdict = .regression } else if value > base * (1 + tolerance), row.verdict == .pass { row.verdict = .improved }
                } else {
                    let ceiling = base * (1 + tolerance)
                    limits.append("<= \(fmt(ceiling)) (baseline)")
                    if value > ceiling { row.verdict = .regression } else if value < base * (1 - tolerance), row.verdict == .pass { row.verdict = .improved }
                }
            }
            row.limit = limits.joined(separator: ", ")
            return row
        }
    }

    /// What the rows add up to, worst first: regression, then a missing measurement, then
    /// (only when asked) an improvement.
    public static func outcome(_ rows: [Row], failOnImprovement: Bool) -> Outcome {
        if rows.contains(where: { $0.verdict == .fail || $0.verdict == .regression }) { return .regression }
        if rows.allSatisfy({ $0.verdict == .notMeasured }) || rows.contains(where: { $0.required && $0.verdict == .notMeasured }) {
            return .missingMeasurement
        }
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
            out += pad(r.key, 58) + pad(r.value.map(fmt) ?? "-", 12) + pad(r.baseline.map(fmt) ?? "-", 12) + pad(r.limit, 34) + r.verdict.rawValue + "\n"
        }
        return out
    }

    /// A markdown summary for a pull request or `$GITHUB_STEP_SUMMARY`.
    public static func markdown(_ rows: [Row], outcome: Outcome, warnings: [String], run: Manifest) -> String {
        let icon: [Row.Verdict: String] = [.pass: "✅", .fail: "❌", .regression: "❌", .improved: "🚀", .knownMiss: "⚠️", .notMeasured: "➖"]
        var out = "### Engram benchmark gate: \(outcome == .pass ? "passed" : "\(outcome)")\n\n"
        out += "Run `\(run.runId)` on `\(run.host)` (\(run.machine["cpu"] ?? "?"), \(run.machine["cores"] ?? "?") cores), commit `\(run.gitCommit.prefix(12))`.\n\n"
        for w in warnings { out += "> ⚠️ \(w)\n" }
        if !warnings.isEmpty { out += "\n" }
        out += "| check | baseline | this run | change | limit | verdict |\n|---|---|---|---|---|---|\n"
        for r in rows {
            var change = "-"
            if let v = r.value, let b = r.baseline, b != 0 { change = String(format: "%+.1f%%", (v / b - 1) * 100) }
            let cells = [r.key, r.baseline.map(fmt) ?? "-", r.value.map(fmt) ?? "-", change, r.limit.isEmpty ? "-" : r.limit, "\(icon[r.verdict] ?? "") \(r.verdict.rawValue)"]
            out += "| " + cells.map(markdownCell).joined(separator: " | ") + " |\n"
        }
        let misses = rows.filter { $0.verdict == .knownMiss }
        if !misses.isEmpty {
            out += "\nKnown misses (the target stands; the reason is why it is missed today):\n"
            for r in misses { out += "- `\(markdownCell(r.key))`: \(markdownCell(r.why ?? ""))\n" }
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
        let skipped = rows.filter { $0.verdict == .notMeasured && !failing($0) }.count
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuite name=\"engram-gate\" tests=\"\(rows.count)\" failures=\"\(failures)\" skipped=\"\(skipped)\">\n"
        for r in rows {
            out += "  <testcase classname=\"engram.gate\" name=\"\(XML.escape(r.key))\""
            let detail = "value \(r.value.map(fmt) ?? "-"), baseline \(r.baseline.map(fmt) ?? "-"), limit \(r.limit)" + (r.why.map { ": \($0)" } ?? "")
            if failing(r) {
                let what = r.verdict == .notMeasured ? "REQUIRED, NOT MEASURED" : r.verdict.rawValue
                out += ">\n    <failure message=\"\(XML.escape(what + ": " + detail))\"/>\n  </testcase>\n"
            } else if r.verdict == .notMeasured {
                out += ">\n    <skipped message=\"not measured in this run\"/>\n  </testcase>\n"
            } else {
                out += "/>\n"
            }
        }
        return out + "</testsuite>\n"
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
    static func fmt(_ v: Double) -> String { String(format: "%.4g", v) }
}
