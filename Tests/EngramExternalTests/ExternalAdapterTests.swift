import Conformance
import EngramCore
import EngramExternal
import Foundation
import Synchronization
import Testing

/// `python3 adapters/reference_adapter.py [--misbehave MODE]`, from this repository.
func adapterCommand(_ misbehave: String? = nil) -> String {
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let script = repo.appendingPathComponent("adapters/reference_adapter.py").path
    return "python3 '\(script)'" + (misbehave.map { " --misbehave \($0)" } ?? "")
}

func fixture(_ misbehave: String? = nil, timeout: Double = 30) -> StoreFixture {
    StoreFixture(name: "external") {
        var c = ExternalStore.Configuration(command: adapterCommand(misbehave))
        c.timeout = timeout
        c.validatesLocally = false  // as `engram conform --external`: the adapter's own validation is checked
        c.log = { _ in }  // keep the test output clean; stderr handling has its own test
        return try ExternalStore(c)
    }
}

@Suite struct ReferenceAdapterConformance {
    @Test func passesEveryScenario() {
        let results = ConformanceSuite(fixture: fixture()).run()
        let failed = results.filter { $0.status == .failed }
        #expect(failed.isEmpty, "\(failed.map { "\($0.id): \($0.reason)" })")
        // It declares introspection; durability, query plans and a second store on the same
        // data need ops the protocol lacks.
        let skipped = Set(results.filter { $0.status == .skipped }.map(\.id))
        let multiprocess = ConformanceSuite.scenarios.map(\.id).filter { $0.hasPrefix("multiprocess.") }
        #expect(!multiprocess.isEmpty && skipped == Set(["durability.reopen", "query-plan.prune-uses-timestamp-index"] + multiprocess))
    }

    @Test func adapterStderrReachesTheLog() throws {
        let lines = LogLines()
        var c = ExternalStore.Configuration(command: "python3 -c \"import sys; print('hello from the adapter', file=sys.stderr); sys.exit(1)\"")
        c.log = { lines.add($0) }
        c.timeout = 5
        #expect(throws: EngramError.self) { try ExternalStore(c) }
        // The log is fed by a reader thread: wait for the line (bounded only against a hang).
        for _ in 0..<3_000 where !lines.all.contains("hello from the adapter") { usleep(10_000) }
        #expect(lines.all.contains("hello from the adapter"))
    }
}

final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    func add(_ s: String) { lines.withLock { $0.append(s) } }
    var all: [String] { lines.withLock { $0 } }
}

/// Bad adapters give failed scenarios with the right reason, never a hang or a crash.
@Suite struct BadAdapters {
    func run(_ mode: String, only: [String], timeout: Double = 3) -> [ScenarioResult] {
        ConformanceSuite(fixture: fixture(mode, timeout: timeout), only: only).run()
    }

    @Test func crashOnStart() {
        let r = run("crash-on-start", only: ["roundtrip.heuristic"])
        #expect(r.count == 1 && r[0].status == .failed && r[0].reason.contains("exited before answering 'hello'"), "\(r.map(\.reason))")
    }

    /// An adapter that answers wrongly fails the scenario with a reason that says how: output
    /// that is not JSON, another record's id, a deleted record coming back, a result too many.
    @Test(arguments: [("garbage", "roundtrip.heuristic", "not JSON"), ("wrong-id", "roundtrip.heuristic", "has id"),
                      ("ghost", "delete.vector-slot-reclaimed", "top 10 after deleting"), ("extra", "query.top-k", "count for topK")])
    func aWrongAnswerFailsWithItsReason(mode: String, scenario: String, reason: String) {
        let r = run(mode, only: [scenario])
        #expect(r[0].status == .failed && r[0].reason.contains(reason), "\(r.map(\.reason))")
    }

    /// The reason names the timeout: the call was cut by it (a hang would hang the test).
    @Test func hangIsCutByTheTimeout() {
        let r = run("hang", only: ["query.top-k"], timeout: 1)
        #expect(r[0].status == .failed && r[0].reason.contains("did not answer within"), "\(r.map(\.reason))")
    }

    @Test func exitMidScenario() {
        // The adapter dies at its first query; the next scenario gets a new adapter and passes.
        let r = Dictionary(uniqueKeysWithValues: run("exit-mid", only: ["query.order.heuristic", "query.order.outcome"]).map { ($0.id, $0) })
        #expect(r["query.order.heuristic"]?.status == .failed && r["query.order.heuristic"]?.reason.contains("exited") == true, "\(r.values.map(\.reason))")
        #expect(r["query.order.outcome"]?.status == .failed, "a new adapter again dies at its first query")
        let after = run("exit-mid", only: ["query.order.heuristic", "delete.missing"])  // suite order: the crash first
        #expect(after.map(\.status) == [.failed, .passed], "the scenario after the crash gets a new adapter: \(after.map(\.reason))")
    }

    /// An adapter that closes its stdin: the next write fails as `unavailable` (no SIGPIPE
    /// kills the test process), and the next scenario gets a new adapter.
    @Test func closedStdinIsAnErrorNotASignal() {
        let r = run("close-stdin", only: ["roundtrip.heuristic", "delete.missing"], timeout: 300)
        #expect(r.count == 2 && r.allSatisfy { $0.status == .failed }, "\(r.map(\.reason))")
        // Noticed by the closed pipe, not by the (long) timeout.
        #expect(r[0].reason.contains("closed its input") || r[0].reason.contains("exited"), "\(r[0].reason)")
    }

    /// An adapter that stops reading: a large request cannot block the writer past the timeout.
    @Test func anAdapterThatStopsReadingIsCutByTheTimeout() {
        let r = run("stop-reading", only: ["batch.ids-in-order"], timeout: 2)
        #expect(r[0].status == .failed && r[0].reason.contains("did not read its request within"), "\(r.map(\.reason))")
    }

    /// A 100 MB response line is read whole (reading is linear: the quadratic reader took
    /// minutes at 16 MB), and a line over the configured maximum is a protocol error.
    @Test func aHundredMegabyteLineIsReadAndAnOversizedOneRefused() throws {
        var c = ExternalStore.Configuration(command: adapterCommand("huge-line"))
        c.log = { _ in }
        let store = try ExternalStore(c)
        #expect(try store.stats(projectId: "p", agent: nil).records[.outcome] == 0)
        try store.close()
        c.maxResponseBytes = 1 << 20
        let small = try ExternalStore(c)
        #expect { try small.stats(projectId: "p", agent: nil) } throws: { error in
            (error as? EngramError)?.code == .internal && "\(error)".contains("longer than 1048576 bytes")
        }
        try small.close()
    }

    /// An adapter that forks a child holding its pipes and then exits: the scenario fails
    /// within the timeout (not when the child lets go), and the child is ended with it.
    @Test func aForkedChildHoldingThePipeIsEndedWithItsAdapter() throws {
        let lines = LogLines()
        var c = ExternalStore.Configuration(command: adapterCommand("fork-and-exit"))
        c.timeout = 300  // the exit must be noticed at once: the error says "exited", not the timeout's words
        c.log = { lines.add($0) }
        let store = try ExternalStore(c)
        #expect { try store.query(MemoryQuery(kind: .heuristic, projectId: "p", topK: 3)) } throws: { error in
            (error as? EngramError)?.code == .unavailable && "\(error)".contains("exited") && !"\(error)".contains("within")
        }
        let child = try #require(lines.all.first { $0.hasPrefix("forked child ") }.flatMap { Int32($0.dropFirst(13)) })
        try store.close()
        var gone = false
        for _ in 0..<1_500 where !gone {  // bounded only against a hang
            gone = kill(child, 0) != 0 && errno == ESRCH
            if !gone { usleep(20_000) }
        }
        #expect(gone, "the adapter's forked child \(child) is still running")
    }

    /// With the client's validation off, the suite checks the adapter's: one that validates
    /// nothing fails the validation scenarios, one that writes half a batch fails atomicity.
    @Test func anAdapterThatDoesNotValidateFailsTheValidationScenarios() {
        let r = run("no-validation", only: ["roundtrip.heuristic", "validation.confidence", "validation.embedding"])
        #expect(r.map(\.status) == [.passed, .failed, .failed], "\(r.map { "\($0.id): \($0.reason)" })")
        #expect(r[1].reason.contains("accepted"), "\(r[1].reason)")
    }

    @Test func anAdapterThatWritesHalfABatchFailsAtomicity() {
        let r = run("partial-batch", only: ["batch.all-or-nothing"])
        #expect(r[0].status == .failed, "\(r.map(\.reason))")
    }

    /// An adapter's error text is cleaned (no control characters) and bounded before it
    /// reaches a terminal or a report; bytes that are not UTF-8 are a protocol error.
    @Test func adapterTextIsCleanedAndUTF8Checked() throws {
        var c = ExternalStore.Configuration(command: adapterCommand("dirty-error"))
        c.log = { _ in }
        let dirty = try ExternalStore(c)
        #expect { try dirty.get(RecordKey(.outcome, scope: "p", id: "x")) } throws: { error in
            let text = "\(error)"
            return !text.unicodeScalars.contains { $0.properties.generalCategory == .control } && text.count < 3_000
        }
        try dirty.close()
        c.command = adapterCommand("bad-utf8")
        let garbled = try ExternalStore(c)
        #expect { try garbled.get(RecordKey(.outcome, scope: "p", id: "x")) } throws: { "\($0)".contains("not valid UTF-8") }
        try garbled.close()
    }

    @Test func roundedTimestamp() {
        let r = run("round-timestamps", only: ["roundtrip.microsecond-timestamps"])
        #expect(r[0].status == .failed && r[0].reason.contains("differs"), "\(r.map(\.reason))")
    }
}
