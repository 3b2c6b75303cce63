import Foundation

/// The regression gate: every check of a committed thresholds file applied to a run's
/// ratios (which are measured within the run, so they hold on a noisy machine), and each
/// ratio compared with the committed baseline within a relative tolerance.
public enum Gate {
    public struct Thresholds: Codable, Sendable {
        /// A ratio may fall to baseline × (1 − this) before it counts as a regression.
        public var relativeTolerance: Double
        public var checks: [Check]
    }

    public struct Check: Codable, Sendable {
        public var key: String
        public var min: Double?
        public var max: Double?
        public var why: String?
    }

    public struct Row: Sendable {
        public enum Verdict: String, Sendable { case pass = "PASS", fail = "FAIL", regression = "REGRESSION", notMeasured = "NOT MEASURED" }
        public var key: String
        public var value: Double?
        public var limit: String
        public var baseline: Double?
        public var verdict: Verdict
    }

    /// One row per check; a check whose key the run did not measure is reported, not failed.
    public static func evaluate(run: Manifest, baseline: Manifest?, thresholds: Thresholds) -> [Row] {
        thresholds.checks.map { check in
            let value = run.summary[check.key]
            let base = baseline?.summary[check.key]
            var limits: [String] = []
            if let m = check.min { limits.append(">= \(fmt(m))") }
            if let m = check.max { limits.append("<= \(fmt(m))") }
            guard let value else { return Row(key: check.key, value: nil, limit: limits.joined(separator: ", "), baseline: base, verdict: .notMeasured) }
            var verdict = Row.Verdict.pass
            if let m = check.min, value < m { verdict = .fail }
            if let m = check.max, value > m { verdict = .fail }
            if verdict == .pass, let base, check.min != nil {
                let floor = base * (1 - thresholds.relativeTolerance)
                limits.append(">= \(fmt(floor)) (baseline)")
                if value < floor { verdict = .regression }
            }
            return Row(key: check.key, value: value, limit: limits.joined(separator: ", "), baseline: base, verdict: verdict)
        }
    }

    public static func table(_ rows: [Row]) -> String {
        var out = pad("check", 58) + pad("value", 12) + pad("baseline", 12) + pad("limit", 34) + "verdict\n"
        for r in rows {
            out += pad(r.key, 58) + pad(r.value.map(fmt) ?? "-", 12) + pad(r.baseline.map(fmt) ?? "-", 12) + pad(r.limit, 34) + r.verdict.rawValue + "\n"
        }
        return out
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
    static func fmt(_ v: Double) -> String { String(format: "%.4g", v) }
}
