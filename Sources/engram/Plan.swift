import ArgumentParser
import EngramBench
import EngramCatalog
import EngramCore
import Foundation

/// `engram plan`: measures backends on a ladder of small sizes and projects memory, disk,
/// latency, open time and cost to the user's scale (docs/capacity.md).
struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Capacity planning: calibrate on small sizes, project memory, disk, latency, open time and cost to your scale.",
        discussion: "Memory is measured with jemalloc's counters: the calibration re-runs itself under LD_PRELOAD=libjemalloc.so.2 (Debian's libjemalloc2) so the other commands keep glibc's allocator. --validate calibrates up to a fraction of --records and then measures --records for real, reporting each projection's error.")

    @Option(name: .customLong("backend"), help: "Backend to plan, NAME or NAME:VARIANT (repeatable; a comparison table when several): \(BackendCatalog.entries.filter { $0.bench != nil }.map(\.name).joined(separator: ", ")); a variant is one of the backend's search variants, e.g. postgres:exact and postgres:hnsw (its default switches between them at 20,000 matches).")
    var backends: [String] = []
    @Option(help: "Outcome records (with embeddings) the store will hold.") var records: Int
    @Option(help: "Embedding dimension.") var dimension = 384
    @Option(help: "Projects the records are spread over (searches run in one).") var projects = 1
    @Option(name: .customLong("filter-fraction"), help: "Fraction of a project an agent-filtered search matches.") var filterFraction = 0.25
    @Option(name: .customLong("search-rate"), help: "Searches per second to sustain.") var searchRate: Double?
    @Option(name: .customLong("write-rate"), help: "Records saved per second.") var writeRate: Double?
    @Option(name: .customLong("slo-p95-ms"), help: "Search p95 to keep, in ms.") var sloP95Ms: Double?
    @Option(name: .customLong("disk-price"), help: "$ per GB-month of disk.") var diskPrice: Double?
    @Option(name: .customLong("machine-price"), help: "$ per hour of this machine.") var machinePrice: Double?
    @Option(name: .customLong("cosmos-price"), help: "$ per 100 RU/s per hour of Cosmos DB provisioned throughput.") var cosmosPrice: Double?
    @Option(help: "Seconds of calibration per backend.") var budget = 120.0
    @Flag(name: .customLong("validate"), help: "Calibrate only up to --validate-fraction of --records, then measure --records for real and report each projection's error.")
    var validateProjections = false
    @Option(name: .customLong("validate-fraction"), help: "With --validate: the largest calibrated size as a fraction of --records.") var validateFraction = 0.1
    @Option(name: .customLong("data-dir"), help: "Where the data would live (its free disk space is the limit).") var dataDir = "."
    @Option(help: "Directory for plan-<backend>.json/.md/.svg.") var output = "results"

    static let jemallocPaths = ["/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2", "/usr/lib/libjemalloc.so.2"]

    /// `NAME` or `NAME:VARIANT`.
    static func split(_ spec: String) -> (name: String, variant: String?) {
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        return (parts.first ?? spec, parts.count > 1 ? parts[1] : nil)
    }

    func validate() throws {
        guard records >= 1_000, records <= 1_000_000_000 else { throw ValidationError("--records must be between 1,000 and 1,000,000,000") }
        guard (1...16_000).contains(dimension) else { throw ValidationError("--dimension must be between 1 and 16,000") }
        guard projects >= 1, projects <= records / 100 else { throw ValidationError("--projects must be between 1 and records / 100") }
        guard filterFraction > 0, filterFraction <= 1 else { throw ValidationError("--filter-fraction must be in (0, 1]") }
        for (name, v) in [("search-rate", searchRate), ("write-rate", writeRate), ("slo-p95-ms", sloP95Ms), ("disk-price", diskPrice), ("machine-price", machinePrice), ("cosmos-price", cosmosPrice)] {
            if let v, !(v.isFinite && v >= 0) { throw ValidationError("--\(name) must be a finite non-negative number") }
        }
        guard budget >= 5, budget <= 86_400 else { throw ValidationError("--budget must be between 5 and 86,400 seconds") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dataDir, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("--data-dir \(dataDir) is not a directory")
        }
        guard validateFraction > 0, validateFraction < 1 else { throw ValidationError("--validate-fraction must be in (0, 1)") }
        if validateProjections, Double(records) * validateFraction < 1_000 {
            throw ValidationError("--validate calibrates up to --records × --validate-fraction, which must be at least 1,000")
        }
        for b in backends where (try? BackendCatalog.entry(Self.split(b).name))?.bench == nil { throw ValidationError("unknown or unbenchmarked backend '\(b)'") }
    }

    func run() throws {
        // jemalloc's counters need jemalloc as the allocator: run again under it, once.
        let env = ProcessInfo.processInfo.environment
        if !Jemalloc.available, env["ENGRAM_PLAN_UNDER_JEMALLOC"] == nil, let lib = Self.jemallocPaths.first(where: FileManager.default.fileExists) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            p.arguments = Array(CommandLine.arguments.dropFirst())
            p.environment = env.merging(["LD_PRELOAD": lib, "ENGRAM_PLAN_UNDER_JEMALLOC": "1"]) { _, new in new }
            try p.run()
            p.waitUntilExit()
            if p.terminationStatus != 0 { throw ExitCode(p.terminationStatus) }
            return
        }
        if !Jemalloc.available { print("plan: warning: jemalloc is not loaded (libjemalloc2 missing?); memory is judged by RSS growth") }
        var target = PlanTarget(records: records, dimension: dimension)
        target.projects = projects
        target.filterFraction = filterFraction
        target.searchRate = searchRate
        target.writeRate = writeRate
        target.sloP95Ms = sloP95Ms
        target.diskPricePerGBMonth = diskPrice
        target.machinePricePerHour = machinePrice
        target.cosmosPricePer100RUsHour = cosmosPrice
        target.budgetSeconds = budget
        let machine = PlanMachine.this(dataDirectory: dataDir)
        let out = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        var summaries: [(String, PlanReport)] = []
        for spec in backends.isEmpty ? ["sqlite"] : backends {
            let (backend, variant) = Self.split(spec)
            let entry = try BackendCatalog.entry(backend)
            let scratch = ScratchDirectory(prefix: "engram-plan")
            defer { entry.bench?.finish() }
            let planner: Planner
            do { planner = try Planner(backend: entry.bench!, variant: variant, target: target, scratch: scratch.url) } catch let e as EngramError {
                throw ValidationError(e.message)
            }
            let name = planner.backend
            print("plan: \(name): calibrating (budget \(Int(budget)) s)\(validateProjections ? ", up to \(Int(Double(records) * validateFraction)) records, then \(records) for real" : "")")
            let cap = validateProjections ? Int(Double(records) * validateFraction) : records
            let points = try planner.calibrate(cap: cap) { p in
                print(String(format: "  n=%-9d %5.1f s  search p95 %.3g ms  memory %.3g MB  disk %.3g MB", p.n, p.seconds,
                             (p.values[PlanMetric.searchP95Us.rawValue] ?? .nan) / 1e3, (p.values[PlanMetric.heapLiveBytes.rawValue] ?? p.values[PlanMetric.rssBytes.rawValue] ?? p.values[PlanMetric.diskBytes.rawValue] ?? .nan) / 1e6,
                             (p.values[PlanMetric.diskBytes.rawValue] ?? .nan) / 1e6))
            }
            var projections = Planner.project(points, to: records)
            if validateProjections {
                print("plan: \(name): measuring \(records) records for real")
                let actual = try planner.measure(n: records)
                for i in projections.indices {
                    guard let m = actual.values[projections[i].metric.rawValue] else { continue }
                    projections[i].measured = m
                    projections[i].error = m != 0 ? (projections[i].value - m) / m : nil
                }
            }
            let verdict = PlanVerdict.judge(projections, target: target, machine: machine, embedded: planner.embedded,
                                            cacheBytes: points.compactMap { $0.values[Planner.cacheBoundKey] }.max() ?? 0)
            let report = PlanReport(backend: name, target: target, machine: machine, jemalloc: Jemalloc.available, points: points, projections: projections, verdict: verdict)
            print(report.table)
            let files = try report.write(to: out)
            print("reports: " + files.map(\.path).joined(separator: ", "))
            summaries.append((name, report))
        }
        if summaries.count > 1 {
            let md = PlanReport.comparison(summaries.map(\.1))
            try Data(md.utf8).write(to: out.appendingPathComponent("plan-comparison.md"))
            print(md)
        }
    }
}
