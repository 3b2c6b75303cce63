import EngramCore

/// One call of the workload, and its text form on the child's stdout.
public enum TortureOp: Sendable {
    /// The embedding dimension of the workload's records.
    public static let dimension = 16

    case save([(MemoryKind, String, Int)])
    case delete(MemoryKind, String)
    case pruneOutcomes(Timestamp)
    case pruneHeuristics(Double)
    case patch(String, Int)
    case increment(String, Bool)
    /// A confidence update of a heuristic or a domain knowledge record.
    case confidence(MemoryKind, String, Int)

    public static let project = "p"
    public static let t0 = Timestamp(microsecondsSinceEpoch: 1_700_000_000_000_000)

    /// The operation kinds coverage is counted by: each must be killed in flight.
    public enum Kind: String, CaseIterable, Sendable {
        case save, batch, delete, pruneOutcomes = "prune-outcomes", pruneHeuristics = "prune-heuristics", patch, increment, confidence
    }

    public var kind: Kind {
        switch self {
        case .save(let items): items.count == 1 ? .save : .batch
        case .delete: .delete
        case .pruneOutcomes: .pruneOutcomes
        case .pruneHeuristics: .pruneHeuristics
        case .patch: .patch
        case .increment: .increment
        case .confidence: .confidence
        }
    }

    /// The `seq`-th call of a seeded workload: single saves, batches of 2–200, deletes, both
    /// prunes, patches, increments and confidence updates over 300 ids of each kind.
    public static func random(_ rng: inout SeededGenerator, seq: Int) -> TortureOp {
        func id() -> String { "k\(rng.next() % 300)" }
        func kind() -> MemoryKind { MemoryKind.vectorKinds[Int(rng.next() % 4)] }
        switch rng.next() % 100 {
        case 0..<26: return .save([(kind(), id(), seq)])
        case 26..<38:
            let n = 2 + Int(rng.next() % 199)
            var seen = Set<String>()
            var items: [(MemoryKind, String, Int)] = []
            for _ in 0..<n {
                let (k, i) = (kind(), id())
                if seen.insert("\(k.rawValue):\(i)").inserted { items.append((k, i, seq)) }
            }
            return .save(items)
        case 38..<53: return .delete(kind(), id())
        case 53..<58: return .pruneOutcomes(t0.adding(microseconds: Int64(seq - 150)))
        case 58..<62: return .pruneHeuristics(Double(rng.next() % 150) / 1000)
        case 62..<75: return .patch(id(), seq)
        case 75..<88: return .increment(id(), rng.next() % 2 == 0)
        default: return .confidence(rng.next() % 2 == 0 ? .heuristic : .domainKnowledge, id(), seq)
        }
    }

    public var line: String {
        switch self {
        case .save(let items): "save " + items.map { "\($0.0.rawValue):\($0.1):\($0.2)" }.joined(separator: " ")
        case .delete(let k, let id): "delete \(k.rawValue) \(id)"
        case .pruneOutcomes(let t): "prune-outcomes \(t.microsecondsSinceEpoch)"
        case .pruneHeuristics(let c): "prune-heuristics \(c)"
        case .patch(let id, let seq): "patch \(id) \(seq)"
        case .increment(let id, let success): "increment \(id) \(success ? 1 : 0)"
        case .confidence(let k, let id, let seq): "confidence \(k.rawValue) \(id) \(seq)"
        }
    }

    public init?(line: String) {
        let w = line.split(separator: " ").map(String.init)
        guard let verb = w.first else { return nil }
        switch (verb, w.count) {
        case ("save", 2...):
            var items: [(MemoryKind, String, Int)] = []
            for item in w.dropFirst() {
                let p = item.split(separator: ":").map(String.init)
                guard p.count == 3, let k = MemoryKind(rawValue: p[0]), let s = Int(p[2]) else { return nil }
                items.append((k, p[1], s))
            }
            self = .save(items)
        case ("delete", 3): guard let k = MemoryKind(rawValue: w[1]) else { return nil }; self = .delete(k, w[2])
        case ("prune-outcomes", 2): guard let t = Int64(w[1]) else { return nil }; self = .pruneOutcomes(Timestamp(microsecondsSinceEpoch: t))
        case ("prune-heuristics", 2): guard let c = Double(w[1]) else { return nil }; self = .pruneHeuristics(c)
        case ("patch", 3): guard let s = Int(w[2]) else { return nil }; self = .patch(w[1], s)
        case ("increment", 3): self = .increment(w[1], w[2] == "1")
        case ("confidence", 4):
            guard let k = MemoryKind(rawValue: w[1]), k == .heuristic || k == .domainKnowledge, let s = Int(w[3]) else { return nil }
            self = .confidence(k, w[2], s)
        default: return nil
        }
    }

    /// The record a save writes: a pure function of kind, id and sequence number.
    public static func record(_ kind: MemoryKind, _ id: String, _ seq: Int) -> MemoryRecord {
        var rng = SeededGenerator(seed: UInt64(seq) &* 31 &+ fnv1a(id))
        let embedding: [Float]? = seq % 5 == 0 ? nil : rng.vector(dimension: TortureOp.dimension)
        let at = t0.adding(microseconds: Int64(seq))
        let agent = "a\(seq % 3)"
        switch kind {
        case .heuristic:
            let occurrences = seq % 10 + 1
            return .heuristic(Heuristic(id: id, agent: agent, projectId: project, condition: "c\(seq)", strategy: "s\(seq)",
                                        confidence: Double(seq % 1000) / 1000, occurrenceCount: occurrences, successCount: seq % occurrences,
                                        lastValidated: at, createdAt: at, embedding: embedding))
        case .outcome:
            return .outcome(Outcome(id: id, agent: agent, projectId: project, taskType: "t\(seq % 4)", taskDescription: "d\(seq)",
                                    success: seq % 2 == 0, strategyUsed: "s", timestamp: at, embedding: embedding))
        case .domainKnowledge:
            return .domainKnowledge(DomainKnowledge(id: id, agent: agent, projectId: project, domain: "dom", fact: "f\(seq)", source: "src",
                                                    confidence: Double(seq % 997) / 997, lastVerified: at, embedding: embedding))
        default:
            return .antiPattern(AntiPattern(id: id, agent: agent, projectId: project, pattern: "p\(seq)", whyBad: "w", betterAlternative: "b",
                                            occurrenceCount: seq % 50, lastSeen: at, createdAt: at, embedding: embedding))
        }
    }

    static func confidence(_ seq: Int) -> Double { Double(seq % 983) / 983 }

    static func patch(_ seq: Int) -> HeuristicPatch {
        var rng = SeededGenerator(seed: UInt64(seq) &* 131)
        return HeuristicPatch(condition: "patched \(seq)", confidence: Double(seq % 991) / 991,
                              embedding: seq % 3 == 0 ? .some(nil) : .some(rng.vector(dimension: TortureOp.dimension)))
    }

    public func perform(on store: any MemoryStore) throws {
        switch self {
        case .save(let items): _ = try store.save(items.map { Self.record($0.0, $0.1, $0.2) })
        case .delete(let k, let id): _ = try store.delete(RecordKey(k, scope: Self.project, id: id))
        case .pruneOutcomes(let t): _ = try store.deleteOutcomes(projectId: Self.project, olderThan: t, agent: nil)
        case .pruneHeuristics(let c): _ = try store.deleteHeuristics(projectId: Self.project, confidenceBelow: c, agent: nil)
        case .patch(let id, let seq): _ = try store.updateHeuristic(projectId: Self.project, id: id, patch: Self.patch(seq))
        case .increment(let id, let success): _ = try store.incrementHeuristicOccurrence(projectId: Self.project, id: id, success: success)
        case .confidence(.heuristic, let id, let seq): _ = try store.updateHeuristicConfidence(projectId: Self.project, id: id, confidence: Self.confidence(seq))
        case .confidence(_, let id, let seq): _ = try store.updateKnowledgeConfidence(projectId: Self.project, id: id, confidence: Self.confidence(seq))
        }
    }

    /// `records` after this call, as the contract defines it.
    public func applied(to records: [RecordKey: MemoryRecord]) -> [RecordKey: MemoryRecord] {
        var r = records
        switch self {
        case .save(let items): for (k, id, seq) in items { r[RecordKey(k, scope: Self.project, id: id)] = Self.record(k, id, seq) }
        case .delete(let k, let id): r[RecordKey(k, scope: Self.project, id: id)] = nil
        case .pruneOutcomes(let t): r = r.filter { !$0.value.isPrunedOutcome(projectId: Self.project, olderThan: t, agent: nil) }
        case .pruneHeuristics(let c): r = r.filter { !$0.value.isPrunedHeuristic(projectId: Self.project, confidenceBelow: c, agent: nil) }
        case .patch(let id, let seq):
            let key = RecordKey(.heuristic, scope: Self.project, id: id)
            if let next = try? r[key]?.patched(Self.patch(seq)) { r[key] = next }
        case .increment(let id, let success):
            let key = RecordKey(.heuristic, scope: Self.project, id: id)
            if let next = r[key]?.incrementingOccurrence(success: success) { r[key] = next }
        case .confidence(let k, let id, let seq):
            let key = RecordKey(k, scope: Self.project, id: id)
            if let next = r[key]?.settingConfidence(Self.confidence(seq)) { r[key] = next }
        }
        return r
    }

    /// Heuristics whose `lastValidated` this call sets to "now" (unknown to the model).
    public var clockedKey: RecordKey? {
        if case .increment(let id, _) = self { return RecordKey(.heuristic, scope: Self.project, id: id) }
        return nil
    }
}

/// What the store must hold: the records after every acknowledged call, in order.
public struct TortureModel: Sendable {
    public init() {}
    public private(set) var records: [RecordKey: MemoryRecord] = [:]
    /// Heuristics whose lastValidated was set by an increment's clock: compared without it.
    private var clocked = Set<RecordKey>()
    public private(set) var acknowledgedTotal = 0

    /// Applies the acknowledged calls of one child's output; returns their count and the
    /// call that was in flight when the child died, if any.
    public mutating func apply(_ output: String) -> (Int, TortureOp?) {
        // Only whole lines count: the text after the last line break was cut by the kill, and
        // its call never started (each line is flushed before its call).
        apply(lines: output.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init))
    }

    /// Applies the acknowledged calls among a child's whole output lines.
    public mutating func apply(lines: [String]) -> (Int, TortureOp?) {
        var pending: TortureOp?
        var acked = 0
        for line in lines {
            if line.hasPrefix("begin ") {
                pending = TortureOp(line: String(line.dropFirst(6)))
            } else if line == "ack", let op = pending {
                advance(op)
                acked += 1
                pending = nil
            }
        }
        acknowledgedTotal += acked
        return (acked, pending)
    }

    private mutating func advance(_ op: TortureOp) {
        records = op.applied(to: records)
        if case .save(let items) = op { for (k, id, _) in items { clocked.remove(RecordKey(k, scope: TortureOp.project, id: id)) } }
        if let key = op.clockedKey, records[key] != nil { clocked.insert(key) }
        clocked = clocked.filter { records[$0] != nil }
    }

    private func same(_ actual: MemoryRecord?, _ expected: MemoryRecord?, _ key: RecordKey, alsoClocked: RecordKey? = nil) -> Bool {
        guard clocked.contains(key) || key == alsoClocked, case .heuristic(var e)? = expected, case .heuristic(let a)? = actual else { return actual == expected }
        e.lastValidated = a.lastValidated
        return MemoryRecord.heuristic(e) == actual
    }

    /// Checks `store` against the model; the call in flight must have happened wholly or
    /// not at all, and the model then takes whichever it was. Returns keys checked and violations.
    public mutating func check(_ store: any MemoryStore, pending: TortureOp?) -> (Int, [String]) {
        var violations: [String] = []
        do {
            var actual: [RecordKey: MemoryRecord] = [:]
            for kind in MemoryKind.vectorKinds {
                for hit in try store.query(MemoryQuery(kind: kind, projectId: TortureOp.project, topK: MemoryQuery.maxTopK)) { actual[hit.record.key] = hit.record }
            }
            let after = pending.map { $0.applied(to: records) }
            let keys = Set(records.keys).union(after.map { Array($0.keys) } ?? []).union(actual.keys)
            func matches(_ expected: [RecordKey: MemoryRecord], clock: RecordKey? = nil) -> [RecordKey] {
                Array(keys.filter { !same(actual[$0], expected[$0], $0, alsoClocked: clock) })
            }
            let offBefore = matches(records)
            if let pending, let after, !offBefore.isEmpty {
                // An increment in flight stamped lastValidated with the child's clock: compare it without.
                let offAfter = matches(after, clock: pending.clockedKey)
                if offAfter.isEmpty {
                    records = after
                    if let key = pending.clockedKey, records[key] != nil { clocked.insert(key) }
                    if case .save(let items) = pending { for (k, id, _) in items { clocked.remove(RecordKey(k, scope: TortureOp.project, id: id)) } }
                } else {
                    violations.append("the call in flight (\(pending.line.prefix(60))) is neither absent nor whole: \(offBefore.count) records differ from before it, \(offAfter.count) from after it, e.g. \(describe(offAfter.first ?? offBefore[0], actual))")
                }
            } else if !offBefore.isEmpty {
                violations.append("\(offBefore.count) records differ from the acknowledged calls, e.g. \(describe(offBefore[0], actual))")
            }
            if !violations.isEmpty {
                // Reported once: later rounds are checked from what the store holds now.
                records = actual
                clocked = Set(actual.keys.filter { $0.kind == .heuristic })
                return (records.count, violations)
            }
            for key in records.keys {
                if try !same(store.get(key), records[key], key) { violations.append("get \(key) differs from the model") }
            }
            if let introspect = store as? any VectorIntrospecting {
                var expected: [MemoryKind: Int] = [:]
                for kind in MemoryKind.vectorKinds { expected[kind] = records.values.filter { $0.kind == kind && $0.embedding != nil }.count }
                let held = try introspect.vectorsHeld()
                if held != expected { violations.append("vectors held \(held) != live records with an embedding \(expected)") }
            }
            var rng = SeededGenerator(seed: UInt64(acknowledgedTotal))
            for kind in MemoryKind.vectorKinds {
                let q = MemoryQuery(kind: kind, projectId: TortureOp.project, topK: 10, vector: rng.vector(dimension: TortureOp.dimension))
                for hit in try store.query(q) where !same(hit.record, records[hit.record.key], hit.record.key) {
                    violations.append("search returned \(hit.record.key), which is not live as the model has it")
                }
            }
        } catch {
            violations.append("the store failed to answer after reopening: \(error)")
        }
        return (records.count, violations)
    }

    private func describe(_ key: RecordKey, _ actual: [RecordKey: MemoryRecord]) -> String {
        switch (records[key], actual[key]) {
        case (nil, _?): "\(key) is present but was deleted or never acknowledged"
        case (_?, nil): "\(key) was acknowledged but is missing"
        default: "\(key) has another value than acknowledged"
        }
    }
}
