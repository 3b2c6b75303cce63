import EngramCore
import Foundation

/// SVG charts of cost against n on log-log axes, one line per variant: what a person
/// looks at before reading numbers. Each point is the median over repetitions.
public enum Charts {
    /// One chart: a metric of one scenario (whose `charts` list it) against n.
    struct Spec: Sendable {
        let file: String
        let title: String
        let metric: Metric
        let yLabel: String
        let xLabel: String
        /// The x of a row (default: n) and the line it belongs to (default: its variant).
        var x: @Sendable (Measurement) -> Double? = { Double($0.n) }
        var series: @Sendable (Measurement) -> String = { $0.variant }
        /// When set, a point's x is this metric's median at the same variant, n and step (a
        /// trade-off chart: recall against QPS), not `x`; each variant is one point, and a
        /// line joins them in the order of `order` (a swept setting), not of x.
        var xMetric: Metric? = nil
        var order: @Sendable (Measurement) -> Double? = { _ in nil }
        /// Linear instead of logarithmic axes (for fractions such as recall, and for steps).
        var linearX = false, linearY = false
    }

    /// Writes one SVG per scenario that has data; returns the files written.
    public static func write(_ rows: [Measurement], backend: String, to directory: URL) throws -> [URL] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var written: [URL] = []
        for scenario in BenchmarkScenario.all {
            for spec in scenario.charts {
                let relevant = rows.filter { $0.scenario == scenario.id.rawValue && $0.metric == spec.metric.name && $0.backend == backend }
                guard !relevant.isEmpty else { continue }
                var series: [(String, [(Double, Double)])] = []
                for name in Set(relevant.map(spec.series)).sorted() {
                    let mine = relevant.filter { spec.series($0) == name }
                    if let xm = spec.xMetric {
                        let byPoint = Dictionary(grouping: mine) { "\($0.variant)@\($0.n)#\($0.step)" }.values.compactMap { group -> (Double, Double, Double)? in
                            let row = group[0]
                            guard let x = median(rows.filter { $0.backend == backend && $0.scenario == row.scenario && $0.step == row.step }, row.variant, row.n, xm) else { return nil }
                            return (spec.order(row) ?? x, x, Stats.median(group.map(\.value)))
                        }
                        series.append((name, byPoint.sorted { $0.0 < $1.0 }.map { ($0.1, $0.2) }))
                        continue
                    }
                    let byX = Dictionary(grouping: mine.filter { spec.x($0) != nil }, by: { spec.x($0)! })
                    series.append((name, byX.keys.sorted().map { ($0, Stats.median(byX[$0]!.map(\.value))) }))
                }
                let url = directory.appendingPathComponent("\(backend)-\(spec.file).svg")
                try svg(title: "\(spec.title) — \(backend)", xLabel: spec.xLabel, yLabel: spec.yLabel, series: series, linearX: spec.linearX, linearY: spec.linearY)
                    .write(to: url, atomically: true, encoding: .utf8)
                written.append(url)
            }
        }
        return written
    }

    static let palette = ["#1b6ac9", "#d1495b", "#edae49", "#00798c", "#6a4c93", "#3d9970", "#8d6e63", "#e377c2"]

    /// A line chart, log-log unless an axis is linear.
    static func svg(title: String, xLabel: String, yLabel: String, series: [(String, [(Double, Double)])], linearX: Bool = false, linearY: Bool = false) -> String {
        let w = 760.0, h = 460.0, left = 80.0, right = 210.0, top = 50.0, bottom = 60.0
        let pts = series.flatMap(\.1).filter { (linearX || $0.0 > 0) && (linearY || $0.1 > 0) && $0.0.isFinite && $0.1.isFinite }
        guard !pts.isEmpty else { return "<svg xmlns=\"http://www.w3.org/2000/svg\"/>" }
        let xAxis = Axis(pts.map(\.0), linear: linearX), yAxis = Axis(pts.map(\.1), linear: linearY)
        let x0 = xAxis.low, x1 = xAxis.high, y0 = yAxis.low, y1 = yAxis.high
        func px(_ x: Double) -> Double { left + (xAxis.t(x) - x0) / (x1 - x0) * (w - left - right) }
        func py(_ y: Double) -> Double { h - bottom - (yAxis.t(y) - y0) / (y1 - y0) * (h - top - bottom) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" font-family=\"Helvetica, Arial, sans-serif\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(left)\" y=\"28\" font-size=\"17\" font-weight=\"bold\">\(escape(title))</text>\n"
        for e in stride(from: x0, through: x1 + xAxis.step / 2, by: xAxis.step) {
            let x = left + (e - x0) / (x1 - x0) * (w - left - right)
            s += "<line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(h - bottom))\" stroke=\"#ddd\"/>\n"
            s += "<text x=\"\(f(x))\" y=\"\(f(h - bottom + 18))\" font-size=\"12\" text-anchor=\"middle\">\(xAxis.label(e))</text>\n"
        }
        for e in stride(from: y0, through: y1 + yAxis.step / 2, by: yAxis.step) {
            let y = h - bottom - (e - y0) / (y1 - y0) * (h - top - bottom)
            s += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(w - right))\" y2=\"\(f(y))\" stroke=\"#ddd\"/>\n"
            s += "<text x=\"\(f(left - 8))\" y=\"\(f(y + 4))\" font-size=\"12\" text-anchor=\"end\">\(yAxis.label(e))</text>\n"
        }
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(w - left - right))\" height=\"\(f(h - top - bottom))\" fill=\"none\" stroke=\"#555\"/>\n"
        s += "<text x=\"\(f((left + w - right) / 2))\" y=\"\(f(h - 18))\" font-size=\"13\" text-anchor=\"middle\">\(escape(xLabel))\(linearX ? "" : " — log scale")</text>\n"
        s += "<text transform=\"translate(20 \(f((top + h - bottom) / 2))) rotate(-90)\" font-size=\"13\" text-anchor=\"middle\">\(escape(yLabel))\(linearY ? "" : " — log scale")</text>\n"
        for (i, (name, points)) in series.enumerated() {
            let color = palette[i % palette.count]
            let valid = points.filter { (linearX || $0.0 > 0) && (linearY || $0.1 > 0) && $0.0.isFinite && $0.1.isFinite }
            if valid.count > 1 {
                s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2.5\" points=\"\(valid.map { "\(f(px($0.0))),\(f(py($0.1)))" }.joined(separator: " "))\"/>\n"
            }
            for p in valid {
                s += "<circle cx=\"\(f(px(p.0)))\" cy=\"\(f(py(p.1)))\" r=\"4\" fill=\"\(color)\"><title>\(escape(name)) \(String(format: "%.4g", p.0)): \(String(format: "%.4g", p.1))</title></circle>\n"
            }
            let ly = top + 14 + Double(i) * 22
            s += "<line x1=\"\(f(w - right + 14))\" y1=\"\(f(ly - 4))\" x2=\"\(f(w - right + 38))\" y2=\"\(f(ly - 4))\" stroke=\"\(color)\" stroke-width=\"3\"/>\n"
            s += "<text x=\"\(f(w - right + 44))\" y=\"\(f(ly))\" font-size=\"12\">\(escape(name))</text>\n"
        }
        return s + "</svg>\n"
    }

    /// An axis in transformed units (log10, or the values themselves) with its tick spacing.
    struct Axis {
        let linear: Bool
        let low: Double, high: Double, step: Double

        init(_ values: [Double], linear: Bool) {
            self.linear = linear
            if linear {
                let lo = values.min()!, hi = values.max()!
                let span = hi > lo ? hi - lo : max(abs(hi), 1)
                let raw = span / 5, mag = pow(10, floor(log10(raw)))
                let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
                self.step = step
                low = floor(lo / step) * step
                high = max(ceil(hi / step) * step, low + step)
            } else {
                step = 1
                low = floor(log10(values.min()!))
                high = max(ceil(log10(values.max()!)), low + 1)
            }
        }

        func t(_ v: Double) -> Double { linear ? v : log10(v) }
        func label(_ e: Double) -> String { linear ? String(format: "%g", (e * 1e6).rounded() / 1e6) : Charts.tick(e) }
    }

    static func tick(_ e: Double) -> String {
        switch Int(e) {
        case 0: "1"
        case 1: "10"
        case 2: "100"
        case 3: "1k"
        case 4: "10k"
        case 5: "100k"
        case 6: "1M"
        case 7: "10M"
        case 8: "100M"
        case let k where k < 0: "1e\(k)"
        case let k: "1e\(k)"
        }
    }

    static func f(_ x: Double) -> String { String(format: "%.1f", x) }

    static func escape(_ s: String) -> String { XML.escape(s) }
}
