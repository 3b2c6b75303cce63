import ArgumentParser
import EngramCore
import EngramFiles
import Foundation

/// `engram files-writer` (hidden): saves records into a file store one call at a time and
/// prints each id after its save returned. The crash test kills it with SIGKILL at random
/// moments and checks that every printed id survived.
struct FilesWriter: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "files-writer", abstract: "Crash-test helper for the file store.", shouldDisplay: false)

    @Option var directory: String
    @Option var start = 0
    @Option var count = 1_000_000

    func run() throws {
        let store = try FileStore(directory: URL(fileURLWithPath: directory), embeddingDimension: 8)
        let t0 = Timestamp(microsecondsSinceEpoch: 1_700_000_000_000_000)
        func outcome(_ i: Int) -> MemoryRecord {
            .outcome(Outcome(id: "o\(i)", agent: "a", projectId: "p", taskType: "t", taskDescription: String(repeating: "x", count: i % 300),
                             success: true, strategyUsed: "s", timestamp: t0.adding(microseconds: Int64(i)),
                             embedding: (0..<8).map { Float(($0 + i) % 7) + 0.5 }))
        }
        var i = start
        while i < start + count {
            let batch = i % 5 == 0 ? (i..<i + 3).map(outcome) : [outcome(i)]  // single saves and small batches
            _ = try store.save(batch)
            print("saved " + batch.map(\.id).joined(separator: " "))
            fflush(nil)  // all output streams: the line must be out before the next call
            if i % 7 == 0 {
                print("deleting o\(i - 1)")  // in flight: may or may not survive a kill
                fflush(nil)
                _ = try store.delete(RecordKey(.outcome, scope: "p", id: "o\(i - 1)"))
                print("deleted o\(i - 1)")
                fflush(nil)
            }
            i += batch.count
        }
    }
}
