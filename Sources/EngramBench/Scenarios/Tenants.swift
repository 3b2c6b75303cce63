import EngramCore
import Foundation

extension BenchmarkScenario {
    /// Top-10 search in one project of a store whose records are spread over 1, 100 or 10,000
    /// projects: a store that partitions by project answers in time proportional to the
    /// project, one that filters after a scan in time proportional to the store.
    static let tenants = BenchmarkScenario(
        id: .tenants, summary: "top-10 search in one project of a store holding 1, 100 or 10,000 projects",
        charts: [.init(file: "tenants-qps", title: "Search in one project: queries per second", metric: .queriesPerSecond,
                       yLabel: "queries per second", xLabel: "projects in the store",
                       x: { TenantPoint(variant: $0.variant)?.projects.map(Double.init) }, series: { TenantPoint(variant: $0.variant)?.variant ?? $0.variant })],
        steps: { r in
            let n = size(r.options)
            return counts(r.options).flatMap { projects in
                r.steps(.tenants, sizes: [n], weight: { n, _ in
                    let d = r.dimensionScale, dn = Double(n)
                    return dn * 5e-5 * d + Double(r.options.searchQueries) * dn / Double(projects) * 1e-7 * d + 30 * dn * 1e-6 * d
                }) { n, v in try runTenants(r, n: n, projects: projects, variant: v) }
            }
        },
        summarize: { rows, _ in
            // `tenants.qps.<variant>/projects=<P>@n`, `tenants.recall_at_10.…`, and
            // `tenants.qps_vs_one_project.<variant>/projects=<P>@n`.
            var out: [SummaryKey: Double] = [:]
            for row in rows where row.metric == Metric.queriesPerSecond.name || row.metric == Metric.recallAt10.name {
                out[SummaryKey(.tenants, row.metric, row.variant, n: row.n)] = median(rows, row.variant, row.n, row.metric == Metric.recallAt10.name ? .recallAt10 : .queriesPerSecond)
                guard row.metric == Metric.queriesPerSecond.name, let p = TenantPoint(variant: row.variant), p.projects != 1 else { continue }
                let one = TenantPoint(variant: p.variant, projects: 1).name
                if let q = median(rows, row.variant, row.n, .queriesPerSecond), let base = median(rows, one, row.n, .queriesPerSecond), base > 0 {
                    out[SummaryKey(.tenants, "qps_vs_one_project", row.variant, n: row.n)] = q / base
                }
            }
            return out
        },
        vectorsNeeded: size)

    private static func size(_ o: BenchOptions) -> Int { o.tenantSize ?? 100_000 }
    static func counts(_ o: BenchOptions) -> [Int] { o.tenantCounts ?? [1, 100, 10_000] }

    private static func runTenants(_ r: BenchRunner, n: Int, projects: Int, variant: BenchVariant) throws {
        let w = r.workload
        // Record i's project by a multiplicative hash, so every project gets about n/P records
        // spread over the insertion order.
        func project(_ i: Int) -> Int { Int((UInt64(i) &* 0x9E37_79B9_7F4A_7C15) >> 33) % projects }
        try r.withStore(variant) { store in
            try w.load(store, n: n, embedding: true) { i, o in o.projectId = "p\(project(i))" }
            try variant.settle(store)
            let members = (0..<n).filter { project($0) == 0 }.map { (id: "o\($0)", v: w.vector($0)) }
            let name = TenantPoint(variant: variant.name, projects: projects).name
            let results = try r.measureQueries(.tenants, name, n: n, on: store, keep: 50) { j in
                MemoryQuery(kind: .outcome, projectId: "p0", topK: 10, vector: w.query(j))
            }
            r.emit(.tenants, name, n: n, rep: 1, .recallAt10, recallOf(results, results.indices.map { exactTop10(w.query($0), members) }))
        }
    }
}

/// A tenants point, named `<variant>/projects=<P>`.
struct TenantPoint {
    let variant: String
    let projects: Int?

    init(variant: String, projects: Int) {
        self.variant = variant
        self.projects = projects
    }

    init?(variant name: String) {
        let parts = name.split(separator: "/").map(String.init)
        guard parts.count == 2, parts[1].hasPrefix("projects="), let p = Int(parts[1].dropFirst(9)) else { return nil }
        self.init(variant: parts[0], projects: p)
    }

    var name: String { "\(variant)/projects=\(projects ?? 0)" }
}
