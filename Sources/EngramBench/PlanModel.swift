import Foundation

/// The fitted models of capacity planning: each metric's cost as a function of the record
/// count n, fitted over a calibration ladder, with its error and a prediction interval at a
/// target n.
public enum PlanModel {
    /// A model's form, chosen per metric for a reason (see `PlanMetric.model`).
    public enum Form: String, Sendable, Codable {
        /// y = a + b·n: bytes (each record adds its row, its vector and its index entries).
        case linear
        /// y = a·n^b: latencies (b ≈ 0 constant, b ≈ 1 a scan), fitted in log–log space.
        case power
    }

    public struct Fit: Sendable, Codable {
        public var form: Form
        public var a: Double
        public var b: Double
        /// Residual standard error (in log space for `power`) and the fit's inputs, for intervals.
        public var residual: Double
        public var points: Int
        var meanX: Double
        var sxx: Double

        public func predict(_ n: Double) -> Double {
            switch form {
            case .linear: a + b * n
            case .power: a * pow(n, b)
            }
        }

        /// The ~95% prediction interval of one new measurement at `n` (Student's t with
        /// points − 2 degrees of freedom; in log space for `power`, so it is asymmetric).
        public func interval(_ n: Double) -> (low: Double, high: Double) {
            let x = form == .power ? log(n) : n
            let t = PlanModel.t975(df: max(1, points - 2))
            let spread = t * residual * (1 + 1 / Double(points) + (sxx > 0 ? (x - meanX) * (x - meanX) / sxx : 0)).squareRoot()
            switch form {
            case .linear:
                let y = predict(n)
                return (y - spread, y + spread)
            case .power:
                let y = log(a) + b * x
                return (exp(y - spread), exp(y + spread))
            }
        }

        /// The n at which the model reaches `y` (nil when it never does, or falls).
        public func solve(_ y: Double) -> Double? {
            switch form {
            case .linear: return b > 0 ? (y - a) / b : nil
            case .power: return b > 1e-3 && a > 0 && y > 0 ? pow(y / a, 1 / b) : nil
            }
        }
    }

    /// Least squares over (n, y); nil with fewer than two distinct n (or non-positive values
    /// for a power law).
    public static func fit(_ form: Form, _ points: [(n: Double, y: Double)]) -> Fit? {
        let p = form == .power ? points.filter { $0.n > 0 && $0.y > 0 } : points
        guard Set(p.map(\.n)).count >= 2 else { return nil }
        let xs = p.map { form == .power ? log($0.n) : $0.n }, ys = p.map { form == .power ? log($0.y) : $0.y }
        let k = Double(p.count)
        let mx = xs.reduce(0, +) / k, my = ys.reduce(0, +) / k
        let sxx = xs.reduce(0) { $0 + ($1 - mx) * ($1 - mx) }
        let sxy = zip(xs, ys).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) }
        let b = sxy / sxx, intercept = my - b * mx
        let sse = zip(xs, ys).reduce(0) { $0 + pow($1.1 - (intercept + b * $1.0), 2) }
        let residual = p.count > 2 ? (sse / (k - 2)).squareRoot() : 0
        return Fit(form: form, a: form == .power ? exp(intercept) : intercept, b: b, residual: residual, points: p.count, meanX: mx, sxx: sxx)
    }

    /// The 97.5th percentile of Student's t (two-sided 95%).
    static func t975(df: Int) -> Double {
        let table: [Double] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]
        return df <= table.count ? table[df - 1] : 1.96 + 2.5 / Double(df)
    }
}
