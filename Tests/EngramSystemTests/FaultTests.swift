import EngramCore
import EngramFiles
import EngramSQLite
import Foundation
import Testing

/// A hostile file system: a full device, a read-only mount, a missing parent, a path of the
/// wrong type, a damaged database. Each gives a clear, typed error naming the file, loses
/// nothing acknowledged and modifies nothing.
@Suite struct FaultTests {
    /// The two durable embedded stores, opened at a path (a file or a directory).
    static let stores: [(name: String, open: @Sendable (String) throws -> any MemoryStore)] = [
        ("sqlite", { try SQLiteStore(path: $0 + "/memories.sqlite", embeddingDimension: 8) }),
        ("files", { try FileStore(directory: URL(fileURLWithPath: $0 + "/memories"), embeddingDimension: 8) }),
    ]

    func outcome(_ i: Int) -> Outcome {
        Outcome(id: "o\(i)", agent: "a", projectId: "p", taskType: "t", taskDescription: String(repeating: "d", count: 2_000), success: true,
                strategyUsed: "s", timestamp: Timestamp(microsecondsSinceEpoch: Int64(i)), embedding: (0..<8).map { Float(($0 + i) % 5) + 0.5 })
    }

    /// A small tmpfs of `megabytes`, unmounted when `body` returns.
    func withSmallDevice(megabytes: Int, _ body: (String) throws -> Void) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-tmpfs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try #require(run("/bin/mount", "-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", dir) == 0, "mount a tmpfs at \(dir)")
        defer {
            _ = run("/bin/umount", dir)
            try? FileManager.default.removeItem(atPath: dir)
        }
        try body(dir)
    }

    func run(_ args: String...) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: args[0])
        p.arguments = Array(args.dropFirst())
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Saves until the device is full: the failing save is `storage_full` and absent, every
    /// acknowledged save is present, reads go on, and once space is freed writes work again
    /// in the same open store; after reopening nothing acknowledged is missing.
    @Test(.enabled(if: getuid() == 0, "mounting a small tmpfs needs root; CI runs as root"), arguments: [0, 1])
    func aFullDiskIsATypedErrorAndLosesNothing(store index: Int) throws {
        let (name, open) = Self.stores[index]
        try withSmallDevice(megabytes: 3) { dir in
            let ballast = dir + "/ballast"
            try Data(count: 512 * 1024).write(to: URL(fileURLWithPath: ballast))
            let store = try open(dir)
            var acknowledged = 0
            var failure: EngramError?
            while failure == nil, acknowledged < 20_000 {
                do {
                    try store.save(outcome(acknowledged))
                    acknowledged += 1
                } catch let e as EngramError {
                    failure = e
                }
            }
            let e = try #require(failure, "\(name): the device never filled up")
            #expect(e.code == .storageFull, "\(name): \(e)")
            #expect(try store.get(RecordKey(.outcome, scope: "p", id: "o\(acknowledged)")) == nil, "\(name): the failed save left its record")
            #expect(try store.stats(projectId: "p", agent: nil).records[.outcome] == acknowledged, "\(name): reads after the failure")
            let hits = try store.query(MemoryQuery(kind: .outcome, projectId: "p", topK: 5, vector: outcome(1).embedding))
            #expect(hits.count == 5)
            try FileManager.default.removeItem(atPath: ballast)
            try store.save(outcome(acknowledged))  // space again: the same open store writes
            acknowledged += 1
            try store.close()
            let reopened = try open(dir)
            #expect(try reopened.stats(projectId: "p", agent: nil).records[.outcome] == acknowledged, "\(name): after reopening")
            for i in stride(from: 0, to: acknowledged, by: 97) {
                #expect(try reopened.get(RecordKey(.outcome, scope: "p", id: "o\(i)")) == .outcome(outcome(i)))
            }
            try reopened.close()
        }
    }

    /// A store reopened on a full device: SQLite cannot create its shared-memory file, and the
    /// open fails `storage_full` naming the file (not a bare I/O error); with space again it
    /// opens with everything it held.
    @Test(.enabled(if: getuid() == 0, "mounting a small tmpfs needs root; CI runs as root"))
    func openingOnAFullDeviceIsStorageFull() throws {
        try withSmallDevice(megabytes: 2) { dir in
            let open = Self.stores[0].open
            let store = try open(dir)
            for i in 0..<20 { try store.save(outcome(i)) }
            try store.close()
            let ballast = URL(fileURLWithPath: dir + "/ballast")
            try #require(FileManager.default.createFile(atPath: ballast.path, contents: nil))
            let h = try FileHandle(forWritingTo: ballast)
            while (try? h.write(contentsOf: Data(count: 4096))) != nil {}
            try? h.close()
            #expect { try open(dir) } throws: { error in
                let e = error as? EngramError
                return e?.code == .storageFull && "\(error)".contains(dir)
            }
            try FileManager.default.removeItem(at: ballast)
            let reopened = try open(dir)
            #expect(try reopened.stats(projectId: "p", agent: nil).records[.outcome] == 20)
            try reopened.close()
        }
    }

    /// A store on a device remounted read-only: opening fails naming the file, and nothing changes.
    @Test(.enabled(if: getuid() == 0, "remounting a tmpfs read-only needs root; CI runs as root"), arguments: [0, 1])
    func aReadOnlyDeviceIsAClearError(store index: Int) throws {
        let (name, open) = Self.stores[index]
        try withSmallDevice(megabytes: 4) { dir in
            let store = try open(dir)
            try store.save(outcome(1))
            try store.close()
            let before = try snapshot(dir)
            #expect(run("/bin/mount", "-o", "remount,ro", dir) == 0)
            #expect { try open(dir) } throws: { error in
                let e = error as? EngramError
                return e?.code == .unavailable && "\(error)".contains(dir)
            }
            #expect(try snapshot(dir) == before, "\(name): files changed on a read-only device")
        }
    }

    /// Every file under `dir` with its bytes.
    func snapshot(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for case let path as String in FileManager.default.enumerator(atPath: dir)! {
            let full = dir + "/" + path
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDir), !isDir.boolValue {
                out[path] = FileManager.default.contents(atPath: full)
            }
        }
        return out
    }

    @Test func aMissingParentOrAPathOfTheWrongTypeIsAClearError() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("engram-paths-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/adir", withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: root + "/afile"))
        let before = try snapshot(root)
        let cases: [(String, () throws -> Void)] = [
            (root + "/missing/memories.sqlite", { _ = try SQLiteStore(path: root + "/missing/memories.sqlite", embeddingDimension: 8) }),
            (root + "/adir", { _ = try SQLiteStore(path: root + "/adir", embeddingDimension: 8) }),
            (root + "/missing/memories", { _ = try FileStore(directory: URL(fileURLWithPath: root + "/missing/memories"), embeddingDimension: 8) }),
            (root + "/afile", { _ = try FileStore(directory: URL(fileURLWithPath: root + "/afile"), embeddingDimension: 8) }),
        ]
        for (path, attempt) in cases {
            #expect { try attempt() } throws: { error in
                (error as? EngramError)?.code == .unavailable && "\(error)".contains(path)
            }
        }
        #expect(try snapshot(root) == before)
        #expect(!FileManager.default.fileExists(atPath: root + "/missing"))
    }

    /// A database cut short (half its pages gone) fails the open as `corrupt`, naming the file, unchanged.
    @Test func aTruncatedDatabaseIsCorruptAndLeftAlone() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-trunc-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/memories.sqlite"
        let store = try SQLiteStore(path: path, embeddingDimension: 8)
        for chunk in 0..<5 { _ = try store.save((0..<200).map { MemoryRecord.outcome(outcome(chunk * 200 + $0)) }) }
        try store.close()
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        let cut = whole.prefix(whole.count / 2)
        try cut.write(to: URL(fileURLWithPath: path))
        #expect { try SQLiteStore(path: path, embeddingDimension: 8) } throws: { error in
            (error as? EngramError)?.code == .corrupt && "\(error)".contains(path)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == cut)
    }
}

/// The public API cannot skip validation: a program that calls a store's `validated…` entry
/// point does not compile without opting into the backend SPI, while the same program through
/// the front door does (so the check can pass, and its failure is the SPI's).
@Suite struct SealedAPI {
    func typecheck(_ body: String) throws -> (ok: Bool, output: String) {
        var root = URL(fileURLWithPath: #filePath)
        while !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) { root.deleteLastPathComponent() }
        let modules = root.appendingPathComponent(".build/debug/Modules")
        try #require(FileManager.default.fileExists(atPath: modules.appendingPathComponent("EngramReference.swiftmodule").path), "build the package first")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("engram-api-\(UUID().uuidString).swift")
        try Data("import EngramCore\nimport EngramReference\n\(body)\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["swiftc", "-typecheck", "-swift-version", "6", "-I", modules.path, file.path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus == 0, text)
    }

    @Test func validatedEntryPointsAreNotPublic() throws {
        let call = "func f(_ s: ReferenceStore, _ e: any StorageEngine, _ q: MemoryQuery) throws {\n"
        let front = try typecheck(call + "_ = try s.query(q); _ = try e.query(q) }")
        #expect(front.ok, "the front door must compile: \(front.output)")
        for bypass in ["_ = try s.validatedQuery(q) }", "_ = try e.validatedQuery(q) }", "_ = try s.validatedSave([]) }"] {
            let r = try typecheck(call + bypass)
            #expect(!r.ok && r.output.contains("validated"), "\(bypass) compiled: \(r.output)")
        }
    }
}
