import ArgumentParser
import Conformance
import EngramCore
import Foundation

/// `engram conform`: runs the conformance suite over one backend and writes its reports.
struct Conform: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the conformance suite over a backend; write CSV and JUnit XML reports.")

    @Option(help: "Backend to check: \(BackendCatalog.names.joined(separator: ", ")).")
    var backend = "sqlite"

    @Option(help: "Check a backend in another process instead: the command that starts its adapter.")
    var external: String?

    @Option(help: "Seconds to wait for each adapter response (with --external).")
    var timeout: Double = 30

    @Option(name: .customLong("only"), help: "Run only scenarios with this id or id prefix (repeatable), e.g. --only delete.")
    var only: [String] = []

    @Flag(help: "List every scenario id with its description and exit.")
    var list = false

    @Option(help: "Directory for reports.")
    var output = "results"

    @Option(help: "Embedding dimension of the stores under test.")
    var dimension = 384

    func run() throws {
        if list {
            for s in ConformanceSuite.scenarios {
                let cap = s.requires.map { " [requires \($0)]" } ?? ""
                print("\(s.id.padding(toLength: 44, withPad: " ", startingAt: 0)) \(s.description)\(cap)")
            }
            return
        }
        let entry = try external.map { BackendCatalog.externalEntry(command: $0, timeout: timeout) } ?? BackendCatalog.entry(backend)
        let backend = entry.name
        defer { entry.cleanup() }
        let scratch = ScratchDirectory(prefix: "engram-conform")
        let suite = ConformanceSuite(fixture: entry.fixture(scratch.url, dimension), only: only.isEmpty ? nil : only)
        guard !suite.selected.isEmpty else {
            throw ValidationError("no scenario matches --only \(only.joined(separator: " "))")
        }
        print("Conformance of '\(backend)': \(suite.selected.count) scenarios")
        print(row("scenario", "status", "ms", "reason"))
        let redact = environmentRedactor()
        let results = suite.run { r in
            print(row(r.id, r.status.rawValue.uppercased(), String(format: "%.1f", r.durationMs), redact(r.reason)))
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

    private func row(_ a: String, _ b: String, _ c: String, _ d: String) -> String {
        a.padding(toLength: 44, withPad: " ", startingAt: 0) + " " + b.padding(toLength: 8, withPad: " ", startingAt: 0)
            + " " + String(repeating: " ", count: max(0, 9 - c.count)) + c + "  " + d
    }
}
