import CSQLite
@_spi(Engine) import EngramCore
import EngramVectorIndex

/// The contract's operations: writes through `writing` (rows, journal, then the vectors under
/// the exclusive lock), reads through `reading`, vector queries under the shared lock.
extension SQLiteStore {
    @_spi(Engine) public func validatedSave(_ records: [MemoryRecord]) throws -> [String] {
        guard !records.isEmpty else { return [] }
        return try writing { c in
            var changes: [IndexKey: [Int64: (vector: [Float]?, agent: String)]] = [:]
            for r in records {
                let table = Table.of(r.kind)
                let seq = try table.upsert(c, r)
                if table.hasEmbedding {
                    changes[IndexKey(kind: r.kind, project: r.scope), default: [:]][seq] = (r.embedding, r.agent ?? "")
                }
            }
            for (key, change) in changes { try Journal.append(c, key, change.keys.sorted()) }
            return (records.map(\.id), { _, v in for (key, change) in changes { try v.apply(key, change) } })
        }
    }

    @_spi(Engine) public func validatedGet(_ key: RecordKey) throws -> MemoryRecord? {
        return try reading { c in
            let t = Table.of(key.kind)
            let s = try c.statement("SELECT \(t.selectList) FROM \(t.name) WHERE \(t.scope) = ? AND id = ?")
                .bind([.text(key.scope), .text(key.id)])
            return try s.first { try t.decode($0) }
        }
    }

    /// The query's conditions as a WHERE clause with `?` parameters.
    private func filterClause(_ q: MemoryQuery) -> (sql: String, values: [SQLValue]) {
        var values: [SQLValue] = []
        let sql = q.conditions.map { condition -> String in
            switch condition {
            case .equals(let field, let text): values.append(.text(text)); return "\(sqlIdentifier(field)) = ?"
            case .atLeast(let field, let x): values.append(.double(x)); return "\(sqlIdentifier(field)) >= ?"
            case .isTrue(let field): return "\(sqlIdentifier(field)) = 1"
            case .oneOf(let field, let texts):
                values += texts.map(SQLValue.text)
                return "\(sqlIdentifier(field)) IN (" + Array(repeating: "?", count: texts.count).joined(separator: ", ") + ")"
            }
        }.joined(separator: " AND ")
        return (sql, values)
    }

    @_spi(Engine) public func validatedQuery(_ q: MemoryQuery) throws -> [ScoredRecord] {
        let t = Table.of(q.kind)
        let (whereSQL, values) = filterClause(q)
        return try reading { c in
            guard let vector = q.vector else {
                let stmt = try c.statement("SELECT \(t.selectList) FROM \(t.name) WHERE \(whereSQL) ORDER BY \(t.orderBy) LIMIT ?")
                    .bind(values + [.int(Int64(q.topK))])
                return try stmt.rows { ScoredRecord(record: try t.decode($0), score: nil) }
            }
            // Ranked in one read transaction whose journal version is the indexes' own, so the
            // rows read are exactly those the indexes describe; when another store committed
            // since the catch-up, catch up again (a store that keeps losing the race ranks
            // anyway: its fetch re-checks every condition, and skips rows gone meanwhile).
            for _ in 0..<3 {
                try catchUp(c)
                try refreshStale(c, [q.kind])
                let ranked: [ScoredRecord]? = try searching { v in
                    try c.execute("BEGIN")
                    defer { try? c.execute("COMMIT") }
                    guard try readers == nil || Journal.latest(c) == v.applied else { return nil }
                    return try rank(v, c, q, vector, t, whereSQL, values)
                }
                if let ranked { return ranked }
            }
            // Three times another store committed between the catch-up and the ranking: catch
            // up and rank in one snapshot under the exclusive lock (no other search runs).
            return try vectors.write { v in
                guard !v.closed else { throw EngramError(.unavailable, "the store is closed") }
                try c.execute("BEGIN")
                defer { try? c.execute("COMMIT") }
                if readers != nil { try Journal.catchUp(c, &v, inTransaction: true) }
                if v.stale.remove(q.kind) != nil { try v.reload(q.kind, from: c) }
                do { return try rank(v, c, q, vector, t, whereSQL, values) } catch let e as VectorIndexError {
                    throw EngramError(.internal, "vector index: \(e.message)")
                }
            }
        }
    }

    /// A vector query under the shared vector lock: no commit happens while it runs, so the
    /// rows it reads through `c` are those the indexes describe.
    private func rank(_ s: VectorState, _ c: Connection, _ q: MemoryQuery, _ vector: [Float], _ t: Table, _ whereSQL: String, _ values: [SQLValue]) throws -> [ScoredRecord] {
        guard let index = s.indexes[IndexKey(kind: q.kind, project: q.projectId)], index.count > 0 else { return [] }
        // Filter first: unless the project is the only filter, the row ids that match; then
        // rank only those. An agent filter alone is answered from the postings, without SQL.
        var restriction: [Int64]?
        let conditions = q.conditions
        if conditions.count == 2, case .oneOf("agent", let agents) = conditions[1] {
            restriction = s.postings[IndexKey(kind: q.kind, project: q.projectId)]?.allowed(agents) ?? []
        } else if conditions.count > 1 {
            // No `embedding IS NOT NULL` here: that would read every row, while the filter
            // alone is answered from an index; ids without a vector are ignored by the index.
            restriction = try c.statement("SELECT seq FROM \(t.name) WHERE \(whereSQL)")
                .bind(values).rows { $0.int(0) }
        }
        let candidates = restriction?.count ?? index.count
        guard candidates > 0 else { return [] }
        // Ask for one more than topK so a tie at the boundary shows; widen until it is resolved.
        var k = min(q.topK + 1, candidates)
        let scan = configuration.vectorScan
        // The query's own conditions again: a row id another process freed and reused for
        // another project's or agent's record must not be returned for this one.
        let fetch = try c.statement("SELECT \(t.selectList) FROM \(t.name) WHERE seq = ? AND \(whereSQL)")
        while true {
            var hits = try index.search(vector, k: k, allowed: restriction, scan: scan)
            while hits.count == k, k < candidates, q.topK < hits.count, hits[k - 1].score == hits[q.topK - 1].score {
                k = min(k * 2, candidates)
                hits = try index.search(vector, k: k, allowed: restriction, scan: scan)
            }
            var results: [ScoredRecord] = []
            for hit in hits {
                fetch.bind([.int(hit.id)] + values)
                // No row: another process deleted it after this search caught up (this store's
                // own deletes cannot commit while a search runs); it is gone, so it is skipped.
                if let record = try fetch.first({ try t.decode($0) }) { results.append(ScoredRecord(record: record, score: Double(hit.score))) }
            }
            if results.count == hits.count || results.count > q.topK || k >= candidates {
                return Array(results.sorted(by: MemoryKind.scoreOrder).prefix(q.topK))
            }
            k = min(k + (hits.count - results.count) + q.topK, candidates)
        }
    }

    @_spi(Engine) public func validatedQueryPreferences(userId: String, category: String?) throws -> [UserPreference] {
        let t = Table.of(.userPreference)
        return try reading { c in
            let sql = "SELECT \(t.selectList) FROM preferences WHERE user_id = ?" + (category == nil ? "" : " AND category = ?") + " ORDER BY \(t.orderBy)"
            return try c.statement(sql).bind([.text(userId)] + (category.map { [.text($0)] } ?? []))
                .rows { try t.decode($0).userPreference! }
        }
    }

    @_spi(Engine) public func validatedUpdateHeuristic(projectId: String, id: String, patch: HeuristicPatch) throws -> Bool {
        let t = Table.of(.heuristic)
        return try writing { c in
            let read = try c.statement("SELECT \(t.selectList) FROM heuristics WHERE project_id = ? AND id = ?")
                .bind([.text(projectId), .text(id)])
            guard try read.step(), let current = try t.decode(read).heuristic else {
                read.reset()
                return (false, nil)
            }
            let seq = read.int(0)
            try read.run()
            let next = patch.applied(to: current)
            try Validation.patched(next)
            _ = try t.upsert(c, .heuristic(next))
            guard let e = patch.embedding else { return (true, nil) }
            try Journal.append(c, IndexKey(kind: .heuristic, project: projectId), [seq])
            return (true, { _, v in try v.apply(IndexKey(kind: .heuristic, project: projectId), [seq: (e, next.agent)]) })
        }
    }

    @_spi(Engine) public func validatedIncrementHeuristicOccurrence(projectId: String, id: String, success: Bool) throws -> Bool {
        return try writing { c in
            try c.statement("UPDATE heuristics SET occurrence_count = occurrence_count + 1, success_count = success_count + ?, last_validated = ? WHERE project_id = ? AND id = ?")
                .bind([.int(success ? 1 : 0), .int(Timestamp.now().microsecondsSinceEpoch), .text(projectId), .text(id)]).run()
            return (c.changes > 0, nil)
        }
    }

    @_spi(Engine) public func validatedUpdateHeuristicConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try setConfidence(.of(.heuristic), projectId: projectId, id: id, confidence: confidence)
    }

    @_spi(Engine) public func validatedUpdateKnowledgeConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try setConfidence(.of(.domainKnowledge), projectId: projectId, id: id, confidence: confidence)
    }

    private func setConfidence(_ t: Table, projectId: String, id: String, confidence: Double) throws -> Bool {
        return try writing { c in
            try c.statement("UPDATE \(t.name) SET confidence = ? WHERE project_id = ? AND id = ?")
                .bind([.double(confidence), .text(projectId), .text(id)]).run()
            return (c.changes > 0, nil)
        }
    }

    @_spi(Engine) public func validatedDelete(_ key: RecordKey) throws -> Bool {
        let t = Table.of(key.kind)
        let sql = "DELETE FROM \(t.name) WHERE \(t.scope) = ? AND id = ? RETURNING seq"
        return try deleteRows(IndexKey(kind: key.kind, project: key.scope), sql, [.text(key.scope), .text(key.id)]) > 0
    }

    private func deleteRows(_ key: IndexKey, _ sql: String, _ values: [SQLValue]) throws -> Int {
        try writing { c in
            let seqs = try c.statement(sql).bind(values).rows { $0.int(0) }
            if key.kind != .userPreference { try Journal.append(c, key, seqs) }
            return (seqs.count, { c, v in try v.remove(key, seqs, reloadingFrom: c) })
        }
    }

    /// The prune statement; `explainDeleteOutcomes` shows the plan of exactly this text.
    func pruneOutcomesSQL(agent: String?) -> String {
        "DELETE FROM outcomes WHERE project_id = ? AND timestamp < ?" + (agent == nil ? "" : " AND agent = ?") + " RETURNING seq"
    }

    @_spi(Engine) public func validatedDeleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> Int {
        let values: [SQLValue] = [.text(projectId), .int(olderThan.microsecondsSinceEpoch)] + (agent.map { [.text($0)] } ?? [])
        return try deleteRows(IndexKey(kind: .outcome, project: projectId), pruneOutcomesSQL(agent: agent), values)
    }

    @_spi(Engine) public func validatedDeleteHeuristics(projectId: String, confidenceBelow: Double, agent: String?) throws -> Int {
        let sql = "DELETE FROM heuristics WHERE project_id = ? AND confidence < ?" + (agent == nil ? "" : " AND agent = ?") + " RETURNING seq"
        let values: [SQLValue] = [.text(projectId), .double(confidenceBelow)] + (agent.map { [.text($0)] } ?? [])
        return try deleteRows(IndexKey(kind: .heuristic, project: projectId), sql, values)
    }

    @_spi(Engine) public func validatedStats(projectId: String, agent: String?) throws -> StoreStats {
        return try reading { c in
            var stats = StoreStats()
            for kind in MemoryKind.vectorKinds {
                let t = Table.of(kind)
                let s = try c.statement("SELECT count(*), count(embedding) FROM \(t.name) WHERE project_id = ?" + (agent == nil ? "" : " AND agent = ?"))
                    .bind([.text(projectId)] + (agent.map { [.text($0)] } ?? []))
                _ = try s.step()
                stats.records[kind] = Int(s.int(0))
                stats.vectors[kind] = Int(s.int(1))
                try s.run()
            }
            return stats
        }
    }
}
