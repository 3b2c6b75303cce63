import EngramCore
import Foundation
import Glibc
import Synchronization

/// A store of human-readable JSON files in one directory.
///
/// Layout and why: `snapshot.jsonl` holds every live record, one JSON object per line, and
/// `log/<sequence>.jsonl` holds the changes since, one file per call (a save, a batch, a
/// delete, a prune, an update). Each file is written once, whole, through a temporary file,
/// fsync, rename and a directory fsync, so a process killed at any moment leaves either the
/// old or the new state, never a torn file, and a call that returned is on disk. A save
/// therefore costs one small file, not a rewrite of everything (the original rewrote a
/// whole JSON array per save: O(n), and duplicated records on re-save, review MED-001).
/// When the log holds more entries than the snapshot has records (and at least 1,000),
/// the snapshot is rewritten and the log cleared, which keeps the amortised cost of a save
/// constant. Reads and searches run on the records in memory (exact cosine scan).
///
/// One process at a time: an advisory lock (`flock`) on `.lock` refuses a second opener
/// with a clear error instead of letting two writers lose each other's changes.
public final class FileStore: MemoryStore, @unchecked Sendable {
    // @unchecked: every mutable field is behind `state`.
    public let backendName = "files"
    public let directory: URL
    public let embeddingDimension: Int
    public var capabilities: Set<Capability> { [.durability, .vectorIntrospection] }

    private struct State {
        var records: [RecordKey: MemoryRecord] = [:]
        var nextSequence = 1
        var logEntries = 0
        var lockFD: Int32 = -1
        var closed = false
    }
    private let state: Mutex<State>

    /// Opens (or creates) the store in `directory`.
    public init(directory: URL, embeddingDimension: Int = 384) throws {
        self.directory = directory
        self.embeddingDimension = embeddingDimension
        let fm = FileManager.default
        do { try fm.createDirectory(at: directory.appendingPathComponent("log"), withIntermediateDirectories: true) } catch {
            throw EngramError(.unavailable, "cannot create \(directory.path): \(error)")
        }
        var s = State()
        s.lockFD = try Self.lock(directory.appendingPathComponent(".lock").path)
        do {
            try Self.checkDimension(directory, embeddingDimension)
            try Self.load(directory, into: &s)
        } catch {
            Glibc.close(s.lockFD)
            throw error
        }
        state = Mutex(s)
    }

    deinit { try? close() }

    private static func lock(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EngramError(.unavailable, "cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            Glibc.close(fd)
            throw EngramError(.unavailable, "the store directory is in use by another process (lock \(path) is held)")
        }
        return fd
    }

    private static func checkDimension(_ dir: URL, _ dimension: Int) throws {
        let meta = dir.appendingPathComponent("store.json")
        if let data = FileManager.default.contents(atPath: meta.path) {
            guard let v = try? JSONValue.parse(String(decoding: data, as: UTF8.self)), case .int(let d)? = v.objectValue?["embedding_dimension"] else {
                throw EngramError(.corrupt, "\(meta.path) line 1: expected {\"embedding_dimension\": n}")
            }
            guard Int(d) == dimension else {
                throw EngramError.invalid("embedding_dimension", "\(dir.path) holds embeddings of dimension \(d); the store was opened with \(dimension)")
            }
        } else {
            try atomicWrite(meta, Data(JSONValue.object(["embedding_dimension": .int(Int64(dimension)), "format": .string("engram-files-1")]).jsonText.utf8), directory: dir)
        }
    }

    // MARK: files

    /// Replays the snapshot, then the log in sequence order. Leftover temporary files
    /// (from a process killed mid-write) are removed: their calls never returned.
    private static func load(_ dir: URL, into s: inout State) throws {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: dir.path)) ?? [] where name.hasPrefix(".tmp-") {
            try? fm.removeItem(at: dir.appendingPathComponent(name))
        }
        let logDir = dir.appendingPathComponent("log")
        for name in (try? fm.contentsOfDirectory(atPath: logDir.path)) ?? [] where name.hasPrefix(".tmp-") {
            try? fm.removeItem(at: logDir.appendingPathComponent(name))
        }
        try replay(dir.appendingPathComponent("snapshot.jsonl"), into: &s)
        let segments = ((try? fm.contentsOfDirectory(atPath: logDir.path)) ?? [])
            .compactMap { name -> (Int, String)? in
                guard name.hasSuffix(".jsonl"), let n = Int(name.dropLast(6)) else { return nil }
                return (n, name)
            }.sorted { $0.0 < $1.0 }
        for (n, name) in segments {
            s.logEntries += try replay(logDir.appendingPathComponent(name), into: &s)
            s.nextSequence = n + 1
        }
    }

    /// Applies one file's lines: `{"put": {"kind", "record"}}` or `{"delete": {"kind", "scope", "id"}}`.
    @discardableResult
    private static func replay(_ file: URL, into s: inout State) throws -> Int {
        guard let data = FileManager.default.contents(atPath: file.path) else { return 0 }
        var count = 0
        for (i, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            do {
                let entry = try JSONDecoder().decode(Entry.self, from: Data(line.utf8))
                switch entry {
                case .put(let r): s.records[r.key] = r
                case .delete(let k): s.records.removeValue(forKey: k)
                }
                count += 1
            } catch {
                throw EngramError(.corrupt, "\(file.path) line \(i + 1): not a valid Engram entry (\(error))")
            }
        }
        return count
    }

    /// Writes `data` to `url` through a temporary file, fsync, rename and a directory fsync.
    static func atomicWrite(_ url: URL, _ data: Data, directory: URL) throws {
        let tmp = directory.appendingPathComponent(".tmp-\(UUID().uuidString)")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EngramError(.unavailable, "cannot create \(tmp.path): \(String(cString: strerror(errno)))") }
        var ok = data.withUnsafeBytes { buf -> Bool in
            var off = 0
            while off < buf.count {
                let n = write(fd, buf.baseAddress! + off, buf.count - off)
                if n <= 0 { return false }
                off += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        Glibc.close(fd)
        guard ok, rename(tmp.path, url.path) == 0 else {
            let why = String(cString: strerror(errno))
            unlink(tmp.path)
            throw EngramError(.unavailable, "cannot write \(url.path): \(why)")
        }
        let dfd = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            Glibc.close(dfd)
        }
    }

    /// Commits `entries` as one log file, then applies them in memory; compacts when due.
    private func commit(_ s: inout State, _ entries: [Entry]) throws {
        guard !entries.isEmpty else { return }
        guard !s.closed else { throw EngramError(.unavailable, "the store is closed") }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var text = Data()
        for e in entries {
            text.append(try encoder.encode(e))
            text.append(10)
        }
        let logDir = directory.appendingPathComponent("log")
        try Self.atomicWrite(logDir.appendingPathComponent(String(format: "%012d.jsonl", s.nextSequence)), text, directory: logDir)
        s.nextSequence += 1
        for e in entries {
            switch e {
            case .put(let r): s.records[r.key] = r
            case .delete(let k): s.records.removeValue(forKey: k)
            }
        }
        s.logEntries += entries.count
        if s.logEntries >= max(1_000, s.records.count) { try compact(&s) }
    }

    /// Rewrites the snapshot from memory and clears the log. A crash in between leaves the
    /// new snapshot plus log files that replay to the same state (puts and deletes are idempotent).
    private func compact(_ s: inout State) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var text = Data()
        for r in s.records.values.sorted(by: { $0.key.description < $1.key.description }) {
            text.append(try encoder.encode(Entry.put(r)))
            text.append(10)
        }
        try Self.atomicWrite(directory.appendingPathComponent("snapshot.jsonl"), text, directory: directory)
        let logDir = directory.appendingPathComponent("log")
        for name in (try? FileManager.default.contentsOfDirectory(atPath: logDir.path)) ?? [] where name.hasSuffix(".jsonl") {
            unlink(logDir.appendingPathComponent(name).path)
        }
        s.logEntries = 0
    }

    private func withState<T>(_ body: (inout State) throws -> T) throws -> T {
        try state.withLock { s in
            guard !s.closed else { throw EngramError(.unavailable, "the store is closed") }
            return try body(&s)
        }
    }

    // MARK: MemoryStore

    public func save(_ records: [MemoryRecord]) throws -> [String] {
        try Validation.batch(records, dimension: embeddingDimension)
        try withState { s in try commit(&s, records.map(Entry.put)) }
        return records.map(\.id)
    }

    public func get(_ key: RecordKey) throws -> MemoryRecord? {
        try Validation.key(key)
        return try withState { $0.records[key] }
    }

    public func query(_ q: MemoryQuery) throws -> [ScoredRecord] {
        try Validation.query(q, dimension: embeddingDimension)
        return q.rank(try withState { s in s.records.values.filter { q.matches($0) } })
    }

    public func queryPreferences(userId: String, category: String?) throws -> [UserPreference] {
        try Validation.id(userId, field: "user_id")
        let prefs = try withState { s in
            s.records.values.compactMap(\.userPreference).filter { $0.userId == userId && (category == nil || $0.category == category) }
        }
        return prefs.map(MemoryRecord.userPreference).sorted(by: MemoryKind.defaultOrder).compactMap(\.userPreference)
    }

    /// Applies `change` to one stored record and logs the result; false if it is missing
    /// (or `change` returns nil).
    private func modify(_ key: RecordKey, _ change: (MemoryRecord) throws -> MemoryRecord?) throws -> Bool {
        try Validation.key(key)
        return try withState { s in
            guard let current = s.records[key], let next = try change(current) else { return false }
            try commit(&s, [.put(next)])
            return true
        }
    }

    public func updateHeuristic(projectId: String, id: String, patch: HeuristicPatch) throws -> Bool {
        try Validation.patch(patch, dimension: embeddingDimension)
        return try modify(RecordKey(.heuristic, scope: projectId, id: id)) { try $0.patched(patch) }
    }

    public func incrementHeuristicOccurrence(projectId: String, id: String, success: Bool) throws -> Bool {
        try modify(RecordKey(.heuristic, scope: projectId, id: id)) { $0.incrementingOccurrence(success: success) }
    }

    public func updateHeuristicConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try Validation.confidence(confidence)
        return try modify(RecordKey(.heuristic, scope: projectId, id: id)) { $0.settingConfidence(confidence) }
    }

    public func updateKnowledgeConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try Validation.confidence(confidence)
        return try modify(RecordKey(.domainKnowledge, scope: projectId, id: id)) { $0.settingConfidence(confidence) }
    }

    public func delete(_ key: RecordKey) throws -> Bool {
        try Validation.key(key)
        return try withState { s in
            guard s.records[key] != nil else { return false }
            try commit(&s, [.delete(key)])
            return true
        }
    }

    private func deleteWhere(_ predicate: (MemoryRecord) -> Bool) throws -> Int {
        try withState { s in
            let doomed = s.records.values.filter(predicate).map(\.key)
            try commit(&s, doomed.map(Entry.delete))
            return doomed.count
        }
    }

    public func deleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> Int {
        try Validation.id(projectId, field: "project_id")
        return try deleteWhere { $0.isPrunedOutcome(projectId: projectId, olderThan: olderThan, agent: agent) }
    }

    public func deleteHeuristics(projectId: String, confidenceBelow: Double, agent: String?) throws -> Int {
        try Validation.id(projectId, field: "project_id")
        try Validation.threshold(confidenceBelow, field: "below")
        return try deleteWhere { $0.isPrunedHeuristic(projectId: projectId, confidenceBelow: confidenceBelow, agent: agent) }
    }

    public func stats(projectId: String, agent: String?) throws -> StoreStats {
        try Validation.id(projectId, field: "project_id")
        return try withState { s in StoreStats.counting(s.records.values, projectId: projectId, agent: agent) }
    }

    public func close() throws {
        state.withLock { s in
            guard !s.closed else { return }
            s.closed = true
            s.records.removeAll()
            if s.lockFD >= 0 { Glibc.close(s.lockFD) }
            s.lockFD = -1
        }
    }
}

extension FileStore: VectorIntrospecting {
    /// Vectors live inside the records (files and memory): the embeddings held, all scopes.
    public func vectorsHeld() throws -> [MemoryKind: Int] { try recordsWithEmbedding() }

    public func recordsWithEmbedding() throws -> [MemoryKind: Int] {
        try withState { s in
            var out: [MemoryKind: Int] = [:]
            for kind in MemoryKind.vectorKinds { out[kind] = 0 }
            for r in s.records.values where r.embedding != nil { out[r.kind, default: 0] += 1 }
            return out
        }
    }
}

/// One line of a log or snapshot file.
enum Entry: Codable {
    case put(MemoryRecord)
    case delete(RecordKey)

    enum Keys: String, CodingKey { case put, delete }
    struct KeyFields: Codable { let kind: MemoryKind; let scope: String; let id: String }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        if let r = try c.decodeIfPresent(MemoryRecord.self, forKey: .put) {
            self = .put(r)
        } else {
            let k = try c.decode(KeyFields.self, forKey: .delete)
            self = .delete(RecordKey(k.kind, scope: k.scope, id: k.id))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        switch self {
        case .put(let r): try c.encode(r, forKey: .put)
        case .delete(let k): try c.encode(KeyFields(kind: k.kind, scope: k.scope, id: k.id), forKey: .delete)
        }
    }
}
