import EngramCore
import Foundation

/// The A/B comparison of two builds on the same machine: each hot path's per-run figures of a
/// baseline build and a candidate build, run interleaved so both see the same noise, compared
/// by a bootstrap confidence interval of the ratio of their medians.
public enum ABCompare {
    /// The policy: flag a path when its slowdown is at least `minEffect` (0.10: 10%) and the
    /// interval lies beyond `surelyShare` of it (0.5: 5%); re-run while an interval straddles
    /// the flagging line.
    public struct Policy: Sendable, Codable {
        public var minEffect = 0.10
        /// The share of `minEffect` the interval must exclude (0: merely a change, the rule before
        /// 2026-12-07). The line the interval must clear, as a slowdown factor.
        public var surelyShare = 0.5
        public var surely: Double { 1 + minEffect * surelyShare }
        /// The chance, at most, that a comparison of a build with itself flags any path.
        public var familyConfidence = 0.95
        /// Each path's interval coverage: the family's error split over the paths (Bonferroni;
        /// 0.99 for five paths). At 0.95 per path, one comparison in ten of a build with itself
        /// on a noisy machine flagged some path.
        public var confidence: Double { 1 - (1 - familyConfidence) / Double(HotPath.allCases.count) }
        public var resamples = 2_000
        public var seed: UInt64 = 0xAB
        public init() {}
    }

    /// One path's comparison. `ratio` is oriented as a slowdown factor: candidate time over
    /// baseline time, or baseline throughput over candidate throughput; above 1 is slower.
    public struct Result: Sendable, Codable {
        public enum Verdict: String, Sendable, Codable {
            case same = "SAME", regression = "REGRESSION", improved = "IMPROVED", ambiguous = "AMBIGUOUS"
        }
        public var path: HotPath
        public var baselineMedian: Double
        public var candidateMedian: Double
        public var ratio: Double
        public var low: Double
        public var high: Double
        public var baselineRuns: Int
        public var candidateRuns: Int
        public var verdict: Verdict
    }

    /// The slowdown ratio of medians and its bootstrap interval (percentile method, seeded).
    public static func interval(baseline: [Double], candidate: [Double], higherIsBetter: Bool, policy: Policy) -> (ratio: Double, low: Double, high: Double) {
        func ratio(_ b: Double, _ c: Double) -> Double { higherIsBetter ? b / c : c / b }
        let point = ratio(Stats.median(baseline), Stats.median(candidate))
        var g = SeededGenerator(seed: policy.seed)
        let b = Stats.bootstrapMedians(baseline, resamples: policy.resamples, using: &g)
        let c = Stats.bootstrapMedians(candidate, resamples: policy.resamples, using: &g)
        let draws = zip(b, c).map { ratio($0, $1) }
        let tail = (1 - policy.confidence) / 2
        return (point, Stats.quantile(draws, tail), Stats.quantile(draws, 1 - tail))
    }

    /// Compares one path. Regression: the ratio is at least 1 + minEffect and the interval lies
    /// above `policy.surely` (1 + minEffect/2; a minimum-effect test: the slowdown is surely more than half the
    /// smallest one worth flagging, not merely more than none); improvement symmetrically.
    /// Ambiguous (when `final` is false): the interval straddles a flagging line, so more runs
    /// could change the verdict. On this machine's noise, an interval merely above 1 flagged 2 of
    /// 40 simulated A/A comparisons (`theSequentialProcedureHoldsItsRatesOnSimulatedNoise`).
    public static func compare(_ path: HotPath, baseline: [Double], candidate: [Double], policy: Policy, final: Bool) -> Result {
        let (r, lo, hi) = interval(baseline: baseline, candidate: candidate, higherIsBetter: path.higherIsBetter, policy: policy)
        let up = 1 + policy.minEffect, down = 1 / (1 + policy.minEffect)
        let surelyUp = policy.surely, surelyDown = 1 / policy.surely
        var verdict = Result.Verdict.same
        if r >= up, lo > surelyUp {
            verdict = .regression
        } else if r <= down, hi < surelyDown {
            verdict = .improved
        }
        if !final, (lo < up && up < hi) || (lo < down && down < hi) { verdict = .ambiguous }
        return Result(path: path, baselineMedian: Stats.median(baseline), candidateMedian: Stats.median(candidate), ratio: r, low: lo, high: hi,
                      baselineRuns: baseline.count, candidateRuns: candidate.count, verdict: verdict)
    }

    /// The gate's rows for the results, so the A/B comparison prints, writes markdown and JUnit
    /// and exits as the gate does.
    public static func rows(_ results: [Result], policy: Policy) -> [Gate.Row] {
        results.map { r in
            let verdict: Gate.Row.Verdict = switch r.verdict {
            case .regression: .regression
            case .improved: .improved
            case .same, .ambiguous: .pass
            }
            let limit = String(format: "slowdown %.3f [%.3f, %.3f]; flag at %+.0f%%", r.ratio, r.low, r.high, policy.minEffect * 100)
            return Gate.Row(key: r.path.summaryKey, value: r.candidateMedian, limit: limit, baseline: r.baselineMedian, verdict: verdict,
                            why: "\(r.baselineRuns) baseline and \(r.candidateRuns) candidate runs, interleaved", required: true)
        }
    }
}
