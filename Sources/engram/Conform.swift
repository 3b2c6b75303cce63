import ArgumentParser
import Conformance
import EngramCore
import EngramCatalog
import Foundation

/// `engram conform`: runs the conformance suite over one backend and writes its reports.
struct Conform: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the conformance suite over a backend; write CSV and JUnit XML reports.")

    @OptionGroup var target: BackendOptions

    @Option(name: .customLong("only"), help: "Run only scenarios with this id or id prefix (repeatable), e.g. --only delete.")
    var only: [String] = []

    @Flag(help: "List every scenario id with its description and exit.")
    var list = false

    @Option(help: "Directory for reports.")
    var output = "results"

    @Option(help: "Embedding dimension of the stores under test.")
    var dimension = 384

    @Flag(help: "Run the at-scale scenarios at full size (25,000 records in the queried project, 30,000 beside it) instead of 2,000.")
    var full = false

    @Option(help: "Differential fuzzing instead of the scenarios: this many random histories, each run on the backend and on the reference store.")
    var fuzz = 0

    @Option(help: "Seed of the fuzz histories.")
    var seed: UInt64 = 1

    @Option(help: "Operations per fuzz history.")
    var ops = 100

    func run() throws {
        if fuzz > 0 { return try runFuzz() }
        if list {
            for s in ConformanceSuite.scenarios {
                let cap = s.requires.map { " [requires \($0)]" } ?? ""
                print("\(s.id.padding(toLength: 44, withPad: " ", startingAt: 0)) \(s.description)\(cap)")
            }
            return
        }
        let entry = try target.entry()
        let backend = entry.name
        defer { entry.cleanup() }
        let scratch = ScratchDirectory(prefix: "engram-conform")
        let suite = ConformanceSuite(fixture: entry.fixture(scratch.url, dimension), only: only.isEmpty ? nil : only,
                                     scale: full ? ConformanceSuite.fullScale : ConformanceSuite.quickScale)
        guard !suite.selected.isEmpty else {
            throw ValidationError("no scenario matches --only \(only.joined(separator: " "))")
        }
        print("Conformance of '\(backend)': \(suite.selected.count) scenarios")
        print(row("scenario", "status", "ms", "reason"))
        let redact = environmentRedactor()
        let results = suite.run { r in
            print(row(r.id, r.status.rawValue.uppercased(), String(format: "%.1f", r.durationMs), redact(r.reason)))
            if r.status == .failed, !r.check.isEmpty { print(row("", "", "", "what to check: " + r.check)) }
        }.map { r in
            var r = r
            r.reason = redact(r.reason)
            return r
        }
        let outDir = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        let csv = outDir.appendingPathComponent("conformance-\(backend).csv")
        let xml = outDir.appendingPathComponent("conformance-\(backend).xml")
        try ConformanceReport.csv(results).write(to: csv, atomically: true, encoding: .utf8)
        try ConformanceReport.junitXML(results, backend: backend).write(to: xml, atomically: true, encoding: .utf8)
        let passed = results.filter { $0.status == .passed }.count
        let failed = results.filter { $0.status == .failed }.count
        let skipped = results.filter { $0.status == .skipped }.count
        print("\nconformance: \(passed) passed, \(failed) failed, \(skipped) skipped")
        print("reports: \(csv.path), \(xml.path)")
        if failed > 0 { throw ExitCode(1) }
    }

    /// `--fuzz N`: histories on the backend and the reference store; the first divergence is
    /// shrunk, printed and written to results/fuzz-<backend>-<seed>.json (`engram replay` re-runs it).
    private func runFuzz() throws {
        guard ops >= 1 else { throw ValidationError("--ops must be at least 1") }
        let entry = try target.entry()
        defer { entry.cleanup() }
        let scratch = ScratchDirectory(prefix: "engram-fuzz")
        let fuzzer = Fuzzer(fixture: entry.fixture(scratch.url, dimension), seed: seed, length: ops)
        let redact = environmentRedactor()
        let start = Date()
        let (found, coverage) = fuzzer.runWithCoverage(histories: fuzz) { i in
            if i > 0, i % 100 == 0 { print("  \(i) histories, no divergence") }
        }
        let seconds = Date().timeIntervalSince(start)
        guard let d = found.first else {
            print("coverage (histories that ran each operation, and met each error):\n" + coverage.table, terminator: "")
            print("fuzz of '\(entry.name)': \(fuzz) histories × \(ops) operations, seed \(seed): no divergence from the reference store (\(String(format: "%.1f", seconds)) s)")
            let untested = Set(coverage.neverRun + coverage.neverSucceeded)
            if !untested.isEmpty {
                print("fuzz: FAILED: tested too little: no history ran \(FuzzOp.names.filter(untested.contains).joined(separator: ", ")) without an error (more histories or --ops)")
                throw ExitCode(3)
            }
            return
        }
        let outDir = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        let file = outDir.appendingPathComponent("fuzz-\(entry.name)-\(seed).json")
        var report = fuzzer.report(d, backend: entry.name)
        if case .object(var o) = report {
            o["reason"] = .string(redact(d.reason))
            o["dimension"] = .int(Int64(dimension))
            report = .object(o)
        }
        try (report.jsonText + "\n").write(to: file, atomically: true, encoding: .utf8)
        print("fuzz of '\(entry.name)': history \(d.index) of seed \(seed) diverges from the reference store; shrunk from \(ops) to \(d.kept.count) operations:")
        for (i, op) in zip(d.kept, d.operations) { print("  [\(i)] \(redact(op))") }
        print("divergence: \(redact(d.reason))")
        print("report: \(file.path) (re-run with: engram replay \(file.path) \(target.external.map { "--external '\($0)'" } ?? "--backend \(entry.name)"))")
        throw ExitCode(1)
    }

    private func row(_ a: String, _ b: String, _ c: String, _ d: String) -> String {
        a.padding(toLength: 44, withPad: " ", startingAt: 0) + " " + b.padding(toLength: 8, withPad: " ", startingAt: 0)
            + " " + String(repeating: " ", count: max(0, 9 - c.count)) + c + "  " + d
    }
}
