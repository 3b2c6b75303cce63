import EngramCore
import Foundation

/// Crash consistency of a durable backend, proven rather than assumed, and with its coverage
/// measured: a run that killed nothing in flight fails instead of reporting 0 violations.
///
/// A child process runs `TortureWorkload` — a seeded mixed workload that prints `ready` once
/// its store is open, `begin <op>` before each call and `ack` after it returns. Each round
/// chooses its kill point in work done, never by the clock: after `k` acknowledged calls
/// (k drawn from the seed) it waits for the next call of the round's target kind, lets it run
/// for a random fraction of that kind's typical duration, freezes the child (SIGSTOP), and
/// kills it (SIGKILL) only if that call is still in flight — otherwise it resumes the child and
/// tries again at the next such call. Every ninth round kills right after an acknowledgement
/// (the kill lands between calls or early in the next one). A
/// slow machine makes a round take longer; it does not change what the round tests.
///
/// After each kill the store is reopened and checked against `TortureModel`: every
/// acknowledged write present with its exact value, every acknowledged delete and prune
/// absent, the call in flight applied wholly or not at all, vectors held equal to live records
/// with an embedding, and searches returning only live records.
public struct Torture {
    /// How to run the workload on a backend's store from another process.
    public struct Target: Sendable {
        public var name: String
        /// Opens the store at the location the child writes (dimension `TortureOp.dimension`).
        public var open: @Sendable () throws -> any MemoryStore
        /// The child's executable and arguments for a round: it must call `TortureWorkload.run`
        /// with the same seed and round.
        public var child: @Sendable (_ seed: UInt64, _ round: Int) -> (executable: URL, arguments: [String])
        public var environment: [String: String]?
        /// Stops the backend's server as a power cut would (every `serverCrashEvery`-th round).
        public var serverCrash: (@Sendable () throws -> Void)?

        public init(name: String, open: @escaping @Sendable () throws -> any MemoryStore,
                    child: @escaping @Sendable (UInt64, Int) -> (executable: URL, arguments: [String]),
                    environment: [String: String]? = nil, serverCrash: (@Sendable () throws -> Void)? = nil) {
            self.name = name
            self.open = open
            self.child = child
            self.environment = environment
            self.serverCrash = serverCrash
        }
    }

    public struct Options: Sendable {
        public var rounds = 30
        public var seed: UInt64 = 1
        /// Each round lets the child acknowledge 1…this many calls before it aims its kill.
        public var maxCallsBeforeKill = 40
        /// Every k-th round crashes the server instead of the client (0 = never).
        public var serverCrashEvery = 0
        /// Check each round through a store kept open beside the writer before a fresh open.
        public var observer = false
        public init() {}
    }

    /// What a round aims its kill at: a call of one kind, or the moment after an acknowledgement.
    public enum Aim: Sendable, Equatable, CustomStringConvertible {
        case inside(TortureOp.Kind)
        case afterAcknowledgement
        public var description: String { if case .inside(let k) = self { k.rawValue } else { "after-ack" } }
        static let all: [Aim] = TortureOp.Kind.allCases.map { .inside($0) } + [.afterAcknowledgement]
    }

    public struct Round: Sendable {
        public var index: Int
        public var aim: Aim
        /// Acknowledged calls the round let pass before aiming.
        public var killAfter: Int
        public var serverCrash: Bool
        public var acknowledged: Int
        /// The kind of the call in flight when the kill came — the server crash in a crash round —
        /// (nil: between calls).
        public var inFlight: TortureOp.Kind?
        /// Calls of the aimed kind that finished before the child could be frozen inside one.
        public var misses: Int
        public var checked: Int
        public var violations: [String]
    }

    /// Coverage of a run and the minimum it must reach.
    public struct Coverage: Sendable {
        public var rounds: Int
        public var roundsWithAcknowledged: Int
        public var killsInFlight: [TortureOp.Kind: Int]
        public var killsBetween: Int
        /// Kinds no round aimed at (a run of fewer rounds than `Aim.all`): a shortfall too.
        public var notAimed: [TortureOp.Kind]
        /// Why the run tested too little; empty when it reached the minimum.
        public var shortfalls: [String]

        /// Every kind is aimed at and killed in flight at least once, and at least 90% of the
        /// rounds acknowledged a call before their kill.
        public static let minimumShareWithAcknowledged = 0.9

        init(_ rounds: [Round]) {
            self.rounds = rounds.count
            roundsWithAcknowledged = rounds.filter { $0.acknowledged > 0 }.count
            killsInFlight = Dictionary(uniqueKeysWithValues: TortureOp.Kind.allCases.map { kind in (kind, rounds.filter { $0.inFlight == kind }.count) })
            killsBetween = rounds.filter { $0.inFlight == nil }.count
            let aimed = Set(rounds.compactMap { if case .inside(let k) = $0.aim { k } else { nil } })
            notAimed = TortureOp.Kind.allCases.filter { !aimed.contains($0) }
            shortfalls = []
            if !notAimed.isEmpty {
                shortfalls.append("\(rounds.count) rounds aim at no call of kind \(notAimed.map(\.rawValue).joined(separator: ", ")) (at least \(Aim.all.count) rounds aim at every kind)")
            }
            let missing = TortureOp.Kind.allCases.filter { aimed.contains($0) && killsInFlight[$0] == 0 }
            if !missing.isEmpty { shortfalls.append("no kill landed inside a call of kind \(missing.map(\.rawValue).joined(separator: ", "))") }
            let share = rounds.isEmpty ? 0 : Double(roundsWithAcknowledged) / Double(rounds.count)
            if share < Self.minimumShareWithAcknowledged {
                shortfalls.append("only \(roundsWithAcknowledged) of \(rounds.count) rounds acknowledged a call before the kill (minimum \(Int(Self.minimumShareWithAcknowledged * 100))%)")
            }
        }

        public var table: String {
            var out = "kind               kills in flight\n"
            for kind in TortureOp.Kind.allCases {
                out += kind.rawValue.padding(toLength: 19, withPad: " ", startingAt: 0) + String(killsInFlight[kind] ?? 0)
                out += notAimed.contains(kind) ? "  (not aimed at: fewer rounds than \(Aim.all.count))\n" : "\n"
            }
            out += "between-calls      \(killsBetween)\n"
            out += "rounds with an acknowledged call: \(roundsWithAcknowledged) of \(rounds)\n"
            return out
        }
    }

    public struct Report: Sendable {
        public var rounds: [Round]
        public var acknowledgedTotal: Int
        public var coverage: Coverage
        public var violationCount: Int { rounds.map(\.violations.count).reduce(0, +) }

        public static let csvHeader = ["round", "aim", "kill_after_acks", "mode", "acknowledged", "in_flight", "misses", "checked", "violations", "reason"]
        public var csv: String {
            ([Self.csvHeader] + rounds.map(Self.fields)).map(CSV.row).joined(separator: "\n") + "\n"
        }
        public static func fields(_ r: Round) -> [String] {
            [String(r.index), r.aim.description, String(r.killAfter), r.serverCrash ? "server" : "client", String(r.acknowledged),
             r.inFlight?.rawValue ?? "-", String(r.misses), String(r.checked), String(r.violations.count), r.violations.prefix(3).joined(separator: "; ")]
        }
    }

    /// The exit code of a run whose coverage fell below the minimum (violations exit 1).
    public static let tooLittleTestedExitCode: Int32 = 3

    public var target: Target
    public var options: Options

    public init(target: Target, options: Options) {
        self.target = target
        self.options = options
    }

    /// Runs every round; `progress` sees each as it ends.
    public func run(progress: (Round) -> Void = { _ in }) throws -> Report {
        var model = TortureModel()
        var durations: [TortureOp.Kind: [Double]] = [:]
        var rounds: [Round] = []
        let watcher = options.observer ? try target.open() : nil
        defer { try? watcher?.close() }
        if let watcher, !watcher.capabilities.contains(.sharedAccess) {
            throw EngramError(.invalidInput, field: "observer", "the observer needs a backend with shared access; \(target.name) does not declare it")
        }
        for index in 0..<options.rounds {
            let aim = Aim.all[index % Aim.all.count]
            // One generator per round: its kill point is replayable from the seed and round.
            var rng = SeededGenerator(seed: options.seed &* 0x9E37_79B9 &+ UInt64(index))
            let killAfter = 1 + Int(rng.next() % UInt64(max(1, options.maxCallsBeforeKill)))
            let crash = options.serverCrashEvery > 0 && index % options.serverCrashEvery == options.serverCrashEvery - 1 ? target.serverCrash : nil
            let (lines, misses, failure, crashedInside) = try runChild(round: index, aim: aim, killAfter: killAfter, serverCrash: crash, rng: &rng, durations: &durations)
            let (acked, pending) = model.apply(lines: lines)
            var violations: [String] = []
            if let watcher { violations = model.check(watcher, pending: pending).1.map { "observer: " + $0 } }
            let store = try target.open()
            let (checked, fresh) = model.check(store, pending: watcher == nil ? pending : nil)
            violations += fresh
            try store.close()
            if let failure { violations.insert(failure, at: 0) }
            let round = Round(index: index, aim: aim, killAfter: killAfter, serverCrash: crash != nil, acknowledged: acked,
                              // A writer that stopped by itself was not killed inside its call: no coverage.
                              // With a server crash, the crash is the kill: the call it landed in.
                              inFlight: failure == nil ? crashedInside ?? pending?.kind : nil, misses: misses, checked: checked, violations: violations)
            rounds.append(round)
            progress(round)
        }
        return Report(rounds: rounds, acknowledgedTotal: model.acknowledgedTotal, coverage: Coverage(rounds))
    }

    /// One child: waits for `ready`, lets `killAfter` calls be acknowledged, then kills it
    /// inside the next call of the aimed kind (or right after an acknowledgement). Returns
    /// its whole output lines, the aimed calls that finished before a freeze, and why the
    /// round failed if the child stopped by itself or hung.
    private func runChild(round: Int, aim: Aim, killAfter: Int, serverCrash: (@Sendable () throws -> Void)?,
                          rng: inout SeededGenerator, durations: inout [TortureOp.Kind: [Double]]) throws -> ([String], Int, String?, TortureOp.Kind?) {
        let (executable, arguments) = target.child(options.seed, round)
        let child = try ChildProcess(executable: executable, arguments: arguments, environment: target.environment)
        var acked = 0, misses = 0
        func output() -> [String] { Array(child.lines.drop { $0 == "ready" }) }
        /// A round that ended before its kill: the child closed its output (it stopped by
        /// itself: a spurious error, a refused open) or printed nothing for too long (`why`).
        func failed(_ why: String) -> ([String], Int, String?, TortureOp.Kind?) {
            let ended = child.outputEnded || !child.isRunning
            child.kill()  // a child that already exited is only waited for; its status stays its own
            return (output(), misses, ended ? "the workload stopped by itself (status \(child.terminationStatus)): \(child.errorText)" : why, nil)
        }
        let hung = "the workload printed nothing for \(Self.progressTimeout / 1_000) s: a call hung"
        guard let first = child.nextLine(within: Self.progressTimeout) else { return failed(hung) }
        guard first == "ready" else { return failed("the workload printed \(first.prefix(80).debugDescription) instead of ready") }
        var current: (kind: TortureOp.Kind, started: ContinuousClock.Instant)?
        func note(_ line: String) {
            if line.hasPrefix("begin "), let op = TortureOp(line: String(line.dropFirst(6))) {
                current = (op.kind, .now)
            } else if line == "ack", let c = current {
                acked += 1
                let d = ContinuousClock.now - c.started
                durations[c.kind, default: []].append(Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12)
                current = nil
            }
        }
        while true {
            guard let line = child.nextLine(within: Self.progressTimeout) else { return failed(hung) }
            note(line)
            guard acked >= killAfter else { continue }
            switch aim {
            case .afterAcknowledgement:
                guard line == "ack" else { continue }
                guard child.freeze() else { return failed(hung) }
                for l in child.availableLines() { note(l) }
            case .inside(let kind):
                // After `maxMisses` calls of the kind finished before a freeze, the kill lands
                // wherever the child is (and coverage says if the kind was never caught).
                guard misses >= Self.maxMisses || (line.hasPrefix("begin ") && current?.kind == kind) else { continue }
                let aimed = child.lines.count  // its `begin` is the last line read
                // A random moment inside the call: a fraction of this kind's median duration so
                // far, smaller after each miss, so a fast call is caught by freezing at once.
                let seen = (durations[kind] ?? [1_000]).sorted()
                let fraction = Double(rng.next() % 1_000) / 1_000 / Double(1 << min(misses, 20))
                let wait = seen[seen.count / 2] * fraction
                if wait >= 1 { usleep(UInt32(min(wait, 2_000_000))) }
                guard child.freeze() else { return failed(hung) }
                for l in child.availableLines() { note(l) }
                if child.lines.count != aimed, misses < Self.maxMisses {  // it printed on: the aimed call finished
                    misses += 1
                    child.resume()
                    continue
                }
            }
            if let serverCrash {
                // The server goes down under the call in flight — that is this round's kill, and
                // what coverage counts — and the child meets it: it fails and ends by itself, or
                // reconnects and prints on; either way it is killed at its next line (or after a
                // bounded wait).
                let inside = child.lines.last?.hasPrefix("begin ") == true ? current?.kind : nil
                try serverCrash()
                child.resume()
                _ = child.nextLine(within: 5_000)
                child.kill()
                return (output(), misses, nil, inside)
            }
            child.kill()
            return (output(), misses, nil, nil)
        }
    }

    /// How long a child may print nothing before its round fails as hung (a bound against a
    /// hang, never a measure of work), in milliseconds.
    static let progressTimeout = 120_000
    /// Aimed calls that may finish before a freeze before the round kills wherever it is.
    static let maxMisses = 1_000
}

/// The workload `Torture` kills, run by the child process (`engram torture-child`, or a
/// backend author's own executable): prints `ready`, then `begin <op>` before and `ack` after
/// every call, each line flushed before the call it announces. It never returns normally.
public enum TortureWorkload {
    public static func run(store: any MemoryStore, seed: UInt64, round: Int, say: (String) -> Void) throws -> Never {
        var rng = SeededGenerator(seed: seed &* 1_000_003 &+ UInt64(round))
        var seq = round * 1_000_000
        say("ready")
        while true {
            seq += 1
            let op = TortureOp.random(&rng, seq: seq)
            say("begin " + op.line)
            try op.perform(on: store)
            say("ack")
        }
    }
}
