import Dispatch
import EngramCore

/// Monotonic nanoseconds.
@inline(__always) func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Times `body` in nanoseconds.
@inline(__always) func time(_ body: () throws -> Void) rethrows -> Double {
    let start = now()
    try body()
    return Double(now() - start)
}

enum Stats {
    /// The q-quantile (0...1) by linear interpolation between closest ranks.
    static func quantile(_ values: [Double], _ q: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let s = values.sorted()
        let pos = q * Double(s.count - 1)
        let lo = Int(pos.rounded(.down)), hi = Int(pos.rounded(.up))
        return s[lo] + (s[hi] - s[lo]) * (pos - Double(lo))
    }

    static func median(_ values: [Double]) -> Double { quantile(values, 0.5) }

    /// The medians of `resamples` bootstrap resamples of `values` (drawn with replacement, same
    /// size). Each resample is counted over the sorted values rather than sorted itself: O(n)
    /// per resample and no allocation, since the A/B procedure bootstraps after every pair.
    static func bootstrapMedians(_ values: [Double], resamples: Int, using g: inout SeededGenerator) -> [Double] {
        let sorted = values.sorted(), n = sorted.count
        guard n > 0 else { return [] }
        // The median's ranks, as `quantile(_, 0.5)` interpolates them.
        let low = (n - 1) / 2, high = n / 2
        var counts = [Int](repeating: 0, count: n)
        var draws: [Double] = []
        draws.reserveCapacity(resamples)
        for _ in 0..<resamples {
            for i in 0..<n { counts[i] = 0 }
            for _ in 0..<n { counts[Int(g.next() % UInt64(n))] += 1 }
            var seen = 0, lowValue = 0.0, i = 0
            while true {
                seen += counts[i]
                if seen > low { lowValue = sorted[i]; break }
                i += 1
            }
            while seen <= high { i += 1; seen += counts[i] }
            draws.append((lowValue + sorted[i]) / 2)
        }
        return draws
    }

    static func mean(_ values: [Double]) -> Double { values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count) }

    /// Least-squares fit of log(cost) = log(a) + b·log(n): returns the exponent b
    /// (b ≈ 0: constant per operation, b ≈ 1: linear in n).
    static func fitExponent(_ points: [(n: Double, cost: Double)]) -> Double? {
        let p = points.filter { $0.n > 0 && $0.cost > 0 }
        guard Set(p.map(\.n)).count >= 2 else { return nil }
        let xs = p.map { log($0.n) }, ys = p.map { log($0.cost) }
        let mx = mean(xs), my = mean(ys)
        let sxy = zip(xs, ys).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) }
        let sxx = xs.reduce(0) { $0 + ($1 - mx) * ($1 - mx) }
        return sxx > 0 ? sxy / sxx : nil
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// Natural logarithm (kept local so the module does not need Foundation for maths).
func log(_ x: Double) -> Double { Glibc.log(x) }
