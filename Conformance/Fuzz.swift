import Dispatch
import EngramCore
import EngramReference
import Foundation
import Synchronization

/// Differential fuzzing: random histories of every operation of the contract, run on the
/// backend under test and on the reference store side by side, every result compared.
///
/// A history is a pure function of `(seed, index, length, dimension)`, so a divergence is
/// reproduced from those numbers alone; shrinking keeps the indices of the operations
/// that still make it diverge (delta debugging), and the report names them. Results are
/// compared exactly — records bit for bit, order, stats, errors by code and field — except
/// vector scores (within `scoreTolerance`, and ties within it may come in either order),
/// and `lastValidated` of heuristics whose increments stamped it with the clock.
public struct Fuzzer: Sendable {
    public var fixture: StoreFixture
    public var seed: UInt64
    /// Operations per history.
    public var length: Int
    /// How far a backend's cosine may be from the reference's (Float32 storage and kernels).
    public static let scoreTolerance = 1e-4

    public init(fixture: StoreFixture, seed: UInt64, length: Int) {
        self.fixture = fixture
        self.seed = seed
        self.length = length
    }

    /// A history that diverged: which one, the operations kept by shrinking, and why.
    public struct Divergence: Sendable {
        public var index: Int
        public var kept: [Int]
        public var operations: [String]
        public var reason: String
    }

    /// The operations of history `index` for stores of `dimension`.
    public func history(_ index: Int, dimension: Int) -> [FuzzOp] {
        var rng = SeededGenerator(seed: seed &* 0x9E37_79B9 &+ UInt64(index))
        let make = Make(dimension: dimension)
        return (0..<length).map { _ in FuzzOp.random(&rng, make) }
    }

    /// Runs `ops` on a fresh backend store and a fresh reference store; the first
    /// divergence, or nil. A store that cannot be made is a divergence too.
    public func divergence(_ ops: [FuzzOp]) -> String? {
        var ignored = FuzzCoverage()
        return divergence(ops, coverage: &ignored)
    }

    /// `divergence`, counting in `coverage` the operations run and the errors the contract
    /// gave (the reference store's answers) — once per history each.
    func divergence(_ ops: [FuzzOp], coverage: inout FuzzCoverage) -> String? {
        var operations = Set<String>(), succeeded = Set<String>(), errors = Set<String>()
        defer { coverage.add(operations: operations, succeeded: succeeded, errors: errors) }
        let store: any MemoryStore
        do { store = try fixture.makeEmpty() } catch { return "could not make an empty store: \(error)" }
        defer { try? store.close() }
        let reference = ReferenceStore(embeddingDimension: store.embeddingDimension)
        var clocked = Set<RecordKey>()
        for (i, op) in ops.enumerated() {
            let expected = op.run(on: reference, clocked: &clocked)
            operations.insert(op.name)
            if case .error(let code, let field) = expected {
                errors.insert("\(code.rawValue)" + (field.map { "[\($0)]" } ?? ""))
            } else {
                succeeded.insert(op.name)
            }
            var ignored = clocked
            let actual = op.run(on: store, clocked: &ignored)
            if let why = FuzzOutcome.difference(actual, expected, clocked: clocked) {
                return "operation \(i) (\(op)): \(why)"
            }
        }
        return nil
    }

    /// Runs histories `0..<count`; returns the shrunk divergences (at most `stopAfter`).
    public func run(histories count: Int, stopAfter: Int = 1, progress: (Int) -> Void = { _ in }) -> [Divergence] {
        runWithCoverage(histories: count, stopAfter: stopAfter, progress: progress).divergences
    }

    /// Runs histories `0..<count`: the shrunk divergences (at most `stopAfter`) and what the
    /// histories exercised.
    public func runWithCoverage(histories count: Int, stopAfter: Int = 1, progress: (Int) -> Void = { _ in }) -> (divergences: [Divergence], coverage: FuzzCoverage) {
        var coverage = FuzzCoverage()
        let dimension: Int
        do {
            let probe = try fixture.makeEmpty()
            dimension = probe.embeddingDimension
            try? probe.close()
        } catch {
            return ([Divergence(index: 0, kept: [], operations: [], reason: "could not make an empty store: \(error)")], coverage)
        }
        var found: [Divergence] = []
        for index in 0..<count {
            progress(index)
            let ops = history(index, dimension: dimension)
            guard divergence(ops, coverage: &coverage) != nil else { continue }
            found.append(shrink(index: index, ops))
            if found.count >= stopAfter { break }
        }
        return (found, coverage)
    }

    /// Delta debugging (ddmin) over the operations of a diverging history.
    public func shrink(index: Int, _ ops: [FuzzOp]) -> Divergence {
        var kept = Array(ops.indices)
        func fails(_ subset: [Int]) -> Bool { divergence(subset.map { ops[$0] }) != nil }
        var n = 2
        while kept.count >= 2 {
            let chunk = (kept.count + n - 1) / n
            var reduced = false
            for start in stride(from: 0, to: kept.count, by: chunk) {
                let complement = Array(kept[..<start] + kept[min(kept.count, start + chunk)...])
                if !complement.isEmpty, fails(complement) {
                    kept = complement
                    n = max(n - 1, 2)
                    reduced = true
                    break
                }
            }
            if !reduced {
                if n >= kept.count { break }
                n = min(n * 2, kept.count)
            }
        }
        let reason = divergence(kept.map { ops[$0] }) ?? "the divergence did not reproduce"
        return Divergence(index: index, kept: kept, operations: kept.map { "\(ops[$0])" }, reason: reason)
    }

    /// The report of `divergence` as JSON (`engram replay` reads it back).
    public func report(_ d: Divergence, backend: String) -> JSONValue {
        .object([
            "backend": .string(backend), "seed": .string(String(seed)), "length": .int(Int64(length)),
            "history": .int(Int64(d.index)), "kept": .array(d.kept.map { .int(Int64($0)) }),
            "operations": .array(d.operations.map(JSONValue.string)), "reason": .string(d.reason),
        ])
    }

    /// Re-runs the kept operations of a report on this fuzzer's backend.
    public func replay(_ report: JSONValue, dimension: Int) throws -> String? {
        guard let o = report.objectValue, case .int(let index)? = o["history"], case .array(let kept)? = o["kept"] else {
            throw EngramError.invalid("report", "not a fuzz report: expected history and kept")
        }
        let ops = history(Int(index), dimension: dimension)
        let indices = try kept.map { v -> Int in
            guard case .int(let i) = v, i >= 0, Int(i) < ops.count else { throw EngramError.invalid("kept", "operation index out of range") }
            return Int(i)
        }
        return divergence(indices.map { ops[$0] })
    }
}

/// How many histories exercised each operation and met each error of the contract: a fuzz
/// run that never ran an operation did not test it, and says so.
public struct FuzzCoverage: Sendable {
    public private(set) var histories = 0
    /// Histories that ran each operation (`FuzzOp.names`), by name.
    public private(set) var operations: [String: Int] = [:]
    /// Histories in which each operation succeeded at least once (the contract did not refuse it).
    public private(set) var succeeded: [String: Int] = [:]
    /// Histories in which the contract answered with each error code (and field).
    public private(set) var errors: [String: Int] = [:]

    mutating func add(operations ops: Set<String>, succeeded ok: Set<String>, errors errs: Set<String>) {
        histories += 1
        for o in ops { operations[o, default: 0] += 1 }
        for o in ok { succeeded[o, default: 0] += 1 }
        for e in errs { errors[e, default: 0] += 1 }
    }

    /// Operations no history ran, or none ran without an error.
    public var neverRun: [String] { FuzzOp.names.filter { operations[$0] == nil } }
    public var neverSucceeded: [String] { FuzzOp.names.filter { succeeded[$0] == nil } }

    public var table: String {
        var out = "operation                     histories  succeeded in\n"
        for name in FuzzOp.names {
            let ran = String(operations[name] ?? 0)
            out += name.padding(toLength: 30, withPad: " ", startingAt: 0) + ran.padding(toLength: 11, withPad: " ", startingAt: 0) + String(succeeded[name] ?? 0) + "\n"
        }
        out += "error                         histories\n"
        for (e, n) in errors.sorted(by: { $0.key < $1.key }) { out += e.padding(toLength: 30, withPad: " ", startingAt: 0) + String(n) + "\n" }
        return out
    }
}

/// One operation of a fuzz history.
public enum FuzzOp: Sendable, CustomStringConvertible {
    case save([MemoryRecord])
    case get(RecordKey)
    case query(MemoryQuery)
    case preferences(String, String?)
    case patch(String, String, HeuristicPatch)
    case increment(String, String, Bool)
    case concurrentIncrements(String, String, threads: Int, each: Int)
    case heuristicConfidence(String, String, Double)
    case knowledgeConfidence(String, String, Double)
    case delete(RecordKey)
    case pruneOutcomes(String, Timestamp, String?)
    case pruneHeuristics(String, Double, String?)
    case stats(String, String?)

    /// Every operation's name in coverage reports.
    public static let names = ["save", "save-batch", "get", "query", "query-by-vector", "query-preferences", "update-heuristic", "increment",
                               "concurrent-increments", "update-heuristic-confidence", "update-knowledge-confidence", "delete",
                               "prune-outcomes", "prune-heuristics", "stats"]

    public var name: String {
        switch self {
        case .save(let rs): rs.count == 1 ? "save" : "save-batch"
        case .get: "get"
        case .query(let q): q.vector == nil ? "query" : "query-by-vector"
        case .preferences: "query-preferences"
        case .patch: "update-heuristic"
        case .increment: "increment"
        case .concurrentIncrements: "concurrent-increments"
        case .heuristicConfidence: "update-heuristic-confidence"
        case .knowledgeConfidence: "update-knowledge-confidence"
        case .delete: "delete"
        case .pruneOutcomes: "prune-outcomes"
        case .pruneHeuristics: "prune-heuristics"
        case .stats: "stats"
        }
    }

    static func random(_ rng: inout SeededGenerator, _ make: Make) -> FuzzOp {
        func pick<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
        func chance(_ percent: UInt64) -> Bool { rng.next() % 100 < percent }
        // Up to five projects and agents; two canonically equivalent spellings of é among the
        // projects, ids and agents (two of each); ids at the 256-byte limit.
        let project = pick(["p1", "p1", "p2", "p3", "\u{E9}", "e\u{301}"])
        let id = pick(["a", "b", "c", "d", "e", "f", "\u{E9}", "e\u{301}", String(repeating: "x", count: 255) + "y", String(repeating: "\u{E9}", count: 128)])
        let agent = pick(["a1", "a2", "a1", "a2", "a3", "a4", "a5", "\u{E9}", "e\u{301}"])
        let pool: [UInt64] = [1, 2, 3, 4, 5, 6, 7]  // a few vectors, so that searches meet equal and near scores
        func vector() -> [Float]? { chance(20) ? nil : make.vector(pick(pool)) }
        func bad() -> Bool { chance(6) }
        /// Random metadata: nested, with edge numbers and Unicode keys and strings.
        func metadata(_ depth: Int = 0) -> JSONValue {
            let keys = ["k", "source", "日本", "a b", "\u{1F600}", "é"]
            func object() -> JSONValue {
                var o: [String: JSONValue] = [:]
                for _ in 0..<Int(rng.next() % 4) { o[pick(keys)] = metadata(depth + 1) }
                return .object(o)
            }
            if depth == 0 { return object() }
            switch rng.next() % (depth > 2 ? 5 : 7) {
            case 0: return .null
            case 1: return .bool(chance(50))
            case 2: return .int(pick([0, -1, 42, Int64.max, Int64.min]))
            case 3: return .double(pick([0.5, 0.1, 1e300, Double.leastNonzeroMagnitude, -2.5e-8]))
            case 4: return .string(pick(["", "x", "é", "e\u{301}", "日本", "\u{1F600}", "tab\tquote\"back\\"]))
            case 5: return .array((0..<Int(rng.next() % 3)).map { _ in metadata(depth + 1) })
            default: return object()
            }
        }
        func record() -> MemoryRecord {
            let at = Int64(rng.next() % 50)
            var r: MemoryRecord
            switch rng.next() % 5 {
            case 0: r = .heuristic(make.heuristic(id, project: project, agent: agent, confidence: Double(rng.next() % 5) / 4, occurrences: 3, successes: 1, embedding: vector(), at: at))
            case 1: r = .outcome(make.outcome(id, project: project, agent: agent, taskType: pick(["api", "db"]), success: chance(50), at: at, embedding: vector()))
            case 2: r = .domainKnowledge(make.knowledge(id, project: project, agent: agent, domain: pick(["auth", "db"]), confidence: Double(rng.next() % 5) / 4, embedding: vector()))
            case 3: r = .antiPattern(make.antiPattern(id, project: project, agent: agent, occurrences: Int(rng.next() % 3), embedding: vector()))
            default: r = .userPreference(make.preference(id, user: pick(["u1", "u2"]), category: pick(["style", "tools"]), at: at))
            }
            if chance(40) { r = r.with(metadata: metadata()) }
            if bad() {
                switch (r, rng.next() % 3) {
                case (.heuristic(var h), 0): h.confidence = 1.5; r = .heuristic(h)
                case (.outcome(var o), 1): o.embedding = [Float](repeating: .nan, count: make.dimension); r = .outcome(o)
                default: r = r.withId("")
                }
            }
            return r
        }
        let kind = pick(MemoryKind.vectorKinds)
        switch rng.next() % 100 {
        case 0..<25: return .save([record()])
        case 25..<35: return .save((0..<(1 + Int(rng.next() % 5))).map { _ in record() })
        case 35..<43: return .get(RecordKey(pick(MemoryKind.allCases), scope: kind == .heuristic ? "u1" : project, id: id))
        case 43..<58:
            var q = MemoryQuery(kind: kind, projectId: project, topK: bad() ? 0 : 1 + Int(rng.next() % 6))
            if chance(30) { q.agents = chance(10) ? [] : [agent] + (chance(50) ? ["a2"] : []) }
            if kind == .outcome, chance(30) { q.taskType = "api" }
            if kind == .outcome, chance(20) { q.successOnly = true }
            if kind == .domainKnowledge, chance(30) { q.domain = "auth" }
            if kind == .heuristic || kind == .domainKnowledge, chance(25) { q.minConfidence = 0.5 }
            if chance(60) { q.vector = make.vector(pick(pool)) }
            return .query(q)
        case 58..<62: return .preferences(pick(["u1", "u2"]), chance(50) ? nil : (bad() ? "st\u{0}yle" : "style"))
        case 62..<67:
            let patch = HeuristicPatch(condition: chance(50) ? "patched" : nil, confidence: chance(50) ? (bad() ? -1 : 0.25) : nil,
                                       successCount: chance(20) ? 9 : nil, metadata: chance(30) ? metadata() : nil, embedding: chance(40) ? .some(vector()) : nil)
            return .patch(project, id, patch)
        case 67..<71: return .increment(project, id, chance(50))
        case 71..<73: return .concurrentIncrements(project, id, threads: 4, each: 5)
        case 73..<76: return .heuristicConfidence(project, id, bad() ? .nan : Double(rng.next() % 5) / 4)
        case 76..<79: return .knowledgeConfidence(project, id, Double(rng.next() % 5) / 4)
        case 79..<89: return .delete(RecordKey(kind, scope: project, id: id))
        case 89..<93: return .pruneOutcomes(project, make.t0.adding(microseconds: Int64(rng.next() % 60)), chance(30) ? agent : nil)
        case 93..<96: return .pruneHeuristics(project, Double(rng.next() % 5) / 4, chance(30) ? agent : nil)
        default: return .stats(project, chance(30) ? agent : nil)
        }
    }

    /// Runs the operation; records which heuristics an increment stamped with the clock.
    func run(on store: any MemoryStore, clocked: inout Set<RecordKey>) -> FuzzOutcome {
        do {
            switch self {
            case .save(let rs):
                let ids = try store.save(rs)
                for r in rs { clocked.remove(r.key) }
                return .ids(ids)
            case .get(let k): return .record(try store.get(k))
            case .query(let q): return .ranked(try store.query(q))
            case .preferences(let u, let c): return .records(try store.queryPreferences(userId: u, category: c).map(MemoryRecord.userPreference))
            case .patch(let p, let id, let patch): return .bool(try store.updateHeuristic(projectId: p, id: id, patch: patch))
            case .increment(let p, let id, let s):
                let changed = try store.incrementHeuristicOccurrence(projectId: p, id: id, success: s)
                if changed { clocked.insert(RecordKey(.heuristic, scope: p, id: id)) }
                return .bool(changed)
            case .concurrentIncrements(let p, let id, let threads, let each):
                let changed = Atomic<Int>(0)
                onThreads(threads) { _ in
                    for _ in 0..<each where (try? store.incrementHeuristicOccurrence(projectId: p, id: id, success: true)) == true {
                        changed.add(1, ordering: .relaxed)
                    }
                }
                let total = changed.load(ordering: .relaxed)
                if total > 0 { clocked.insert(RecordKey(.heuristic, scope: p, id: id)) }
                return .count(total)
            case .heuristicConfidence(let p, let id, let c): return .bool(try store.updateHeuristicConfidence(projectId: p, id: id, confidence: c))
            case .knowledgeConfidence(let p, let id, let c): return .bool(try store.updateKnowledgeConfidence(projectId: p, id: id, confidence: c))
            case .delete(let k):
                clocked.remove(k)
                return .bool(try store.delete(k))
            case .pruneOutcomes(let p, let t, let a): return .count(try store.deleteOutcomes(projectId: p, olderThan: t, agent: a))
            case .pruneHeuristics(let p, let c, let a): return .count(try store.deleteHeuristics(projectId: p, confidenceBelow: c, agent: a))
            case .stats(let p, let a): return .stats(try store.stats(projectId: p, agent: a))
            }
        } catch let e as EngramError {
            return .error(e.code, e.field)
        } catch {
            return .error(EngramError.Code(rawValue: "\(type(of: error))"), nil)
        }
    }

    public var description: String {
        func rec(_ r: MemoryRecord) -> String { "\(r.kind.rawValue) \(r.scope)/\(r.id.debugDescription)\(r.embedding == nil ? "" : " +vector")" }
        switch self {
        case .save(let rs): return "save [" + rs.map(rec).joined(separator: ", ") + "]"
        case .get(let k): return "get \(k)"
        case .query(let q):
            var parts = ["query \(q.kind.rawValue) in \(q.projectId) top \(q.topK)"]
            if let a = q.agents { parts.append("agents \(a.sorted())") }
            if let t = q.taskType { parts.append("task_type \(t)") }
            if let d = q.domain { parts.append("domain \(d)") }
            if let m = q.minConfidence { parts.append("min_confidence \(m)") }
            if q.successOnly { parts.append("success_only") }
            if q.vector != nil { parts.append("by vector") }
            return parts.joined(separator: ", ")
        case .preferences(let u, let c): return "query_preferences \(u) \(c.map { $0.debugDescription } ?? "any")"
        case .patch(let p, let id, let patch): return "update_heuristic \(p)/\(id) \(patch)"
        case .increment(let p, let id, let s): return "increment \(p)/\(id) success \(s)"
        case .concurrentIncrements(let p, let id, let t, let e): return "increment \(p)/\(id) from \(t) threads × \(e)"
        case .heuristicConfidence(let p, let id, let c): return "update_heuristic_confidence \(p)/\(id) \(c)"
        case .knowledgeConfidence(let p, let id, let c): return "update_knowledge_confidence \(p)/\(id) \(c)"
        case .delete(let k): return "delete \(k)"
        case .pruneOutcomes(let p, let t, let a): return "delete_outcomes_older_than \(p) \(t) agent \(a ?? "any")"
        case .pruneHeuristics(let p, let c, let a): return "delete_low_confidence_heuristics \(p) \(c) agent \(a ?? "any")"
        case .stats(let p, let a): return "stats \(p) agent \(a ?? "any")"
        }
    }
}

/// What one operation returned, in a comparable form.
enum FuzzOutcome {
    case ids([String])
    case record(MemoryRecord?)
    case records([MemoryRecord])
    case ranked([ScoredRecord])
    case bool(Bool)
    case count(Int)
    case stats(StoreStats)
    case error(EngramError.Code, String?)

    /// Why `actual` differs from the reference's `expected`, or nil when it does not.
    static func difference(_ actual: FuzzOutcome, _ expected: FuzzOutcome, clocked: Set<RecordKey>) -> String? {
        func same(_ a: MemoryRecord?, _ b: MemoryRecord?) -> Bool {
            guard let a, let b else { return a == nil && b == nil }
            var b2 = b
            if clocked.contains(a.key), case .heuristic(let ha) = a, case .heuristic(var hb) = b {
                hb.lastValidated = ha.lastValidated
                b2 = .heuristic(hb)
            }
            // `==` on records compares strings up to canonical equivalence: the keys and agents exactly too.
            return a == b2 && a.key == b2.key && a.agent.isExactly(b2.agent) && bitsEqual(a.embedding, b2.embedding)
        }
        switch (actual, expected) {
        case (.error(let c1, let f1), .error(let c2, let f2)):
            return c1 == c2 && f1 == f2 ? nil : "error \(c1) [\(f1 ?? "-")], the reference says \(c2) [\(f2 ?? "-")]"
        case (.error(let c, let f), _): return "error \(c) [\(f ?? "-")], the reference succeeded with \(expected.summary)"
        case (_, .error(let c, let f)): return "succeeded with \(actual.summary), the reference rejects it: \(c) [\(f ?? "-")]"
        case (.ids(let a), .ids(let b)): return a.count == b.count && zip(a, b).allSatisfy({ $0.isExactly($1) }) ? nil : "ids \(a), the reference \(b)"
        case (.record(let a), .record(let b)):
            if same(a, b) { return nil }
            guard let a, let b else { return "record \(a.map { "\($0.key)" } ?? "nil"), the reference \(b.map { "\($0.key)" } ?? "nil")" }
            return fieldDifference(a, b)
        case (.records(let a), .records(let b)):
            return a.count == b.count && zip(a, b).allSatisfy({ same($0, $1) }) ? nil : "records \(a.map(\.id)), the reference \(b.map(\.id))"
        case (.ranked(let a), .ranked(let b)): return rankingDifference(a, b, same: same)
        case (.bool(let a), .bool(let b)): return a == b ? nil : "\(a), the reference \(b)"
        case (.count(let a), .count(let b)): return a == b ? nil : "\(a), the reference \(b)"
        case (.stats(let a), .stats(let b)): return a == b ? nil : "stats \(a), the reference \(b)"
        default: return "\(actual.summary), the reference \(expected.summary)"
        }
    }

    /// Rankings agree when they have the same length, scores within the tolerance at every
    /// rank, and the same records — up to the order of records whose scores tie within it
    /// (and, at the cut-off, which of the tied records made it in).
    static func rankingDifference(_ a: [ScoredRecord], _ b: [ScoredRecord], same: (MemoryRecord?, MemoryRecord?) -> Bool) -> String? {
        guard a.count == b.count else { return "\(a.count) results \(a.map(\.record.id)), the reference \(b.count) \(b.map(\.record.id))" }
        let tol = Fuzzer.scoreTolerance
        for (i, (x, y)) in zip(a, b).enumerated() {
            switch (x.score, y.score) {
            case (nil, nil): if !same(x.record, y.record) { return "result \(i) is \(x.record.key), the reference \(y.record.key)" }
            case (let s?, let t?):
                guard abs(s - t) <= tol else { return "result \(i) scores \(s), the reference \(t) (\(x.record.key) vs \(y.record.key))" }
                if !same(x.record, y.record) {
                    // Allowed only for a tie: the reference holds this record at a tied score, or it tied at the cut-off.
                    let tied = b.filter { abs(($0.score ?? .nan) - s) <= tol }
                    let atCutoff = abs((b.last?.score ?? .nan) - s) <= tol
                    guard tied.contains(where: { same($0.record, x.record) }) || atCutoff else {
                        return "result \(i) is \(x.record.key) (\(s)), the reference \(y.record.key) (\(t))"
                    }
                }
            default: return "result \(i) has score \(x.score.map { "\($0)" } ?? "none"), the reference \(y.score.map { "\($0)" } ?? "none")"
            }
        }
        return nil
    }

    /// The fields in which two records differ, with both values (shortened).
    static func fieldDifference(_ a: MemoryRecord, _ b: MemoryRecord) -> String {
        func fields(_ r: MemoryRecord) -> [(String, String)] {
            guard let inner = Mirror(reflecting: r).children.first?.value else { return [] }
            return Mirror(reflecting: inner).children.map { ($0.label ?? "?", String(describing: $0.value)) }
        }
        let diffs = zip(fields(a), fields(b)).filter { $0.1 != $1.1 }.map { x, y in
            x.0 == "embedding" ? "embedding differs" : "\(x.0) \(x.1.prefix(60)), the reference \(y.1.prefix(60))"
        }
        return "record \(a.key): " + (diffs.isEmpty ? "embedding bits differ" : diffs.joined(separator: "; "))
    }

    var summary: String {
        switch self {
        case .ids(let ids): "ids \(ids)"
        case .record(let r): r.map { "record \($0.key)" } ?? "nil"
        case .records(let rs): "\(rs.count) records"
        case .ranked(let rs): "\(rs.count) results"
        case .bool(let b): "\(b)"
        case .count(let n): "\(n)"
        case .stats(let s): "\(s)"
        case .error(let c, let f): "error \(c) [\(f ?? "-")]"
        }
    }
}

extension MemoryRecord {
    /// The same record under another id, or with other metadata.
    func with(id: String? = nil, metadata: JSONValue? = nil) -> MemoryRecord {
        switch self {
        case .heuristic(var x): x.id = id ?? x.id; x.metadata = metadata ?? x.metadata; return .heuristic(x)
        case .outcome(var x): x.id = id ?? x.id; x.metadata = metadata ?? x.metadata; return .outcome(x)
        case .domainKnowledge(var x): x.id = id ?? x.id; x.metadata = metadata ?? x.metadata; return .domainKnowledge(x)
        case .antiPattern(var x): x.id = id ?? x.id; x.metadata = metadata ?? x.metadata; return .antiPattern(x)
        case .userPreference(var x): x.id = id ?? x.id; x.metadata = metadata ?? x.metadata; return .userPreference(x)
        }
    }

    func withId(_ id: String) -> MemoryRecord { with(id: id) }
}
