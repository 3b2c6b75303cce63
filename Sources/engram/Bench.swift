import ArgumentParser
import EngramBench
import EngramCatalog
import Foundation

/// `engram bench`: measures the scenarios of docs/benchmarks.md side by side and writes reports.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run benchmark scenarios; write CSV, JSON and SVG to --output.",
        discussion: BenchmarkScenario.all.map { "\($0.id.rawValue): \($0.summary)" }.joined(separator: "\n"))

    @OptionGroup var target: BackendOptions

    @Option(name: .customLong("scenario"), help: "Scenario to run (repeatable): \(BenchScenario.allCases.map(\.rawValue).joined(separator: ", ")). Default: all.")
    var scenarios: [String] = []

    @Flag(help: "A small preset for CI: every scenario in well under two minutes.")
    var quick = false

    @Option(name: .customLong("delete-sizes"), parsing: .upToNextOption, help: "Index sizes for `delete`.")
    var deleteSizes: [Int] = []
    @Option(name: .customLong("prune-sizes"), parsing: .upToNextOption, help: "Table sizes for `prune`.")
    var pruneSizes: [Int] = []
    @Option(name: .customLong("batch-sizes"), parsing: .upToNextOption, help: "Record counts for `batch`.")
    var batchSizes: [Int] = []
    @Option(name: .customLong("search-sizes"), parsing: .upToNextOption, help: "Index sizes for `search`.")
    var searchSizes: [Int] = []

    @Option(help: "Embeddings: uniform, clustered (the default), or a file (.fvecs, .bvecs, .npy, .hdf5/.h5); a file sets the dimension.")
    var vectors: String?
    @Option(name: .customLong("queries-file"), help: "Query vectors for a --vectors file without a test split (.fvecs, .bvecs, .npy); default: its last rows held out.")
    var queriesFile: String?
    @Option(name: .customLong("neighbors-file"), help: "Each query's true nearest neighbours by cosine (.ivecs, .npy), used as recall's ground truth.")
    var neighborsFile: String?
    @Option(name: .customLong("filter-size"), help: "Store size of `filter`.") var filterSize: Int?
    @Option(name: .customLong("recall-size"), help: "Store size of `recall`.") var recallSize: Int?
    @Option(name: .customLong("tenant-size"), help: "Store size of `tenants`.") var tenantSize: Int?
    @Option(name: .customLong("tenant-counts"), parsing: .upToNextOption, help: "Project counts of `tenants` (default 1 100 10000).")
    var tenantCounts: [Int] = []
    @Option(name: .customLong("concurrency-size"), help: "Store size of `concurrency`.") var concurrencySize: Int?
    @Option(name: .customLong("clients"), parsing: .upToNextOption, help: "Client thread counts of `concurrency` (default 1 2 4 8).")
    var clients: [Int] = []
    @Option(name: .customLong("hotpath-size"), help: "Store size of `hotpaths` (default 10000).") var hotPathSize: Int?
    @Option(name: .customLong("inject-slowdown"), help: ArgumentHelp("Test only (the gate's self-test): PATH=FRACTION slows a hot path by busy work, e.g. delete=0.2.", visibility: .hidden))
    var injectSlowdown: [String] = []
    @Option(name: .customLong("runbook"), help: "Runbook of `runbook` (repeatable): \(Runbook.builtIn.keys.sorted().joined(separator: ", ")) or a JSON file. Default: the built-in ones.")
    var runbooks: [String] = []
    @Option(name: .customLong("runbook-scale"), help: "Factor on the runbooks' record counts.") var runbookScale: Double?
    @Option(help: "Embedding dimension.") var dimension: Int?
    @Option(help: "Repetitions of every measurement.") var repetitions: Int?
    @Option(help: "Seed of the generated workload.") var seed: UInt64?
    @Option(help: "Deletes per repetition (in-place variants).") var deleteOps: Int?
    @Option(help: "Queries per search measurement.") var queries: Int?
    @Option(help: "Directory for reports.") var output = "results"

    /// The options as given, over the preset (`--quick`) or the defaults.
    func options() throws -> BenchOptions {
        var o = quick ? BenchOptions.quickPreset : BenchOptions()
        if !scenarios.isEmpty {
            o.scenarios = try scenarios.map { name in
                guard let s = BenchScenario(rawValue: name) else {
                    throw ValidationError("unknown scenario '\(name)'; known: \(BenchScenario.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return s
            }
        }
        if let vectors {
            if let source = VectorSource(rawValue: vectors), source != .file {
                o.vectors = source
            } else {
                o.vectors = .file
                o.vectorFile = vectors
            }
        }
        o.queryFile = queriesFile
        o.neighborFile = neighborsFile
        // Only what was given replaces the preset's value (an absent option is nil or empty).
        if !deleteSizes.isEmpty { o.deleteSizes = deleteSizes }
        if !pruneSizes.isEmpty { o.pruneSizes = pruneSizes }
        if !batchSizes.isEmpty { o.batchSizes = batchSizes }
        if !searchSizes.isEmpty { o.searchSizes = searchSizes }
        if !tenantCounts.isEmpty { o.tenantCounts = tenantCounts }
        if !clients.isEmpty { o.concurrencyClients = clients }
        if !runbooks.isEmpty { o.runbooks = runbooks }
        if let dimension { o.dimension = dimension }
        if let filterSize { o.filterSize = filterSize }
        if let recallSize { o.recallSize = recallSize }
        if let tenantSize { o.tenantSize = tenantSize }
        if let concurrencySize { o.concurrencySize = concurrencySize }
        if let hotPathSize { o.hotPathSize = hotPathSize }
        if let runbookScale { o.runbookScale = runbookScale }
        if let repetitions { o.repetitions = repetitions }
        if let seed { o.seed = seed }
        if let deleteOps { o.deleteOps = deleteOps }
        if let queries { o.searchQueries = queries }
        if !injectSlowdown.isEmpty {
            o.injectSlowdown = try Dictionary(injectSlowdown.map { item in
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, let path = HotPath(rawValue: parts[0]), let s = Double(parts[1]) else {
                    throw ValidationError("--inject-slowdown takes PATH=FRACTION with PATH one of \(HotPath.allCases.map(\.rawValue).joined(separator: ", ")), not '\(item)'")
                }
                return (path, s)
            }) { _, last in last }
        }
        if let problem = o.problem { throw ValidationError(problem) }
        for name in o.runbooks ?? [] { _ = try Runbook.load(name, scale: o.runbookScale ?? 1) }
        return o
    }

    func run() throws {
        let o = try options()
        let entry = try target.entry()
        let backend = entry.name
        let scratch = ScratchDirectory(prefix: "engram-bench")
        guard let benchBackend = entry.bench else { throw ValidationError("\(backend) registers no benchmark variants") }
        let runner = try BenchRunner(backend: benchBackend, options: o, scratch: scratch.url)
        if let dimension, dimension != runner.dimension {
            throw ValidationError("--dimension \(dimension) does not match the \(runner.dimension) dimensions of \(o.vectorFile ?? "the vectors")")
        }
        let result = try runner.run()
        let files = try BenchReports.write(result, to: URL(fileURLWithPath: output))
        let manifest = result.manifest
        print("benchmark run \(manifest.runId) on \(backend): \(result.measurements.count) measurements in \(String(format: "%.1f", manifest.durationSeconds)) s")
        for (key, value) in manifest.summary.sorted(by: { $0.key < $1.key }) {
            print("  \(key.description.padding(toLength: 62, withPad: " ", startingAt: 0)) \(String(format: "%.4g", value))")
        }
        for (key, plan) in manifest.plans.sorted(by: { $0.key < $1.key }) { print("  plan \(key): \(plan)") }
        print("reports:\n" + files.map { "  " + $0.path }.joined(separator: "\n"))
    }
}

/// `engram report`: redraws the charts from existing CSVs.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Redraw the SVG charts from benchmark CSVs.")

    @Argument(help: "Benchmark CSV files written by `engram bench`.")
    var csv: [String]

    @Option(help: "Directory for the charts.") var output = "results/charts"

    func run() throws {
        var rows: [EngramBench.Measurement] = []
        for path in csv {
            do { rows += try BenchReports.readCSV(try String(contentsOfFile: path, encoding: .utf8)) } catch {
                throw ValidationError("\(path): \(error)")
            }
        }
        for backend in Set(rows.map(\.backend)).sorted() {
            for url in try Charts.write(rows, backend: backend, to: URL(fileURLWithPath: output)) { print(url.path) }
        }
    }
}

/// Reads a JSON file the gate needs, as a usage error (exit 64) when it cannot.
func loadJSON<T: Decodable>(_ path: String, _ type: T.Type) throws -> T {
    do { return try JSONDecoder().decode(T.self, from: Data(contentsOf: URL(fileURLWithPath: path))) } catch {
        throw ValidationError("cannot read \(path): \(error)")
    }
}

/// `engram gate`: a run against the committed baseline and thresholds; a missed check is
/// re-measured before it fails (`Gate.decide`). Exit codes: 0 pass, 1 regression, 2 missing
/// measurement, 3 improvement (with --fail-on-improvement), 4 a report could not be written,
/// 5 inconclusive, 64 usage.
struct GateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate", abstract: "Check a benchmark run against the committed baseline and thresholds.",
        discussion: "Exit codes: 0 pass, 1 a check failed or regressed (on the interval of its re-measurements), 2 a required check (or every check) was not measured, 3 a ratio beat the baseline beyond the tolerance (only with --fail-on-improvement), 4 the verdict stands but a report could not be written, 5 inconclusive (no check failed, but one's interval straddled its line after every re-measurement, or it missed a target while the machine was busy), 64 usage error (an unreadable run, baseline or thresholds file, a baseline of another backend).")

    @Option(name: .customLong("run"), help: "Manifest of the run to check.") var runManifest = "results/bench-sqlite-manifest.json"
    @Option(help: "Manifest of the committed baseline run.") var baseline = "Benchmarks/baseline/bench-sqlite-manifest.json"
    @Flag(name: .customLong("no-baseline"), help: "Apply the thresholds only, without a baseline.") var noBaseline = false
    @Option(help: "Committed thresholds file.") var thresholds = "Benchmarks/thresholds.json"
    @Option(help: "Also write a markdown summary here (default: appended to $GITHUB_STEP_SUMMARY when set).") var markdown: String?
    @Option(help: "Also write JUnit XML here.") var junit: String?
    @Flag(help: "Exit 3 when a ratio beats the baseline beyond the tolerance (the baseline is stale).") var failOnImprovement = false
    @Option(help: "Re-measurement passes at most for a check that misses (each runs the checks' scenarios again with the run's options; 0 judges the run's figure alone).")
    var remeasure = 4
    @Flag(name: .customLong("self-test"), help: "Measure the gate's own false alarms and detections: quick runs of delete, prune and scale on this machine, unchanged and with Engram's delete or prune made slower, each gated against the baseline with re-measurement.")
    var selfTest = false
    @Option(help: "Self-test: trials of each kind (unchanged, delete slowed, prune slowed).") var trials = 5
    @Option(help: "Self-test: the injected slowdown (2 = three times the time).") var slowdown = 2.0
    @Option(help: "Self-test: directory for selftest.md and selftest.json.") var output = "results/gate-selftest"

    func run() throws {
        if selfTest { return try runSelfTest() }
        let current = try loadJSON(runManifest, Manifest.self)
        let base = noBaseline ? nil : try loadJSON(baseline, Manifest.self)
        let rules = try loadThresholds(thresholds)
        if let base, base.backend != current.backend {
            throw ValidationError("the baseline \(baseline) is of backend \(base.backend), the run of \(current.backend)")
        }
        guard remeasure >= 0 else { throw ValidationError("--remeasure must be 0 or more") }
        if let load = current.load { print("gate: machine during the run: \(load)") }
        var policy = Gate.Remeasure()
        policy.maxPasses = remeasure
        // Re-measuring runs this binary on this machine: only for a run of this build here.
        let here = (commit: Machine.gitCommit(), host: Machine.hostname())
        if remeasure > 0, current.gitCommit != here.commit || current.host != here.host {
            print("gate: the run was measured by commit \(current.gitCommit) on \(current.host), this is \(here.commit) on \(here.host): no re-measurement, each check is judged on the run's figure")
            policy.maxPasses = 0
        }
        let (rows, loads) = Gate.decide(Gate.evaluate(run: current, baseline: base, thresholds: rules), run: current, baseline: base,
                                        thresholds: rules, policy: policy) { scenarios in
            print("gate: re-measuring \(scenarios.map(\.rawValue).sorted().joined(separator: ", ")) with the run's options")
            do {
                let again = try Self.measure(current, scenarios: scenarios)
                if let load = again.load { print("gate: machine during the re-measurement: \(load)") }
                return (again.summary, again.load)
            } catch {
                // A check left without figures is INCONCLUSIVE, with this printed as the cause.
                print("gate: the re-measurement failed: \(error)")
                return ([:], nil)
            }
        }
        let outcome = Gate.outcome(rows, failOnImprovement: failOnImprovement)
        let warnings = Gate.machineWarnings(run: current, baseline: base)
        print(Gate.table(rows), terminator: "")
        for w in warnings { print("gate: warning: \(w)") }
        let failed = rows.filter { $0.verdict.failing }.count
        let measured = rows.filter { $0.verdict != .notMeasured }.count
        let misses = rows.filter { $0.verdict == .knownMiss }.count
        let inconclusive = rows.filter { $0.verdict == .inconclusive }.count
        print("gate: \(measured - failed - misses - inconclusive) passed, \(misses) known misses of a target, \(inconclusive) inconclusive, \(failed) failed, \(rows.count - measured) not measured in this run")
        if base == nil { print("gate: --no-baseline: thresholds only") }
        print("gate: \(outcome) (exit \(outcome.rawValue))")
        for r in rows where r.verdict == .inconclusive { print("gate: INCONCLUSIVE \(r.key): \(r.why ?? "")") }
        let summary = Gate.markdown(rows, outcome: outcome, warnings: warnings, run: current, loads: loads)
        try finish(tool: "gate", rows: rows, outcome: outcome, summary: summary, markdown: markdown, junit: junit, failOnImprovement: failOnImprovement)
    }
}

extension GateCommand {
    /// `--self-test`: trials of an unchanged build and of builds whose delete or prune is
    /// slower by `slowdown` (busy work after the real work, on Engram's variant only), each a
    /// quick run of delete, prune and scale gated with re-measurement against the baseline.
    func runSelfTest() throws {
        guard trials >= 1, slowdown > 0, slowdown <= 10 else { throw ValidationError("--trials must be at least 1 and --slowdown in (0, 10]") }
        let rules = try loadThresholds(thresholds)
        let base = try loadJSON(baseline, Manifest.self)
        var policy = Gate.Remeasure()
        policy.maxPasses = remeasure
        let kinds: [HotPath?] = [nil, .delete, .prune]
        var results: [GateSelfTest.Trial] = []
        for t in 0..<(trials * kinds.count) {
            let slowed = kinds[t % kinds.count]
            var options = BenchOptions.quickPreset
            options.scenarios = [.delete, .prune, .scale]
            options.seed = UInt64(1 + t / kinds.count)
            if let slowed { options.injectSlowdown = [slowed: slowdown] }
            let trial = try GateSelfTest.trial(slowed: slowed, rules: rules, baseline: base, policy: policy) { scenarios in
                var o = options
                o.scenarios = BenchScenario.allCases.filter { (scenarios ?? Set(options.scenarios)).contains($0) }
                return try Self.measure(backend: base.backend, options: o)
            }
            results.append(trial)
            print("trial \(t + 1): \(trial.line)")
        }
        let report = GateSelfTest.Report(trials: results, slowdown: slowdown, load: results.compactMap(\.load))
        print(report.markdown)
        let dir = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(report.markdown.utf8).write(to: dir.appendingPathComponent("selftest.md"))
        try JSONEncoder.pretty.encode(results).write(to: dir.appendingPathComponent("selftest.json"))
    }

    /// Runs `scenarios` again on the run's backend with the run's options (in this process).
    static func measure(_ run: Manifest, scenarios: Set<BenchScenario>) throws -> Manifest {
        var options = run.options
        options.scenarios = BenchScenario.allCases.filter { scenarios.contains($0) }
        return try measure(backend: run.backend, options: options)
    }

    static func measure(backend name: String, options: BenchOptions) throws -> Manifest {
        let entry = try BackendCatalog.entry(name)
        guard let backend = entry.bench else { throw ValidationError("\(name) registers no benchmark variants") }
        let scratch = ScratchDirectory(prefix: "engram-gate")
        return try BenchRunner(backend: backend, options: options, scratch: scratch.url).run().manifest
    }
}

/// A thresholds file, refused (exit 64) when it cannot serve as one (`Gate.problems`).
func loadThresholds(_ path: String) throws -> Gate.Thresholds {
    let rules = try loadJSON(path, Gate.Thresholds.self)
    let problems = Gate.problems(rules)
    guard problems.isEmpty else { throw ValidationError("\(path): " + problems.joined(separator: "; ")) }
    return rules
}

/// `engram baseline update`: makes a run the committed baseline, with its manifest (machine,
/// commit, versions) and CSV, after the gate's checks pass on it.
struct BaselineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "baseline", abstract: "Manage the committed benchmark baseline.", subcommands: [Update.self])

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a run as the new baseline; refuses a run whose checks fail.")

        @Option(name: .customLong("run"), help: "Manifest of the run (its CSV beside it is copied too).") var runManifest = "results/bench-sqlite-manifest.json"
        @Option(help: "Baseline manifest to write.") var baseline = "Benchmarks/baseline/bench-sqlite-manifest.json"
        @Option(help: "Thresholds the run must pass.") var thresholds = "Benchmarks/thresholds.json"

        func run() throws {
            let current = try loadJSON(runManifest, Manifest.self)
            let rows = Gate.evaluate(run: current, baseline: nil, thresholds: try loadThresholds(thresholds))
            // The same bar as the gate's, without a baseline: no failed check, every required
            // check measured, some check measured at all.
            let outcome = Gate.outcome(rows, failOnImprovement: false)
            guard outcome == .pass else {
                print(Gate.table(rows.filter { $0.verdict == .fail || ($0.required && $0.verdict == .notMeasured) }), terminator: "")
                print("baseline: refused: the gate's checks do not pass on this run (\(outcome))")
                throw ExitCode(outcome.rawValue)
            }
            guard !current.options.quick else {
                throw ValidationError("\(runManifest) is a --quick run; the baseline is a full run (scripts/main.sh)")
            }
            let target = URL(fileURLWithPath: baseline)
            let name = target.lastPathComponent
            if name.hasPrefix("bench-"), name.hasSuffix("-manifest.json"), name != "bench-\(current.backend)-manifest.json" {
                throw ValidationError("\(baseline) names another backend than the run's (\(current.backend))")
            }
            if FileManager.default.fileExists(atPath: target.path) {
                let old = try loadJSON(target.path, Manifest.self)
                guard old.backend == current.backend else {
                    throw ValidationError("\(baseline) is a baseline of backend \(old.backend), the run is of \(current.backend)")
                }
            }
            let source = URL(fileURLWithPath: runManifest)
            let csv = source.deletingLastPathComponent().appendingPathComponent("bench-\(current.backend).csv")
            guard FileManager.default.fileExists(atPath: csv.path) else {
                throw ValidationError("the run's measurements \(csv.path) are missing; the baseline keeps a manifest and its CSV together")
            }
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(contentsOf: source).write(to: target, options: .atomic)
            try Data(contentsOf: csv).write(to: target.deletingLastPathComponent().appendingPathComponent(csv.lastPathComponent), options: .atomic)
            print("baseline: \(baseline) is now run \(current.runId) (commit \(current.gitCommit.prefix(12)), \(current.host), \(current.machine["cpu"] ?? "?"))")
        }
    }
}

