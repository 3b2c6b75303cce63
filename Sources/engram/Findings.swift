import ArgumentParser
import EngramCatalog
import EngramCore
import EngramFindings
import Foundation

/// `engram findings`: each finding of the review as a verdict per backend, with its evidence.
struct Findings: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the review's findings (conformance scenarios and benchmark slices) on backends; write Markdown and JSON.",
        discussion: "A backend is --backend NAME (built in) or --external NAME=COMMAND (an adapter). An adapter's NAME ending in -sqlite, -files, -postgres or -cosmos says which storage family it is, so findings about other families are marked not applicable.")

    @Option(name: .customLong("backend"), help: "A built-in backend (repeatable): \(BackendCatalog.names.joined(separator: ", ")).")
    var backends: [String] = []

    @Option(name: .customLong("external"), help: "An adapter as NAME=COMMAND (repeatable).")
    var externals: [String] = []

    @Option(name: .customLong("scenarios-only"), help: "A backend (by name, repeatable) measured by scenarios only, without the benchmark slice (e.g. one too slow to load the slice's records).")
    var scenariosOnly: [String] = []

    @Option(help: "Records in the benchmark slice (delete, search and prune at this size; deletes also at a quarter of it).")
    var records = 20_000

    @Option(help: "Embedding dimension.") var dimension = 384
    @Option(help: "Seconds to wait for each adapter response.") var timeout: Double = 120
    @Option(help: "Directory for findings.md and findings.json.") var output = "results/findings"

    typealias Target = FindingsRun.Target

    func targets() throws -> [Target] {
        var out = try backends.map { name in Target(name: name, family: name, entry: try BackendCatalog.entry(name)) }
        for spec in externals {
            guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else { throw ValidationError("--external wants NAME=COMMAND, got '\(spec)'") }
            let name = String(spec[..<eq]), command = String(spec[spec.index(after: eq)...])
            guard !command.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--external \(name)=: the command is empty") }
            let family = ["sqlite", "files", "postgres", "cosmos"].first { name.hasSuffix("-" + $0) } ?? ""
            out.append(Target(name: name, family: family, entry: BackendCatalog.externalEntry(command: command, timeout: timeout)))
        }
        guard !out.isEmpty else { throw ValidationError("name at least one --backend or --external") }
        // Names become table columns and headings: letters, digits, '.', '_' and '-' only.
        for t in out where t.name.isEmpty || !t.name.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) && $0.isASCII || "._-".unicodeScalars.contains($0) }) {
            throw ValidationError("backend name '\(t.name)' may hold only ASCII letters, digits, '.', '_' and '-'")
        }
        guard Validation.dimensionRange.contains(dimension) else { throw ValidationError("--dimension must be in \(Validation.dimensionRange)") }
        guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout must be a positive number of seconds") }
        guard Set(out.map(\.name)).count == out.count else { throw ValidationError("backend names must differ") }
        for name in scenariosOnly where !out.contains(where: { $0.name == name }) { throw ValidationError("--scenarios-only \(name): no such backend in this run") }
        guard records >= 4_000 else { throw ValidationError("--records must be at least 4000 (the prune takes 1,000 per repetition)") }
        return out
    }

    func run() throws {
        let targets = try targets()
        let runner = FindingsRun(records: records, dimension: dimension, scenariosOnly: Set(scenariosOnly)) {
            FileHandle.standardError.write(Data(($0 + "\n").utf8))
        }
        var rows: [String: [String: Verdict]] = [:]  // finding id -> backend -> verdict
        var performance: [(String, [String: Double])] = []
        var versions: [String: String] = [:]
        let redact = environmentRedactor()
        var failedTargets: [String] = []
        for target in targets {
            defer { target.entry.cleanup() }
            do {
                let (verdicts, figures, version) = try runner.judge(target)
                for (id, v) in verdicts { rows[id, default: [:]][target.name] = v }
                performance.append((target.name, figures))
                if let version { versions[target.name] = version }
            } catch {
                // One backend that fails (an adapter that will not start) costs its own column, not the run.
                let why = "the run on this backend failed: \(redact(String(describing: error)).prefix(300))"
                FileHandle.standardError.write(Data("findings: \(target.name): \(why)\n".utf8))
                failedTargets.append(target.name)
                for f in Finding.all {
                    let applies = f.families.isEmpty || f.families.contains(target.family)
                    rows[f.id, default: [:]][target.name] = applies ? Verdict(kind: .inconclusive, evidence: why)
                        : Verdict(kind: .notApplicable, evidence: "concerns \(f.families.sorted().joined(separator: ", "))")
                }
                performance.append((target.name, [:]))
            }
        }
        let report = FindingsReport(targets: targets.map(\.name), rows: rows, performance: performance, records: records, dimension: dimension, versions: versions)
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        try redact(report.markdown()).write(toFile: output + "/findings.md", atomically: true, encoding: .utf8)
        try redact(report.json().jsonText).write(toFile: output + "/findings.json", atomically: true, encoding: .utf8)
        print(redact(report.screen()))
        print("reports: \(output)/findings.md, \(output)/findings.json")
        if !failedTargets.isEmpty {
            print("findings: the run failed on \(failedTargets.joined(separator: ", ")) (their verdicts are inconclusive)")
            throw ExitCode(1)
        }
    }
}
