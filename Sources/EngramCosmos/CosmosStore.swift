@_spi(Engine) import EngramCore
import Foundation
import Synchronization

/// Engram on Azure Cosmos DB for NoSQL, over its REST API (libcurl, master-key auth).
///
/// One container per kind, partitioned by the record's scope (`/project_id`, `/user_id` for
/// preferences), so every single-record call (get, update, increment, both confidence
/// updates, delete) is a point operation in one partition — never a cross-partition query
/// (review MED-007) — and both confidence updates exist (NEW-002). Document ids are the
/// SHA-256 of the record id (record ids may hold characters and lengths Cosmos ids cannot);
/// the record id itself is stored as `record_id`. Read-modify-write calls use `If-Match` on
/// the ETag and retry on 412, so concurrent increments add up exactly. Batches use the
/// transactional batch per partition key (100 operations and 2 MB per request). A 429 is retried
/// after `x-ms-retry-after-ms`, a bounded number of times. Every response's request charge
/// is added to `requestCharge`.
public final class CosmosStore: ConfiguredStore, WholeRecordEngine, CrossPartitionCounting, @unchecked Sendable {
    // @unchecked: the only mutable state is `charges` and `closed`, behind their mutex and atomic.
    public struct Configuration: StoreConfiguration {
        /// The account endpoint, e.g. `https://myaccount.documents.azure.com:443`.
        public var endpoint: String
        /// The account's master key (base64).
        public var key: String
        public var database = "engram"
        public var embeddingDimension = 384
        /// Retries of a throttled (429) request before giving up.
        public var maxThrottleRetries = 9
        /// Seconds a request may spend waiting out 429s in total (the SDK's default, 30).
        public var maxThrottleWait = 30.0
        /// Seconds per HTTP request.
        public var timeout = 30
        public init(endpoint: String, key: String, database: String = "engram", embeddingDimension: Int = 384) {
            self.endpoint = endpoint
            self.key = key
            self.database = database
            self.embeddingDimension = embeddingDimension
        }
    }

    public let configuration: Configuration
    private let charges = Mutex((total: 0.0, requests: 0))
    private let closed = Atomic<Bool>(false)
    private let crossPartition = Atomic<Int>(0)
    public let backendName = "cosmos"
    public var capabilities: Set<Capability> { [.durability, .vectorIntrospection, .requestCharge] }

    /// Request units used by this store so far, and the number of requests.
    public var requestCharge: (total: Double, requests: Int) { charges.withLock { $0 } }

    /// Cross-partition queries sent so far (each names no partition key).
    public var crossPartitionQueries: Int { crossPartition.load(ordering: .relaxed) }

    /// The API version sent (the one azure-cosmos 4.17 sends; vector search and the
    /// transactional batch need 2018-12-31 or later).
    static let apiVersion = "2020-07-15"
    /// Transactional batches: at most 100 operations and 2 MB of body per request.
    static let batchOperations = 100, batchBytes = 2_097_152
    /// The largest dimension a `flat` vector index holds; above it the container gets no
    /// vector index and VectorDistance scans (still exact).
    static let flatIndexMaxDimension = 505

    /// Connects and creates the database and containers when missing. An existing container
    /// is read back and refused when its layout differs (partition key, composite indexes,
    /// vector policy): those cannot be changed after creation, and a mismatch would fail or
    /// mis-serve later queries.
    public init(_ configuration: Configuration) throws {
        self.configuration = configuration
        let db = configuration.database
        try ensure(try send("POST", path: "dbs", type: "dbs", link: "", body: JSONValue.object(["id": .string(db)]).jsonText), "creating the database")
        for kind in MemoryKind.allCases {
            let wanted = Self.containerDefinition(kind, dimension: configuration.embeddingDimension)
            let created = try send("POST", path: "dbs/\(db)/colls", type: "colls", link: "dbs/\(db)", body: wanted.jsonText)
            guard created.status == 409 else {
                try ensure(created, "creating the container \(Self.container(kind))")
                continue
            }
            let link = "dbs/\(db)/colls/\(Self.container(kind))"
            let existing = try send("GET", path: link, type: "colls", link: link)
            try ensure(existing, "reading the existing container \(Self.container(kind))")
            try Self.verify(try parse(existing), wanted: wanted, kind: kind)
        }
    }

    private func ensure(_ r: HTTPResponse, _ what: String) throws {
        guard (200..<300).contains(r.status) || r.status == 409 else { throw error(r, what) }
    }

    /// The property a kind's default order sorts by (descending), then `record_id` ascending.
    static func orderProperty(_ kind: MemoryKind) -> String {
        let field = kind.schema.orderField
        return field == "timestamp" ? "ts_us" : field
    }

    /// The container Engram creates for `kind`: partition key hashed in full (version 2), the
    /// composite index its ORDER BY needs, the embedding kept out of the range indexes, and an
    /// exact (`flat`) vector index where the dimension allows (approximate kinds would break
    /// the contract's exact ties).
    static func containerDefinition(_ kind: MemoryKind, dimension: Int) -> JSONValue {
        let composite: JSONValue = .array([.array([
            .object(["path": .string("/\(orderProperty(kind))"), "order": .string("descending")]),
            .object(["path": .string("/record_id"), "order": .string("ascending")]),
        ])])
        var indexing: [String: JSONValue] = [
            "indexingMode": .string("consistent"), "automatic": .bool(true),
            "includedPaths": .array([.object(["path": .string("/*")])]),
            "excludedPaths": .array([.object(["path": .string("/embedding/*")])]),
            "compositeIndexes": composite,
        ]
        var container: [String: JSONValue] = [
            "id": .string(Self.container(kind)),
            "partitionKey": .object(["paths": .array([.string(kind.isUserScoped ? "/user_id" : "/project_id")]), "kind": .string("Hash"), "version": .int(2)]),
        ]
        if !kind.isUserScoped {
            container["vectorEmbeddingPolicy"] = .object(["vectorEmbeddings": .array([.object([
                "path": .string("/embedding"), "dataType": .string("float32"), "distanceFunction": .string("cosine"),
                "dimensions": .int(Int64(dimension))])])])
            if dimension <= flatIndexMaxDimension {
                indexing["vectorIndexes"] = .array([.object(["path": .string("/embedding"), "type": .string("flat")])])
            }
        }
        container["indexingPolicy"] = .object(indexing)
        return .object(container)
    }

    /// Refuses an existing container whose layout is not the one `wanted` describes; the
    /// service's own defaults (included paths, `_etag`) are not compared.
    static func verify(_ existing: JSONValue, wanted: JSONValue, kind: MemoryKind) throws {
        let name = container(kind)
        func at(_ v: JSONValue?, _ keys: String...) -> JSONValue? {
            keys.reduce(v) { $0?.objectValue?[$1] }
        }
        func refuse(_ what: String) -> EngramError {
            EngramError(.conflict, "the existing container \(name) \(what); its layout cannot be changed after creation: use another database (or delete the container)")
        }
        let pk = at(existing, "partitionKey"), wantedPK = at(wanted, "partitionKey")
        guard at(pk, "paths") == at(wantedPK, "paths"), at(pk, "kind") == at(wantedPK, "kind") else {
            throw refuse("is partitioned by \(at(pk, "paths")?.jsonText ?? "nothing"), not \(at(wantedPK, "paths")!.jsonText)")
        }
        guard at(pk, "version") == .int(2) else { throw refuse("hashes its partition key with version \(at(pk, "version")?.jsonText ?? "1") (only the first 101 bytes), not 2") }
        guard case .array(let have)? = at(existing, "indexingPolicy", "compositeIndexes"),
              case .array(let need)? = at(wanted, "indexingPolicy", "compositeIndexes"), need.allSatisfy({ have.contains($0) }) else {
            throw refuse("lacks the composite index (\(orderProperty(kind)) descending, record_id ascending) its ordered queries need")
        }
        if let wantedVectors = at(wanted, "vectorEmbeddingPolicy", "vectorEmbeddings") {
            let have = at(existing, "vectorEmbeddingPolicy", "vectorEmbeddings")
            guard case .array(let h)? = have, case .array(let w) = wantedVectors, let hv = h.first, let wv = w.first,
                  at(hv, "path") == at(wv, "path"), at(hv, "distanceFunction") == at(wv, "distanceFunction") else {
                throw refuse("has no cosine vector policy on /embedding")
            }
            guard at(hv, "dimensions") == at(wv, "dimensions") else {
                throw EngramError.invalid("embedding_dimension", "the existing container \(name) holds embeddings of dimension \(at(hv, "dimensions")?.jsonText ?? "?"); the store was opened with \(at(wv, "dimensions")!.jsonText)")
            }
        }
    }

    static func container(_ kind: MemoryKind) -> String { kind.schema.table }

    // MARK: HTTP

    private func send(_ verb: String, path: String, type: String, link: String, partition: String? = nil,
                      headers extra: [(String, String)] = [], body: String? = nil) throws -> HTTPResponse {
        guard !closed.load(ordering: .acquiring) else { throw EngramError(.unavailable, "the store is closed") }
        var waited = 0.0
        for attempt in 0... {
            let date = CosmosAuth.date()
            var headers: [(String, String)] = [
                ("x-ms-date", date), ("x-ms-version", Self.apiVersion), ("Accept", "application/json"),
                ("authorization", try CosmosAuth.authorization(verb: verb, resourceType: type, resourceLink: link, date: date, key: configuration.key)),
            ]
            if let partition { headers.append(("x-ms-documentdb-partitionkey", Self.asciiJSON(JSONValue.array([.string(partition)]).jsonText))) }
            if body != nil && !extra.contains(where: { $0.0 == "Content-Type" }) { headers.append(("Content-Type", "application/json")) }
            headers += extra
            let r = try CurlHTTP.perform(method: verb, url: configuration.endpoint + "/" + path, headers: headers,
                                         body: body.map { Data($0.utf8) }, timeout: configuration.timeout)
            let charge = Double(r.headers["x-ms-request-charge"] ?? "") ?? 0
            charges.withLock { $0.total += charge; $0.requests += 1 }
            // 429: wait what the service asks (x-ms-retry-after-ms), as the SDK does, until the
            // retries or the total wait (maxThrottleWait) run out; then the 429 is the answer.
            let wait = (Double(r.headers["x-ms-retry-after-ms"] ?? "") ?? 100) / 1000
            guard r.status == 429, attempt < configuration.maxThrottleRetries, waited + wait <= configuration.maxThrottleWait else { return r }
            waited += wait
            usleep(UInt32(wait * 1_000_000))
        }
        fatalError("unreachable")
    }

    /// JSON text with every non-ASCII character as a \\u escape (HTTP header values are ASCII).
    static func asciiJSON(_ text: String) -> String {
        var out = ""
        for u in text.utf16 {
            if u < 0x80 { out.unicodeScalars.append(Unicode.Scalar(u)!) } else { out += String(format: "\\u%04x", u) }
        }
        return out
    }

    private func error(_ r: HTTPResponse, _ what: String) -> EngramError {
        let text = String(decoding: r.body.prefix(300), as: UTF8.self)
        let code: EngramError.Code = switch r.status {
        case 400: .invalidInput
        case 401, 403: .unavailable
        case 409, 412: .conflict
        case 429, 503: .unavailable
        default: .internal
        }
        return EngramError(code, "Cosmos DB answered \(r.status) while \(what)", nativeCode: String(r.status), nativeMessage: text)
    }

    private func docsPath(_ kind: MemoryKind) -> (path: String, link: String) {
        let link = "dbs/\(configuration.database)/colls/\(Self.container(kind))"
        return (link + "/docs", link)
    }

    private func docPath(_ key: RecordKey) -> (path: String, link: String) {
        let p = docsPath(key.kind).path + "/" + CosmosAuth.documentId(key.id)
        return (p, p)
    }

    // MARK: documents

    /// The record's JSON (see `RecordSchema`), with the Cosmos id, `record_id` and (for
    /// ordering and pruning by time) `ts_us`, the timestamp in microseconds.
    func document(_ r: MemoryRecord) throws -> JSONValue {
        guard case .object(var o) = try JSONValue.parse(r.kind.schema.jsonText(r)) else { throw EngramError(.internal, "record did not encode to an object") }
        o["record_id"] = .string(r.id)
        o["id"] = .string(CosmosAuth.documentId(r.id))
        switch r {
        case .outcome(let x): o["ts_us"] = .int(x.timestamp.microsecondsSinceEpoch)
        case .userPreference(let x): o["ts_us"] = .int(x.timestamp.microsecondsSinceEpoch)
        default: break
        }
        return .object(o)
    }

    func record(_ kind: MemoryKind, _ doc: JSONValue) throws -> MemoryRecord {
        guard case .object(var o) = doc, case .string(let rid)? = o["record_id"] else {
            throw EngramError(.corrupt, "a \(kind.rawValue) document without record_id")
        }
        o["id"] = .string(rid)
        return try kind.schema.record(json: .object(o))
    }

    private func parse(_ r: HTTPResponse) throws -> JSONValue {
        do { return try JSONValue.parse(String(decoding: r.body, as: UTF8.self)) } catch {
            throw EngramError(.internal, "Cosmos DB sent a body that is not JSON (status \(r.status))")
        }
    }

    /// A query in one partition; returns `Documents`.
    private func query(_ kind: MemoryKind, partition: String?, _ sql: String, _ params: [(String, JSONValue)]) throws -> [JSONValue] {
        let (path, link) = docsPath(kind)
        let body = JSONValue.object(["query": .string(sql), "parameters": .array(params.map { .object(["name": .string($0.0), "value": $0.1]) })])
        var headers = [("x-ms-documentdb-isquery", "True"), ("Content-Type", "application/query+json")]
        if partition == nil {
            headers.append(("x-ms-documentdb-query-enablecrosspartition", "True"))
            crossPartition.add(1, ordering: .relaxed)
        }
        // Pages of up to 1,000 items; follow x-ms-continuation until the last one.
        var documents: [JSONValue] = []
        var continuation: String?
        repeat {
            var pageHeaders = headers + [("x-ms-max-item-count", "1000")]
            if let continuation { pageHeaders.append(("x-ms-continuation", continuation)) }
            let r = try send("POST", path: path, type: "docs", link: link, partition: partition, headers: pageHeaders, body: body.jsonText)
            guard r.status == 200 else { throw error(r, "querying \(Self.container(kind))") }
            guard case .array(let docs)? = try parse(r).objectValue?["Documents"] else { throw EngramError(.internal, "a query answer without Documents") }
            documents += docs
            continuation = r.headers["x-ms-continuation"].flatMap { $0.isEmpty ? nil : $0 }
        } while continuation != nil
        return documents
    }

    // MARK: MemoryStore

    @_spi(Engine) public func validatedSave(_ records: [MemoryRecord]) throws -> [String] {
        if records.count == 1 {
            try upsert(records[0])
            return [records[0].id]
        }
        // One transactional batch per partition (kind, scope), 100 operations a request; the
        // last duplicate of a key wins. Cosmos has no transaction across partitions.
        // Partitions and ids keyed exactly (`ExactText`): canonically equivalent spellings are
        // two partitions, two documents.
        struct Partition: Hashable { let kind: MemoryKind; let scope: ExactText }
        var order: [Partition] = []
        var groups: [Partition: (kind: MemoryKind, scope: String, docs: [ExactText: JSONValue], order: [ExactText])] = [:]
        for r in records {
            let g = Partition(kind: r.kind, scope: ExactText(r.scope)), id = ExactText(r.id)
            if groups[g] == nil { groups[g] = (r.kind, r.scope, [:], []); order.append(g) }
            let doc = try document(r)
            if groups[g]!.docs[id] == nil { groups[g]!.order.append(id) }
            groups[g]!.docs[id] = doc
        }
        for p in order {
            let g = groups[p]!
            let ops = g.order.map { JSONValue.object(["operationType": .string("Upsert"), "resourceBody": g.docs[$0]!]).jsonText }
            for chunk in Self.batches(ops) { try sendBatch(chunk, kind: g.kind, scope: g.scope) }
        }
        return records.map(\.id)
    }

    /// Operations (as JSON text) cut into transactional batches of at most `batchOperations`
    /// operations and `batchBytes` of body each, in order.
    static func batches(_ ops: [String]) -> [[String]] {
        var out: [[String]] = []
        var current: [String] = [], bytes = 2
        for op in ops {
            let size = op.utf8.count + 1
            if !current.isEmpty, current.count == batchOperations || bytes + size > batchBytes {
                out.append(current)
                current = []
                bytes = 2
            }
            current.append(op)
            bytes += size
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    /// Sends one transactional batch. A failed batch answers 207 with one result per
    /// operation — the failing one's status, 424 for the rest — and nothing applied: the
    /// failing status decides the error (429 is waited out and the batch sent again).
    private func sendBatch(_ ops: [String], kind: MemoryKind, scope: String) throws {
        let (path, link) = docsPath(kind)
        let body = "[" + ops.joined(separator: ",") + "]"
        var waited = 0.0
        while true {
            let r = try send("POST", path: path, type: "docs", link: link, partition: scope,
                             headers: [("x-ms-cosmos-is-batch-request", "True"), ("x-ms-cosmos-batch-atomic", "True")], body: body)
            if r.status == 200 { return }
            guard r.status == 207, case .array(let results) = try parse(r) else {
                throw r.status == 413
                    ? EngramError.invalid("records", "a record of the batch is larger than Cosmos DB's 2 MB item limit (413)")
                    : error(r, "saving a batch into \(Self.container(kind))")
            }
            let statuses = results.map { v -> Int in if case .int(let s)? = v.objectValue?["statusCode"] { Int(s) } else { 0 } }
            let index = statuses.firstIndex { $0 != 424 } ?? 0
            let status = statuses.isEmpty ? 0 : statuses[index]
            if status == 429, waited < configuration.maxThrottleWait {
                let wait = (results[index].objectValue?["retryAfterMilliseconds"].flatMap { if case .int(let ms) = $0 { Double(ms) / 1000 } else { nil } }) ?? 0.1
                waited += wait
                usleep(UInt32(wait * 1_000_000))
                continue
            }
            let code: EngramError.Code = switch status {
            case 400, 413: .invalidInput
            case 409, 412: .conflict
            case 429, 503: .unavailable
            default: .internal
            }
            throw EngramError(code, "Cosmos DB refused operation \(index) of a batch into \(Self.container(kind)) with \(status); nothing of the batch was applied",
                              nativeCode: String(status), nativeMessage: String(decoding: r.body.prefix(300), as: UTF8.self))
        }
    }

    private func upsert(_ r: MemoryRecord) throws {
        let (path, link) = docsPath(r.kind)
        let resp = try send("POST", path: path, type: "docs", link: link, partition: r.scope,
                            headers: [("x-ms-documentdb-is-upsert", "True")], body: try document(r).jsonText)
        guard resp.status == 200 || resp.status == 201 else { throw error(resp, "saving \(r.key)") }
    }

    /// A point read: the record and its ETag, or nil.
    private func read(_ key: RecordKey) throws -> (MemoryRecord, String)? {
        let (path, link) = docPath(key)
        let r = try send("GET", path: path, type: "docs", link: link, partition: key.scope)
        if r.status == 404 { return nil }
        guard r.status == 200 else { throw error(r, "reading \(key)") }
        let doc = try parse(r)
        guard case .string(let etag)? = doc.objectValue?["_etag"] else { throw EngramError(.internal, "a document without _etag") }
        return (try record(key.kind, doc), etag)
    }

    @_spi(Engine) public func validatedGet(_ key: RecordKey) throws -> MemoryRecord? {
        return try read(key)?.0
    }

    /// Read, change, replace with If-Match; a 412 (someone else wrote first) starts over.
    @_spi(Engine) public func modify(_ key: RecordKey, _ change: (MemoryRecord) throws -> MemoryRecord?) throws -> Bool {
        for _ in 0..<100 {
            guard let (current, etag) = try read(key) else { return false }
            guard let next = try change(current) else { return false }
            let (path, link) = docPath(key)
            let r = try send("PUT", path: path, type: "docs", link: link, partition: key.scope, headers: [("If-Match", etag)], body: try document(next).jsonText)
            if r.status == 200 { return true }
            if r.status == 404 { return false }
            guard r.status == 412 else { throw error(r, "replacing \(key)") }
            usleep(UInt32.random(in: 100...2_000))
        }
        throw EngramError(.conflict, "\(key) kept changing under 100 attempts to update it")
    }

    @_spi(Engine) public func validatedDelete(_ key: RecordKey) throws -> Bool {
        let (path, link) = docPath(key)
        let r = try send("DELETE", path: path, type: "docs", link: link, partition: key.scope)
        if r.status == 404 { return false }
        guard r.status == 204 || r.status == 200 else { throw error(r, "deleting \(key)") }
        return true
    }

    /// Deletes the partition's documents matching `conds`, with point deletes (one partition).
    private func deleteMatching(_ kind: MemoryKind, _ projectId: String, _ conds: [String], _ params: [(String, JSONValue)]) throws -> Int {
        let docs = try query(kind, partition: projectId, "SELECT * FROM c WHERE " + conds.joined(separator: " AND "), params)
        var count = 0
        for d in docs {
            guard case .string(let rid)? = d.objectValue?["record_id"] else { continue }
            if try delete(RecordKey(kind, scope: projectId, id: rid)) { count += 1 }
        }
        return count
    }

    @_spi(Engine) public func validatedDeleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> Int {
        var conds = ["c.project_id = @p", "c.ts_us < @t"]
        var params: [(String, JSONValue)] = [("@p", .string(projectId)), ("@t", .int(olderThan.microsecondsSinceEpoch))]
        if let agent { conds.append("c.agent = @a"); params.append(("@a", .string(agent))) }
        return try deleteMatching(.outcome, projectId, conds, params)
    }

    @_spi(Engine) public func validatedDeleteHeuristics(projectId: String, confidenceBelow: Double, agent: String?) throws -> Int {
        var conds = ["c.project_id = @p", "c.confidence < @b"]
        var params: [(String, JSONValue)] = [("@p", .string(projectId)), ("@b", .double(confidenceBelow))]
        if let agent { conds.append("c.agent = @a"); params.append(("@a", .string(agent))) }
        return try deleteMatching(.heuristic, projectId, conds, params)
    }

    /// The query's conditions in Cosmos DB SQL, with `@fN` parameters.
    private func filters(_ q: MemoryQuery) -> ([String], [(String, JSONValue)]) {
        var params: [(String, JSONValue)] = []
        func param(_ v: JSONValue) -> String {
            params.append(("@f\(params.count)", v))
            return params.last!.0
        }
        let conds = q.conditions.map { condition -> String in
            switch condition {
            case .equals(let field, let text): "c.\(field) = \(param(.string(text)))"
            case .atLeast(let field, let x): "c.\(field) >= \(param(.double(x)))"
            case .isTrue(let field): "c.\(field) = true"
            case .oneOf(let field, let texts): "ARRAY_CONTAINS(\(param(.array(texts.map(JSONValue.string)))), c.\(field))"
            }
        }
        return (conds, params)
    }

    @_spi(Engine) public func validatedQuery(_ q: MemoryQuery) throws -> [ScoredRecord] {
        var (conds, params) = filters(q)
        guard let vector = q.vector else {
            let order = "c.\(Self.orderProperty(q.kind)) DESC"
            params += [("@o", .int(0)), ("@k", .int(Int64(q.topK)))]
            let sql = "SELECT * FROM c WHERE \(conds.joined(separator: " AND ")) ORDER BY \(order), c.record_id ASC OFFSET @o LIMIT @k"
            return try query(q.kind, partition: q.projectId, sql, params).map { ScoredRecord(record: try record(q.kind, $0), score: nil) }
        }
        conds += ["IS_DEFINED(c.embedding)", "NOT IS_NULL(c.embedding)"]
        params.append(("@q", try JSONValue.parse(RecordSchema.embeddingText(vector))))
        // TOP k+1 shows a tie at the boundary; widen until it is resolved, then order ties by record id.
        var k = q.topK + 1
        while true {
            let sql = "SELECT TOP @k c AS doc, VectorDistance(c.embedding, @q) AS score FROM c WHERE \(conds.joined(separator: " AND ")) ORDER BY VectorDistance(c.embedding, @q)"
            let rows = try query(q.kind, partition: q.projectId, sql, params + [("@k", .int(Int64(k)))])
            let scored = try rows.map { row -> ScoredRecord in
                guard let o = row.objectValue, let doc = o["doc"] else { throw EngramError(.internal, "a vector query row without doc") }
                let score: Double? = switch o["score"] {
                case .double(let d)?: d
                case .int(let i)?: Double(i)
                default: nil
                }
                return ScoredRecord(record: try record(q.kind, doc), score: score)
            }
            if scored.count == k, scored.count > q.topK, scored[k - 1].score == scored[q.topK - 1].score, k < 10_001 {
                k = min(k * 2, 10_001)
                continue
            }
            return Array(scored.sorted(by: MemoryKind.scoreOrder).prefix(q.topK))
        }
    }

    @_spi(Engine) public func validatedQueryPreferences(userId: String, category: String?) throws -> [UserPreference] {
        var conds = ["c.user_id = @u"]
        var params: [(String, JSONValue)] = [("@u", .string(userId))]
        if let category { conds.append("c.category = @c"); params.append(("@c", .string(category))) }
        let sql = "SELECT * FROM c WHERE \(conds.joined(separator: " AND ")) ORDER BY c.ts_us DESC, c.record_id ASC"
        return try query(.userPreference, partition: userId, sql, params).compactMap { try record(.userPreference, $0).userPreference }
    }

    private func count(_ kind: MemoryKind, partition: String?, _ conds: [String], _ params: [(String, JSONValue)]) throws -> Int {
        let sql = "SELECT VALUE COUNT(1) FROM c" + (conds.isEmpty ? "" : " WHERE " + conds.joined(separator: " AND "))
        guard case .int(let n)? = try query(kind, partition: partition, sql, params).first else { return 0 }
        return Int(n)
    }

    @_spi(Engine) public func validatedStats(projectId: String, agent: String?) throws -> StoreStats {
        var conds = ["c.project_id = @p"]
        var params: [(String, JSONValue)] = [("@p", .string(projectId))]
        if let agent { conds.append("c.agent = @a"); params.append(("@a", .string(agent))) }
        var stats = StoreStats()
        for kind in MemoryKind.vectorKinds {
            stats.records[kind] = try count(kind, partition: projectId, conds, params)
            stats.vectors[kind] = try count(kind, partition: projectId, conds + ["IS_DEFINED(c.embedding)", "NOT IS_NULL(c.embedding)"], params)
        }
        return stats
    }

    /// Marks the store closed: later calls fail with `unavailable` (there is no connection to end).
    public func close() throws { closed.store(true, ordering: .releasing) }
}

extension CosmosStore: RequestChargeReporting {}

extension CosmosStore: VectorIntrospecting {
    /// Documents with an embedding, all partitions: the one cross-partition query the store
    /// makes, and only for introspection. Counted by the client, since the gateway refuses
    /// cross-partition aggregates.
    public func vectorsHeld() throws -> [MemoryKind: Int] {
        var out: [MemoryKind: Int] = [:]
        for kind in MemoryKind.vectorKinds {
            out[kind] = try query(kind, partition: nil, "SELECT * FROM c WHERE IS_DEFINED(c.embedding) AND NOT IS_NULL(c.embedding)", []).count
        }
        return out
    }

    public func recordsWithEmbedding() throws -> [MemoryKind: Int] { try vectorsHeld() }
}
