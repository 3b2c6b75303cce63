import Conformance
import EngramCore
import EngramFiles
import Foundation
import Testing

func temporaryDirectory() -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-files-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

@Suite struct FileStoreConformance {
    @Test func passesEveryScenarioWithNoneSkippedButQueryPlans() {
        let fixture = StoreFixture(
            name: "files",
            makeEmpty: { try FileStore(directory: temporaryDirectory()) },
            reopen: { old in
                let dir = (old as! FileStore).directory
                try old.close()
                return try FileStore(directory: dir)
            })
        let results = ConformanceSuite(fixture: fixture).run()
        let failed = results.filter { $0.status == .failed }
        #expect(failed.isEmpty, "\(failed.map { "\($0.id): \($0.reason)" })")
        // A directory of JSON files has no query planner: that one capability is not declared.
        #expect(results.filter { $0.status == .skipped }.map(\.id) == ["query-plan.prune-uses-timestamp-index"])
    }
}

@Suite struct FileStoreFiles {
    func outcome(_ id: String) -> Outcome {
        Outcome(id: id, agent: "a", projectId: "p", taskType: "t", taskDescription: "d", success: true, strategyUsed: "s",
                timestamp: Timestamp(microsecondsSinceEpoch: 0), embedding: [1, 0, 0, 0])
    }

    @Test func aSecondOpenerGetsAClearError() throws {
        let dir = temporaryDirectory()
        let first = try FileStore(directory: dir, embeddingDimension: 4)
        #expect { try FileStore(directory: dir, embeddingDimension: 4) } throws: { error in
            (error as? EngramError)?.code == .unavailable && "\(error)".contains("in use")
        }
        try first.close()
        try FileStore(directory: dir, embeddingDimension: 4).close()
    }

    @Test func aHandEditedFileIsAnErrorNamingFileAndLine() throws {
        let dir = temporaryDirectory()
        let store = try FileStore(directory: dir, embeddingDimension: 4)
        try store.save(outcome("a"))
        try store.save(outcome("b"))
        try store.close()
        let log = dir.appendingPathComponent("log")
        let file = try FileManager.default.contentsOfDirectory(atPath: log.path).sorted().last!
        let path = log.appendingPathComponent(file)
        try (String(contentsOf: path, encoding: .utf8) + "{\"put\": oops}\n").write(to: path, atomically: true, encoding: .utf8)
        #expect { try FileStore(directory: dir, embeddingDimension: 4) } throws: { error in
            guard let e = error as? EngramError else { return false }
            return e.code == .corrupt && e.message.contains(file) && e.message.contains("line 2")
        }
    }

    @Test func reSavesDoNotDuplicateAndCompactionKeepsEverything() throws {
        let dir = temporaryDirectory()
        let store = try FileStore(directory: dir, embeddingDimension: 4)
        for round in 0..<3 { for i in 0..<700 { try store.save(outcome("o\(i)-\(round % 1)")) } }  // 2,100 saves of 700 keys
        #expect(try store.stats(projectId: "p", agent: nil).records[.outcome] == 700)
        try store.close()
        let reopened = try FileStore(directory: dir, embeddingDimension: 4)
        #expect(try reopened.stats(projectId: "p", agent: nil).records[.outcome] == 700)
        let snapshot = try String(contentsOf: dir.appendingPathComponent("snapshot.jsonl"), encoding: .utf8)
        #expect(snapshot.split(separator: "\n").count == 700)  // compacted at least once, one line per live record
    }

    @Test func anotherDimensionIsAClearError() throws {
        let dir = temporaryDirectory()
        try FileStore(directory: dir, embeddingDimension: 4).close()
        #expect { try FileStore(directory: dir, embeddingDimension: 8) } throws: { ($0 as? EngramError)?.field == "embedding_dimension" }
    }

    /// A writer process killed with SIGKILL at 50 random moments: every save it reported
    /// done is there after reopening, and the store always opens.
    @Test func killNineFiftyTimesLosesNothingThatReturned() throws {
        let engram = engramExecutable()
        try #require(FileManager.default.isExecutableFile(atPath: engram.path), "build the engram product first (swift build --build-tests does)")
        let dir = temporaryDirectory()
        var rng = SystemRandomNumberGenerator()
        var acknowledged = Set<String>()
        var deleted = Set<String>()
        for round in 0..<50 {
            let p = Process()
            p.executableURL = engram
            p.arguments = ["files-writer", "--directory", dir.path, "--start", String(round * 100_000)]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            usleep(UInt32.random(in: 20_000...120_000, using: &rng))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            var inFlight = Set<String>()
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ").map(String.init)
                switch words.first {
                case "saved": acknowledged.formUnion(words.dropFirst())
                case "deleting": inFlight.formUnion(words.dropFirst())
                case "deleted":
                    deleted.formUnion(words.dropFirst())
                    inFlight.subtract(words.dropFirst())
                default: break  // a line cut by the kill
                }
            }
            let store = try FileStore(directory: dir, embeddingDimension: 8)
            for id in acknowledged.subtracting(deleted).subtracting(inFlight) {
                #expect(try store.get(RecordKey(.outcome, scope: "p", id: id)) != nil, "round \(round): \(id) was acknowledged but is gone")
            }
            for id in deleted {
                #expect(try store.get(RecordKey(.outcome, scope: "p", id: id)) == nil, "round \(round): \(id) was deleted but is back")
            }
            // A delete in flight when the process died either happened or not; settle it now.
            for id in inFlight where try store.get(RecordKey(.outcome, scope: "p", id: id)) == nil { deleted.insert(id) }
            try store.close()
        }
        #expect(acknowledged.count > 100, "the writer made too little progress to test anything: \(acknowledged.count)")
    }

    func engramExecutable() -> URL {
        let candidates = [
            Bundle.main.executableURL?.deletingLastPathComponent().appendingPathComponent("engram"),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("engram"),
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".build/debug/engram"),
        ]
        return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates.last!!
    }
}
