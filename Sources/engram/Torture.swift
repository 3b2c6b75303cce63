import ArgumentParser
import Conformance
import EngramCatalog
import EngramCore
import Foundation
import Glibc

/// `engram torture`: crash consistency of a durable backend (`Conformance.Torture`), with
/// kill points chosen in work done and its coverage part of the verdict. Exit codes: 0 no
/// violation and coverage reached, 1 a violation, 3 coverage below the minimum.
struct TortureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "torture",
        abstract: "Kill a writer inside its calls, reopen, and check every acknowledged call (durable backends).",
        discussion: "Each round lets the writer acknowledge 1…--max-calls calls, then freezes it inside the next call of the round's aimed kind and kills it there (every ninth round kills right after an acknowledgement). Exit 1 on a violation, 3 when coverage falls below the minimum (every aimed kind killed in flight once; 90% of rounds with an acknowledged call).")

    @Option(help: "Durable backend: \(Self.durableNames).")
    var backend = "sqlite"
    @Option(help: "Rounds (one kill each).") var rounds = 30
    @Option(help: "Seed of the workload and of the kill points.") var seed: UInt64 = 1
    @Option(name: .customLong("max-calls"), help: "Each round lets the writer acknowledge 1 to this many calls before it aims its kill.")
    var maxCalls = 40
    @Option(help: "PostgreSQL: every k-th round stops the project's server with -m immediate under the call in flight instead of killing the client (0 = never).")
    var serverCrashEvery = 5
    @Option(help: "Directory for the report (torture-<backend>.csv).") var output = "results"
    @Flag(help: "Keep one store open beside the writer for all rounds (a backend with shared access, e.g. sqlite) and check each round through it before a fresh open: what another process sees of a writer killed mid-call, with no reopen.")
    var observer = false

    static var durableNames: String { BackendCatalog.entries.filter { $0.durable != nil }.map(\.name).joined(separator: ", ") }

    func run() throws {
        let entry = try BackendCatalog.entry(backend)
        guard let durable = entry.durable else {
            throw ValidationError("\(backend) cannot be reopened by another process (the in-memory store and the Cosmos stand-in live in one process; the adapter protocol has no reopen): choose one of \(Self.durableNames)")
        }
        guard rounds >= 1, maxCalls >= 1 else { throw ValidationError("--rounds and --max-calls must be at least 1") }
        guard serverCrashEvery >= 0 else { throw ValidationError("--server-crash-every must be 0 or more") }
        defer { entry.cleanup() }
        let scratch = ScratchDirectory(prefix: "engram-torture")
        let location = try durable.newLocation(scratch.url)
        defer { durable.discard(location) }
        let environment = ProcessInfo.processInfo.environment.merging(try entry.service?.environment() ?? [:]) { _, service in service }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let name = backend
        let target = Torture.Target(
            name: backend, open: { try durable.open(location, TortureOp.dimension) },
            child: { seed, round in (executable, ["torture-child", "--backend", name, "--location", location, "--seed", String(seed), "--round", String(round)]) },
            environment: environment, serverCrash: entry.service?.crash)
        var options = Torture.Options()
        options.rounds = rounds
        options.seed = seed
        options.maxCallsBeforeKill = maxCalls
        options.serverCrashEvery = serverCrashEvery
        options.observer = observer
        print("torture of '\(backend)': \(rounds) rounds, seed \(seed)" + (observer ? ", checked through a store kept open beside the writer, then a fresh open" : ""))
        let widths = [5, 16, 10, 6, 12, 16, 6, 7, 10]
        let header = Torture.Report.csvHeader
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, v in i < widths.count ? String(repeating: " ", count: max(0, widths[i] - v.count)) + v : v }.joined(separator: "  ")
        }
        print(line(header))
        let report: Torture.Report
        do {
            report = try Torture(target: target, options: options).run { round in
                print(line(Torture.Report.fields(round)))
            }
        } catch let e as EngramError where e.field == "observer" {
            throw ValidationError("--observer needs a backend with shared access; \(backend) does not declare it")
        }
        let dir = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let csv = dir.appendingPathComponent("torture-\(backend).csv")
        try report.csv.write(to: csv, atomically: true, encoding: .utf8)
        print("\ncoverage:\n" + report.coverage.table, terminator: "")
        print("torture: \(rounds) rounds, \(report.acknowledgedTotal) acknowledged calls, \(report.violationCount) violations")
        print("report: \(csv.path)")
        if report.violationCount > 0 { throw ExitCode(1) }
        if !report.coverage.shortfalls.isEmpty {
            print("torture: FAILED: tested too little: " + report.coverage.shortfalls.joined(separator: "; "))
            throw ExitCode(Torture.tooLittleTestedExitCode)
        }
    }
}

/// `engram torture-child` (hidden): the workload `engram torture` kills.
struct TortureChild: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "torture-child", abstract: "The workload of engram torture.", shouldDisplay: false)

    @Option var backend: String
    @Option var location: String
    @Option var seed: UInt64
    @Option var round: Int

    func run() throws {
        guard let durable = try BackendCatalog.entry(backend).durable else { throw ValidationError("\(backend) is not durable") }
        let store = try durable.open(location, TortureOp.dimension)
        try TortureWorkload.run(store: store, seed: seed, round: round) { line in
            print(line)
            fflush(nil)  // all output streams: the line must be out before the call
        }
    }
}
