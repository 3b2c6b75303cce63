import ArgumentParser
import EngramCore
import Foundation
import EngramCatalog
import Glibc

/// `engram torture`: crash consistency of a durable backend, proven rather than assumed.
///
/// A child process (`engram torture-child`) runs a seeded mixed workload — single saves,
/// batches of 1–200 records with embeddings, deletes, both prunes, heuristic patches and
/// increments — and prints `begin <op>` before each call and `ack` after it returns. The
/// parent kills it with SIGKILL at a random moment (for PostgreSQL, every few rounds it
/// stops the server as a power cut would instead), reopens the store and checks it against
/// a model built from the acknowledged calls: every acknowledged write present with its
/// exact value, every acknowledged delete and prune absent, the one call in flight applied
/// wholly or not at all, vectors held equal to live records with an embedding, and
/// searches returning only live records.
struct Torture: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Kill a writer at random moments, reopen, and check every acknowledged call (durable backends).")

    @Option(help: "Durable backend: \(Self.durableNames).")
    var backend = "sqlite"
    @Option(help: "Rounds (one kill each).") var rounds = 30
    @Option(help: "Seed of the workload and of the kill moments.") var seed: UInt64 = 1
    @Option(help: "Longest wait before a kill, in ms (each round draws one up to this).") var maxDelay = 400
    @Option(help: "PostgreSQL: every k-th round stops the project's server with -m immediate instead of killing the client (0 = never).")
    var serverCrashEvery = 5
    @Option(help: "Directory for the report (torture-<backend>.csv).") var output = "results"
    @Flag(help: "Keep one store open beside the writer for all rounds (a backend with shared access, e.g. sqlite) and check each round through it before a fresh open: what another process sees of a writer killed mid-call, with no reopen.")
    var observer = false

    static let dimension = 16
    static var durableNames: String { BackendCatalog.entries.filter { $0.durable != nil }.map(\.name).joined(separator: ", ") }

    func run() throws {
        let entry = try BackendCatalog.entry(backend)
        guard let durable = entry.durable else {
            throw ValidationError("\(backend) cannot be reopened by another process (the in-memory store and the Cosmos stand-in live in one process; the adapter protocol has no reopen): choose one of \(Self.durableNames)")
        }
        guard rounds >= 1, maxDelay >= 10 else { throw ValidationError("--rounds must be at least 1 and --max-delay at least 10") }
        defer { entry.cleanup() }
        let scratch = ScratchDirectory(prefix: "engram-torture")
        let location = try durable.newLocation(scratch.url)
        let environment = ProcessInfo.processInfo.environment.merging(try entry.service?.environment() ?? [:]) { _, service in service }
        defer { durable.discard(location) }
        var model = TortureModel()
        var rng = SeededGenerator(seed: seed)
        var rows: [[String]] = []
        var totalViolations = 0
        // The observer opens before the first child and stays open through every kill.
        let watcher = observer ? try durable.open(location, Self.dimension) : nil
        defer { try? watcher?.close() }
        if let watcher, !watcher.capabilities.contains(.sharedAccess) {
            throw ValidationError("--observer needs a backend with shared access; \(backend) does not declare it")
        }
        print("torture of '\(backend)': \(rounds) rounds, seed \(seed)" + (observer ? ", checked through a store kept open beside the writer, then a fresh open" : ""))
        print("round  kill_ms  mode    acknowledged  checked  violations  reason")
        for round in 0..<rounds {
            let delay = 10 + Int(rng.next() % UInt64(maxDelay - 9))
            let serverCrash = serverCrashEvery > 0 && round % serverCrashEvery == serverCrashEvery - 1 ? entry.service?.crash : nil
            let (out, failure) = try runChild(location: location, round: round, delayMs: delay, serverCrash: serverCrash, environment: environment)
            let crashedServer = serverCrash != nil
            let (acked, pending) = model.apply(out)
            var observed: [String] = []
            if let watcher {
                // The observer settles the call in flight; the fresh open below must agree.
                observed = model.check(watcher, pending: pending).1.map { "observer: " + $0 }
            }
            let store = try durable.open(location, Self.dimension)
            var (checked, violations) = model.check(store, pending: watcher == nil ? pending : nil)
            violations = observed + violations
            if let failure, !crashedServer { violations.insert(failure, at: 0) }
            try store.close()
            totalViolations += violations.count
            let reason = violations.prefix(3).joined(separator: "; ")
            rows.append([String(round), String(delay), crashedServer ? "server" : "client", String(acked), String(checked), String(violations.count), reason])
            print(rows.last!.enumerated().map { i, v in i == 6 ? v : String(repeating: " ", count: max(0, [5, 7, 6, 12, 7, 10][i] - v.count)) + v }.joined(separator: "  "))
        }
        let dir = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let csv = dir.appendingPathComponent("torture-\(backend).csv")
        let header = ["round", "kill_ms", "mode", "acknowledged", "checked", "violations", "reason"]
        try ([header] + rows).map(CSV.row).joined(separator: "\n").appending("\n")
            .write(to: csv, atomically: true, encoding: .utf8)
        print("\ntorture: \(rounds) rounds, \(model.acknowledgedTotal) acknowledged calls, \(totalViolations) violations")
        print("report: \(csv.path)")
        if totalViolations > 0 { throw ExitCode(1) }
    }

    /// Starts the child, waits `delayMs`, kills it (or crashes the server under it), and
    /// returns what it printed.
    private func runChild(location: String, round: Int, delayMs: Int, serverCrash: (@Sendable () throws -> Void)?, environment: [String: String]) throws -> (String, String?) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        p.arguments = ["torture-child", "--backend", backend, "--location", location, "--seed", String(seed), "--round", String(round)]
        p.environment = environment
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        usleep(UInt32(delayMs) * 1000)
        let diedEarly = !p.isRunning
        if let serverCrash {
            try serverCrash()
            usleep(100_000)  // the client meets the dead server; then it is killed all the same
        }
        kill(p.processIdentifier, SIGKILL)
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile().prefix(2_000), as: UTF8.self)
        p.waitUntilExit()
        // The workload never ends by itself: a child that stopped before the kill failed (a
        // spurious error, a refused open), and that is a finding, not a round to pass.
        if diedEarly { return (text, "the workload stopped by itself (status \(p.terminationStatus)): \(errors.trimmingCharacters(in: .whitespacesAndNewlines))") }
        return (text, nil)
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
        let store = try durable.open(location, Torture.dimension)
        var rng = SeededGenerator(seed: seed &* 1_000_003 &+ UInt64(round))
        var seq = round * 1_000_000
        func say(_ line: String) {
            print(line)
            fflush(nil)  // all output streams: the line must be out before the call
        }
        while true {
            seq += 1
            let op = TortureOp.random(&rng, seq: seq)
            say("begin " + op.line)
            try op.perform(on: store)
            say("ack")
        }
    }
}

/// One call of the workload, and its text form on the child's stdout.
enum TortureOp {
    case save([(MemoryKind, String, Int)])
    case delete(MemoryKind, String)
    case pruneOutcomes(Timestamp)
    case pruneHeuristics(Double)
    case patch(String, Int)
    case increment(String, Bool)

    static let project = "p"
    static let t0 = Timestamp(microsecondsSinceEpoch: 1_700_000_000_000_000)

    static func random(_ rng: inout SeededGenerator, seq: Int) -> TortureOp {
        func id() -> String { "k\(rng.next() % 300)" }
        func kind() -> MemoryKind { MemoryKind.vectorKinds[Int(rng.next() % 4)] }
        switch rng.next() % 100 {
        case 0..<30: return .save([(kind(), id(), seq)])
        case 30..<45:
            let n = 1 + Int(rng.next() % 200)
            var seen = Set<String>()
            var items: [(MemoryKind, String, Int)] = []
            for _ in 0..<n {
                let (k, i) = (kind(), id())
                if seen.insert("\(k.rawValue):\(i)").inserted { items.append((k, i, seq)) }
            }
            return .save(items)
        case 45..<62: return .delete(kind(), id())
        case 62..<67: return .pruneOutcomes(t0.adding(microseconds: Int64(seq - 150)))
        case 67..<71: return .pruneHeuristics(Double(rng.next() % 150) / 1000)
        case 71..<86: return .patch(id(), seq)
        default: return .increment(id(), rng.next() % 2 == 0)
        }
    }

    var line: String {
        switch self {
        case .save(let items): "save " + items.map { "\($0.0.rawValue):\($0.1):\($0.2)" }.joined(separator: " ")
        case .delete(let k, let id): "delete \(k.rawValue) \(id)"
        case .pruneOutcomes(let t): "prune-outcomes \(t.microsecondsSinceEpoch)"
        case .pruneHeuristics(let c): "prune-heuristics \(c)"
        case .patch(let id, let seq): "patch \(id) \(seq)"
        case .increment(let id, let success): "increment \(id) \(success ? 1 : 0)"
        }
    }

    init?(line: String) {
        let w = line.split(separator: " ").map(String.init)
        guard let verb = w.first else { return nil }
        switch (verb, w.count) {
        case ("save", 2...):
            var items: [(MemoryKind, String, Int)] = []
            for item in w.dropFirst() {
                let p = item.split(separator: ":").map(String.init)
                guard p.count == 3, let k = MemoryKind(rawValue: p[0]), let s = Int(p[2]) else { return nil }
                items.append((k, p[1], s))
            }
            self = .save(items)
        case ("delete", 3): guard let k = MemoryKind(rawValue: w[1]) else { return nil }; self = .delete(k, w[2])
        case ("prune-outcomes", 2): guard let t = Int64(w[1]) else { return nil }; self = .pruneOutcomes(Timestamp(microsecondsSinceEpoch: t))
        case ("prune-heuristics", 2): guard let c = Double(w[1]) else { return nil }; self = .pruneHeuristics(c)
        case ("patch", 3): guard let s = Int(w[2]) else { return nil }; self = .patch(w[1], s)
        case ("increment", 3): self = .increment(w[1], w[2] == "1")
        default: return nil
        }
    }

    /// The record a save writes: a pure function of kind, id and sequence number.
    static func record(_ kind: MemoryKind, _ id: String, _ seq: Int) -> MemoryRecord {
        var rng = SeededGenerator(seed: UInt64(seq) &* 31 &+ fnv1a(id))
        let embedding: [Float]? = seq % 5 == 0 ? nil : rng.vector(dimension: Torture.dimension)
        let at = t0.adding(microseconds: Int64(seq))
        let agent = "a\(seq % 3)"
        switch kind {
        case .heuristic:
            let occurrences = seq % 10 + 1
            return .heuristic(Heuristic(id: id, agent: agent, projectId: project, condition: "c\(seq)", strategy: "s\(seq)",
                                        confidence: Double(seq % 1000) / 1000, occurrenceCount: occurrences, successCount: seq % occurrences,
                                        lastValidated: at, createdAt: at, embedding: embedding))
        case .outcome:
            return .outcome(Outcome(id: id, agent: agent, projectId: project, taskType: "t\(seq % 4)", taskDescription: "d\(seq)",
                                    success: seq % 2 == 0, strategyUsed: "s", timestamp: at, embedding: embedding))
        case .domainKnowledge:
            return .domainKnowledge(DomainKnowledge(id: id, agent: agent, projectId: project, domain: "dom", fact: "f\(seq)", source: "src",
                                                    confidence: Double(seq % 997) / 997, lastVerified: at, embedding: embedding))
        default:
            return .antiPattern(AntiPattern(id: id, agent: agent, projectId: project, pattern: "p\(seq)", whyBad: "w", betterAlternative: "b",
                                            occurrenceCount: seq % 50, lastSeen: at, createdAt: at, embedding: embedding))
        }
    }

    static func patch(_ seq: Int) -> HeuristicPatch {
        var rng = SeededGenerator(seed: UInt64(seq) &* 131)
        return HeuristicPatch(condition: "patched \(seq)", confidence: Double(seq % 991) / 991,
                              embedding: seq % 3 == 0 ? .some(nil) : .some(rng.vector(dimension: Torture.dimension)))
    }

    func perform(on store: any MemoryStore) throws {
        switch self {
        case .save(let items): _ = try store.save(items.map { Self.record($0.0, $0.1, $0.2) })
        case .delete(let k, let id): _ = try store.delete(RecordKey(k, scope: Self.project, id: id))
        case .pruneOutcomes(let t): _ = try store.deleteOutcomes(projectId: Self.project, olderThan: t, agent: nil)
        case .pruneHeuristics(let c): _ = try store.deleteHeuristics(projectId: Self.project, confidenceBelow: c, agent: nil)
        case .patch(let id, let seq): _ = try store.updateHeuristic(projectId: Self.project, id: id, patch: Self.patch(seq))
        case .increment(let id, let success): _ = try store.incrementHeuristicOccurrence(projectId: Self.project, id: id, success: success)
        }
    }

    /// `records` after this call, as the contract defines it.
    func applied(to records: [RecordKey: MemoryRecord]) -> [RecordKey: MemoryRecord] {
        var r = records
        switch self {
        case .save(let items): for (k, id, seq) in items { r[RecordKey(k, scope: Self.project, id: id)] = Self.record(k, id, seq) }
        case .delete(let k, let id): r[RecordKey(k, scope: Self.project, id: id)] = nil
        case .pruneOutcomes(let t): r = r.filter { !$0.value.isPrunedOutcome(projectId: Self.project, olderThan: t, agent: nil) }
        case .pruneHeuristics(let c): r = r.filter { !$0.value.isPrunedHeuristic(projectId: Self.project, confidenceBelow: c, agent: nil) }
        case .patch(let id, let seq):
            let key = RecordKey(.heuristic, scope: Self.project, id: id)
            if let next = try? r[key]?.patched(Self.patch(seq)) { r[key] = next }
        case .increment(let id, let success):
            let key = RecordKey(.heuristic, scope: Self.project, id: id)
            if let next = r[key]?.incrementingOccurrence(success: success) { r[key] = next }
        }
        return r
    }

    /// Heuristics whose `lastValidated` this call sets to "now" (unknown to the model).
    var clockedKey: RecordKey? {
        if case .increment(let id, _) = self { return RecordKey(.heuristic, scope: Self.project, id: id) }
        return nil
    }
}

/// What the store must hold: the records after every acknowledged call, in order.
struct TortureModel {
    var records: [RecordKey: MemoryRecord] = [:]
    /// Heuristics whose lastValidated was set by an increment's clock: compared without it.
    var clocked = Set<RecordKey>()
    var acknowledgedTotal = 0

    /// Applies the acknowledged calls of one child's output; returns their count and the
    /// call that was in flight when the child died, if any.
    mutating func apply(_ output: String) -> (Int, TortureOp?) {
        var pending: TortureOp?
        var acked = 0
        // Only whole lines count: the text after the last line break was cut by the kill, and
        // its call never started (each line is flushed before its call).
        for line in output.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if line.hasPrefix("begin ") {
                pending = TortureOp(line: String(line.dropFirst(6)))
            } else if line == "ack", let op = pending {
                advance(op)
                acked += 1
                pending = nil
            }
        }
        acknowledgedTotal += acked
        return (acked, pending)
    }

    private mutating func advance(_ op: TortureOp) {
        records = op.applied(to: records)
        if case .save(let items) = op { for (k, id, _) in items { clocked.remove(RecordKey(k, scope: TortureOp.project, id: id)) } }
        if let key = op.clockedKey, records[key] != nil { clocked.insert(key) }
        clocked = clocked.filter { records[$0] != nil }
    }

    private func same(_ actual: MemoryRecord?, _ expected: MemoryRecord?, _ key: RecordKey, alsoClocked: RecordKey? = nil) -> Bool {
        guard clocked.contains(key) || key == alsoClocked, case .heuristic(var e)? = expected, case .heuristic(let a)? = actual else { return actual == expected }
        e.lastValidated = a.lastValidated
        return MemoryRecord.heuristic(e) == actual
    }

    /// Checks `store` against the model; the call in flight must have happened wholly or
    /// not at all, and the model then takes whichever it was. Returns keys checked and violations.
    mutating func check(_ store: any MemoryStore, pending: TortureOp?) -> (Int, [String]) {
        var violations: [String] = []
        do {
            var actual: [RecordKey: MemoryRecord] = [:]
            for kind in MemoryKind.vectorKinds {
                for hit in try store.query(MemoryQuery(kind: kind, projectId: TortureOp.project, topK: MemoryQuery.maxTopK)) { actual[hit.record.key] = hit.record }
            }
            let after = pending.map { $0.applied(to: records) }
            let keys = Set(records.keys).union(after.map { Array($0.keys) } ?? []).union(actual.keys)
            func matches(_ expected: [RecordKey: MemoryRecord], clock: RecordKey? = nil) -> [RecordKey] {
                Array(keys.filter { !same(actual[$0], expected[$0], $0, alsoClocked: clock) })
            }
            let offBefore = matches(records)
            if let pending, let after, !offBefore.isEmpty {
                // An increment in flight stamped lastValidated with the child's clock: compare it without.
                let offAfter = matches(after, clock: pending.clockedKey)
                if offAfter.isEmpty {
                    records = after
                    if let key = pending.clockedKey, records[key] != nil { clocked.insert(key) }
                    if case .save(let items) = pending { for (k, id, _) in items { clocked.remove(RecordKey(k, scope: TortureOp.project, id: id)) } }
                } else {
                    violations.append("the call in flight (\(pending.line.prefix(60))) is neither absent nor whole: \(offBefore.count) records differ from before it, \(offAfter.count) from after it, e.g. \(describe(offAfter.first ?? offBefore[0], actual))")
                }
            } else if !offBefore.isEmpty {
                violations.append("\(offBefore.count) records differ from the acknowledged calls, e.g. \(describe(offBefore[0], actual))")
            }
            if !violations.isEmpty {
                // Reported once: later rounds are checked from what the store holds now.
                records = actual
                clocked = Set(actual.keys.filter { $0.kind == .heuristic })
                return (records.count, violations)
            }
            for key in records.keys {
                if try !same(store.get(key), records[key], key) { violations.append("get \(key) differs from the model") }
            }
            if let introspect = store as? any VectorIntrospecting {
                var expected: [MemoryKind: Int] = [:]
                for kind in MemoryKind.vectorKinds { expected[kind] = records.values.filter { $0.kind == kind && $0.embedding != nil }.count }
                let held = try introspect.vectorsHeld()
                if held != expected { violations.append("vectors held \(held) != live records with an embedding \(expected)") }
            }
            var rng = SeededGenerator(seed: UInt64(acknowledgedTotal))
            for kind in MemoryKind.vectorKinds {
                let q = MemoryQuery(kind: kind, projectId: TortureOp.project, topK: 10, vector: rng.vector(dimension: Torture.dimension))
                for hit in try store.query(q) where !same(hit.record, records[hit.record.key], hit.record.key) {
                    violations.append("search returned \(hit.record.key), which is not live as the model has it")
                }
            }
        } catch {
            violations.append("the store failed to answer after reopening: \(error)")
        }
        return (records.count, violations)
    }

    private func describe(_ key: RecordKey, _ actual: [RecordKey: MemoryRecord]) -> String {
        switch (records[key], actual[key]) {
        case (nil, _?): "\(key) is present but was deleted or never acknowledged"
        case (_?, nil): "\(key) was acknowledged but is missing"
        default: "\(key) has another value than acknowledged"
        }
    }
}
