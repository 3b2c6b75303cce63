import EngramCore
import Foundation

/// A runbook: a sequence of steps played against a store (in the spirit of big-ann-benchmarks'
/// streaming track), each step's cost measured and, at `search` steps, recall@10 checked
/// against brute force over the records live at that moment.
///
/// JSON: `{"name": …, "description": …, "steps": [step…]}`; a step is
/// `{"repeat": N, "steps": [step…]}` or `{"op": OP, …}` with OP one of
/// - `insert` `count` [`batch`]: new outcomes with embeddings, timestamped today;
/// - `replace` `fraction`: re-save that share of the live outcomes with new embeddings;
/// - `delete` `fraction`: delete that share of the live outcomes, one call each;
/// - `prune_outcomes` `keep_days`: delete the outcomes older than the last `keep_days` days;
/// - `insert_heuristics` `count`; `decay_confidence` `factor` (every live heuristic's
///   confidence times factor, one update each); `prune_heuristics` `below`;
/// - `search` `queries`: top-10 searches over the project's outcomes, with recall;
/// - `advance_days` `days`: moves the simulated clock.
extension CaseIterable where Self: CodingKey {
    static var allKeys: [String] { allCases.map(\.stringValue) }
}

public struct Runbook: Decodable, Sendable {
    public var name: String
    public var description: String?
    public var steps: [Step]

    public indirect enum Step: Decodable, Sendable {
        case op(Operation)
        case repeated(Int, [Step])

        enum Keys: String, CodingKey, CaseIterable { case `repeat`, steps }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            if let n = try c.decodeIfPresent(Int.self, forKey: .repeat) {
                try Runbook.onlyKeys(Set(Keys.allKeys), decoder)
                self = .repeated(n, try c.decode([Step].self, forKey: .steps))
            } else {
                try Runbook.onlyKeys(Set(Operation.CodingKeys.allKeys), decoder)
                self = .op(try Operation(from: decoder))
            }
        }
    }

    public struct Operation: Decodable, Sendable {
        public enum Kind: String, Decodable, Sendable, CaseIterable {
            case insert, replace, delete, pruneOutcomes = "prune_outcomes", insertHeuristics = "insert_heuristics"
            case decayConfidence = "decay_confidence", pruneHeuristics = "prune_heuristics", search, advanceDays = "advance_days"
        }
        public var op: Kind
        public var count: Int?
        public var batch: Int?
        public var fraction: Double?
        public var keepDays: Int?
        public var factor: Double?
        public var below: Double?
        public var queries: Int?
        public var days: Int?

        enum CodingKeys: String, CodingKey, CaseIterable { case op, count, batch, fraction, keepDays = "keep_days", factor, below, queries, days }
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case name, description, steps }

    public init(from decoder: any Decoder) throws {
        try Self.onlyKeys(Set(CodingKeys.allKeys), decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        steps = try c.decode([Step].self, forKey: .steps)
    }

    /// A misspelt key (`"batchh"`) or a step that is both a `repeat` and an `op` is an error,
    /// not a silently ignored field.
    static func onlyKeys(_ allowed: Set<String>, _ decoder: any Decoder) throws {
        let present = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue)
        if let unknown = present.first(where: { !allowed.contains($0) }) {
            throw DecodingError.dataCorruptedError(forKey: AnyKey(stringValue: unknown), in: try decoder.container(keyedBy: AnyKey.self),
                                                   debugDescription: "unknown key '\(unknown)' here; expected \(allowed.sorted().joined(separator: ", "))")
        }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// The runbooks that ship with Engram.
    public static let builtIn: [String: String] = [
        "agent-retention": """
        {"name": "agent-retention",
         "description": "30 simulated days of an agent: 2,000 outcomes a day saved in batches of 50, a sliding 7-day prune, 200 heuristics a day whose confidence decays by 10% daily and which are pruned below 0.3, and 50 searches with a recall check at the end of each day",
         "steps": [{"repeat": 30, "steps": [
           {"op": "insert", "count": 2000, "batch": 50},
           {"op": "insert_heuristics", "count": 200},
           {"op": "prune_outcomes", "keep_days": 7},
           {"op": "decay_confidence", "factor": 0.9},
           {"op": "prune_heuristics", "below": 0.3},
           {"op": "search", "queries": 50},
           {"op": "advance_days", "days": 1}]}]}
        """,
        "churn": """
        {"name": "churn",
         "description": "20,000 outcomes, then 20 rounds at a steady size: 5% replaced with new embeddings, 5% deleted, as many inserted, 50 searches with a recall check",
         "steps": [
           {"op": "insert", "count": 20000, "batch": 1000},
           {"op": "search", "queries": 50},
           {"repeat": 20, "steps": [
             {"op": "replace", "fraction": 0.05},
             {"op": "delete", "fraction": 0.05},
             {"op": "insert", "count": 1000, "batch": 100},
             {"op": "search", "queries": 50},
             {"op": "advance_days", "days": 1}]}]}
        """,
    ]

    /// The most steps a runbook may expand to, and the most records it may insert once
    /// scaled (bounds a hostile file's `repeat`s and counts).
    public static let maxSteps = 100_000, maxRecords = 10_000_000
    /// The longest simulated time a runbook may cover (timestamps stay in range).
    public static let maxDays = 36_500
    /// The most live records the steps may touch in all (each decay, replace, delete and
    /// recall check touches every live one): bounds the run, and the dry run before it.
    public static let maxWork = 100_000_000

    /// A built-in runbook by name, or one read from a JSON file; checked (`validate`) with
    /// its record counts multiplied by `scale`.
    public static func load(_ nameOrPath: String, scale: Double = 1) throws -> Runbook {
        let data: Data
        if let text = builtIn[nameOrPath] {
            data = Data(text.utf8)
        } else {
            guard FileManager.default.isReadableFile(atPath: nameOrPath) else {
                throw EngramError.invalid("runbook", "\(nameOrPath) is neither a built-in runbook (\(builtIn.keys.sorted().joined(separator: ", "))) nor a readable file")
            }
            data = try Data(contentsOf: URL(fileURLWithPath: nameOrPath))
        }
        let book: Runbook
        do { book = try JSONDecoder().decode(Runbook.self, from: data) } catch {
            throw EngramError.invalid("runbook", "\(nameOrPath): \(describe(error))")
        }
        try book.validate(scale: scale)
        return book
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c), DecodingError.keyNotFound(_, let c), DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            let path = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return "at \(path.isEmpty ? "the top" : path): \(c.debugDescription)"
        default: return String(describing: error)
        }
    }

    /// Every operation has the fields it needs, in range; the expansion is at most `maxSteps`
    /// steps and `maxRecords` inserted records at `scale`.
    public func validate(scale: Double = 1) throws {
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw EngramError.invalid("runbook.name", "must be letters, digits, '-' or '_' (it names the CSV rows)")
        }
        var expanded = 0, records = 0.0, days = 0
        func check(_ steps: [Step], _ path: String, multiplier: Int) throws {
            for (i, step) in steps.enumerated() {
                let here = "\(path)[\(i)]"
                switch step {
                case .repeated(let n, let inner):
                    guard n >= 1, n <= Self.maxSteps else { throw EngramError.invalid("runbook\(here).repeat", "must be in 1...\(Self.maxSteps)") }
                    let (m, overflow) = multiplier.multipliedReportingOverflow(by: n)
                    guard !overflow, m <= Self.maxSteps else { throw EngramError.invalid("runbook\(here).repeat", "expands to more than \(Self.maxSteps) steps") }
                    try check(inner, here + ".steps", multiplier: m)
                case .op(let o):
                    expanded += multiplier
                    guard expanded <= Self.maxSteps else { throw EngramError.invalid("runbook\(here)", "the runbook expands to more than \(Self.maxSteps) steps") }
                    try o.validate(here)
                    if o.op == .advanceDays {
                        days += multiplier * o.days!
                        guard days <= Self.maxDays else { throw EngramError.invalid("runbook\(here).days", "the runbook covers more than \(Self.maxDays) days") }
                    }
                    if o.op == .insert || o.op == .insertHeuristics {
                        records += Double(multiplier) * max(1, (Double(o.count!) * scale).rounded())
                        guard records <= Double(Self.maxRecords) else {
                            throw EngramError.invalid("runbook\(here).count", "the runbook inserts more than \(Self.maxRecords) records")
                        }
                    }
                }
            }
        }
        try check(steps, ".steps", multiplier: 1)
    }
}

extension Runbook.Operation {
    func validate(_ path: String) throws {
        func need<T: Comparable>(_ value: T?, _ field: String, _ range: ClosedRange<T>) throws {
            guard let value else { throw EngramError.invalid("runbook\(path).\(field)", "\(op.rawValue) needs \(field)") }
            guard range.contains(value) else { throw EngramError.invalid("runbook\(path).\(field)", "must be in \(range.lowerBound)...\(range.upperBound), not \(value)") }
        }
        switch op {
        case .insert, .insertHeuristics:
            try need(count, "count", 1...10_000_000)
            if let batch { try need(batch, "batch", 1...100_000) }
        case .replace, .delete: try need(fraction, "fraction", 0.0...1.0)
        case .pruneOutcomes: try need(keepDays, "keep_days", 0...100_000)
        case .decayConfidence: try need(factor, "factor", 0.0...1.0)
        case .pruneHeuristics: try need(below, "below", 0.0...1.0)
        case .search: try need(queries, "queries", 1...100_000)
        case .advanceDays: try need(days, "days", 1...100_000)
        }
    }
}

extension BenchmarkScenario {
    /// Plays each runbook of the run on a fresh store: per step its cost (`<op>_ms`) and the
    /// live outcome count (n); at `search` steps QPS, latency and recall@10 against brute
    /// force over the live outcomes. Rows carry the step number (the CSV's `step`).
    static let runbook = BenchmarkScenario(
        id: .runbook, summary: "play runbooks (agent-retention, churn, or a JSON file): each step's cost and recall@10 over time",
        charts: [
            .init(file: "runbook-recall", title: "Runbook: recall@10 over time", metric: .recallAt10, yLabel: "recall@10", xLabel: "step",
                  x: { Double($0.step) }, linearX: true, linearY: true),
            .init(file: "runbook-search", title: "Runbook: search p50 over time", metric: .latency(.query, .p50), yLabel: "µs per query", xLabel: "step",
                  x: { Double($0.step) }, linearX: true),
        ],
        steps: { r in
            let books: [Runbook]
            do { books = try names(r.options).map { try Runbook.load($0, scale: r.options.runbookScale ?? 1) } } catch {
                return [Step(label: "runbooks", weight: 0) { throw error }]
            }
            return books.flatMap { book in
                r.backend.variants(.runbook, r.options.dimension).map { v in
                    Step(label: "runbook \(book.name) \(v.name)", weight: RunbookPlayer.weight(book, r)) { try RunbookPlayer(r, book, v).play() }
                }
            }
        },
        summarize: { rows, _ in
            // Per variant/runbook: `runbook.min_recall_at_10.…`, `runbook.final_recall_at_10.…`,
            // `runbook.search_p50_us.first/last.…` and `runbook.total_ms.…`.
            var out: [SummaryKey: Double] = [:]
            for variant in Set(rows.map(\.variant)) {
                let mine = rows.filter { $0.variant == variant }
                let recalls = mine.filter { $0.metric == Metric.recallAt10.name }.sorted { $0.step < $1.step }
                if let last = recalls.last {
                    out[SummaryKey(.runbook, "min_recall_at_10", variant)] = recalls.map(\.value).min()
                    out[SummaryKey(.runbook, "final_recall_at_10", variant)] = last.value
                }
                let p50 = mine.filter { $0.metric == Metric.latency(.query, .p50).name }.sorted { $0.step < $1.step }
                if let first = p50.first, let last = p50.last {
                    out[SummaryKey(.runbook, "search_p50_us", "first", variant)] = first.value
                    out[SummaryKey(.runbook, "search_p50_us", "last", variant)] = last.value
                }
                out[SummaryKey(.runbook, "total_ms", variant)] = mine.filter { $0.metric.hasSuffix("_ms") }.map(\.value).reduce(0, +)
            }
            return out
        },
        vectorsNeeded: { o in (try? names(o).map { try RunbookPlayer.vectorsNeeded(Runbook.load($0, scale: o.runbookScale ?? 1), scale: o.runbookScale ?? 1) }.max() ?? 0) ?? 0 })

    static func names(_ o: BenchOptions) -> [String] { o.runbooks ?? Runbook.builtIn.keys.sorted() }
}

/// Plays one runbook on one variant (or, with no runner, only counts what it would insert).
final class RunbookPlayer {
    private let r: BenchRunner?
    private let book: Runbook
    private let variant: BenchVariant?
    private let scale: Double
    private let workload: Workload
    /// Live outcomes: record number → (vector index, timestamp µs); live heuristics → confidence.
    private var outcomes: [Int: (vector: Int, time: Int64)] = [:]
    private var heuristics: [Int: Double] = [:]
    private var nextRecord = 0, nextVector = 0, nextHeuristic = 0, step = 0, day = 0, work = 0
    /// Heuristics never change what vectors a run needs, so a dry run only counts them (never
    /// fewer than the real run holds: it does not prune).
    private var dryHeuristics = 0
    private var heuristicCount: Int { r == nil ? dryHeuristics : heuristics.count }
    private var random: SeededGenerator

    init(_ r: BenchRunner, _ book: Runbook, _ variant: BenchVariant) {
        self.r = r
        self.book = book
        self.variant = variant
        scale = r.options.runbookScale ?? 1
        workload = r.workload
        random = SeededGenerator(seed: r.options.seed ^ 0x4B00_C0DE)
    }

    private init(dryRun book: Runbook, scale: Double) {
        r = nil
        self.book = book
        variant = nil
        self.scale = scale
        workload = Workload(dimension: 1, seed: 0)
        random = SeededGenerator(seed: 0)
    }

    /// How many record vectors the runbook embeds at this scale.
    static func vectorsNeeded(_ book: Runbook, scale: Double) throws -> Int {
        let p = RunbookPlayer(dryRun: book, scale: scale)
        try p.run(book.steps, store: nil)
        return p.nextVector
    }

    /// A rough cost in seconds for the progress bar: records embedded and searches made.
    static func weight(_ book: Runbook, _ r: BenchRunner) -> Double {
        let vectors = (try? vectorsNeeded(book, scale: r.options.runbookScale ?? 1)) ?? 0
        return Double(vectors) * 2e-4 * r.dimensionScale
    }

    var name: String { "\(variant?.name ?? "")/\(book.name)" }

    func play() throws {
        guard let r, let variant else { return }
        try r.withStore(variant) { store in try run(book.steps, store: store) }
    }

    private func scaled(_ count: Int) -> Int { max(1, Int((Double(count) * scale).rounded())) }

    private var clock: Int64 { workload.t0.microsecondsSinceEpoch + Int64(day) * 86_400_000_000 }

    private func run(_ steps: [Runbook.Step], store: (any MemoryStore)?) throws {
        for s in steps {
            switch s {
            case .repeated(let n, let inner): for _ in 0..<n { try run(inner, store: store) }
            case .op(let o):
                step += 1
                try perform(o, store)
            }
        }
    }

    /// A seeded sample of `fraction` of `keys`.
    private func sample(_ keys: Dictionary<Int, some Any>.Keys, _ fraction: Double) -> [Int] {
        var all = keys.sorted()
        all.shuffle(using: &random)
        return Array(all.prefix(Int((Double(all.count) * fraction).rounded())))
    }

    private func outcome(_ k: Int) -> MemoryRecord {
        let e = outcomes[k]!
        guard case .outcome(var o) = workload.outcome(k, of: Int.max, embedding: false) else { preconditionFailure("the workload makes outcomes") }
        o.timestamp = Timestamp(microsecondsSinceEpoch: e.time)
        o.embedding = r == nil ? nil : workload.vector(e.vector)
        return .outcome(o)
    }

    private func heuristic(_ k: Int) -> MemoryRecord {
        let t = Timestamp(microsecondsSinceEpoch: clock)
        return .heuristic(Heuristic(id: "h\(k)", agent: workload.agents[k % workload.agents.count], projectId: workload.project,
                                    condition: "condition \(k % 97)", strategy: "strategy \(k % 31)", confidence: heuristics[k]!,
                                    occurrenceCount: 1, successCount: 1, lastValidated: t, createdAt: t))
    }

    private func perform(_ o: Runbook.Operation, _ store: (any MemoryStore)?) throws {
        let w = workload
        switch o.op {
        case .insert, .insertHeuristics: work += scaled(o.count!)
        case .replace, .delete, .pruneOutcomes: work += outcomes.count
        case .decayConfidence, .pruneHeuristics: work += heuristicCount
        case .search: work += outcomes.count * o.queries!
        case .advanceDays: break
        }
        guard work <= Runbook.maxWork else {
            throw EngramError.invalid("runbook", "\(book.name) touches more than \(Runbook.maxWork) live records in all by step \(step) (each decay, replace, delete and recall check touches every live one)")
        }
        var ns: Double = 0
        // Only the store's calls are timed; a dry run (no store) only keeps the model.
        func timed(_ body: () throws -> Void) throws { ns += try store == nil ? 0 : time(body) }
        switch o.op {
        case .insert:
            let count = scaled(o.count!), batch = o.batch.map(scaled) ?? count
            var made: [Int] = []
            for i in 0..<count {
                outcomes[nextRecord] = (nextVector, clock + Int64(i))
                made.append(nextRecord)
                nextRecord += 1
                nextVector += 1
            }
            if let store {
                for chunk in made.chunks(batch) {
                    let records = chunk.map(outcome)
                    try timed { _ = try store.save(records) }
                }
            }
        case .replace:
            let chosen = sample(outcomes.keys, o.fraction!)
            for k in chosen {
                outcomes[k]!.vector = nextVector
                nextVector += 1
                if let store {
                    let record = outcome(k)
                    try timed { _ = try store.save([record]) }
                }
            }
        case .delete:
            for k in sample(outcomes.keys, o.fraction!) {
                outcomes[k] = nil
                try timed { _ = try store?.delete(RecordKey(.outcome, scope: w.project, id: "o\(k)")) }
            }
        case .pruneOutcomes:
            let cutoff = clock + 86_400_000_000 - Int64(o.keepDays!) * 86_400_000_000
            let expected = outcomes.filter { $0.value.time < cutoff }.count
            outcomes = outcomes.filter { $0.value.time >= cutoff }
            var removed = expected
            if let store { try timed { removed = try store.deleteOutcomes(projectId: w.project, olderThan: Timestamp(microsecondsSinceEpoch: cutoff), agent: nil) } }
            guard removed == expected else { throw BenchError("runbook \(book.name) step \(step): prune removed \(removed) outcomes, the live model \(expected)") }
        case .insertHeuristics where store == nil: dryHeuristics += scaled(o.count!)
        case .decayConfidence where store == nil, .pruneHeuristics where store == nil: break
        case .insertHeuristics:
            var made: [Int] = []
            for _ in 0..<scaled(o.count!) {
                heuristics[nextHeuristic] = 0.3 + 0.7 * Double(random.next() % 1000) / 1000
                made.append(nextHeuristic)
                nextHeuristic += 1
            }
            if let store {
                let records = made.map(heuristic)
                try timed { _ = try store.save(records) }
            }
        case .decayConfidence:
            for k in heuristics.keys.sorted() {
                let c = heuristics[k]! * o.factor!
                heuristics[k] = c
                try timed { _ = try store?.updateHeuristicConfidence(projectId: w.project, id: "h\(k)", confidence: c) }
            }
        case .pruneHeuristics:
            let expected = heuristics.filter { $0.value < o.below! }.count
            heuristics = heuristics.filter { $0.value >= o.below! }
            var removed = expected
            if let store { try timed { removed = try store.deleteHeuristics(projectId: w.project, confidenceBelow: o.below!, agent: nil) } }
            guard removed == expected else { throw BenchError("runbook \(book.name) step \(step): heuristic prune removed \(removed), the live model \(expected)") }
        case .search:
            guard let store, let r else { return }
            let queries = o.queries!
            let live = outcomes.keys.sorted().map { (id: "o\($0)", v: w.vector(outcomes[$0]!.vector)) }
            // Queries move with the step, so each checkpoint asks new questions.
            let base = step * queries
            let results = try r.measureQueries(.runbook, name, n: outcomes.count, step: step, queries: queries, on: store, keep: queries) { j in
                MemoryQuery(kind: .outcome, projectId: w.project, topK: 10, vector: w.query(base + j))
            }
            // Over no live records recall is undefined, not a figure.
            if !live.isEmpty {
                r.emit(.runbook, name, n: outcomes.count, rep: 1, step: step, .recallAt10, recallOf(results, results.indices.map { exactTop10(w.query(base + $0), live) }))
            }
            return
        case .advanceDays:
            day += o.days!
            return
        }
        r?.emit(.runbook, name, n: outcomes.count, rep: 1, step: step, .stepMs(o.op.rawValue), ns / 1e6)
    }
}
