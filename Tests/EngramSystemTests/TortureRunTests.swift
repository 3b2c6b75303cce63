import Conformance
import EngramCore
import EngramSQLite
import Foundation
import Testing

/// Torture through real child processes: kill points are chosen in work done, so every kind
/// of call is killed in flight however busy the machine is, and a run that tested nothing
/// says so instead of passing.
@Suite struct TortureRunTests {
    func target(_ path: String, child: (@Sendable (UInt64, Int) -> (executable: URL, arguments: [String]))? = nil) -> Torture.Target {
        let engram = ChildProcess.builtProduct("engram")
        return Torture.Target(
            name: "sqlite", open: { try SQLiteStore(path: path, embeddingDimension: TortureOp.dimension) },
            child: child ?? { seed, round in (engram, ["torture-child", "--backend", "sqlite", "--location", path, "--seed", String(seed), "--round", String(round)]) })
    }

    @Test func everyKindIsKilledInFlightAndNothingAcknowledgedIsLost() throws {
        try #require(FileManager.default.isExecutableFile(atPath: ChildProcess.builtProduct("engram").path), "build the engram product first")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("engram-torture-\(UUID().uuidString).sqlite").path
        var options = Torture.Options()
        options.rounds = 18
        options.seed = 11
        options.maxCallsBeforeKill = 10
        let report = try Torture(target: target(path), options: options).run()
        #expect(report.violationCount == 0, "\(report.rounds.flatMap(\.violations).prefix(3))")
        #expect(report.coverage.shortfalls.isEmpty, "\(report.coverage.shortfalls)")
        #expect(report.coverage.notAimed.isEmpty)
        for kind in TortureOp.Kind.allCases { #expect(report.coverage.killsInFlight[kind, default: 0] >= 1, "\(kind) never killed in flight") }
        #expect(report.rounds.allSatisfy { $0.acknowledged >= $0.killAfter }, "each round let its calls be acknowledged before the kill")
    }

    /// A workload that stops by itself acknowledges nothing: violations, and coverage below
    /// the minimum, never "0 violations".
    @Test func aRunThatTestedNothingFails() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("engram-torture-\(UUID().uuidString).sqlite").path
        var options = Torture.Options()
        options.rounds = 3
        let report = try Torture(target: target(path) { _, _ in (URL(fileURLWithPath: "/bin/sh"), ["-c", "echo ready"]) }, options: options).run()
        #expect(report.rounds.allSatisfy { $0.violations.first?.contains("stopped by itself") == true })
        #expect(report.coverage.roundsWithAcknowledged == 0)
        #expect(report.coverage.shortfalls.contains { $0.contains("0 of 3 rounds") }, "\(report.coverage.shortfalls)")
        #expect(report.coverage.shortfalls.contains { $0.contains("no kill landed inside") })
        #expect(report.coverage.notAimed.count == TortureOp.Kind.allCases.count - 3, "three rounds aim at three kinds")
        #expect(report.coverage.shortfalls.contains { $0.contains("aim at no call of kind") })
    }
}
