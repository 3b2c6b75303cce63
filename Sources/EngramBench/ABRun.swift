import Foundation

/// Runs an A/B comparison of two engram executables on this machine: each runs
/// `bench --scenario hotpaths` in turn (ABBA…), and each hot path is judged by `ABCompare`.
/// While an interval straddles a flagging line `step` more pairs are added, up to `maxRounds` runs
/// per build, or `busyMaxRounds` when other processes took a quarter of the CPU or more
/// (`MachineLoad.busy`): a busy machine widens the intervals, and more runs narrow them again.
public struct ABRun: Sendable {
    public var backend = "sqlite"
    public var hotPathSize = 10_000
    public var rounds = 10
    public var maxRounds = 40
    public var busyMaxRounds = 60
    /// Pairs added at a time while a path is ambiguous: fewer looks at the data, fewer chances
    /// for noise to cross a line by the luck of when the procedure looked.
    public var step = 5
    public var policy = ABCompare.Policy()

    public init() {}

    /// A build that could not run or measure: no verdict on its paths.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The builds measure the hot paths differently (`HotPath.method`): their figures are not
    /// comparable, so there is no verdict (`scripts/ab.sh` skips with a notice).
    public struct Incomparable: Error, CustomStringConvertible {
        public let baselineMethod: String, candidateMethod: String
        public var description: String {
            "the builds measure the hot paths differently (method \(baselineMethod) against \(candidateMethod)); their figures are not comparable"
        }
    }

    /// What a comparison found, with how busy the machine was while it ran.
    public struct Comparison: Sendable {
        public var results: [ABCompare.Result]
        public var load: MachineLoad
        public var rounds: Int
    }

    /// Runs both builds alternately until no path is ambiguous or the round limit is reached.
    public func compare(baseline: String, candidate: String, candidateArgs: [String] = [], out: URL, log: (String) -> Void = { _ in }) throws -> Comparison {
        let sampler = MachineLoad.Sampler()
        var load = sampler.finish()
        var methods: [Bool: String] = [:]
        let (results, rounds) = try sequence(limit: {
            load = sampler.finish()
            return load.busy ? max(maxRounds, busyMaxRounds) : maxRounds
        }, measure: { isCandidate, round in
            let run = try benchRun(isCandidate ? candidate : baseline, extra: isCandidate ? candidateArgs : [],
                                   dir: out.appendingPathComponent("round-\(round)-\(isCandidate ? "b" : "a")"))
            methods[isCandidate] = run.method
            if let a = methods[false], let b = methods[true], a != b { throw Incomparable(baselineMethod: a, candidateMethod: b) }
            return run.figures
        }, log: log)
        return Comparison(results: results, load: load, rounds: rounds)
    }

    /// The sequential procedure: `rounds` pairs of runs (`measure(isCandidate, round)`, ABBA:
    /// the order flips every round, so neither build always runs first), then `step` pairs more
    /// while a path is ambiguous, until `limit()` runs per build (asked before every decision).
    public func sequence(limit: () -> Int, measure: (Bool, Int) throws -> [HotPath: Double], log: (String) -> Void = { _ in }) throws
        -> (results: [ABCompare.Result], rounds: Int) {
        precondition(step > 0 && rounds > 0, "ABRun needs at least one round and one pair per step")
        var a: [HotPath: [Double]] = [:], b: [HotPath: [Double]] = [:]
        var round = 0
        func pair() throws {
            for isCandidate in round % 2 == 0 ? [false, true] : [true, false] {
                for (path, v) in try measure(isCandidate, round) {
                    if isCandidate { b[path, default: []].append(v) } else { a[path, default: []].append(v) }
                }
            }
            round += 1
        }
        while round < rounds { try pair() }
        while true {
            let cap = limit()
            let results = HotPath.allCases.map { ABCompare.compare($0, baseline: a[$0] ?? [], candidate: b[$0] ?? [], policy: policy, final: round >= cap) }
            let ambiguous = results.filter { $0.verdict == .ambiguous }
            if ambiguous.isEmpty { return (results, round) }
            let more = min(step, cap - round)
            log("ab: ambiguous after \(round) rounds: \(ambiguous.map(\.path.rawValue).joined(separator: ", ")); \(more) pairs more" + (cap > maxRounds ? " (busy machine: up to \(cap))" : ""))
            for _ in 0..<more { try pair() }
        }
    }

    /// One `bench --scenario hotpaths` run of `exe`: its hot-path figures from the manifest, and
    /// how it measured them (`HotPath.method`; "1" when the manifest does not say).
    func benchRun(_ exe: String, extra: [String], dir: URL) throws -> (figures: [HotPath: Double], method: String) {
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
            throw Failure(description: "\(exe) bench exited \(p.terminationStatus) (log \(logURL.path)):\n\(tail)")
        }
        let manifests = (try FileManager.default.contentsOfDirectory(atPath: dir.path)).filter { $0.hasPrefix("bench-") && $0.hasSuffix("-manifest.json") }
        guard let name = manifests.first else { throw Failure(description: "\(exe) wrote no manifest into \(dir.path)") }
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: dir.appendingPathComponent(name)))
        var figures: [HotPath: Double] = [:]
        for path in HotPath.allCases {
            guard let v = manifest.summary[path.summaryKey], v.isFinite, v > 0 else {
                throw Failure(description: "\(exe) did not measure \(path.summaryKey) (a build without the hotpaths scenario?)")
            }
            figures[path] = v
        }
        return (figures, manifest.versions[HotPath.methodKey] ?? "1")
    }

    /// The markdown summary of a comparison of `baseline` and `candidate`.
    public func markdown(_ c: Comparison, rows: [Gate.Row], outcome: Gate.Outcome, baseline: String, candidate: String) -> String {
        var md = "### Engram A/B comparison: \(outcome == .pass ? "passed" : "\(outcome)")\n\n"
        md += "Baseline `\(baseline)`, candidate `\(candidate)`, backend \(backend), \(hotPathSize) records; runs interleaved ABBA on \(Machine.hostname()); machine: \(c.load). "
        md += "Slowdown = candidate time / baseline time (throughput inverted); flagged at ≥ \(Int(policy.minEffect * 100))% when its \(Int(policy.confidence * 100))% bootstrap interval lies above \(String(format: "%.2f", policy.surely)).\n\n"
        md += "| path | metric | baseline | candidate | change | slowdown [interval] | runs | verdict |\n|---|---|---|---|---|---|---|---|\n"
        for (r, row) in zip(c.results, rows) {
            md += String(format: "| %@ | %@ | %.4g | %.4g | %+.1f%% | %.3f [%.3f, %.3f] | %d+%d | %@ |\n", r.path.rawValue, r.path.metric.name, r.baselineMedian, r.candidateMedian,
                         (r.candidateMedian / r.baselineMedian - 1) * 100, r.ratio, r.low, r.high, r.baselineRuns, r.candidateRuns, row.verdict.rawValue)
        }
        return md
    }

    // MARK: Self-test

    /// One self-test comparison: an unchanged build (`slowed` nil) or one path slowed.
    public struct Trial: Codable, Sendable {
        public var slowed: HotPath?
        public var flagged: [HotPath]
        public var rounds: Int
        public var seconds: Double
        public var load: MachineLoad?
        public var results: [ABCompare.Result]

        /// The slowed path was flagged as a regression.
        public var detected: Bool {
            guard let slowed else { return false }
            return results.first { $0.path == slowed }?.verdict == .regression
        }
        public var falseAlarm: Bool { slowed == nil && !flagged.isEmpty }
    }

    /// A/A trials (any path flagged is a false alarm) and trials of `exe` against itself with
    /// one path slowed by `slowdown`, taken in turn (the slowed path flagged is a detection).
    public func selfTest(exe: String, trials: Int, slowdown: Double, out: URL, progress: (Int, Trial) -> Void = { _, _ in }) throws -> [Trial] {
        var done: [Trial] = []
        for t in 0..<(2 * trials) {
            let slowed: HotPath? = t % 2 == 0 ? nil : HotPath.allCases[(t / 2) % HotPath.allCases.count]
            let extra = slowed.map { ["--inject-slowdown", "\($0.rawValue)=\(slowdown)"] } ?? []
            let t0 = Date()
            let c = try compare(baseline: exe, candidate: exe, candidateArgs: extra, out: out.appendingPathComponent("trial"))
            let flagged = c.results.filter { $0.verdict == .regression || $0.verdict == .improved }.map(\.path)
            done.append(Trial(slowed: slowed, flagged: flagged, rounds: c.rounds, seconds: Date().timeIntervalSince(t0), load: c.load, results: c.results))
            progress(t + 1, done[t])
        }
        try? FileManager.default.removeItem(at: out.appendingPathComponent("trial"))
        return done
    }

    /// The self-test's markdown: false alarms, detections per path, time per comparison.
    public func selfTestMarkdown(_ done: [Trial], slowdown: Double, minutes: Double) -> String {
        let unchanged = done.filter { $0.slowed == nil }, slowedTrials = done.filter { $0.slowed != nil }
        let falseAlarms = unchanged.filter(\.falseAlarm).count
        let detected = slowedTrials.filter(\.detected).count
        let wrongPath = slowedTrials.filter { t in t.flagged.contains { $0 != t.slowed } }.count
        let perTrial = done.isEmpty ? 0 : done.map(\.seconds).reduce(0, +) / Double(done.count)
        func pct(_ k: Int, _ n: Int) -> String { n == 0 ? "-" : String(format: "%.0f%%", Double(k) / Double(n) * 100) }
        var md = "### `engram ab` self-test\n\n"
        md += "Backend \(backend), \(hotPathSize) records, \(rounds)–\(maxRounds) runs per build (\(busyMaxRounds) on a busy machine), flag at \(Int(policy.minEffect * 100))% with a \(Int(policy.confidence * 100))% bootstrap interval above \(String(format: "%.2f", policy.surely)), \(step) pairs added at a time; "
        md += "host \(Machine.hostname()), \(Machine.describe()["cores"] ?? "?") cores.\n\n"
        if let busiest = done.compactMap(\.load).max(by: { $0.otherCPUShare < $1.otherCPUShare }) {
            md += "Busy comparisons: \(done.filter { $0.load?.busy == true }.count) of \(done.count); the busiest: \(busiest).\n\n"
        }
        md += "| trials | kind | flagged | rate |\n|---|---|---|---|\n"
        md += "| \(unchanged.count) | unchanged build (A/A) | \(falseAlarms) false alarms | \(pct(falseAlarms, unchanged.count)) |\n"
        md += "| \(slowedTrials.count) | one path \(Int(slowdown * 100))% slower | \(detected) detected | \(pct(detected, slowedTrials.count)) |\n\n"
        md += "Per path (slowed trials): " + HotPath.allCases.map { p in
            let ts = slowedTrials.filter { $0.slowed == p }
            return "\(p.rawValue) \(ts.filter(\.detected).count)/\(ts.count)"
        }.joined(separator: ", ") + ". Another path also flagged in \(wrongPath) slowed trials.\n\n"
        md += String(format: "Mean time per comparison: %.0f s (%.1f min for the whole self-test).\n", perTrial, minutes)
        return md
    }
}
