import ArgumentParser
import EngramBench
import EngramCore
import Foundation

/// `engram ab`: compares a candidate build with a baseline build on this machine (`ABRun`:
/// interleaved runs of the `hotpaths` scenario, a bootstrap interval per hot path, more runs
/// while an interval straddles the line). Exit codes are the gate's.
struct AB: ParsableCommand {
    /// The exit code when the builds measure the hot paths differently (`scripts/ab.sh` skips).
    static let incomparable: Int32 = 6

    static let configuration = CommandConfiguration(
        abstract: "A/B-compare two engram builds on Engram's hot paths (interleaved runs, bootstrap intervals).",
        discussion: "Exit codes: 0 no path regressed, 1 a path regressed, 2 a build could not measure (e.g. a baseline older than the hotpaths scenario), 3 a path improved (only with --fail-on-improvement), 4 a report could not be written, 6 the builds measure the hot paths differently (no verdict), 64 usage. --self-test measures the comparison itself: how often an unchanged build is flagged, and how often a 20% slowdown of one path is caught.")

    @Option(help: "The baseline build's engram executable.") var baseline: String?
    @Option(help: "The candidate build's engram executable.") var candidate: String?
    @Option(help: "Backend to measure.") var backend = "sqlite"
    @Option(help: "Runs per build before the first decision.") var rounds = ABRun().rounds
    @Option(name: .customLong("max-rounds"), help: "Runs per build at most, adding pairs while a path is ambiguous.") var maxRounds = ABRun().maxRounds
    @Option(name: .customLong("busy-max-rounds"), help: "Runs per build at most when other processes took a quarter of the CPU or more during the comparison (never fewer than --max-rounds).")
    var busyMaxRounds = ABRun().busyMaxRounds
    @Option(name: .customLong("min-effect"), help: "The smallest slowdown worth flagging (0.10: 10%).") var minEffect = ABCompare.Policy().minEffect
    @Option(name: .customLong("hotpath-size"), help: "Records in the hot-path store.") var hotPathSize = ABRun().hotPathSize
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
        guard rounds >= 3, maxRounds >= rounds, maxRounds <= 200, busyMaxRounds >= rounds, busyMaxRounds <= 200 else {
            throw ValidationError("--rounds must be at least 3, --max-rounds and --busy-max-rounds between it and 200")
        }
        guard minEffect > 0, minEffect < 1 else { throw ValidationError("--min-effect must be in (0, 1)") }
        guard hotPathSize >= BenchOptions.minimumHotPathSize else { throw ValidationError("--hotpath-size must be at least \(BenchOptions.minimumHotPathSize)") }
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

    var runner: ABRun {
        var r = ABRun()
        r.backend = backend
        r.hotPathSize = hotPathSize
        r.rounds = rounds
        r.maxRounds = maxRounds
        r.busyMaxRounds = busyMaxRounds
        r.policy.minEffect = minEffect
        return r
    }

    func run() throws {
        let out = URL(fileURLWithPath: output)
        do { try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true) } catch {
            throw ValidationError("cannot create --output \(output): \(error.localizedDescription)")
        }
        if selfTest { return try runSelfTest(out: out) }
        let started = Date()
        let c: ABRun.Comparison
        do {
            c = try runner.compare(baseline: baseline!, candidate: candidate!, candidateArgs: candidateArgs, out: out) {
                print($0)
                fflush(nil)
            }
        } catch let error as ABRun.Incomparable {
            print("ab: no verdict: \(error)")
            throw ExitCode(Self.incomparable)
        } catch {
            // A build that could not run or measure: no verdict on the paths.
            print("ab: \(error)")
            throw ExitCode(Gate.Outcome.missingMeasurement.rawValue)
        }
        let rows = ABCompare.rows(c.results, policy: runner.policy)
        let outcome = Gate.outcome(rows, failOnImprovement: failOnImprovement)
        print(Gate.table(rows), terminator: "")
        print(String(format: "ab: %@ (exit %d) after %.0f s; machine: %@", "\(outcome)", outcome.rawValue, Date().timeIntervalSince(started), "\(c.load)"))
        let summary = runner.markdown(c, rows: rows, outcome: outcome, baseline: baseline!, candidate: candidate!)
        var written = true
        do { try JSONEncoder.pretty.encode(c.results).write(to: out.appendingPathComponent("ab.json")) } catch {
            written = false
            print("ab: cannot write \(out.appendingPathComponent("ab.json").path): \(error)")
        }
        try finish(tool: "ab", rows: rows, outcome: outcome, summary: summary, markdown: markdown, junit: junit, failOnImprovement: failOnImprovement)
        if !written { throw ExitCode(Gate.Outcome.outputFailed.rawValue) }
    }

    func runSelfTest(out: URL) throws {
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let started = Date()
        let done: [ABRun.Trial]
        do {
            done = try runner.selfTest(exe: me, trials: trials, slowdown: slowdown, out: out) { n, t in
                print(String(format: "trial %d: %@: flagged [%@] after %d rounds, %.0f s%@", n, t.slowed.map { "\($0.rawValue) +\(Int(slowdown * 100))%" } ?? "unchanged",
                             t.flagged.map(\.rawValue).joined(separator: ", "), t.rounds, t.seconds, t.load?.busy == true ? " (busy)" : ""))
                fflush(nil)  // a trial's line reaches a log file as it ends
            }
        } catch {
            // A trial that could not run or measure: no verdict on the comparison.
            print("ab: \(error)")
            throw ExitCode(Gate.Outcome.missingMeasurement.rawValue)
        }
        let md = runner.selfTestMarkdown(done, slowdown: slowdown, minutes: Date().timeIntervalSince(started) / 60)
        print(md)
        do {
            try JSONEncoder.pretty.encode(done).write(to: out.appendingPathComponent("selftest.json"))
            try Data(md.utf8).write(to: out.appendingPathComponent("selftest.md"))
        } catch {
            print("ab: cannot write the self-test's report: \(error)")
            throw ExitCode(Gate.Outcome.outputFailed.rawValue)
        }
    }
}

/// After a verdict is printed: writes its reports (`VerdictReports`), then exits with the
/// outcome's code, or 4 when the outcome is a pass but a report could not be written.
func finish(tool: String, rows: [Gate.Row], outcome: Gate.Outcome, summary: String, markdown: String?, junit: String?, failOnImprovement: Bool) throws {
    let failures = VerdictReports.publish(rows: rows, summary: summary, markdown: markdown, junit: junit, failOnImprovement: failOnImprovement)
    for f in failures { print("\(tool): \(f)") }
    // A failed report outranks only a pass and an inconclusive verdict (the report would say why).
    if !failures.isEmpty, outcome == .pass || outcome == .inconclusive { throw ExitCode(Gate.Outcome.outputFailed.rawValue) }
    if outcome != .pass { throw ExitCode(outcome.rawValue) }
}
