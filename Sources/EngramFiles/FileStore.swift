@_spi(Engine) import EngramCore
import Foundation
import Glibc
import Synchronization

/// A store of human-readable JSON files in one directory.
///
/// Layout and why: `snapshot.jsonl` holds every live record, one JSON object per line,
/// after a header line naming the last log sequence it includes; `log/<sequence>.jsonl`
/// holds the changes since, one file per call (a save, a batch, a delete, a prune, an
/// update). Each file is written once, whole, through a temporary file, fsync, rename and a
/// directory fsync, so a process killed at any moment leaves either the old or the new
/// state, never a torn file, and a call that returned is on disk. A save therefore costs
/// one small file, not a rewrite of everything (the original rewrote a whole JSON array per
/// save: O(n), and duplicated records on re-save, review MED-001).
///
/// Recovery replays the snapshot, then only the log files with a sequence above the
/// snapshot's; older ones are already in it and are removed at open. So a crash during
/// compaction — or a power cut that kept some of compaction's unlinks and lost others —
/// cannot replay an old put over a newer delete. When the log holds more entries than the
/// snapshot has records (and at least `compactionMinimum`), the snapshot is rewritten and
/// the log cleared, which keeps the amortised cost of a save constant. A compaction that
/// fails (a full disk) does not fail the call that triggered it — that call's log file is
/// already its commit — and is retried later; `lastCompactionError` reports it.
///
/// One process at a time: an advisory lock (`flock`) on `.lock` refuses a second opener
/// with a clear error instead of letting two writers lose each other's changes. The store
/// touches only its own names: `store.json`, `snapshot.jsonl`, `.lock`, `log/NNN.jsonl`
/// and `.engram-tmp-<UUID>` temporaries; a non-empty directory that is not a file store is
/// refused.
public final class FileStore: InMemoryRecordEngine, @unchecked Sendable {
    // @unchecked: every mutable field is behind `state`.
    public let backendName = "files"
    public let directory: URL
    public let embeddingDimension: Int
    public var capabilities: Set<Capability> { [.durability, .vectorIntrospection] }
    /// Compaction runs when the log holds at least this many entries (and more than the records).
    let compactionMinimum: Int

    private struct State {
        var records: [RecordKey: MemoryRecord] = [:]
        /// The last log sequence included in the snapshot.
        var snapshotThrough = 0
        var nextSequence = 1
        var logEntries = 0
        var lockFD: Int32 = -1
        /// Why the last compaction failed, if it did; cleared by the next success.
        var compactionError: String?
        /// After a failed compaction, the next try waits until the log has grown this far.
        var compactionRetryAt = 0
    }
    private let state: GuardedState<State>

    static let snapshotName = "snapshot.jsonl"
    static let metaName = "store.json"
    static let tmpPrefix = ".engram-tmp-"

    /// Opens (or creates) the store in `directory`.
    public convenience init(directory: URL, embeddingDimension: Int = 384) throws {
        try self.init(directory: directory, embeddingDimension: embeddingDimension, compactionMinimum: 1_000)
    }

    package init(directory: URL, embeddingDimension: Int, compactionMinimum: Int) throws {
        try Validation.embeddingDimension(embeddingDimension)
        self.directory = directory
        self.embeddingDimension = embeddingDimension
        self.compactionMinimum = compactionMinimum
        try Self.checkOwnDirectory(directory)
        // The store's own directory and its log/ are created when missing; their parent is not
        // (a mistyped path is an error, not a new tree).
        for dir in [directory, directory.appendingPathComponent("log")] where !FileManager.default.fileExists(atPath: dir.path) {
            guard mkdir(dir.path, 0o755) == 0 || errno == EEXIST else { throw Self.osError("cannot create \(dir.path)") }
        }
        var s = State()
        s.lockFD = try FileLock.lock(directory.appendingPathComponent(".lock").path, busy: "the store directory \(directory.path) is in use by another process or store (its .lock is held)")
        do {
            let known = try Self.checkDimension(directory, embeddingDimension)
            try Self.load(directory, into: &s)
            if !known { try Self.writeMeta(directory, embeddingDimension) }
        } catch {
            FileLock.unlock(s.lockFD)
            throw error
        }
        state = GuardedState(s)
    }

    deinit { try? close() }

    /// Refuses a directory that holds files but is not a file store: the store would mix its
    /// files with the user's (and never removes what is not its own).
    private static func checkOwnDirectory(_ dir: URL) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir) else { return }
        guard isDir.boolValue else { throw EngramError(.unavailable, "\(dir.path) is not a directory") }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        if names.contains(metaName) { return }
        let inLog = (try? FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("log").path)) ?? []
        let foreign = names.filter { !["log", ".lock"].contains($0) && !isTemporary($0) }
            + inLog.filter { sequence(ofLogFile: $0) == nil && !isTemporary($0) }.map { "log/" + $0 }
        guard foreign.isEmpty else {
            throw EngramError(.unavailable, "\(dir.path) is not empty and holds no \(metaName): not an Engram file store (found \(foreign.sorted().prefix(3).joined(separator: ", ")))")
        }
    }

    /// Checks `store.json` against `dimension`; true when it exists (a new store writes it
    /// with `writeMeta` only once everything else has been read, so a refused directory keeps none).
    private static func checkDimension(_ dir: URL, _ dimension: Int) throws -> Bool {
        let meta = dir.appendingPathComponent(metaName)
        guard let data = try read(meta) else { return false }
        guard let v = try? JSONValue.parse(String(decoding: data, as: UTF8.self)), case .int(let d)? = v.objectValue?["embedding_dimension"] else {
            throw EngramError(.corrupt, "\(meta.path) line 1: expected {\"embedding_dimension\": n}")
        }
        guard Int(d) == dimension else {
            throw EngramError.invalid("embedding_dimension", "\(dir.path) holds embeddings of dimension \(d); the store was opened with \(dimension)")
        }
        return true
    }

    private static func writeMeta(_ dir: URL, _ dimension: Int) throws {
        let meta = JSONValue.object(["embedding_dimension": .int(Int64(dimension)), "format": .string("engram-files-1")])
        try atomicWrite(dir.appendingPathComponent(metaName), Data(meta.jsonText.utf8), directory: dir)
    }

    /// A file's bytes, or nil when it does not exist. Any other failure (permissions, I/O) is
    /// an error: treating an unreadable snapshot as absent would let compaction overwrite it.
    static func read(_ url: URL) throws -> Data? {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw osError("cannot read \(url.path)")
        }
        defer { Glibc.close(fd) }
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw osError("cannot read \(url.path)") }
            if n == 0 { return data }
            data.append(contentsOf: chunk[..<n])
        }
    }

    // MARK: files

    /// Whether `name` is one of this store's temporaries (`.engram-tmp-<UUID>`).
    static func isTemporary(_ name: String) -> Bool {
        name.hasPrefix(tmpPrefix) && UUID(uuidString: String(name.dropFirst(tmpPrefix.count))) != nil
    }

    /// The largest log sequence (far beyond any store's life: a million calls a second for
    /// thirty years); a larger one in a name or a snapshot header is corruption.
    static let maxSequence = 1_000_000_000_000_000

    /// A log file's name: its sequence in decimal, zero-padded to at least 12 digits.
    static func logName(_ sequence: Int) -> String {
        let digits = String(sequence)
        return String(repeating: "0", count: max(0, 12 - digits.count)) + digits + ".jsonl"
    }

    /// The sequence a log file name stands for (ASCII digits only, at least 12, then `.jsonl`), or nil.
    static func sequence(ofLogFile name: String) -> Int? {
        guard name.hasSuffix(".jsonl") else { return nil }
        let digits = name.utf8.dropLast(6)
        guard digits.count >= 12, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = Int(String(decoding: digits, as: UTF8.self)),
              n > 0, logName(n) == name else { return nil }
        return n
    }

    /// The log files in `logDir` by sequence; other names are not ours. A sequence beyond
    /// `maxSequence` is corruption (it could never have been written).
    private static func segments(_ logDir: URL) throws -> [(sequence: Int, name: String)] {
        let found = ((try? FileManager.default.contentsOfDirectory(atPath: logDir.path)) ?? []).compactMap { name in sequence(ofLogFile: name).map { ($0, name) } }
        if let bad = found.first(where: { $0.0 > maxSequence }) {
            throw EngramError(.corrupt, "\(logDir.path)/\(bad.1): a log sequence beyond \(maxSequence)")
        }
        return found.sorted { $0.0 < $1.0 }
    }

    /// Replays the snapshot, then the log files newer than it in sequence order; log files
    /// the snapshot already includes, and leftover temporaries (from a process killed
    /// mid-write: their calls never returned), are removed.
    private static func load(_ dir: URL, into s: inout State) throws {
        let logDir = dir.appendingPathComponent("log")
        s.snapshotThrough = try replay(dir.appendingPathComponent(snapshotName), into: &s, snapshot: true)
        s.nextSequence = s.snapshotThrough + 1
        var stale: [String] = []
        for (n, name) in try segments(logDir) {
            if n <= s.snapshotThrough { stale.append(name); continue }
            s.logEntries += try replay(logDir.appendingPathComponent(name), into: &s, snapshot: false)
            s.nextSequence = n + 1
        }
        for (folder, names) in [(dir, (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []),
                                (logDir, (try? FileManager.default.contentsOfDirectory(atPath: logDir.path)) ?? [])] {
            for name in names where isTemporary(name) { unlink(folder.appendingPathComponent(name).path) }
        }
        removeLogFiles(stale, in: logDir)
    }

    /// Unlinks `names` in `logDir`, then fsyncs the directory. A power cut may keep any
    /// subset of these unlinks; recovery ignores what is left (it is in the snapshot).
    private static func removeLogFiles(_ names: [String], in logDir: URL) {
        guard !names.isEmpty else { return }
        for name in names {
            unlink(logDir.appendingPathComponent(name).path)
            CrashPoints.shared.step()
        }
        syncDirectory(logDir)
    }

    /// Applies one file's lines: `{"put": {"kind", "record"}}` or `{"delete": {"kind", "scope", "id"}}`;
    /// a snapshot starts with `{"snapshot": {"through": n}}`. Returns the entries applied, or
    /// for a snapshot the sequence it includes (0 for a snapshot written before the header).
    private static func replay(_ file: URL, into s: inout State, snapshot: Bool) throws -> Int {
        guard let data = try read(file) else { return 0 }
        var count = 0, through = 0
        for (i, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            do {
                if snapshot, i == 0, line.hasPrefix("{\"snapshot\"") {
                    guard case .int(let n)? = try JSONValue.parse(String(line)).objectValue?["snapshot"]?.objectValue?["through"],
                          n >= 0, n <= maxSequence else {
                        throw EngramError(.corrupt, "the header has no \"through\" sequence in 0...\(maxSequence)")
                    }
                    through = Int(n)
                    continue
                }
                switch try Entry(line: line) {
                case .put(let r): s.records[r.key] = r
                case .delete(let k): s.records.removeValue(forKey: k)
                }
                count += 1
            } catch {
                throw EngramError(.corrupt, "\(file.path) line \(i + 1): not a valid Engram entry (\(error))")
            }
        }
        return snapshot ? through : count
    }

    /// Writes `data` to `url` through a temporary file, fsync, rename and a directory fsync.
    /// Throws `storage_full` when the device or quota is full; nothing is left behind then.
    static func atomicWrite(_ url: URL, _ data: Data, directory: URL) throws {
        let tmp = directory.appendingPathComponent(tmpPrefix + UUID().uuidString)
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw osError("cannot create \(tmp.path)") }
        CrashPoints.shared.step()
        var failure: Int32 = 0
        data.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                let n = write(fd, buf.baseAddress! + off, buf.count - off)
                if n < 0, errno == EINTR { continue }
                if n <= 0 { failure = n < 0 ? errno : EIO; return }
                off += n
            }
        }
        CrashPoints.shared.step()
        if failure == 0, fsync(fd) != 0 { failure = errno }
        Glibc.close(fd)
        CrashPoints.shared.step()
        if failure == 0, rename(tmp.path, url.path) != 0 { failure = errno }
        guard failure == 0 else {
            unlink(tmp.path)
            errno = failure
            throw osError("cannot write \(url.path)")
        }
        CrashPoints.shared.step()
        syncDirectory(directory)
    }

    private static func syncDirectory(_ directory: URL) {
        let dfd = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            Glibc.close(dfd)
        }
        CrashPoints.shared.step()
    }

    /// An error for the current `errno`: `storage_full` for ENOSPC/EDQUOT, else `unavailable`.
    private static func osError(_ what: String) -> EngramError {
        let e = errno
        let code: EngramError.Code = (e == ENOSPC || e == EDQUOT) ? .storageFull : .unavailable
        return EngramError(code, "\(what): \(String(cString: strerror(e)))", nativeCode: "errno \(e)")
    }

    private static func lines(_ entries: some Sequence<Entry>, header: String? = nil) -> Data {
        var text = Data()
        if let header { text.append(contentsOf: header.utf8); text.append(10) }
        for e in entries {
            text.append(contentsOf: e.line.utf8)
            text.append(10)
        }
        return text
    }

    /// Commits `entries` as one log file, then applies them in memory; compacts when due.
    /// When the log write fails nothing has changed; once it succeeded the call has committed.
    private func commit(_ s: inout State, _ entries: [Entry]) throws {
        guard !entries.isEmpty else { return }
        let text = Self.lines(entries)
        let logDir = directory.appendingPathComponent("log")
        try Self.atomicWrite(logDir.appendingPathComponent(Self.logName(s.nextSequence)), text, directory: logDir)
        s.nextSequence += 1
        for e in entries {
            switch e {
            case .put(let r): s.records[r.key] = r
            case .delete(let k): s.records.removeValue(forKey: k)
            }
        }
        s.logEntries += entries.count
        if s.logEntries >= max(compactionMinimum, s.records.count, s.compactionRetryAt) { compact(&s) }
    }

    /// Rewrites the snapshot from memory (through the last log sequence), then removes the
    /// log files it includes. Never throws: a failure leaves the log in charge, is reported
    /// by `lastCompactionError`, and is retried once the log has grown by another quarter.
    private func compact(_ s: inout State) {
        let through = s.nextSequence - 1
        do {
            let header = JSONValue.object(["snapshot": .object(["through": .int(Int64(through)), "format": .string("engram-files-1")])]).jsonText
            let text = Self.lines(s.records.values.sorted(by: { $0.key.description < $1.key.description }).lazy.map(Entry.put), header: header)
            try Self.atomicWrite(directory.appendingPathComponent(Self.snapshotName), text, directory: directory)
        } catch {
            s.compactionError = (error as? EngramError)?.description ?? "\(error)"
            s.compactionRetryAt = s.logEntries + max(compactionMinimum, s.logEntries) / 4
            return
        }
        s.snapshotThrough = through
        s.compactionError = nil
        s.compactionRetryAt = 0
        s.logEntries = 0
        let logDir = directory.appendingPathComponent("log")
        Self.removeLogFiles(((try? Self.segments(logDir)) ?? []).filter { $0.sequence <= through }.map(\.name), in: logDir)
    }

    /// Why the last compaction failed (say a full disk), or nil. The store stays correct
    /// without compaction; its log only grows until a compaction succeeds.
    public var lastCompactionError: String? { state.withLock { $0.compactionError } }

    // MARK: MemoryStore

    @_spi(Engine) public func validatedSave(_ records: [MemoryRecord]) throws -> [String] {
        try state.withOpen { s in try commit(&s, records.map(Entry.put)) }
        return records.map(\.id)
    }

    @_spi(Engine) public func scan<T: Sendable>(_ body: ([RecordKey: MemoryRecord]) throws -> T) throws -> T {
        try state.withOpen { try body($0.records) }
    }

    /// Applies `change` to one stored record and logs the result; false if it is missing
    /// (or `change` returns nil).
    @_spi(Engine) public func modify(_ key: RecordKey, _ change: (MemoryRecord) throws -> MemoryRecord?) throws -> Bool {
        return try state.withOpen { s in
            guard let current = s.records[key], let next = try change(current) else { return false }
            try commit(&s, [.put(next)])
            return true
        }
    }

    @_spi(Engine) public func validatedDelete(_ key: RecordKey) throws -> Bool {
        return try state.withOpen { s in
            guard s.records[key] != nil else { return false }
            try commit(&s, [.delete(key)])
            return true
        }
    }

    /// Removes every record `predicate` accepts, in one log file.
    @_spi(Engine) public func remove(where predicate: (MemoryRecord) -> Bool) throws -> Int {
        try state.withOpen { s in
            let doomed = s.records.values.filter(predicate).map(\.key)
            try commit(&s, doomed.map(Entry.delete))
            return doomed.count
        }
    }

    public func close() throws {
        state.close { s in
            s.records.removeAll()
            FileLock.unlock(s.lockFD)
            s.lockFD = -1
        }
    }
}

/// Vectors live inside the records, so the two counts agree by construction.
extension FileStore: VectorIntrospecting {}

/// One line of a log or snapshot file: `{"put":{"kind":K,"record":{...}}}`, the record in its
/// schema's JSON form, or `{"delete":{"id":I,"kind":K,"scope":S}}`.
enum Entry {
    case put(MemoryRecord)
    case delete(RecordKey)

    init(line: Substring) throws {
        let o = try JSONValue.parse(String(line)).objectValue
        if case .object(let put)? = o?["put"], case .string(let k)? = put["kind"], let kind = MemoryKind(rawValue: k), let record = put["record"] {
            self = .put(try kind.schema.record(json: record))
        } else if case .object(let d)? = o?["delete"], case .string(let k)? = d["kind"], let kind = MemoryKind(rawValue: k),
                  case .string(let scope)? = d["scope"], case .string(let id)? = d["id"] {
            self = .delete(RecordKey(kind, scope: scope, id: id))
        } else {
            throw EngramError(.corrupt, "neither a put nor a delete")
        }
    }

    var line: String {
        switch self {
        case .put(let r):
            "{\"put\":{\"kind\":\"\(r.kind.rawValue)\",\"record\":\(r.kind.schema.jsonText(r))}}"
        case .delete(let k):
            JSONValue.object(["delete": .object(["id": .string(k.id), "kind": .string(k.kind.rawValue), "scope": .string(k.scope)])]).jsonText
        }
    }
}

/// Numbered points where a file-store write can be cut short (after creating, writing,
/// syncing and renaming a file, after each unlink and directory sync). The crash test sets
/// `target` in a child process (`engram files-writer --crash-at k`), which then dies by
/// SIGKILL at step k, so that every step of a save, a batch, a delete and a compaction is
/// tried, not only random moments.
package final class CrashPoints: Sendable {
    package static let shared = CrashPoints()
    private let counter = Atomic<Int>(0)
    private let target = Atomic<Int>(0)

    /// Sets the step to die at; 0 for never.
    package func crash(atStep k: Int) { target.store(k, ordering: .relaxed) }
    func step() {
        let t = target.load(ordering: .relaxed)
        guard t > 0 else { return }
        if counter.add(1, ordering: .relaxed).newValue == t { kill(getpid(), SIGKILL) }
    }
}

extension FileStore: DiskUsageReporting {
    /// Every file under the store's directory (snapshot, log, lock).
    public func diskBytes() throws -> Int {
        guard let files = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.fileSizeKey]) else { return 0 }
        var total = 0
        for case let url as URL in files { total += (try? url.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0 }
        return total
    }
}
