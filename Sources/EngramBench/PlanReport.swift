import Foundation

/// A plan's result and its writers: a table for the terminal, `plan-<backend>.json`, a
/// markdown report and SVG charts (measured points, the fitted curve, the target with its
/// interval).
public struct PlanReport: Sendable, Codable {
    public var backend: String
    public var target: PlanTarget
    public var machine: PlanMachine
    public var jemalloc: Bool
    public var points: [PlanPoint]
    public var projections: [PlanProjection]
    public var verdict: PlanVerdict

    public init(backend: String, target: PlanTarget, machine: PlanMachine, jemalloc: Bool, points: [PlanPoint], projections: [PlanProjection], verdict: PlanVerdict) {
        self.backend = backend
        self.target = target
        self.machine = machine
        self.jemalloc = jemalloc
        self.points = points
        self.projections = projections
        self.verdict = verdict
    }

    static func human(_ m: PlanMetric, _ v: Double) -> String {
        if m.isBytes { return String(format: "%.3g GiB", v / 1_073_741_824) }
        switch m {
        case .openMs: return String(format: "%.3g s", v / 1e3)
        case .searchP50Us, .searchP95Us, .filteredP50Us, .deleteP50Us: return String(format: "%.3g ms", v / 1e3)
        case .pruneUsPerRow: return String(format: "%.3g µs/row", v)
        case .saveRecordsPerSecond: return String(format: "%.3g rec/s", v)
        default: return String(format: "%.3g", v)
        }
    }

    /// Where a limit runs out by the point fit, when the fit says.
    static func runsOut(_ l: PlanVerdict.Limit) -> String {
        guard let n = l.records else { return "no size where it runs out is solved from the fit" }
        return n > 0 ? String(format: "runs out at about %.3g records (point estimate)", n) : "exceeded already at the smallest size (point estimate)"
    }

    var rows: [[String]] {
        projections.map { p in
            let fit = p.fit.form == .linear ? String(format: "%.3g + %.3g·n", p.fit.a, p.fit.b) : String(format: "%.3g·n^%.2f", p.fit.a, p.fit.b)
            var row = [p.metric.rawValue, Self.human(p.metric, p.value), "\(Self.human(p.metric, p.low)) – \(Self.human(p.metric, p.high))", fit, String(format: "%.0f×", p.extrapolation)]
            if let m = p.measured { row += [Self.human(p.metric, m), p.error.map { String(format: "%+.0f%%", $0 * 100) } ?? "-"] }
            return row
        }
    }

    var header: [String] {
        ["metric", "projected", "95% interval", "model", "beyond calibration"] + (projections.contains { $0.measured != nil } ? ["measured", "error"] : [])
    }

    public var table: String {
        var out = "\nplan for \(backend): \(target.records) records of \(target.dimension) dimensions in \(target.projects) project(s)\n"
        let widths = header.indices.map { i in ([header] + rows).map { $0.indices.contains(i) ? $0[i].count : 0 }.max() ?? 0 }
        for r in [header] + rows { out += r.enumerated().map { $1.padding(toLength: widths[$0] + 2, withPad: " ", startingAt: 0) }.joined() + "\n" }
        let free = machine.diskFreeBytes.isFinite ? String(format: "%.0f", machine.diskFreeBytes / 1_073_741_824) : "?"
        out += "\nverdict: \(verdict.fits ? "FITS" : "DOES NOT FIT") this machine (\(Int(machine.memoryBytes / 1_073_741_824)) GiB RAM, \(machine.cores) cores, \(free) GiB free disk); memory judged by \(verdict.memoryMetric)\n"
        for l in verdict.limits { out += "  \(l.resource): \(l.holds ? "holds" : "DOES NOT HOLD"): \(l.detail); \(Self.runsOut(l))\n" }
        if let first = verdict.firstLimit { out += "  first to run out: \(first)\n" }
        if let slo = verdict.sloHolds { out += "  SLO \(slo ? "holds" : "does not hold") at the interval's upper end\n" }
        for (k, v) in verdict.monthlyCost.sorted(by: { $0.key < $1.key }) { out += String(format: "  monthly cost, %@: $%.2f\n", k, v) }
        for w in verdict.warnings { out += "  warning: \(w)\n" }
        return out
    }

    public var markdown: String {
        var md = "# Capacity plan: \(backend)\n\n\(target.records) outcome records of \(target.dimension) dimensions in \(target.projects) project(s)"
        if let r = target.searchRate { md += ", \(r) searches/s" }
        if let s = target.sloP95Ms { md += ", SLO p95 ≤ \(s) ms" }
        md += ". Calibrated at " + points.map { "\($0.n)" }.joined(separator: ", ") + String(format: " records (%.0f s); memory by %@.\n\n", points.reduce(0) { $0 + $1.seconds }, verdict.memoryMetric)
        md += "| " + header.joined(separator: " | ") + " |\n|" + String(repeating: "---|", count: header.count) + "\n"
        for r in rows { md += "| " + r.joined(separator: " | ") + " |\n" }
        md += "\n**Verdict: \(verdict.fits ? "fits" : "does not fit") this machine.**\n\n"
        for l in verdict.limits { md += "- \(l.resource): \(l.holds ? "holds" : "**does not hold**"): \(l.detail); \(Self.runsOut(l))\n" }
        if let first = verdict.firstLimit { md += "- first to run out: \(first)\n" }
        for (k, v) in verdict.monthlyCost.sorted(by: { $0.key < $1.key }) { md += String(format: "- monthly cost, %@: $%.2f\n", k, v) }
        for w in verdict.warnings { md += "- ⚠️ \(w)\n" }
        md += "\nModels: " + Set(projections.map(\.metric)).sorted { $0.rawValue < $1.rawValue }.map { "`\($0.rawValue)`: \($0.reason)" }.joined(separator: "; ") + ".\n"
        return md
    }

    /// Writes the JSON, the markdown and one chart per projected metric; returns the files.
    public func write(to dir: URL) throws -> [URL] {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let json = dir.appendingPathComponent("plan-\(backend).json"), md = dir.appendingPathComponent("plan-\(backend).md")
        try JSONEncoder.pretty.encode(self).write(to: json)
        try Data(markdown.utf8).write(to: md)
        var files = [json, md]
        let charts = dir.appendingPathComponent("plan-\(backend)")
        try FileManager.default.createDirectory(at: charts, withIntermediateDirectories: true)
        for p in projections {
            let measured = points.compactMap { pt in pt.values[p.metric.rawValue].map { (Double(pt.n), $0) } }
            let lo = Double(points.map(\.n).min() ?? 1), hi = Double(target.records)
            let curve = (0...24).map { i -> (Double, Double) in
                let n = lo * pow(hi / lo, Double(i) / 24)
                return (n, p.fit.predict(n))
            }
            var series = [("measured", measured), ("model", curve), ("target (interval)", [(hi, p.low), (hi, p.value), (hi, p.high)])]
            if let m = p.measured { series.append(("measured at target", [(hi, m)])) }
            let svg = Charts.svg(title: "\(p.metric.rawValue) — \(backend)", xLabel: "records (n)", yLabel: p.metric.rawValue, series: series)
            let url = charts.appendingPathComponent("\(p.metric.rawValue).svg")
            try svg.write(to: url, atomically: true, encoding: .utf8)
            files.append(url)
        }
        return files
    }

    /// Several backends' verdicts side by side.
    public static func comparison(_ reports: [PlanReport]) -> String {
        func value(_ r: PlanReport, _ m: PlanMetric) -> String {
            r.projections.first { $0.metric == m }.map { human(m, $0.value) } ?? "-"
        }
        var md = "| backend | fits | first to run out | memory | disk | search p95 | open | monthly cost |\n|---|---|---|---|---|---|---|---|\n"
        for r in reports {
            let memory = r.projections.first { r.verdict.memoryMetric.hasPrefix($0.metric.rawValue) }.map { human($0.metric, $0.value) } ?? "-"
            let cost = r.verdict.monthlyCost.isEmpty ? "-" : String(format: "$%.2f", r.verdict.monthlyCost.values.reduce(0, +))
            md += "| \(r.backend) | \(r.verdict.fits ? "yes" : "no") | \(r.verdict.firstLimit ?? "-") | \(memory) | \(value(r, .diskBytes)) | \(value(r, .searchP95Us)) | \(value(r, .openMs)) | \(cost) |\n"
        }
        return md
    }
}
