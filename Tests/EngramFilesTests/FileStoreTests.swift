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

@Suite struct FileStoreFiles {
    /// A log written by the previous file store (JSONEncoder with sorted keys): Float -0.0 as
    /// `-0`, a Double 1.0 as `1`, a count as `5.0` from another writer. It loads, bit-exactly.
    @Test func aLogFromTheEarlierWriterLoads() throws {
        let dir = temporaryDirectory()
        try FileStore(directory: dir, embeddingDimension: 4).close()
        let line = #"{"put":{"kind":"heuristic","record":{"agent":"a","condition":"c","confidence":1,"created_at":"1970-01-01T00:00:00.000000Z","embedding":[-0,0.1,1e-05,2],"id":"h","last_validated":"2026-01-02T03:04:05.000006Z","metadata":{"k":[1,2.5,null]},"occurrence_count":5.0,"project_id":"p","strategy":"s","success_count":3}}}"#
        try Data((line + "\n").utf8).write(to: dir.appendingPathComponent("log/000000000001.jsonl"))
        let store = try FileStore(directory: dir, embeddingDimension: 4)
        defer { try? store.close() }
        let h = try #require(try store.get(RecordKey(.heuristic, scope: "p", id: "h"))?.heuristic)
        #expect(h.confidence == 1 && h.occurrenceCount == 5 && h.successCount == 3)
        #expect(h.embedding?.map(\.bitPattern) == ([-0.0, 0.1, 1e-05, 2] as [Float]).map(\.bitPattern))
        #expect(h.lastValidated == Timestamp(rfc3339: "2026-01-02T03:04:05.000006Z") && h.metadata == .object(["k": .array([.int(1), .double(2.5), .null])]))
    }

    /// A component beyond Float's range is corrupt data, not an infinite vector.
    @Test func anEmbeddingBeyondFloatRangeIsCorrupt() throws {
        let dir = temporaryDirectory()
        try FileStore(directory: dir, embeddingDimension: 2).close()
        let line = #"{"put":{"kind":"outcome","record":{"agent":"a","embedding":[1e39,1],"id":"o","metadata":{},"project_id":"p","strategy_used":"s","success":true,"task_description":"d","task_type":"t","timestamp":"1970-01-01T00:00:00.000000Z"}}}"#
        try Data((line + "\n").utf8).write(to: dir.appendingPathComponent("log/000000000001.jsonl"))
        let error = #expect(throws: EngramError.self) { try FileStore(directory: dir, embeddingDimension: 2) }
        #expect(error?.code == .corrupt && error?.message.contains("embedding") == true, "\(String(describing: error))")
    }

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
        #expect(snapshot.split(separator: "\n").filter { $0.hasPrefix("{\"put\"") }.count == 700)  // compacted at least once, one line per live record
    }

    /// The store touches only its own names: a user's `.tmp-notes` survives an open, and a
    /// non-empty directory that is not a store is refused before anything is created in it.
    @Test func aUsersFilesAreNeverTouched() throws {
        let dir = temporaryDirectory()
        try FileStore(directory: dir, embeddingDimension: 4).close()
        try Data("mine".utf8).write(to: dir.appendingPathComponent(".tmp-notes"))
        try Data("mine too".utf8).write(to: dir.appendingPathComponent("log/.tmp-data"))
        try FileStore(directory: dir, embeddingDimension: 4).close()
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(".tmp-notes").path))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("log/.tmp-data").path))

        let foreign = temporaryDirectory()
        try Data("notes".utf8).write(to: foreign.appendingPathComponent("notes.txt"))
        #expect { try FileStore(directory: foreign, embeddingDimension: 4) } throws: { "\($0)".contains("not an Engram file store") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: foreign.path) == ["notes.txt"])
    }

    @Test(arguments: [0, -1, 16_001])
    func aDimensionOutsideTheRangeIsRefused(dimension: Int) {
        #expect { try FileStore(directory: temporaryDirectory(), embeddingDimension: dimension) } throws: {
            ($0 as? EngramError)?.field == "embedding_dimension"
        }
    }

    /// A compaction that fails (here `snapshot.jsonl` is a directory) does not turn the call
    /// that triggered it into an error: its log file is its commit. The failure is reported,
    /// nothing is lost, and compaction succeeds once the obstacle is gone.
    @Test func aFailedCompactionDoesNotFailACommittedSave() throws {
        let dir = temporaryDirectory()
        let store = try FileStore(directory: dir, embeddingDimension: 4, compactionMinimum: 2)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("snapshot.jsonl/x"), withIntermediateDirectories: true)
        for i in 0..<12 { try store.save(outcome("o\(i)")) }  // compaction is due from the 2nd save on
        #expect(store.lastCompactionError?.contains("snapshot.jsonl") == true, "\(store.lastCompactionError ?? "no error reported")")
        try store.close()
        try FileManager.default.removeItem(at: dir.appendingPathComponent("snapshot.jsonl"))
        let reopened = try FileStore(directory: dir, embeddingDimension: 4, compactionMinimum: 2)
        #expect(try reopened.stats(projectId: "p", agent: nil).records[.outcome] == 12)
        try reopened.save(outcome("o12"))
        #expect(reopened.lastCompactionError == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("log").path).isEmpty)
        try reopened.close()
        #expect(try FileStore(directory: dir, embeddingDimension: 4).stats(projectId: "p", agent: nil).records[.outcome] == 13)
    }

    /// Log sequences past 2^31 keep their names and order (a store that lived long, or a
    /// header that says so); a sequence no store could reach is corruption, not a crash.
    @Test func sequencesBeyondThirtyTwoBitsAndImpossibleOnes() throws {
        let dir = temporaryDirectory()
        try FileStore(directory: dir, embeddingDimension: 4).close()
        try Data("{\"snapshot\":{\"format\":\"engram-files-1\",\"through\":2147483646}}\n".utf8).write(to: dir.appendingPathComponent("snapshot.jsonl"))
        for round in 0..<3 {
            let store = try FileStore(directory: dir, embeddingDimension: 4)
            try store.save(outcome("o\(round)"))
            if round == 2 { #expect(try store.delete(RecordKey(.outcome, scope: "p", id: "o0"))) }
            try store.close()
        }
        let store = try FileStore(directory: dir, embeddingDimension: 4)
        #expect(try store.get(RecordKey(.outcome, scope: "p", id: "o0")) == nil)
        #expect(try store.get(RecordKey(.outcome, scope: "p", id: "o1")) != nil && store.get(RecordKey(.outcome, scope: "p", id: "o2")) != nil)
        try store.close()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("log").path).sorted()
                == ["000002147483647.jsonl", "000002147483648.jsonl", "000002147483649.jsonl", "000002147483650.jsonl"].map { String($0.dropFirst(3)) })

        try Data("{\"snapshot\":{\"through\":9223372036854775807}}\n".utf8).write(to: dir.appendingPathComponent("snapshot.jsonl"))
        #expect { try FileStore(directory: dir, embeddingDimension: 4) } throws: { ($0 as? EngramError)?.code == .corrupt && "\($0)".contains("snapshot.jsonl") }
    }

    /// Names that only look like log files (`+00000000008.jsonl`) are not the store's: never
    /// replayed, never removed. A directory holding only a user's `log/` is not a store.
    @Test func onlyTheStoresOwnNamesCount() throws {
        let dir = temporaryDirectory()
        let store = try FileStore(directory: dir, embeddingDimension: 4)
        try store.save(outcome("a"))
        try store.close()
        let lookalike = dir.appendingPathComponent("log/+00000000008.jsonl")
        try Data("{\"delete\":{\"kind\":\"outcome\",\"scope\":\"p\",\"id\":\"a\"}}\n".utf8).write(to: lookalike)
        let reopened = try FileStore(directory: dir, embeddingDimension: 4)
        #expect(try reopened.get(RecordKey(.outcome, scope: "p", id: "a")) != nil)
        try reopened.close()
        #expect(FileManager.default.fileExists(atPath: lookalike.path))

        let user = temporaryDirectory()
        try FileManager.default.createDirectory(at: user.appendingPathComponent("log"), withIntermediateDirectories: true)
        try Data("app".utf8).write(to: user.appendingPathComponent("log/app.log"))
        #expect { try FileStore(directory: user, embeddingDimension: 4) } throws: { "\($0)".contains("not an Engram file store") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: user.path) == ["log"])
    }

    /// A snapshot that cannot be read is an error naming it, never taken as absent (the next
    /// compaction would then overwrite it), and a refused directory gets no store.json.
    @Test func anUnreadableSnapshotIsAnErrorNotAnEmptyStore() throws {
        let dir = temporaryDirectory()
        try FileStore(directory: dir, embeddingDimension: 4).close()
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("snapshot.jsonl"), withIntermediateDirectories: true)
        #expect { try FileStore(directory: dir, embeddingDimension: 4) } throws: { "\($0)".contains("snapshot.jsonl") }

        let fresh = temporaryDirectory()
        try FileManager.default.createDirectory(at: fresh.appendingPathComponent("log"), withIntermediateDirectories: true)
        try Data("{not json\n".utf8).write(to: fresh.appendingPathComponent("log/000000000001.jsonl"))
        #expect { try FileStore(directory: fresh, embeddingDimension: 4) } throws: { ($0 as? EngramError)?.code == .corrupt }
        #expect(!FileManager.default.fileExists(atPath: fresh.appendingPathComponent("store.json").path))
    }

    @Test func anotherDimensionIsAClearError() throws {
        let dir = temporaryDirectory()
        try FileStore(directory: dir, embeddingDimension: 4).close()
        #expect { try FileStore(directory: dir, embeddingDimension: 8) } throws: { ($0 as? EngramError)?.field == "embedding_dimension" }
    }

    /// A writer process killed with SIGKILL 50 times, each kill placed by the work it did
    /// (never by the clock): after 1–12 acknowledged saves, frozen inside the next save, the
    /// next delete, or right after an acknowledgement, and killed there. Every save it reported
    /// done is there after reopening, every delete it reported done is gone, and the store
    /// always opens. The kills must have landed inside both kinds of call.
    @Test func killNineFiftyTimesLosesNothingThatReturned() throws {
        let engram = engramExecutable()
        try #require(FileManager.default.isExecutableFile(atPath: engram.path), "build the engram product first (swift build --build-tests does)")
        let dir = temporaryDirectory()
        var rng = SeededGenerator(seed: 50)
        var acknowledged = Set<String>()
        var deleted = Set<String>()
        var killedInside = ["saving": 0, "deleting": 0]
        for round in 0..<50 {
            let child = try ChildProcess(executable: engram, arguments: ["files-writer", "--directory", dir.path, "--start", String(round * 100_000)])
            try #require(child.nextLine() == "ready", "round \(round): the writer did not open the store: \(child.errorText)")
            let aim = ["saving", "deleting", "saved"][round % 3]
            let after = 1 + Int(rng.next() % 12)
            var saved = 0
            while let line = child.nextLine() {
                if line.hasPrefix("saved ") { saved += 1 }
                guard saved >= after, line.hasPrefix(aim) else { continue }
                guard child.freeze() else { break }  // it exited: the expectation below reports it
                _ = child.availableLines()
                let last = child.lines.last ?? ""
                if aim == "saved" || last.hasPrefix("saving ") || last.hasPrefix("deleting ") { break }
                child.resume()  // the call finished before the freeze: aim at the next one
            }
            #expect(child.isRunning, "round \(round): the writer stopped by itself: \(child.errorText)")
            child.kill()
            var inFlight = Set<String>()
            for line in child.lines {
                let words = line.split(separator: " ").map(String.init)
                switch words.first {
                case "saved": acknowledged.formUnion(words.dropFirst())
                case "deleting": inFlight.formUnion(words.dropFirst())
                case "deleted":
                    deleted.formUnion(words.dropFirst())
                    inFlight.subtract(words.dropFirst())
                default: break
                }
            }
            if let verb = child.lines.last?.split(separator: " ").first.map(String.init), killedInside[verb] != nil { killedInside[verb]! += 1 }
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
        #expect(killedInside["saving"]! >= 1 && killedInside["deleting"]! >= 1, "kills inside a save and inside a delete: \(killedInside)")
    }

    /// Runs `engram files-writer --op OP` on `dir`, dying at write step `crashAt` (0 = never).
    /// Returns whether it finished (printed `done` and exited 0).
    func runOp(_ op: String, _ dir: URL, crashAt: Int = 0) throws -> Bool {
        let p = Process()
        p.executableURL = engramExecutable()
        p.arguments = ["files-writer", "--directory", dir.path, "--op", op, "--crash-at", String(crashAt)]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        if p.terminationReason == .uncaughtSignal {
            #expect(p.terminationStatus == SIGKILL, "\(op) at step \(crashAt): died by signal \(p.terminationStatus)")
            return false
        }
        #expect(p.terminationStatus == 0 && text == "done\n", "\(op) at step \(crashAt): exit \(p.terminationStatus), output \(text)")
        return true
    }

    /// Every record of the store in `dir`, in default order (all are outcomes of project p).
    func contents(_ dir: URL) throws -> [MemoryRecord] {
        let store = try FileStore(directory: dir, embeddingDimension: 8)
        defer { try? store.close() }
        return try store.query(MemoryQuery(kind: .outcome, projectId: "p", topK: 10_000)).map(\.record)
    }

    func copy(_ from: URL) throws -> URL {
        let to = temporaryDirectory()
        try FileManager.default.removeItem(at: to)
        try FileManager.default.copyItem(at: from, to: to)
        return to
    }

    /// A save, a batch, a delete, a prune and a compacting delete, each cut by SIGKILL at
    /// every one of its write steps in turn (create, write, fsync, rename and directory sync
    /// of each file; each unlink of compaction): after every cut the store opens in exactly
    /// the state before or after the call, twice in a row, with no temporaries left over.
    @Test(arguments: ["save", "batch", "delete", "prune", "compact"])
    func aCrashAtEveryWriteStepLeavesTheStateBeforeOrAfter(op: String) throws {
        try #require(FileManager.default.isExecutableFile(atPath: engramExecutable().path), "build the engram product first (swift build --build-tests does)")
        let base = temporaryDirectory()
        try #require(try runOp("setup", base))
        let before = try contents(try copy(base))
        let completed = try copy(base)
        try #require(try runOp(op, completed))
        let after = try contents(completed)
        #expect(before != after, "\(op) must change something")
        var cuts = 0, sawBefore = false, sawAfter = false
        for k in 1...500 {
            let dir = try copy(base)
            let finished = try runOp(op, dir, crashAt: k)
            let state = try contents(dir)
            if finished {
                #expect(state == after, "\(op) finished at step \(k) but the state is not the one after it")
                break
            }
            cuts += 1
            #expect(state == before || state == after, "\(op) cut at step \(k): the state is neither before nor after the call")
            if state == before { sawBefore = true } else if state == after { sawAfter = true }
            #expect(try contents(dir) == state, "\(op) cut at step \(k): a second recovery gives another state")
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path) + FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("log").path)
            #expect(!leftovers.contains { $0.hasPrefix(".engram-tmp-") }, "\(op) cut at step \(k): temporaries left after recovery: \(leftovers)")
        }
        #expect(cuts >= 4, "\(op): only \(cuts) write steps were cut")
        #expect(sawBefore && sawAfter, "\(op): the cuts should reach both sides of the commit (before: \(sawBefore), after: \(sawAfter))")
    }

    /// A power cut after compaction may keep any subset of its unlinks: log files that the
    /// snapshot includes are ignored (and removed) whichever of them come back.
    @Test func staleLogFilesFromBeforeASnapshotAreIgnored() throws {
        try #require(FileManager.default.isExecutableFile(atPath: engramExecutable().path))
        let base = temporaryDirectory()
        try #require(try runOp("setup", base))
        let logs = try FileManager.default.contentsOfDirectory(atPath: base.appendingPathComponent("log").path).sorted()
        #expect(logs.count == 8)
        let dir = try copy(base)
        try #require(try runOp("compact", dir))
        let after = try contents(dir)
        #expect(!after.contains { $0.id == "o1" })
        var rng = SeededGenerator(seed: 11)
        for round in 0..<20 {
            let trial = try copy(dir)
            let subset = logs.filter { _ in rng.next() % 2 == 0 || round == 0 }  // round 0: all of them
            for name in subset {
                try FileManager.default.copyItem(at: base.appendingPathComponent("log/\(name)"), to: trial.appendingPathComponent("log/\(name)"))
            }
            #expect(try contents(trial) == after, "round \(round): stale log files \(subset) changed the state")
            #expect(try FileManager.default.contentsOfDirectory(atPath: trial.appendingPathComponent("log").path).isEmpty, "stale log files are removed at open")
        }
    }

    func engramExecutable() -> URL { ChildProcess.builtProduct("engram") }
}
