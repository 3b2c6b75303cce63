import CLibPQ
@_spi(Engine) import EngramCore
import Foundation

/// Engram on PostgreSQL with pgvector: records in one table per kind, embeddings in a
/// `vector(dim)` column of the same row (so a delete or prune takes the vector with it),
/// an HNSW index (`vector_cosine_ops`) on every embedding column from the first start, and
/// the contract's indexes, among them outcomes `(project_id, timestamp)`.
///
/// Filter first, then rank: a vector query counts the rows its filter matches; up to
/// `exactSearchLimit` of them are ranked exactly (a sort by distance), above that the HNSW
/// index runs with pgvector 0.8's iterative scan (`strict_order`), so a selective filter
/// never returns fewer than k rows because the index scan stopped at `ef_search`.
/// Batch saves are one COPY (binary) into a staging table and one upsert, in one transaction.
public final class PostgresStore: ConfiguredStore, StorageEngine {
    public struct Configuration: StoreConfiguration {
        /// A libpq connection URL or key=value string.
        public var url: String
        /// The schema that holds Engram's tables; created when missing.
        public var schema = "engram"
        public var embeddingDimension = 384
        /// Connections in the pool (concurrent calls beyond this wait).
        public var poolSize = 4
        /// Seconds before a connection attempt gives up.
        public var connectTimeout = 10
        /// HNSW build parameters; nil removes the vector indexes (exact search only).
        public var hnsw: (m: Int, efConstruction: Int)? = (16, 64)
        /// Vector queries whose filter matches at most this many rows are ranked exactly.
        public var exactSearchLimit = 20_000
        /// Keep the outcome timestamp indexes (turning them off exists only to measure them).
        @_spi(Benchmarks) public var outcomeTimestampIndex = true
        /// The `application_name` of the store's connections (visible in `pg_stat_activity`).
        public var applicationName = "engram"
        /// Seconds a statement waits for a lock before `unavailable` (55P03); 0 = no bound.
        public var lockTimeout = 10.0
        /// Seconds a statement may run before `unavailable` (57014); 0 = no bound.
        public var statementTimeout = 120.0
        /// Seconds a call waits for a free pooled connection before `unavailable`.
        public var poolWait = 30.0
        /// HNSW `ef_search` (candidates per scan); nil = max(40, k + 1).
        public var efSearch: Int?
        /// pgvector's `hnsw.max_scan_tuples` (how far an iterative scan may go); nil = the server's (20,000).
        public var maxScanTuples: Int?
        /// Dead rows, as a share of a table's rows, after which the store vacuums the table in
        /// the background (`Maintenance`); 0 leaves it all to autovacuum.
        public var vacuumShare = 0.1
        /// Dead rows below this never start the store's own vacuum.
        public var vacuumMinimumRows = 1_000

        /// pgvector's HNSW index holds vectors of at most this many dimensions.
        public static let hnswMaxDimension = 2_000

        public init(url: String, schema: String = "engram", embeddingDimension: Int = 384) {
            self.url = url
            self.schema = schema
            self.embeddingDimension = embeddingDimension
        }
    }

    public let backendName = "postgres"
    public let configuration: Configuration
    public var capabilities: Set<Capability> { [.durability, .vectorIntrospection, .queryPlanIntrospection, .sharedAccess] }
    let pool: ConnectionPool
    let maintenance: Maintenance

    /// Connects, and creates the extension, schema, tables and indexes when missing.
    /// A wrong URL, an unreachable server, a missing pgvector or a dimension that differs
    /// from the existing tables' each fail here with an error that names the cause.
    public init(_ configuration: Configuration) throws {
        try Validation.embeddingDimension(configuration.embeddingDimension)
        guard !configuration.schema.isEmpty, !configuration.schema.utf8.contains(0) else {
            throw EngramError.invalid("schema", "schema must be a non-empty name without NUL")
        }
        // PostgreSQL cuts identifiers at 63 bytes: two longer names could meet in one schema.
        guard configuration.schema.utf8.count <= 63 else {
            throw EngramError.invalid("schema", "schema is \(configuration.schema.utf8.count) bytes; PostgreSQL keeps 63 (longer names would be cut and could collide)")
        }
        if configuration.hnsw != nil, configuration.embeddingDimension > Configuration.hnswMaxDimension {
            throw EngramError.invalid("embedding_dimension", "pgvector's HNSW index holds at most \(Configuration.hnswMaxDimension) dimensions, not \(configuration.embeddingDimension): set hnsw to nil for exact search")
        }
        guard configuration.poolSize >= 1 else { throw EngramError.invalid("pool_size", "pool_size must be at least 1") }
        guard configuration.vacuumShare >= 0, configuration.vacuumShare.isFinite else { throw EngramError.invalid("vacuum_share", "vacuum_share must be a finite share, 0 or more") }
        guard configuration.vacuumMinimumRows >= 1 else { throw EngramError.invalid("vacuum_minimum_rows", "vacuum_minimum_rows must be at least 1") }
        self.configuration = configuration
        pool = try ConnectionPool(url: configuration.url, size: configuration.poolSize, connectTimeout: configuration.connectTimeout,
                                  applicationName: configuration.applicationName, lockTimeoutMs: Int(configuration.lockTimeout * 1000),
                                  statementTimeoutMs: Int(configuration.statementTimeout * 1000), acquireTimeout: configuration.poolWait)
        maintenance = Maintenance(pool: pool, share: configuration.vacuumShare, minimum: configuration.vacuumMinimumRows)
        try pool.transaction { c in try Self.createExtension(c) }
        try pool.transaction { c in try migrate(c) }
    }

    public convenience init(url: String, schema: String = "engram", embeddingDimension: Int = 384) throws {
        try self.init(Configuration(url: url, schema: schema, embeddingDimension: embeddingDimension))
    }

    private var schema: String { configuration.schema }
    private func table(_ kind: MemoryKind) -> String { PGTable.of(kind).qualified(schema) }

    /// pgvector, once per database (the one database-wide step, under its own lock). It goes
    /// into `public` when that schema exists, never into a store's schema, so dropping a
    /// store's schema cannot take the extension (and every other schema's vectors) with it.
    private static func createExtension(_ c: PGConnection) throws {
        try c.run("SELECT pg_advisory_xact_lock(hashtext('engram:extension'))")
        let hasPublic = try c.run("SELECT 1 FROM pg_namespace WHERE nspname = 'public'").rows == 1
        do {
            try c.simple("CREATE EXTENSION IF NOT EXISTS vector" + (hasPublic ? " SCHEMA public" : ""))
        } catch let e as EngramError where ["58P01", "0A000", "42704"].contains(e.nativeCode ?? "") {
            throw EngramError(.unavailable, "the PostgreSQL server has no pgvector extension ('vector'); install pgvector 0.8 or later", nativeCode: e.nativeCode, nativeMessage: e.nativeMessage)
        } catch let e as EngramError where e.nativeCode == "42501" {
            throw EngramError(.unavailable, "this role may not create the pgvector extension: ask an administrator to run CREATE EXTENSION vector in the database once", nativeCode: e.nativeCode, nativeMessage: e.nativeMessage)
        } catch let e as EngramError where e.nativeCode == "3F000" {
            throw EngramError(.unavailable, "the database has no schema to create pgvector in (no public schema): create the extension by hand, in a schema on the search_path", nativeCode: e.nativeCode, nativeMessage: e.nativeMessage)
        }
    }

    /// Creates the schema (marked as Engram's), tables and indexes that are missing, under a
    /// lock scoped to the schema. Opening never drops anything: an index this configuration
    /// does not want but another store on the schema made stays. An index missing on a table
    /// that already holds rows is not built here (that could take minutes inside open): it is
    /// reported by `missingIndexes()` and built by `createMissingIndexes()`.
    private func migrate(_ c: PGConnection) throws {
        try c.run("SELECT pg_advisory_xact_lock(hashtext('engram:migrate:' || $1))", [.text(schema)])
        let existed = try c.run("SELECT 1 FROM pg_namespace WHERE nspname = $1", [.text(schema)]).rows == 1
        if !existed {
            try ddl(c, "CREATE SCHEMA IF NOT EXISTS \(sqlIdentifier(schema))")
            try c.simple("COMMENT ON SCHEMA \(sqlIdentifier(schema)) IS \(quoteLiteral(Self.schemaMarker))")
        }
        for t in PGTable.all { try ddl(c, t.createSQL(schema, dimension: embeddingDimension)) }
        let dims = try c.run(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'embedding'",
            [.text(PGTable.of(.heuristic).qualified(schema))])
        if dims.rows == 1, let d = dims.value(0, 0)?.int4, Int(d) != embeddingDimension {
            throw EngramError.invalid(
                "embedding_dimension",
                "schema \(schema) holds embeddings of dimension \(d); the store was opened with \(embeddingDimension)")
        }
        for index in try missingIndexes(c) where try tableIsEmpty(c, index.table) { try ddl(c, index.sql) }
    }

    /// The comment that marks a schema Engram created (and may therefore drop).
    static let schemaMarker = "engram store schema"

    /// The indexes this configuration wants that the schema lacks, or holds only invalid
    /// (a `CREATE INDEX CONCURRENTLY` that failed leaves one behind).
    private func missingIndexes(_ c: PGConnection) throws -> [(table: String, name: String, sql: String)] {
        let hnsw = configuration.hnsw.map { (m: $0.m, efConstruction: $0.efConstruction) }
        let existing = Set(try c.run("SELECT ci.relname FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ci.relnamespace WHERE n.nspname = $1 AND i.indisvalid", [.text(schema)]).strings(0))
        return PGTable.indexSQL(schema, timestampIndex: configuration.outcomeTimestampIndex, hnsw: hnsw).filter { !existing.contains($0.name) }
    }

    private func tableIsEmpty(_ c: PGConnection, _ table: String) throws -> Bool {
        try c.run("SELECT NOT EXISTS (SELECT 1 FROM \(sqlIdentifier(schema)).\(sqlIdentifier(table)))").value(0, 0)?.bool ?? true
    }

    /// Indexes this configuration wants that are missing because their table held rows at open.
    public func missingIndexes() throws -> [String] {
        try pool.with { c in try missingIndexes(c).map(\.name) }
    }

    /// Builds the missing indexes with `CREATE INDEX CONCURRENTLY` (writers are not blocked);
    /// the explicit migration step for a schema that already holds data.
    /// An invalid leftover of an earlier attempt is dropped first; the build runs without the
    /// store's statement timeout (an HNSW build over many rows takes minutes).
    public func createMissingIndexes() throws {
        maintenance.drain()  // CREATE INDEX CONCURRENTLY waits for a vacuum of its table
        try pool.with { c in
            try Self.withoutStatementTimeout(c, restoring: pool.statementTimeoutMs) {
                for index in try missingIndexes(c) {
                    try c.simple("DROP INDEX CONCURRENTLY IF EXISTS \(sqlIdentifier(schema)).\(sqlIdentifier(index.name))")
                    try ddl(c, index.sql.replacingOccurrences(of: "CREATE INDEX IF NOT EXISTS", with: "CREATE INDEX CONCURRENTLY IF NOT EXISTS"))
                }
            }
        }
    }

    /// Runs `body` on `c` with no statement timeout (an HNSW index build over many rows
    /// takes minutes), then sets the store's timeout back.
    static func withoutStatementTimeout(_ c: PGConnection, restoring ms: Int, _ body: () throws -> Void) throws {
        try c.simple("SET statement_timeout = 0")
        defer { _ = try? c.simple("SET statement_timeout = \(ms)") }
        try body()
    }

    /// Runs DDL; only "already exists" is benign (review NEW-003), every other failure is
    /// reported with the server's message.
    private func ddl(_ c: PGConnection, _ sql: String) throws {
        do { try c.simple(sql) } catch let e as EngramError where ["42P07", "42710", "42P06"].contains(e.nativeCode ?? "") {}
    }

    // MARK: writes

    @_spi(Engine) public func validatedSave(_ records: [MemoryRecord]) throws -> [String] {
        guard !records.isEmpty else { return [] }
        if records.count == 1 {
            let t = PGTable.of(records[0].kind)
            // In a transaction: its BEGIN finds a connection the server dropped while idle
            // before anything ran. (One autocommit statement, re-run after such a failure,
            // could apply twice around another client's write: not linearizable.)
            try pool.transaction { c in try c.run(upsertSQL(t, from: nil), t.values(records[0])) }
            return [records[0].id]
        }
        var order: [MemoryKind] = []
        var groups: [MemoryKind: [MemoryRecord]] = [:]
        for r in records {
            if groups[r.kind] == nil { order.append(r.kind) }
            groups[r.kind, default: []].append(r)
        }
        try pool.with { c in
            // Staging tables are created outside the transaction, once per connection, so no
            // rollback or failed commit can undo one that is remembered as made.
            for kind in order {
                let t = PGTable.of(kind)
                try c.once("stage:" + t.name) { try c.simple("CREATE TEMP TABLE IF NOT EXISTS engram_stage_\(t.name) (LIKE \(t.qualified(schema)), ord BIGINT) ON COMMIT DELETE ROWS") }
            }
            try pool.transaction(on: c) { c in
                for kind in order {
                    let t = PGTable.of(kind)
                    let stage = "engram_stage_\(t.name)"
                    let group = groups[kind]!
                    try c.copyIn("COPY \(stage) (\(t.columnList), ord) FROM STDIN (FORMAT binary)",
                                 rows: group.enumerated().map { t.values($0.element) + [.int8(Int64($0.offset))] })
                    let unique = Set(group.map(\.key)).count == group.count
                    try c.run(upsertSQL(t, from: stage, deduplicate: !unique))
                }
            }
        }
        // Statistics: a batch that at least doubles a table (a bulk load) is analyzed at once,
        // or the planner keeps its empty-table plans; a batch into a large table is left to
        // autovacuum (an ANALYZE per batch cost 7–28% of batch time).
        // Best effort: the batch has committed, so a failure here must not report it failed.
        for kind in order where groups[kind]!.count >= 1_000 {
            try? pool.with { c in
                let known = try c.run("SELECT reltuples::float8 FROM pg_class WHERE oid = to_regclass($1)", [.text(table(kind))]).value(0, 0)?.float8 ?? -1
                if known < Double(groups[kind]!.count) { try c.simple("ANALYZE \(table(kind))") }
            }
        }
        return records.map(\.id)
    }

    /// Upsert with full replace, from parameters or from a staging table (deduplicated, last
    /// wins, when the batch repeats a key: ON CONFLICT may not meet one key twice).
    private func upsertSQL(_ t: PGTable, from stage: String?, deduplicate: Bool = true) -> String {
        let updates = t.updateList
        let source: String
        if let stage, !deduplicate {
            // In key order, as every batch takes its row locks: two batches cannot deadlock.
            source = "SELECT \(t.columnList) FROM \(stage) ORDER BY \(t.scope), id"
        } else if let stage {
            source = "SELECT DISTINCT ON (\(t.scope), id) \(t.columnList) FROM \(stage) ORDER BY \(t.scope), id, ord DESC"
        } else {
            source = "VALUES (" + (1...t.fieldCount).map { "$\($0)" }.joined(separator: ", ") + ")"
        }
        return "INSERT INTO \(t.qualified(schema)) (\(t.columnList)) \(source) ON CONFLICT (\(t.scope), id) DO UPDATE SET \(updates)"
    }

    @_spi(Engine) public func validatedUpdateHeuristic(projectId: String, id: String, patch: HeuristicPatch) throws -> Bool {
        let t = PGTable.of(.heuristic)
        let updated = try pool.transaction { c in
            let res = try c.run("SELECT \(t.columnList) FROM \(t.qualified(schema)) WHERE project_id = $1 AND id = $2 FOR UPDATE", [.text(projectId), .text(id)])
            guard res.rows == 1, let current = try t.decode(res, 0).heuristic else { return false }
            let next = patch.applied(to: current)
            try Validation.patched(next)
            try c.run(upsertSQL(t, from: nil), t.values(.heuristic(next)))
            return true
        }
        return leftDead(updated ? 1 : 0, .heuristic) > 0
    }

    /// Notes `rows` rows a committed write left dead in `kind`'s table (`Maintenance`); returns them.
    private func leftDead(_ rows: Int, _ kind: MemoryKind) -> Int {
        maintenance.note(rows, in: table(kind))
        return rows
    }

    @_spi(Engine) public func validatedIncrementHeuristicOccurrence(projectId: String, id: String, success: Bool) throws -> Bool {
        leftDead(try pool.transaction { c in
            try c.run("UPDATE \(table(.heuristic)) SET occurrence_count = occurrence_count + 1, success_count = success_count + $1, last_validated = $2 WHERE project_id = $3 AND id = $4",
                      [.int8(success ? 1 : 0), .timestamp(.now()), .text(projectId), .text(id)]).affected
        }, .heuristic) > 0
    }

    @_spi(Engine) public func validatedUpdateHeuristicConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try setConfidence(.heuristic, projectId, id, confidence)
    }

    @_spi(Engine) public func validatedUpdateKnowledgeConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try setConfidence(.domainKnowledge, projectId, id, confidence)
    }

    private func setConfidence(_ kind: MemoryKind, _ projectId: String, _ id: String, _ confidence: Double) throws -> Bool {
        leftDead(try pool.transaction { c in
            try c.run("UPDATE \(table(kind)) SET confidence = $1 WHERE project_id = $2 AND id = $3",
                      [.float8(confidence), .text(projectId), .text(id)]).affected
        }, kind) > 0
    }

    @_spi(Engine) public func validatedDelete(_ key: RecordKey) throws -> Bool {
        let t = PGTable.of(key.kind)
        return leftDead(try pool.transaction { c in
            try c.run("DELETE FROM \(t.qualified(schema)) WHERE \(t.scope) = $1 AND id = $2", [.text(key.scope), .text(key.id)]).affected
        }, key.kind) > 0
    }

    private func pruneSQL(agent: String?) -> String {
        "DELETE FROM \(table(.outcome)) WHERE project_id = $1 AND \"timestamp\" < $2" + (agent == nil ? "" : " AND agent = $3")
    }

    @_spi(Engine) public func validatedDeleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> Int {
        leftDead(try pool.transaction { c in
            try c.run(pruneSQL(agent: agent), [.text(projectId), .timestamp(olderThan)] + (agent.map { [.text($0)] } ?? [])).affected
        }, .outcome)
    }

    @_spi(Engine) public func validatedDeleteHeuristics(projectId: String, confidenceBelow: Double, agent: String?) throws -> Int {
        let sql = "DELETE FROM \(table(.heuristic)) WHERE project_id = $1 AND confidence < $2" + (agent == nil ? "" : " AND agent = $3")
        return leftDead(try pool.transaction { c in
            try c.run(sql, [.text(projectId), .float8(confidenceBelow)] + (agent.map { [.text($0)] } ?? [])).affected
        }, .heuristic)
    }

    // MARK: reads

    @_spi(Engine) public func validatedGet(_ key: RecordKey) throws -> MemoryRecord? {
        let t = PGTable.of(key.kind)
        return try pool.transaction { c in
            let res = try c.run("SELECT \(t.columnList) FROM \(t.qualified(schema)) WHERE \(t.scope) = $1 AND id = $2", [.text(key.scope), .text(key.id)])
            return res.rows == 1 ? try t.decode(res, 0) : nil
        }
    }

    /// The query's conditions as a WHERE clause with `$n` parameters. An agent set is one
    /// array parameter, whatever its size: one prepared statement per shape.
    private func filterClause(_ q: MemoryQuery) -> (sql: String, values: [PGValue]) {
        var values: [PGValue] = []
        func param(_ v: PGValue) -> String {
            values.append(v)
            return "$\(values.count)"
        }
        let sql = q.conditions.map { condition -> String in
            switch condition {
            case .equals(let field, let text): "\(sqlIdentifier(field)) = \(param(.text(text)))"
            case .atLeast(let field, let x): "\(sqlIdentifier(field)) >= \(param(.float8(x)))"
            case .isTrue(let field): sqlIdentifier(field)
            case .oneOf(let field, let texts): "\(sqlIdentifier(field)) = ANY(\(param(.textArray(texts)))::text[])"
            }
        }.joined(separator: " AND ")
        return (sql, values)
    }

    @_spi(Engine) public func validatedQuery(_ q: MemoryQuery) throws -> [ScoredRecord] {
        let t = PGTable.of(q.kind)
        var (filter, values) = filterClause(q)
        guard let vector = q.vector else {
            let sql = "SELECT \(t.columnList) FROM \(t.qualified(schema)) WHERE \(filter) ORDER BY \(t.orderBy) LIMIT $\(values.count + 1)"
            return try pool.transaction { c in
                let res = try c.run(sql, values + [.int8(Int64(q.topK))])
                return try (0..<res.rows).map { ScoredRecord(record: try t.decode(res, $0), score: nil) }
            }
        }
        filter += " AND embedding IS NOT NULL"
        let filterValues = values
        values.append(.vector(vector))
        let qv = "$\(values.count)", limit = "$\(values.count + 1)"
        let k = Int64(q.topK)
        // One statement per query, outside an explicit transaction (a read needs none; it may
        // run again on a new connection when the lent one had been dropped).
        return try pool.idempotent { c in
            var res: PGResult?
            // The choice needs the planner's estimate (statistics, no scan) unless the
            // configuration always uses the index (exactSearchLimit 0): then it is one statement.
            if configuration.hnsw != nil, try configuration.exactSearchLimit == 0 || atLeast(c, t, filter, filterValues, configuration.exactSearchLimit + 1) {
                try c.set("hnsw.iterative_scan", "strict_order")
                try c.set("hnsw.ef_search", String(configuration.efSearch ?? max(40, min(1000, q.topK + 1))))
                if let m = configuration.maxScanTuples { try c.set("hnsw.max_scan_tuples", String(m)) }
                let approximate = try c.run("SELECT \(t.columnList), (embedding <=> \(qv))::float8 FROM \(t.qualified(schema)) WHERE \(filter) ORDER BY embedding <=> \(qv) LIMIT \(limit)",
                                            values + [.int8(k + 1)])
                // More rows match than exactSearchLimit, so k exist: an index scan that stopped
                // early (hnsw.max_scan_tuples) must not return fewer. Then rank exactly instead.
                if approximate.rows >= q.topK { res = approximate }
            }
            if res == nil {
                // Exact: rank narrow rows (key and distance) by distance then id, so the sort
                // carries no wide columns; then fetch the k winners by primary key.
                res = try c.run("""
                    WITH top AS (SELECT \(t.scope) AS s, id, embedding <=> \(qv) AS d FROM \(t.qualified(schema)) WHERE \(filter) ORDER BY d, id COLLATE "C" LIMIT \(limit))
                    SELECT \(t.columnList(prefix: "r.")), top.d::float8 FROM top JOIN \(t.qualified(schema)) r ON r.\(t.scope) = top.s AND r.id = top.id ORDER BY top.d, top.id COLLATE "C"
                    """, values + [.int8(k)])
            }
            let rows = res!
            let scored = try (0..<rows.rows).map { r in
                ScoredRecord(record: try t.decode(rows, r), score: 1 - (rows.value(r, t.fieldCount)?.float8 ?? 1))
            }
            return Array(scored.sorted(by: MemoryKind.scoreOrder).prefix(q.topK))
        }
    }

    /// Whether `filter` matches at least `n` rows. The planner's estimate (statistics, no scan)
    /// answers "no" alone — then ranking is exact, correct whatever the truth; a "yes" is
    /// confirmed by a count bounded at `n` (estimates of correlated filters can be far too
    /// high), so the approximate index serves only filters that really match that many.
    private func atLeast(_ c: PGConnection, _ t: PGTable, _ filter: String, _ values: [PGValue], _ n: Int) throws -> Bool {
        let plan = try c.explain("EXPLAIN (FORMAT JSON) SELECT 1 FROM \(t.qualified(schema)) WHERE \(filter)", values)
        guard case .array(let top)? = try? JSONValue.parse(plan), case .object(let o)? = top.first, case .object(let node)? = o["Plan"] else { return false }
        let estimate: Double = switch node["Plan Rows"] {
        case .int(let v)?: Double(v)
        case .double(let v)?: v
        default: 0
        }
        guard estimate >= Double(n) else { return false }
        let count = try c.run("SELECT count(*) FROM (SELECT 1 FROM \(t.qualified(schema)) WHERE \(filter) LIMIT \(n)) m", values)
        return (count.value(0, 0)?.int8 ?? 0) >= Int64(n)
    }

    /// The same vector query written by hand, as a user of pgvector would: one statement,
    /// every column, ordered by distance (measurement only: the benchmark's reference).
    @_spi(Benchmarks) public func rawSQLQuery(_ q: MemoryQuery) throws -> [ScoredRecord] {
        guard let vector = q.vector else { throw EngramError(.notSupported, "rawSQLQuery ranks by a vector") }
        let t = PGTable.of(q.kind)
        var (filter, values) = filterClause(q)
        values.append(.vector(vector))
        return try pool.with { c in
            if configuration.hnsw != nil {
                try c.set("hnsw.iterative_scan", "strict_order")
                try c.set("hnsw.ef_search", String(configuration.efSearch ?? 40))
            }
            filter += " AND embedding IS NOT NULL"
            let res = try c.run("SELECT \(t.columnList), (embedding <=> $\(values.count))::float8 FROM \(t.qualified(schema)) WHERE \(filter) ORDER BY embedding <=> $\(values.count) LIMIT $\(values.count + 1)",
                                values + [.int8(Int64(q.topK))])
            return try (0..<res.rows).map { r in ScoredRecord(record: try t.decode(res, r), score: 1 - (res.value(r, t.fieldCount)?.float8 ?? 1)) }
        }
    }

    @_spi(Engine) public func validatedQueryPreferences(userId: String, category: String?) throws -> [UserPreference] {
        let t = PGTable.of(.userPreference)
        let sql = "SELECT \(t.columnList) FROM \(t.qualified(schema)) WHERE user_id = $1" + (category == nil ? "" : " AND category = $2") + " ORDER BY \(t.orderBy)"
        return try pool.transaction { c in
            let res = try c.run(sql, [.text(userId)] + (category.map { [.text($0)] } ?? []))
            return try (0..<res.rows).compactMap { try t.decode(res, $0).userPreference }
        }
    }

    @_spi(Engine) public func validatedStats(projectId: String, agent: String?) throws -> StoreStats {
        return try pool.transaction { c in
            var stats = StoreStats()
            for kind in MemoryKind.vectorKinds {
                let res = try c.run("SELECT count(*), count(embedding) FROM \(table(kind)) WHERE project_id = $1" + (agent == nil ? "" : " AND agent = $2"),
                                    [.text(projectId)] + (agent.map { [.text($0)] } ?? []))
                stats.records[kind] = Int(res.value(0, 0)?.int8 ?? 0)
                stats.vectors[kind] = Int(res.value(0, 1)?.int8 ?? 0)
            }
            return stats
        }
    }

    /// Waits for a background vacuum under way (`Maintenance`), then closes the connections.
    public func close() throws {
        maintenance.close()
        pool.close()
    }

    /// Background vacuums run so far, and those that failed (`Maintenance`), once the ones
    /// queued have run.
    public func vacuums() -> (run: Int, failed: Int) {
        maintenance.drain()
        return maintenance.counts
    }

    /// Drops the store's schema and everything in it (test and benchmark cleanup); see
    /// `dropSchema(url:schema:)` for what it refuses.
    public func dropSchema() throws {
        maintenance.drain()  // a vacuum under way would hold the drop at its lock timeout
        try pool.with { c in try Self.drop(c, schema) }
    }

    /// Drops `schema` only when Engram created it (its marker comment) and it holds no
    /// extension; `public`, the catalogs and any other schema are refused, never dropped.
    static func drop(_ c: PGConnection, _ schema: String) throws {
        guard !["public", "pg_catalog", "information_schema"].contains(schema), !schema.hasPrefix("pg_") else {
            throw EngramError.invalid("schema", "\(schema) is not Engram's to drop")
        }
        let info = try c.run("SELECT obj_description(n.oid, 'pg_namespace'), (SELECT count(*) FROM pg_extension e WHERE e.extnamespace = n.oid) FROM pg_namespace n WHERE nspname = $1", [.text(schema)])
        guard info.rows == 1 else { return }
        guard info.string(0, 0) == schemaMarker else {
            throw EngramError.invalid("schema", "\(schema) was not created by Engram (no marker comment); it is not dropped")
        }
        guard info.value(0, 1)?.int8 == 0 else {
            throw EngramError.invalid("schema", "\(schema) holds an extension (pgvector?) that other schemas use; drop it by hand if you mean to")
        }
        // RESTRICT, table by table, then the schema: a view, function or column elsewhere that
        // depends on Engram's tables, or anything else put in the schema, stops the drop
        // (in one transaction, so nothing is half dropped) instead of being dropped with it.
        let tables = PGTable.all.map { "\(sqlIdentifier(schema)).\(sqlIdentifier($0.name))" }.joined(separator: ", ")
        do {
            try c.simple("BEGIN; DROP TABLE IF EXISTS \(tables) RESTRICT; DROP SCHEMA \(sqlIdentifier(schema)) RESTRICT; COMMIT")
        } catch let e as EngramError {
            _ = try? c.simple("ROLLBACK")
            throw EngramError(.conflict, "\(schema) is not dropped: other objects depend on it or were put in it", nativeCode: e.nativeCode, nativeMessage: e.nativeMessage)
        }
    }
}

extension PostgresStore: VectorIntrospecting {
    /// Vectors live in the rows' `embedding` column, so the two counts are one: the
    /// non-NULL embeddings per kind, all scopes.
    public func vectorsHeld() throws -> [MemoryKind: Int] { try recordsWithEmbedding() }

    public func recordsWithEmbedding() throws -> [MemoryKind: Int] {
        try pool.with { c in
            var out: [MemoryKind: Int] = [:]
            for kind in MemoryKind.vectorKinds {
                out[kind] = Int(try c.run("SELECT count(*) FROM \(table(kind)) WHERE embedding IS NOT NULL").value(0, 0)?.int8 ?? 0)
            }
            return out
        }
    }
}

extension PostgresStore: QueryPlanIntrospecting {
    public var outcomeTimestampIndexName: String { PGTable.outcomeTimestampIndexName }

    /// `EXPLAIN (FORMAT JSON)` of the prune, planned with its actual parameters.
    public func explainDeleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> QueryPlan {
        let text = try pool.with { c in
            try c.explain("EXPLAIN (FORMAT JSON) " + pruneSQL(agent: agent), [.text(projectId), .timestamp(olderThan)] + (agent.map { [.text($0)] } ?? []))
        }
        var index: String?
        var seqScan = false
        func walk(_ node: JSONValue) {
            guard let o = node.objectValue else { return }
            if case .string(let type)? = o["Node Type"] {
                if type == "Seq Scan" { seqScan = true }
                if ["Index Scan", "Index Only Scan", "Bitmap Index Scan"].contains(type), index == nil, case .string(let name)? = o["Index Name"] {
                    index = name
                }
            }
            if case .object? = o["Plan"] { walk(o["Plan"]!) }
            if case .array(let children)? = o["Plans"] { children.forEach(walk) }
        }
        let json = try JSONValue.parse(text)
        if case .array(let top) = json { top.forEach(walk) }
        return QueryPlan(indexUsed: index, fullScan: seqScan, detail: text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " "))
    }
}

extension PGConnection {
    /// EXPLAIN with bound parameters (unnamed statement, so it is planned with their values).
    func explain(_ sql: String, _ params: [PGValue]) throws -> String {
        let encoded = params.map(\.bytes)
        let lengths = encoded.map { Int32($0?.count ?? 0) }
        let formats = [Int32](repeating: 1, count: params.count)
        let types: [Oid] = params.map {
            switch $0 {
            case .timestamp: 1184
            case .float8: 701
            case .int8: 20
            case .textArray: 1009
            default: 25
            }
        }
        let res = try withBuffers(encoded) { pointers -> PGResult in
            guard let r = PQexecParams(conn, sql, Int32(params.count), types, pointers, lengths, formats, 0) else {
                throw EngramError(.unavailable, "PostgreSQL connection failed during EXPLAIN")
            }
            let result = PGResult(r)
            guard PQresultStatus(r) == PGRES_TUPLES_OK else {
                throw EngramError(.internal, "EXPLAIN failed: \(String(cString: PQresultErrorMessage(r)))")
            }
            return result
        }
        return (0..<res.rows).compactMap { res.string($0, 0) }.joined(separator: "\n")
    }
}

extension PostgresStore {
    /// Bytes on disk of the HNSW indexes (`pg_relation_size`), for capacity planning.
    @_spi(Benchmarks) public func relationBytes() throws -> Int {
        try pool.transaction { c in
            let res = try c.run("SELECT coalesce(sum(pg_relation_size(indexrelid)), 0)::bigint FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ci.relnamespace WHERE n.nspname = $1 AND ci.relname LIKE '%embedding_hnsw'", [.text(schema)])
            return Int(res.value(0, 0)?.int8 ?? 0)
        }
    }
}

extension PostgresStore: DiskUsageReporting {
    /// Every table of the schema with its indexes and TOAST (`pg_total_relation_size`).
    public func diskBytes() throws -> Int {
        try pool.transaction { c in
            let res = try c.run("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'", [.text(schema)])
            return Int(res.value(0, 0)?.int8 ?? 0)
        }
    }
}

extension PostgresStore {
    /// Drops `schema` and everything in it on the server at `url`, without opening a store.
    public static func dropSchema(url: String, schema: String) throws {
        let c = try PGConnection(url: url, connectTimeout: 10, applicationName: "engram")
        try drop(c, schema)
    }
}

extension PostgresStore {
    /// The libpq client library's version, e.g. "150014".
    public static var libpqVersion: String { String(PQlibVersion()) }
}
