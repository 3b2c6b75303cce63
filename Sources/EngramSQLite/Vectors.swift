import EngramCore
import EngramVectorIndex

/// One vector index per kind and project.
struct IndexKey: Hashable {
    var kind: MemoryKind
    var project: String

    /// The project compared exactly (`String.isExactly`): canonically equivalent spellings are
    /// two projects, two indexes.
    static func == (a: IndexKey, b: IndexKey) -> Bool { a.kind == b.kind && a.project.isExactly(b.project) }
    func hash(into h: inout Hasher) {
        h.combine(kind)
        h.combine(ExactText(project))
    }
}

/// The vector indexes of one store and what they reflect: only reachable through the store's
/// `ReadersWriterLock` (shared by searches, exclusive for every change below).
struct VectorState {
    var indexes: [IndexKey: VectorIndex] = [:]
    /// The agent of every vector, per index (see `AgentPostings`).
    var postings: [IndexKey: AgentPostings] = [:]
    /// Kinds whose indexes must be reloaded before the next search (`rebuildOnNextSearch`).
    var stale: Set<MemoryKind> = []
    /// The last journal version the indexes reflect.
    var applied: Int64 = 0
    var closed = false
    /// Times the indexes were read again from the rows because the journal could not bring
    /// them up to date (entries trimmed past this store, a malformed entry).
    var resynchronisations = 0
    let dimension: Int
    let maintenance: SQLiteStore.VectorMaintenance

    init(dimension: Int, maintenance: SQLiteStore.VectorMaintenance) {
        self.dimension = dimension
        self.maintenance = maintenance
    }

    /// Rebuilds every index of `kind` (and its agent postings) from its embedding column: the
    /// only source of truth.
    mutating func reload(_ kind: MemoryKind, from c: Connection) throws {
        let table = Table.of(kind)
        var fresh: [IndexKey: VectorIndex] = [:]
        var postings: [IndexKey: AgentPostings] = [:]
        var pending: [IndexKey: (ids: [Int64], vectors: [[Float]])] = [:]
        func flush(_ key: IndexKey) throws {
            guard let batch = pending.removeValue(forKey: key) else { return }
            if fresh[key] == nil { fresh[key] = try VectorIndex(dimension: dimension) }
            try fresh[key]!.add(batch.vectors, ids: batch.ids)
        }
        let rows = try c.statement("SELECT seq, project_id, agent, embedding FROM \(table.name) WHERE embedding IS NOT NULL")
        defer { rows.reset() }
        while try rows.step() {
            let v = rows.floats(3) ?? []
            guard v.count == dimension else {
                throw EngramError(.corrupt, "\(table.name) row \(rows.int(0)) has an embedding of \(v.count) components, expected \(dimension)")
            }
            let key = IndexKey(kind: kind, project: rows.text(1))
            pending[key, default: ([], [])].ids.append(rows.int(0))
            pending[key]!.vectors.append(v)
            postings[key, default: AgentPostings()].set(rows.int(0), agent: rows.text(2))
            if pending[key]!.ids.count == 8192 { try flush(key) }
        }
        for key in Array(pending.keys) { try flush(key) }
        indexes = indexes.filter { $0.key.kind != kind }.merging(fresh) { $1 }
        self.postings = self.postings.filter { $0.key.kind != kind }.merging(postings) { $1 }
    }

    /// Reloads every index from `c`, and the journal version they reflect (in one snapshot: the
    /// caller's transaction).
    mutating func reloadAll(from c: Connection) throws {
        for kind in MemoryKind.vectorKinds { try reload(kind, from: c) }
        applied = try Journal.latest(c)
        stale.removeAll()
    }

    /// Reloads every index in a read transaction of its own on `c` (outside any transaction).
    mutating func resynchronise(from c: Connection) throws {
        try c.execute("BEGIN")
        defer { try? c.execute("COMMIT") }
        try reloadAll(from: c)
    }

    /// Applies final vector states (`nil` = no vector) for the given row ids, with their agents.
    mutating func apply(_ key: IndexKey, _ changes: [Int64: (vector: [Float]?, agent: String)]) throws {
        guard !changes.isEmpty else { return }
        if indexes[key] == nil { indexes[key] = try VectorIndex(dimension: dimension) }
        let index = indexes[key]!
        let present = changes.keys.filter { index.contains($0) }
        try index.remove(present, using: maintenance == .faissRemoveIds ? .faissRemoveIds : .swapWithLast)
        let added = changes.compactMap { seq, change in change.vector.map { (seq, $0) } }
        try index.add(added.map(\.1), ids: added.map(\.0))
        for (seq, change) in changes { postings[key, default: AgentPostings()].set(seq, agent: change.vector == nil ? nil : change.agent) }
    }

    /// Removes deleted rows' vectors according to `maintenance`.
    mutating func remove(_ key: IndexKey, _ seqs: [Int64], reloadingFrom c: Connection) throws {
        guard key.kind != .userPreference, !seqs.isEmpty else { return }
        switch maintenance {
        case .swapRemove: try indexes[key]?.remove(seqs, using: .swapWithLast)
        case .faissRemoveIds: try indexes[key]?.remove(seqs, using: .faissRemoveIds)
        case .rebuildOnDelete: try reload(key.kind, from: c); return
        case .rebuildOnNextSearch: stale.insert(key.kind); return
        }
        for seq in seqs { postings[key]?.set(seq, agent: nil) }
    }

    /// Takes records out of the indexes that held them (a journal entry's first half).
    mutating func forget(_ key: IndexKey, _ seq: Int64) throws {
        try indexes[key]?.remove([seq], using: .swapWithLast)
        postings[key]?.set(seq, agent: nil)
    }
}

/// The agent of every vector in one index and the vectors of every agent, kept in step with
/// the index: an agent filter (the contract's most common) becomes an allow-list without a
/// query, so a filtered search costs in proportion to its matches.
struct AgentPostings {
    private var agentOf: [Int64: String] = [:]
    /// Keyed by the exact spelling (`ExactText`): canonically equivalent agents are two.
    private var members: [ExactText: Set<Int64>] = [:]

    /// Records `seq`'s agent; nil when it no longer has a vector.
    mutating func set(_ seq: Int64, agent: String?) {
        if let old = agentOf[seq], !agent.isExactly(old) {
            members[ExactText(old)]?.remove(seq)
            if members[ExactText(old)]?.isEmpty == true { members[ExactText(old)] = nil }
        }
        agentOf[seq] = agent
        if let agent { members[ExactText(agent), default: []].insert(seq) }
    }

    /// The vectors of any of `agents`.
    func allowed(_ agents: [String]) -> [Int64] {
        var out: [Int64] = []
        out.reserveCapacity(agents.reduce(0) { $0 + (members[ExactText($1)]?.count ?? 0) })
        for a in agents { if let m = members[ExactText(a)] { out.append(contentsOf: m) } }
        return out
    }
}
