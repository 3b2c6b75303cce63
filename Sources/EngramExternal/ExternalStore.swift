import EngramCore
import Foundation
import Synchronization

/// A backend in another process and language, driven over the adapter protocol
/// (docs/adapter-protocol.md): one JSON request per line on the adapter's stdin, one JSON
/// response per line on its stdout, stderr passed to `log`.
///
/// Every protocol fault — an adapter that does not start, prints something that is not
/// JSON, answers with the wrong id, does not answer within `timeout`, or exits — becomes an
/// `EngramError` (`unavailable` or `internal`) naming what went wrong; the adapter is then
/// stopped, and a new store (a new scenario) starts a new one.
public final class ExternalStore: StorageEngine, @unchecked Sendable {
    // @unchecked: all mutable state (`nextId`, the process) is used under `lock`.
    public struct Configuration: Sendable {
        /// The shell command that starts the adapter.
        public var command: String
        /// Seconds to wait for each response (the protocol's default is 30).
        public var timeout: Double = 30
        /// Whether calls are validated here before they are sent (true: a request that breaks
        /// the contract never reaches the adapter). A conformance run turns it off so that the
        /// adapter's own validation is what the suite checks; a batch of several kinds is still
        /// checked here whole first, since the protocol has no transaction across kinds.
        public var validatesLocally = true
        /// The longest response line accepted, in bytes (256 MiB); a longer one is a protocol
        /// error and stops the adapter, instead of growing memory without bound.
        public var maxResponseBytes = 256 << 20
        /// Where the adapter's stderr goes, line by line.
        public var log: @Sendable (String) -> Void = { line in FileHandle.standardError.write(Data("[adapter] \(line)\n".utf8)) }
        public init(command: String) { self.command = command }
    }

    public let configuration: Configuration
    public let backendName: String
    public let embeddingDimension: Int
    public let capabilities: Set<Capability>
    /// The adapter's name and version from `hello`.
    public let adapterVersion: String
    private let lock = Mutex(0)
    private var process: AdapterProcess?

    /// Starts the adapter, says hello and resets it to an empty store.
    public init(_ configuration: Configuration) throws {
        self.configuration = configuration
        process = try AdapterProcess(command: configuration.command, maxLineBytes: configuration.maxResponseBytes, log: configuration.log)
        var hello: JSONValue = .null
        var dimension = 0
        var caps: Set<Capability> = []
        var name = "external"
        do {
            hello = try Self.exchange(process!, id: 0, op: "hello", args: "{}", timeout: configuration.timeout)
            guard let o = hello.objectValue, case .int(let d)? = o["embedding_dim"], d >= 1 else {
                throw EngramError(.internal, "hello: expected {name, version, embedding_dim, capabilities}, got \(hello.jsonText.prefix(200))")
            }
            dimension = Int(d)
            if case .string(let n)? = o["name"] { name = n }
            if case .array(let list)? = o["capabilities"] {
                for case .string(let c) in list { caps.insert(Capability(rawValue: c)) }
            }
            _ = try Self.exchange(process!, id: 1, op: "reset", args: "{}", timeout: configuration.timeout)
        } catch {
            process?.terminate(grace: 0)
            throw error
        }
        backendName = name
        embeddingDimension = dimension
        capabilities = caps.intersection([.vectorIntrospection])  // durability needs a reopen the protocol has no op for
        if case .string(let v)? = hello.objectValue?["version"] { adapterVersion = "\(name) \(v)" } else { adapterVersion = name }
        lock.withLock { $0 = 2 }
    }

    public convenience init(command: String, timeout: Double = 30) throws {
        var c = Configuration(command: command)
        c.timeout = timeout
        try self.init(c)
    }

    public var validatesInput: Bool { configuration.validatesLocally }

    /// Sends one request and returns its `result`.
    private func call(_ op: String, _ args: String) throws -> JSONValue {
        try lock.withLock { next in
            guard let p = process else { throw EngramError(.unavailable, "the adapter was stopped after an earlier failure") }
            defer { next += 1 }
            do {
                return try Self.exchange(p, id: next, op: op, args: args, timeout: configuration.timeout)
            } catch let e as EngramError where e.code == .unavailable || e.message.hasPrefix("protocol:") {
                p.terminate(grace: 0)
                process = nil
                throw e
            }
        }
    }

    private static func exchange(_ p: AdapterProcess, id: Int, op: String, args: String, timeout: Double) throws -> JSONValue {
        try p.send("{\"id\":\(id),\"op\":\"\(op)\",\"args\":\(args)}", timeout: timeout)
        guard let line = try p.receive(timeout: timeout) else {
            throw EngramError(.unavailable, "the adapter exited before answering '\(op)'")
        }
        let response: JSONValue
        do { response = try JSONValue.parse(line) } catch {
            throw EngramError(.internal, "protocol: the adapter's answer to '\(op)' is not JSON: \(line.prefix(120))")
        }
        guard let o = response.objectValue else { throw EngramError(.internal, "protocol: the answer to '\(op)' is not a JSON object") }
        guard case .int(let rid)? = o["id"], rid == id else {
            throw EngramError(.internal, "protocol: the answer to '\(op)' has id \(o["id"]?.jsonText ?? "none"), expected \(id)")
        }
        if case .bool(true)? = o["ok"] { return o["result"] ?? .null }
        guard case .object(let err)? = o["error"] else { throw EngramError(.internal, "protocol: the answer to '\(op)' has neither ok: true nor an error") }
        // The adapter's words reach terminals and reports: control characters out, length bounded.
        func str(_ k: String, _ limit: Int) -> String? {
            guard case .string(let s)? = err[k] else { return nil }
            let clean = String(String.UnicodeScalarView(s.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : $0 }))
            return clean.count > limit ? String(clean.prefix(limit)) + "…" : clean
        }
        let code = EngramError.Code(rawValue: str("code", 64) ?? "internal")
        return try { throw EngramError(code, field: str("field", 64), str("message", 1_000) ?? "adapter error", nativeCode: str("code", 64)) }()
    }

    // MARK: JSON helpers

    /// Numbers JSON cannot carry (they reach the adapter only when `validatesLocally` is off,
    /// to be rejected there) are written as the tokens `NaN`, `Infinity` and `-Infinity`,
    /// as Python's json module and JSON5 read them; the encoder marks them first.
    private static let nonFinite = (nan: "\u{1}engram-NaN\u{1}", inf: "\u{1}engram-Infinity\u{1}", negInf: "\u{1}engram--Infinity\u{1}")

    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: nonFinite.inf, negativeInfinity: nonFinite.negInf, nan: nonFinite.nan)
        return e
    }()

    private func json<T: Encodable>(_ v: T) throws -> String {
        Self.replacingNonFiniteMarks(String(decoding: try Self.encoder.encode(v), as: UTF8.self))
    }

    private static func replacingNonFiniteMarks(_ text: String) -> String {
        guard text.contains("\\u0001engram-") else { return text }
        var text = text
        for (mark, token) in [(nonFinite.nan, "NaN"), (nonFinite.inf, "Infinity"), (nonFinite.negInf, "-Infinity")] {
            text = text.replacingOccurrences(of: "\"" + mark.replacingOccurrences(of: "\u{1}", with: "\\u0001") + "\"", with: token)
        }
        return text
    }

    /// A number as the protocol writes it: shortest JSON text, or a non-finite token.
    static func number(_ d: Double) -> String {
        d.isNaN ? "NaN" : d.isInfinite ? (d < 0 ? "-Infinity" : "Infinity") : JSONValue.double(d).jsonText
    }
    private func str(_ s: String) -> String { JSONValue.string(s).jsonText }

    /// A record in the protocol's snake_case JSON. Embeddings are written by hand: a
    /// Float's shortest text, which parses as a double and back without loss, and keeps -0.0
    /// (JSONEncoder writes `-0`, which Python reads as the integer 0).
    private func recordJSON(_ r: MemoryRecord) throws -> String {
        // The fields by the encoder; metadata and embedding written here, so that neither the
        // encoder's nesting limit nor its non-finite rules change what is sent.
        func bare<T: Encodable>(_ x: T) throws -> String { String(decoding: try Self.encoder.encode(x), as: UTF8.self) }
        let text: String = switch r {
        case .heuristic(var x): try { x.embedding = nil; x.metadata = .emptyObject; return try bare(x) }()
        case .outcome(var x): try { x.embedding = nil; x.metadata = .emptyObject; return try bare(x) }()
        case .domainKnowledge(var x): try { x.embedding = nil; x.metadata = .emptyObject; return try bare(x) }()
        case .antiPattern(var x): try { x.embedding = nil; x.metadata = .emptyObject; return try bare(x) }()
        case .userPreference(var x): try { x.metadata = .emptyObject; return try bare(x) }()
        }
        guard case .object(var o) = try JSONValue.parse(text) else { throw EngramError(.internal, "a record did not encode as a JSON object") }
        o["embedding"] = nil
        o["metadata"] = nil
        var out = String(JSONValue.object(o).jsonText.dropLast())
        out += (o.isEmpty ? "" : ",") + "\"metadata\":" + r.metadata.jsonTextWithNonFiniteTokens
        if let e = r.embedding { out += ",\"embedding\":" + Self.vector(e) }
        return Self.replacingNonFiniteMarks(out + "}")
    }

    static func vector(_ v: [Float]) -> String { "[" + v.map { $0.isFinite ? "\($0)" : number(Double($0)) }.joined(separator: ",") + "]" }

    private func decodeRecord(_ kind: MemoryKind, _ v: JSONValue) throws -> MemoryRecord {
        struct Wrapper: Decodable {
            let record: MemoryRecord
            init(from decoder: any Decoder) throws {
                let kind = decoder.userInfo[CodingUserInfoKey(rawValue: "kind")!] as! MemoryKind
                record = try MemoryRecord.decode(kind: kind, from: decoder)
            }
        }
        let decoder = JSONDecoder()
        decoder.userInfo[CodingUserInfoKey(rawValue: "kind")!] = kind
        do { return try decoder.decode(Wrapper.self, from: Data(v.jsonText.utf8)).record } catch {
            throw EngramError(.internal, "protocol: the adapter returned a \(kind.rawValue) that does not decode: \(error)")
        }
    }

    private func bool(_ v: JSONValue, _ op: String) throws -> Bool {
        guard case .bool(let b) = v else { throw EngramError(.internal, "protocol: '\(op)' returned \(v.jsonText.prefix(80)), expected a bool") }
        return b
    }

    private func int(_ v: JSONValue, _ op: String) throws -> Int {
        guard case .int(let i) = v else { throw EngramError(.internal, "protocol: '\(op)' returned \(v.jsonText.prefix(80)), expected an integer") }
        return Int(i)
    }

    // MARK: MemoryStore (the core validates each call before it gets here, as well as the
    // adapter: a request that breaks the contract is never sent)

    public func validatedSave(_ records: [MemoryRecord]) throws -> [String] {
        guard !records.isEmpty else { return [] }
        // save_batch holds one kind: a mixed batch goes as one save_batch per kind, in order
        // of first appearance. It is validated whole first (here, whatever `validatesLocally`
        // says), so only an adapter failure can split it: the protocol has no cross-kind transaction.
        var order: [MemoryKind] = []
        var groups: [MemoryKind: [MemoryRecord]] = [:]
        for r in records {
            if groups[r.kind] == nil { order.append(r.kind) }
            groups[r.kind, default: []].append(r)
        }
        if order.count > 1, !validatesInput { try Validation.batch(records, dimension: embeddingDimension) }
        for kind in order {
            let group = groups[kind]!
            if group.count == 1 {
                let result = try call("save", "{\"kind\":\(str(kind.rawValue)),\"record\":\(try recordJSON(group[0]))}")
                guard case .string = result else { throw EngramError(.internal, "protocol: 'save' returned \(result.jsonText.prefix(80)), expected the id") }
            } else {
                let result = try call("save_batch", "{\"kind\":\(str(kind.rawValue)),\"records\":[\(try group.map(recordJSON).joined(separator: ","))]}")
                guard case .array(let ids) = result, ids.count == group.count else {
                    throw EngramError(.internal, "protocol: 'save_batch' returned \(result.jsonText.prefix(80)), expected \(group.count) ids")
                }
            }
        }
        return records.map(\.id)
    }

    public func validatedGet(_ key: RecordKey) throws -> MemoryRecord? {
        let v = try call("get", "{\"kind\":\(str(key.kind.rawValue)),\"scope\":\(str(key.scope)),\"id\":\(str(key.id))}")
        if case .null = v { return nil }
        return try decodeRecord(key.kind, v)
    }

    public func validatedQuery(_ q: MemoryQuery) throws -> [ScoredRecord] {
        var args = "{\"kind\":\(str(q.kind.rawValue)),\"project_id\":\(str(q.projectId)),\"top_k\":\(q.topK)"
        if let a = q.agents { args += ",\"agents\":[\(a.sorted().map(str).joined(separator: ","))]" }
        if let t = q.taskType { args += ",\"task_type\":\(str(t))" }
        if let d = q.domain { args += ",\"domain\":\(str(d))" }
        if let m = q.minConfidence { args += ",\"min_confidence\":\(Self.number(m))" }
        if q.successOnly { args += ",\"success_only\":true" }
        if let v = q.vector { args += ",\"embedding\":\(Self.vector(v))" }
        let result = try call("query", args + "}")
        guard case .array(let items) = result else { throw EngramError(.internal, "protocol: 'query' returned \(result.jsonText.prefix(80)), expected a list") }
        return try items.map { item in
            guard let o = item.objectValue, let r = o["record"] else { throw EngramError(.internal, "protocol: a 'query' result lacks 'record'") }
            var score: Double?
            switch o["score"] {
            case .double(let d)?: score = d
            case .int(let i)?: score = Double(i)
            default: score = nil
            }
            return ScoredRecord(record: try decodeRecord(q.kind, r), score: score)
        }
    }

    public func validatedQueryPreferences(userId: String, category: String?) throws -> [UserPreference] {
        let args = "{\"user_id\":\(str(userId))" + (category.map { ",\"category\":\(str($0))" } ?? "") + "}"
        guard case .array(let items) = try call("query_preferences", args) else { throw EngramError(.internal, "protocol: 'query_preferences' did not return a list") }
        return try items.compactMap { try decodeRecord(.userPreference, $0).userPreference }
    }

    public func validatedUpdateHeuristic(projectId: String, id: String, patch: HeuristicPatch) throws -> Bool {
        var fields: [String] = []
        if let v = patch.condition { fields.append("\"condition\":\(str(v))") }
        if let v = patch.strategy { fields.append("\"strategy\":\(str(v))") }
        if let v = patch.confidence { fields.append("\"confidence\":\(Self.number(v))") }
        if let v = patch.occurrenceCount { fields.append("\"occurrence_count\":\(v)") }
        if let v = patch.successCount { fields.append("\"success_count\":\(v)") }
        if let v = patch.lastValidated { fields.append("\"last_validated\":\(str(v.rfc3339))") }
        if let v = patch.metadata { fields.append("\"metadata\":\(v.jsonTextWithNonFiniteTokens)") }
        if let v = patch.embedding { fields.append("\"embedding\":\(v.map(Self.vector) ?? "null")") }
        return try bool(try call("update_heuristic", "{\"project_id\":\(str(projectId)),\"id\":\(str(id)),\"patch\":{\(fields.joined(separator: ","))}}"), "update_heuristic")
    }

    public func validatedIncrementHeuristicOccurrence(projectId: String, id: String, success: Bool) throws -> Bool {
        return try bool(try call("increment_heuristic_occurrence", "{\"project_id\":\(str(projectId)),\"id\":\(str(id)),\"success\":\(success)}"), "increment_heuristic_occurrence")
    }

    public func validatedUpdateHeuristicConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try confidenceCall("update_heuristic_confidence", projectId, id, confidence)
    }

    public func validatedUpdateKnowledgeConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try confidenceCall("update_knowledge_confidence", projectId, id, confidence)
    }

    private func confidenceCall(_ op: String, _ projectId: String, _ id: String, _ c: Double) throws -> Bool {
        return try bool(try call(op, "{\"project_id\":\(str(projectId)),\"id\":\(str(id)),\"confidence\":\(Self.number(c))}"), op)
    }

    public func validatedDelete(_ key: RecordKey) throws -> Bool {
        return try bool(try call("delete", "{\"kind\":\(str(key.kind.rawValue)),\"scope\":\(str(key.scope)),\"id\":\(str(key.id))}"), "delete")
    }

    public func validatedDeleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> Int {
        let args = "{\"project_id\":\(str(projectId)),\"older_than\":\(str(olderThan.rfc3339))" + (agent.map { ",\"agent\":\(str($0))" } ?? "") + "}"
        return try int(try call("delete_outcomes_older_than", args), "delete_outcomes_older_than")
    }

    public func validatedDeleteHeuristics(projectId: String, confidenceBelow: Double, agent: String?) throws -> Int {
        let args = "{\"project_id\":\(str(projectId)),\"below\":\(Self.number(confidenceBelow))" + (agent.map { ",\"agent\":\(str($0))" } ?? "") + "}"
        return try int(try call("delete_low_confidence_heuristics", args), "delete_low_confidence_heuristics")
    }

    public func validatedStats(projectId: String, agent: String?) throws -> StoreStats {
        let v = try call("stats", "{\"project_id\":\(str(projectId))" + (agent.map { ",\"agent\":\(str($0))" } ?? "") + "}")
        guard let o = v.objectValue else { throw EngramError(.internal, "protocol: 'stats' did not return an object") }
        var stats = StoreStats()
        for kind in MemoryKind.vectorKinds {
            stats.records[kind] = { if case .int(let i)? = o[kind.rawValue] { Int(i) } else { 0 } }()
            if case .object(let vec)? = o["vectors"], case .int(let i)? = vec[kind.rawValue] { stats.vectors[kind] = Int(i) } else { stats.vectors[kind] = 0 }
        }
        return stats
    }

    public func close() throws {
        lock.withLock { next in
            if let p = process {
                try? p.send("{\"id\":\(next),\"op\":\"shutdown\",\"args\":{}}", timeout: 2)
                _ = try? p.receive(timeout: 2)
                p.terminate()
            }
            process = nil
        }
    }
}

extension ExternalStore: VectorIntrospecting {
    private func introspect() throws -> [String: JSONValue] {
        guard let o = try call("introspect", "{}").objectValue else { throw EngramError(.internal, "protocol: 'introspect' did not return an object") }
        return o
    }

    private static func counts(_ v: JSONValue?) -> [MemoryKind: Int] {
        var out: [MemoryKind: Int] = [:]
        for kind in MemoryKind.vectorKinds {
            if case .int(let i)? = v?.objectValue?[kind.rawValue] { out[kind] = Int(i) } else { out[kind] = 0 }
        }
        return out
    }

    public func vectorsHeld() throws -> [MemoryKind: Int] { Self.counts(try introspect()["vectors_held"]) }

    /// `records_with_embedding` from `introspect` (an addition to v1; adapters without it
    /// are checked against the suite's own model only, through `vectors_held`).
    public func recordsWithEmbedding() throws -> [MemoryKind: Int] {
        let o = try introspect()
        return Self.counts(o["records_with_embedding"] ?? o["vectors_held"])
    }
}
