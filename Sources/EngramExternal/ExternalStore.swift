@_spi(Engine) import EngramCore
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

    // MARK: Requests

    /// One value of a request's `args`, written with its type. Numbers JSON cannot carry (they
    /// reach the adapter only when `validatesLocally` is off, to be rejected there) are written
    /// as the tokens `NaN`, `Infinity` and `-Infinity`, as Python's json module and JSON5 read
    /// them. Embeddings are Float32's shortest text, which parses as a double and back without
    /// loss and keeps -0.0.
    enum Arg {
        case string(String)
        case int(Int)
        case number(Double)
        case bool(Bool)
        case strings([String])
        case vector([Float])
        case json(JSONValue)
        case records([MemoryRecord])
        case record(MemoryRecord)
        case object(KeyValuePairs<String, Arg?>)

        func write(to out: inout String) {
            switch self {
            case .string(let s): JSONValue.writeString(s, to: &out)
            case .int(let n): out += String(n)
            case .number(let d): JSONValue.double(d).write(to: &out, nonFiniteTokens: true)
            case .bool(let b): out += b ? "true" : "false"
            case .strings(let a): JSONValue.array(a.map(JSONValue.string)).write(to: &out, nonFiniteTokens: true)
            case .vector(let v): out += RecordSchema.embeddingText(v, nonFiniteTokens: true)
            case .json(let v): v.write(to: &out, nonFiniteTokens: true)
            case .record(let r): out += r.kind.schema.jsonText(r, nonFiniteTokens: true)
            case .records(let rs): out += "[" + rs.map { $0.kind.schema.jsonText($0, nonFiniteTokens: true) }.joined(separator: ",") + "]"
            case .object(let fields):
                out += "{"
                var first = true
                for (k, v) in fields {
                    guard let v else { continue }
                    if !first { out += "," }
                    first = false
                    JSONValue.writeString(k, to: &out)
                    out += ":"
                    v.write(to: &out)
                }
                out += "}"
            }
        }
    }

    /// Sends `op` with `args` (nil values left out) and returns its `result`.
    private func call(_ op: String, _ args: KeyValuePairs<String, Arg?>) throws -> JSONValue {
        var text = ""
        Arg.object(args).write(to: &text)
        return try call(op, text)
    }

    private func decodeRecord(_ kind: MemoryKind, _ v: JSONValue) throws -> MemoryRecord {
        do { return try kind.schema.record(json: v) } catch {
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

    @_spi(Engine) public func validatedSave(_ records: [MemoryRecord]) throws -> [String] {
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
                let result = try call("save", ["kind": .string(kind.rawValue), "record": .record(group[0])])
                guard case .string = result else { throw EngramError(.internal, "protocol: 'save' returned \(result.jsonText.prefix(80)), expected the id") }
            } else {
                let result = try call("save_batch", ["kind": .string(kind.rawValue), "records": .records(group)])
                guard case .array(let ids) = result, ids.count == group.count else {
                    throw EngramError(.internal, "protocol: 'save_batch' returned \(result.jsonText.prefix(80)), expected \(group.count) ids")
                }
            }
        }
        return records.map(\.id)
    }

    @_spi(Engine) public func validatedGet(_ key: RecordKey) throws -> MemoryRecord? {
        let v = try call("get", ["kind": .string(key.kind.rawValue), "scope": .string(key.scope), "id": .string(key.id)])
        if case .null = v { return nil }
        return try decodeRecord(key.kind, v)
    }

    @_spi(Engine) public func validatedQuery(_ q: MemoryQuery) throws -> [ScoredRecord] {
        let result = try call("query", [
            "kind": .string(q.kind.rawValue), "project_id": .string(q.projectId), "top_k": .int(q.topK),
            "agents": q.agents.map { .strings($0.sorted()) }, "task_type": q.taskType.map(Arg.string),
            "domain": q.domain.map(Arg.string), "min_confidence": q.minConfidence.map(Arg.number),
            "success_only": q.successOnly ? .bool(true) : nil, "embedding": q.vector.map(Arg.vector),
        ])
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

    @_spi(Engine) public func validatedQueryPreferences(userId: String, category: String?) throws -> [UserPreference] {
        guard case .array(let items) = try call("query_preferences", ["user_id": .string(userId), "category": category.map(Arg.string)]) else { throw EngramError(.internal, "protocol: 'query_preferences' did not return a list") }
        return try items.compactMap { try decodeRecord(.userPreference, $0).userPreference }
    }

    @_spi(Engine) public func validatedUpdateHeuristic(projectId: String, id: String, patch: HeuristicPatch) throws -> Bool {
        let fields: KeyValuePairs<String, Arg?> = [
            "condition": patch.condition.map(Arg.string), "strategy": patch.strategy.map(Arg.string),
            "confidence": patch.confidence.map(Arg.number), "occurrence_count": patch.occurrenceCount.map(Arg.int),
            "success_count": patch.successCount.map(Arg.int), "last_validated": patch.lastValidated.map { .string($0.rfc3339) },
            "metadata": patch.metadata.map(Arg.json), "embedding": patch.embedding.map { $0.map(Arg.vector) ?? .json(.null) },
        ]
        return try bool(try call("update_heuristic", ["project_id": .string(projectId), "id": .string(id), "patch": .object(fields)]), "update_heuristic")
    }

    @_spi(Engine) public func validatedIncrementHeuristicOccurrence(projectId: String, id: String, success: Bool) throws -> Bool {
        return try bool(try call("increment_heuristic_occurrence", ["project_id": .string(projectId), "id": .string(id), "success": .bool(success)]), "increment_heuristic_occurrence")
    }

    @_spi(Engine) public func validatedUpdateHeuristicConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try confidenceCall("update_heuristic_confidence", projectId, id, confidence)
    }

    @_spi(Engine) public func validatedUpdateKnowledgeConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try confidenceCall("update_knowledge_confidence", projectId, id, confidence)
    }

    private func confidenceCall(_ op: String, _ projectId: String, _ id: String, _ c: Double) throws -> Bool {
        return try bool(try call(op, ["project_id": .string(projectId), "id": .string(id), "confidence": .number(c)]), op)
    }

    @_spi(Engine) public func validatedDelete(_ key: RecordKey) throws -> Bool {
        return try bool(try call("delete", ["kind": .string(key.kind.rawValue), "scope": .string(key.scope), "id": .string(key.id)]), "delete")
    }

    @_spi(Engine) public func validatedDeleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> Int {
        let args: KeyValuePairs<String, Arg?> = ["project_id": .string(projectId), "older_than": .string(olderThan.rfc3339), "agent": agent.map(Arg.string)]
        return try int(try call("delete_outcomes_older_than", args), "delete_outcomes_older_than")
    }

    @_spi(Engine) public func validatedDeleteHeuristics(projectId: String, confidenceBelow: Double, agent: String?) throws -> Int {
        let args: KeyValuePairs<String, Arg?> = ["project_id": .string(projectId), "below": .number(confidenceBelow), "agent": agent.map(Arg.string)]
        return try int(try call("delete_low_confidence_heuristics", args), "delete_low_confidence_heuristics")
    }

    @_spi(Engine) public func validatedStats(projectId: String, agent: String?) throws -> StoreStats {
        let v = try call("stats", ["project_id": .string(projectId), "agent": agent.map(Arg.string)])
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
        guard let o = try call("introspect", [:]).objectValue else { throw EngramError(.internal, "protocol: 'introspect' did not return an object") }
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
