import ArgumentParser
import EngramCore
import EngramFiles
import Foundation

/// `engram files-writer` (hidden): the file store's crash-test child.
///
/// Without `--op` it prints `ready` once its store is open, then saves records one call at a
/// time, printing `saving <ids>` before and `saved <ids>` after each save (and `deleting` /
/// `deleted` around its deletes); the kill test SIGKILLs it inside a call chosen by the calls
/// it acknowledged and checks that every acknowledged id survived. With `--op` it runs one operation (`setup`, `save`, `batch`, `delete`,
/// `prune`, `compact`) and prints `done`; with `--crash-at k` it dies by SIGKILL at the
/// store's k-th write step, so the deterministic test can cut an operation at every step.
struct FilesWriter: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "files-writer", abstract: "Crash-test helper for the file store.", shouldDisplay: false)

    @Option var directory: String
    @Option var start = 0
    @Option var count = 1_000_000
    @Option(help: "Run one operation and exit: setup, save, batch, delete, prune, compact.") var op: String?
    @Option(help: "Die by SIGKILL at this write step (1 = the first).") var crashAt = 0

    func run() throws {
        CrashPoints.shared.crash(atStep: crashAt)
        let t0 = Timestamp(microsecondsSinceEpoch: 1_700_000_000_000_000)
        func outcome(_ i: Int, _ text: String = "") -> MemoryRecord {
            .outcome(Outcome(id: "o\(i)", agent: "a", projectId: "p", taskType: "t", taskDescription: text + String(repeating: "x", count: i % 300),
                             success: true, strategyUsed: "s", timestamp: t0.adding(microseconds: Int64(i)),
                             embedding: (0..<8).map { Float(($0 + i) % 7) + 0.5 }))
        }
        if let op {
            // `compact` makes compaction due at once, so its one call commits and then compacts.
            let store = try FileStore(directory: URL(fileURLWithPath: directory), embeddingDimension: 8, compactionMinimum: op == "compact" ? 1 : 1_000)
            switch op {
            case "setup":
                for i in 0..<6 { _ = try store.save([outcome(i)]) }
                _ = try store.delete(RecordKey(.outcome, scope: "p", id: "o1"))
                _ = try store.save([outcome(1, "again ")])
            case "save": _ = try store.save([outcome(9)])
            case "batch": _ = try store.save([outcome(10), outcome(11), outcome(0, "changed "), outcome(12)])
            case "delete": _ = try store.delete(RecordKey(.outcome, scope: "p", id: "o2"))
            case "prune": _ = try store.deleteOutcomes(projectId: "p", olderThan: t0.adding(microseconds: 4), agent: nil)
            case "compact": _ = try store.delete(RecordKey(.outcome, scope: "p", id: "o1"))  // the delete that compacts
            default: throw ValidationError("unknown --op \(op)")
            }
            try store.close()
            print("done")
            return
        }
        let store = try FileStore(directory: URL(fileURLWithPath: directory), embeddingDimension: 8)
        func say(_ line: String) {
            print(line)
            fflush(nil)  // all output streams: the line must be out before the next call
        }
        say("ready")
        var i = start
        while i < start + count {
            let batch = i % 5 == 0 ? (i..<i + 3).map { outcome($0) } : [outcome(i)]  // single saves and small batches
            let ids = batch.map(\.id).joined(separator: " ")
            say("saving " + ids)  // in flight: may or may not survive a kill
            _ = try store.save(batch)
            say("saved " + ids)
            if i % 7 == 0 {
                say("deleting o\(i - 1)")
                _ = try store.delete(RecordKey(.outcome, scope: "p", id: "o\(i - 1)"))
                say("deleted o\(i - 1)")
            }
            i += batch.count
        }
    }
}
