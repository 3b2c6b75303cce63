import ArgumentParser
import EngramBench
import EngramCore
import Foundation

/// `engram ab`: compares a candidate build with a baseline build on this machine. The two
/// binaries run the `hotpaths` scenario alternately (ABBA…), so both see the same noise, and
/// each hot path is judged by a bootstrap interval of the ratio of medians; while an interval
/// straddles the flagging line, another pair of runs is added. Exit codes are the gate's.
struct AB: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A/B-compare two engram builds on Engram's hot paths (interleaved runs, bootstrap intervals).",
        discussion: "Exit codes: 0 no path regressed, 1 a path regressed, 2 a build could not measure (e.g. a baseline older than the hotpaths scenario), 3 a path improved (only with --fail-on-improvement), 4 a report could not be written, 64 usage. --self-test measures the comparison itself: how often an unchanged build is flagged, and how often a 20% slowdown of one path is caught.")

    @Option(help: "The baseline build's engram executable.") var baseline: String?
    @Option(help: "The candidate build's engram executable.") var candidate: String?
    @Option(help: "Backend to measure.") var backend = "sqlite"
    @Option(help: "Runs per build before the first decision.") var rounds = 5
    @Option(name: .customLong("max-rounds"), help: "Runs per build at most, adding pairs while a path is ambiguous.") var maxRounds = 9
    @Option(name: .customLong("min-effect"), help: "The smallest slowdown worth flagging (0.10: 10%).") var minEffect = 0.10
    @Option(name: .customLong("hotpath-size"), help: "Records in the hot-path store.") var hotPathSize = 10_000
    @Option(name: .customLong("candidate-arg"), help: ArgumentHelp("Extra argument for the candidate's bench runs (repeatable; the self-test's slowdown).", visibility: .hidden))
    var candidateArgs: [String] = []
    @Option(help: "Directory for the runs and ab.json.") var output = "results/ab"
    @Option(help: "Also write a markdown summary here (default: appended to $GITHUB_STEP_SUMMARY when set).") var markdown: String?
    @Option(help: "Also write JUnit XML here.") var junit: String?
    @Flag(help: "Exit 3 when a path improved.") var failOnImprovement = false
    @Flag(name: .customLong("self-test"), help: "Measure false alarms (A/A) and detection (A against A with one path slowed) with this executable.")
    var selfTest = false
    @Option(help: "Self-test trials of each kind.") var trials = 20
    @Option(help: "Self-test: the slowdown injected into one path per trial.") var slowdown = 0.2

    func validate() throws {
        guard rounds >= 3, maxRounds >= rounds, maxRounds <= 50 else { throw ValidationError("--rounds must be at least 3 and --max-rounds between it and 50") }
        guard minEffect > 0, minEffect < 1 else { throw ValidationError("--min-effect must be in (0, 1)") }
        guard hotPathSize >= 100 else { throw ValidationError("--hotpath-size must be at least 100") }
        guard trials >= 1, trials <= 1_000 else { throw ValidationError("--trials must be in 1...1000") }
        guard slowdown > 0, slowdown <= 10 else { throw ValidationError("--slowdown must be in (0, 10]") }
        if !selfTest {
            guard let baseline, let candidate else { throw ValidationError("--baseline and --candidate name the two engram executables (or use --self-test)") }
            for path in [baseline, candidate] {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                      FileManager.default.isExecutableFile(atPath: path) else { throw ValidationError("\(path) is not an executable file") }
            }
        }
    }

    func run() throws {
        var policy = ABCompare.Policy()
        policy.minEffect = minEffect
        let out = URL(fileURLWithPath: output)
        do { try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true) } catch {
            throw ValidationError("cannot create --output \(output): \(error.localizedDescription)")
        }
        if selfTest {
            do { return try runSelfTest(policy: policy, out: out) } catch let e as ReportFailure {
                print("ab: cannot write the self-test's report: \(e.message)")
                throw ExitCode(Gate.Outcome.outputFailed.rawValue)
            } catch {
                // A trial that could not run or measure: no verdict on the comparison.
                print("ab: \((error as? RunFailure)?.message ?? "\(error)")")
                throw ExitCode(Gate.Outcome.missingMeasurement.rawValue)
            }
        }
        let started = Date()
        let results: [ABCompare.Result]
        do {
            results = try compare(baseline: baseline!, candidate: candidate!, candidateArgs: candidateArgs, policy: policy, out: out, log: true)
        } catch {
            // A build that could not run or measure: no verdict on the paths.
            print("ab: \((error as? RunFailure)?.message ?? "\(error)")")
            throw ExitCode(Gate.Outcome.missingMeasurement.rawValue)
        }
        let rows = ABCompare.rows(results, policy: policy)
        let outcome = Gate.outcome(rows, failOnImprovement: failOnImprovement)
        print(Gate.table(rows), terminator: "")
        print(String(format: "ab: %@ (exit %d) after %.0f s", "\(outcome)", outcome.rawValue, Date().timeIntervalSince(started)))
        let summary = abMarkdown(results, rows: rows, outcome: outcome, policy: policy)
        var written = true
        do { try JSONEncoder.pretty.encode(results).write(to: out.appendingPathComponent("ab.json")) } catch {
            written = false
            print("ab: cannot write \(out.appendingPathComponent("ab.json").path): \(error)")
        }
        try finish(tool: "ab", rows: rows, outcome: outcome, summary: summary, markdown: markdown, junit: junit, failOnImprovement: failOnImprovement)
        if !written { throw ExitCode(Gate.Outcome.outputFailed.rawValue) }
    }

    struct RunFailure: Error { let message: String }
    struct ReportFailure: Error { let message: String }

    /// Runs both builds alternately until no path is ambiguous or `maxRounds` is reached.
    func compare(baseline: String, candidate: String, candidateArgs: [String], policy: ABCompare.Policy, out: URL, log: Bool) throws -> [ABCompare.Result] {
        var a: [HotPath: [Double]] = [:], b: [HotPath: [Double]] = [:]
        var round = 0
        func pair() throws {
            // ABBA: the order flips every round, so neither build always runs first.
            let sides = round % 2 == 0 ? [("a", baseline, [String]()), ("b", candidate, candidateArgs)] : [("b", candidate, candidateArgs), ("a", baseline, [String]())]
            for (side, exe, extra) in sides {
                let figures = try benchRun(exe, extra: extra, dir: out.appendingPathComponent("round-\(round)-\(side)"))
                for (path, v) in figures {
                    if side == "a" { a[path, default: []].append(v) } else { b[path, default: []].append(v) }
                }
            }
            round += 1
        }
        while round < rounds { try pair() }
        while true {
            let final = round >= maxRounds
            let results = HotPath.allCases.map { ABCompare.compare($0, baseline: a[$0] ?? [], candidate: b[$0] ?? [], policy: policy, final: final) }
            let ambiguous = results.filter { $0.verdict == .ambiguous }
            if ambiguous.isEmpty { return results }
            if log { print("ab: ambiguous after \(round) rounds: \(ambiguous.map(\.path.rawValue).joined(separator: ", ")); another pair") }
            try pair()
        }
    }

    /// One `bench --scenario hotpaths` run of `exe`; its hot-path figures from the manifest.
    func benchRun(_ exe: String, extra: [String], dir: URL) throws -> [HotPath: Double] {
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let logURL = dir.appendingPathComponent("bench.log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let logHandle = try FileHandle(forWritingTo: logURL)
        defer { try? logHandle.close() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["bench", "--backend", backend, "--scenario", "hotpaths", "--hotpath-size", String(hotPathSize), "--output", dir.path] + extra
        p.standardOutput = logHandle
        p.standardError = logHandle
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0, p.terminationReason == .exit else {
            let tail = (try? String(contentsOf: logURL, encoding: .utf8)).map { String($0.suffix(600)) } ?? ""
            throw RunFailure(message: "\(exe) bench exited \(p.terminationStatus) (log \(logURL.path)):\n\(tail)")
        }
        let manifests = (try FileManager.default.contentsOfDirectory(atPath: dir.path)).filter { $0.hasPrefix("bench-") && $0.hasSuffix("-manifest.json") }
        guard let name = manifests.first else { throw RunFailure(message: "\(exe) wrote no manifest into \(dir.path)") }
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: dir.appendingPathComponent(name)))
        var figures: [HotPath: Double] = [:]
        for path in HotPath.allCases {
            guard let v = manifest.summary[path.summaryKey], v.isFinite, v > 0 else {
                throw RunFailure(message: "\(exe) did not measure \(path.summaryKey) (a build without the hotpaths scenario?)")
            }
            figures[path] = v
        }
        return figures
    }

    /// A/A trials (any path flagged is a false alarm) and A against A slowed by `slowdown` in one
    /// path, taken in turn (the slowed path flagged as a regression is a detection).
    func runSelfTest(policy: ABCompare.Policy, out: URL) throws {
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        struct Trial: Codable { var slowed: HotPath?; var flagged: [HotPath]; var rounds: Int; var seconds: Double; var results: [ABCompare.Result] }
        var done: [Trial] = []
        let started = Date()
        for t in 0..<(2 * trials) {
            let slowed: HotPath? = t % 2 == 0 ? nil : HotPath.allCases[(t / 2) % HotPath.allCases.count]
            let extra = slowed.map { ["--inject-slowdown", "\($0.rawValue)=\(slowdown)"] } ?? []
            let t0 = Date()
            let results = try compare(baseline: me, candidate: me, candidateArgs: extra, policy: policy, out: out.appendingPathComponent("trial"), log: false)
            let flagged = results.filter { $0.verdict == .regression || $0.verdict == .improved }.map(\.path)
            let trial = Trial(slowed: slowed, flagged: flagged, rounds: results.map(\.baselineRuns).max() ?? 0, seconds: Date().timeIntervalSince(t0), results: results)
            done.append(trial)
            print(String(format: "trial %d: %@: flagged [%@] after %d rounds, %.0f s", t + 1, slowed.map { "\($0.rawValue) +\(Int(slowdown * 100))%" } ?? "unchanged",
                         flagged.map(\.rawValue).joined(separator: ", "), trial.rounds, trial.seconds))
        }
        let unchanged = done.filter { $0.slowed == nil }, slowedTrials = done.filter { $0.slowed != nil }
        let falseAlarms = unchanged.filter { !$0.flagged.isEmpty }.count
        let detected = slowedTrials.filter { t in t.flagged.contains(t.slowed!) && t.results.first { $0.path == t.slowed }?.verdict == .regression }.count
        let wrongPath = slowedTrials.filter { t in t.flagged.contains { $0 != t.slowed } }.count
        let perTrial = done.map(\.seconds).reduce(0, +) / Double(done.count)
        var md = "### `engram ab` self-test\n\n"
        md += "Backend \(backend), \(hotPathSize) records, \(rounds)–\(maxRounds) runs per build, flag at \(Int(minEffect * 100))% with a \(Int(policy.confidence * 100))% bootstrap interval; "
        md += "host \(Machine.hostname()), \(Machine.describe()["cores"] ?? "?") cores.\n\n"
        md += "| trials | kind | flagged | rate |\n|---|---|---|---|\n"
        md += "| \(unchanged.count) | unchanged build (A/A) | \(falseAlarms) false alarms | \(pct(falseAlarms, unchanged.count)) |\n"
        md += "| \(slowedTrials.count) | one path \(Int(slowdown * 100))% slower | \(detected) detected | \(pct(detected, slowedTrials.count)) |\n\n"
        md += "Per path (slowed trials): " + HotPath.allCases.map { p in
            let ts = slowedTrials.filter { $0.slowed == p }
            return "\(p.rawValue) \(ts.filter { $0.flagged.contains(p) }.count)/\(ts.count)"
        }.joined(separator: ", ") + ". Another path also flagged in \(wrongPath) slowed trials.\n\n"
        md += String(format: "Mean time per comparison: %.0f s (%.1f min for the whole self-test).\n", perTrial, Date().timeIntervalSince(started) / 60)
        print(md)
        do {
            try JSONEncoder.pretty.encode(done).write(to: out.appendingPathComponent("selftest.json"))
            try Data(md.utf8).write(to: out.appendingPathComponent("selftest.md"))
        } catch { throw ReportFailure(message: "\(error)") }
        try? FileManager.default.removeItem(at: out.appendingPathComponent("trial"))
    }

    func pct(_ k: Int, _ n: Int) -> String { n == 0 ? "-" : String(format: "%.0f%%", Double(k) / Double(n) * 100) }

    func abMarkdown(_ results: [ABCompare.Result], rows: [Gate.Row], outcome: Gate.Outcome, policy: ABCompare.Policy) -> String {
        var md = "### Engram A/B comparison: \(outcome == .pass ? "passed" : "\(outcome)")\n\n"
        md += "Baseline `\(baseline ?? "")`, candidate `\(candidate ?? "")`, backend \(backend), \(hotPathSize) records; runs interleaved ABBA on \(Machine.hostname()). "
        md += "Slowdown = candidate time / baseline time (throughput inverted); flagged at ≥ \(Int(policy.minEffect * 100))% when its \(Int(policy.confidence * 100))% bootstrap interval excludes 1.\n\n"
        md += "| path | metric | baseline | candidate | change | slowdown [interval] | runs | verdict |\n|---|---|---|---|---|---|---|---|\n"
        for (r, row) in zip(results, rows) {
            md += String(format: "| %@ | %@ | %.4g | %.4g | %+.1f%% | %.3f [%.3f, %.3f] | %d+%d | %@ |\n", r.path.rawValue, r.path.metric.name, r.baselineMedian, r.candidateMedian,
                         (r.candidateMedian / r.baselineMedian - 1) * 100, r.ratio, r.low, r.high, r.baselineRuns, r.candidateRuns, row.verdict.rawValue)
        }
        return md
    }
}

extension JSONEncoder {
    static var pretty: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return e
    }
}

/// After a verdict is printed: writes the markdown summary (into `markdown`, else appended to
/// `$GITHUB_STEP_SUMMARY` when set) and JUnit XML, then exits with the outcome's code, or 4
/// when the outcome is a pass but a report could not be written.
func finish(tool: String, rows: [Gate.Row], outcome: Gate.Outcome, summary: String, markdown: String?, junit: String?, failOnImprovement: Bool) throws {
    var reportFailed = false
    func report(_ path: String, _ text: String, append: Bool = false) {
        do { try writeReport(path, text, append: append) } catch {
            reportFailed = true
            print("\(tool): cannot write \(path): \(error)")
        }
    }
    if let markdown {
        report(markdown, summary)
    } else if let path = ProcessInfo.processInfo.environment["GITHUB_STEP_SUMMARY"], !path.isEmpty {
        report(path, summary, append: true)
    }
    if let junit { report(junit, Gate.junit(rows, failOnImprovement: failOnImprovement)) }
    // A failed report outranks only a pass and an inconclusive verdict (the report would say why).
    if reportFailed, outcome == .pass || outcome == .inconclusive { throw ExitCode(Gate.Outcome.outputFailed.rawValue) }
    if outcome != .pass { throw ExitCode(outcome.rawValue) }
}

/// Writes a report into the file named (a device, a symlink's target), or appends to it.
func writeReport(_ path: String, _ text: String, append: Bool = false) throws {
    if append {
        guard let h = FileHandle(forWritingAtPath: path) else { throw ValidationError("cannot open it for writing") }
        defer { try? h.close() }
        try h.seekToEnd()
        try h.write(contentsOf: Data(text.utf8))
    } else {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }
}
