import Conformance
import EngramBench
import EngramCatalog
import EngramCore
import EngramExternal
import Foundation

/// One finding of the database review (summarised in docs/review.md) and
/// how the harness tests it: the conformance scenarios that fail where it holds, and the
/// measurement that shows it.
public struct Finding: Sendable {
    public enum Measure: Sendable {
        /// Vectors of deleted records still in the index after a search (needs introspection).
        case vectorLeak
        /// The growth of one domain-knowledge delete's p50 with the index size (a·n^b).
        case deleteGrowth
        /// Records/s of one batch save over single saves.
        case batchRatio
        /// The prune's time at the largest size.
        case pruneTime
        /// Cross-partition queries issued by single-record calls (Cosmos DB only).
        case crossPartitionQueries

        public var label: String {
            switch self {
            case .vectorLeak: "the vectors the index holds after single deletes and a search (introspection)"
            case .deleteGrowth: "the growth of a domain-knowledge delete's cost with n"
            case .batchRatio: "batch over single-save throughput (benchmark)"
            case .pruneTime: "the prune's time (benchmark)"
            case .crossPartitionQueries: "the cross-partition queries single-record calls send"
            }
        }
    }

    public let id: String
    public let title: String
    public let claim: String
    /// The storage families it concerns (`sqlite`, `files`, `postgres`, `cosmos`); empty: every backend.
    public let families: Set<String>
    public let scenarios: [String]
    public var measure: Measure?
    /// Why the harness cannot reach it through a store's interface, when it cannot.
    public var unreachable: String?

    /// The review's findings that the contract reaches. Each names the storage family it
    /// concerns and only the scenarios that fail *because of it* (not every scenario a store
    /// with the defect might also fail for other reasons).
    public static let all: [Finding] = [
        Finding(id: "HIGH-001", title: "SQLite embeddings never deleted",
                claim: "delete removes the row but not its vector (save uses plural index names, delete singular): deleted memories stay in the index and the index grows",
                families: ["sqlite"], scenarios: ["delete.vector-slot-reclaimed"], measure: .vectorLeak),
        Finding(id: "HIGH-003", title: "No timestamp index on outcomes (PostgreSQL)",
                claim: "outcome prunes and time-ordered reads scan the table: no (project_id, timestamp) index",
                families: ["postgres"], scenarios: ["query-plan.prune-uses-timestamp-index"], measure: .pruneTime),
        Finding(id: "NEW-001", title: "No timestamp index on outcomes (SQLite)",
                claim: "the same for SQLite: the prune is a full scan",
                families: ["sqlite"], scenarios: ["query-plan.prune-uses-timestamp-index"], measure: .pruneTime),
        Finding(id: "HIGH-004", title: "IVFFlat index built on an empty table",
                claim: "the vector index is created before any row, so its lists are empty and searches miss neighbours",
                families: ["postgres"], scenarios: ["query.vector.ranking", "query.filter-then-rank.at-scale", "query.filter-then-rank.selective"],
                unreachable: nil),
        Finding(id: "MED-001", title: "File storage has no upsert",
                claim: "saving a record again appends a second copy instead of replacing it",
                families: ["files"], scenarios: ["upsert.no-duplicates", "upsert.full-replace"]),
        Finding(id: "MED-003", title: "No batch operations",
                claim: "records are saved one call (and one commit) at a time; no atomic batch",
                families: [], scenarios: [], measure: .batchRatio),
        Finding(id: "MED-004", title: "SQLite FAISS index rebuilt on delete",
                claim: "each delete rebuilds the whole FAISS index from the database: a delete costs O(n)",
                families: ["sqlite"], scenarios: [], measure: .deleteGrowth),
        Finding(id: "MED-007", title: "Cosmos DB cross-partition queries for updates",
                claim: "single-record updates find the record with a cross-partition query instead of a point read in its partition",
                families: ["cosmos"], scenarios: ["update.heuristic-patch", "update.increment"], measure: .crossPartitionQueries),
        Finding(id: "NEW-002", title: "Cosmos DB lacks the confidence updates",
                claim: "update_heuristic_confidence and update_knowledge_confidence are missing",
                families: ["cosmos"], scenarios: ["update.heuristic-confidence", "update.knowledge-confidence"]),
        Finding(id: "NEW-003", title: "Bare exception handling (PostgreSQL)",
                claim: "the IVFFlat index creation is wrapped in `except Exception: pass`: a failed index build is silently ignored",
                families: ["postgres"], scenarios: [],
                unreachable: "no operation of the contract makes index creation fail; Engram's PostgreSQL reports every DDL failure but 'already exists' with the server's message (swift test: PostgresFaults)"),
    ]
}

/// A finding's verdict on one backend, with the evidence.
public struct Verdict: Sendable, Equatable {
    public enum Kind: String, Sendable { case reproduced, fixed, notApplicable = "not applicable", notReachable = "not reachable", inconclusive }
    public var kind: Kind
    public var evidence: String

    public init(kind: Kind, evidence: String) {
        self.kind = kind
        self.evidence = evidence
    }
}

/// The review's findings run on backends: the conformance scenarios of each finding, a
/// benchmark slice and the probes, and a verdict per finding and backend with its evidence.
/// `engram findings` parses its options and calls this.
public struct FindingsRun {
    /// A backend under review: its column name, its storage family (`sqlite`, `files`,
    /// `postgres`, `cosmos`; empty when an adapter does not say) and its catalog entry.
    public struct Target {
        public let name: String
        public let family: String
        public let entry: BackendCatalog.Entry
        public init(name: String, family: String, entry: BackendCatalog.Entry) {
            self.name = name
            self.family = family
            self.entry = entry
        }
    }

    /// Records in the benchmark slice (deletes also at a quarter of it).
    public var records: Int
    public var dimension: Int
    /// Backends measured by scenarios only, without the slice.
    public var scenariosOnly: Set<String>
    /// Progress lines (to standard error in the command line).
    public var log: (String) -> Void

    public init(records: Int, dimension: Int, scenariosOnly: Set<String> = [], log: @escaping (String) -> Void = { _ in }) {
        self.records = records
        self.dimension = dimension
        self.scenariosOnly = scenariosOnly
        self.log = log
    }


    /// Every finding's verdict on one backend, the slice's figures, and what it runs (the
    /// adapter's own name and version from `hello`, never its command line).
    public func judge(_ target: Target) throws -> ([String: Verdict], [String: Double], String?) {
        log("findings: \(target.name): conformance scenarios")
        let scratch = ScratchDirectory(prefix: "engram-findings")
        // Only the scenarios of the findings that concern this backend's family.
        let ids = Array(Set(Finding.all.filter { $0.families.isEmpty || $0.families.contains(target.family) }.flatMap(\.scenarios))).sorted()
        // PostgreSQL at full scale, so that searches pass its exact-ranking limit (20,000
        // matches) and the HNSW index is what answers (HIGH-004).
        let scale = target.family == "postgres" ? ConformanceSuite.fullScale : ConformanceSuite.quickScale
        let results = ids.isEmpty ? [:] : Dictionary(uniqueKeysWithValues: ConformanceSuite(fixture: target.entry.fixture(scratch.url, dimension), only: ids, scale: scale)
            .run().filter { ids.contains($0.id) }.map { ($0.id, $0) })
        var figures: [String: Double] = [:]
        var version: String?
        if !scenariosOnly.contains(target.name) {
            log("findings: \(target.name): benchmark slice at \(records) records")
            let (measured, manifest) = try benchSlice(target, scratch: scratch.url)
            figures = measured
            version = manifest.versions.filter { ["sqlite", "libpq", "faiss"].contains($0.key) }.map { "\($0.key) \($0.value)" }.sorted().joined(separator: ", ")
        }
        var probes = ProbeResults()
        let (batch, adapter) = try batchProbe(target, scratch: scratch.url)
        probes.batch = batch
        if let adapter { version = adapter }
        if target.family == "cosmos", target.entry.name == "cosmos" { probes.crossPartition = try crossPartitionProbe(target, scratch: scratch.url) }
        if target.family == "sqlite" {
            probes.leak = try vectorLeakProbe(target, scratch: scratch.url)
            if !scenariosOnly.contains(target.name) {
                log("findings: \(target.name): domain-knowledge deletes at \(records / 4) and \(records)")
                probes.deleteGrowth = try deleteGrowthProbe(target, scratch: scratch.url)
            }
        }
        var verdicts: [String: Verdict] = [:]
        for finding in Finding.all { verdicts[finding.id] = verdict(finding, family: target.family, name: target.name, entryName: target.entry.name, results, figures, probes) }
        return (verdicts, figures, version)
    }

    /// Engram's (or the adapter's) own variant of each scenario at the slice's sizes.
    func benchSlice(_ target: Target, scratch: URL) throws -> ([String: Double], Manifest) {
        guard let full = target.entry.bench else { throw EngramError(.notSupported, "\(target.name) registers no benchmark variants") }
        let own = BenchBackend(name: target.name, versions: full.versions,
                               variants: { s, d in full.variants(s, d).filter { $0.name == full.engramVariant(s) } },
                               engramVariant: full.engramVariant, finish: full.finish)
        var o = BenchOptions()
        o.scenarios = [.delete, .prune, .batch, .search, .scale]
        o.deleteSizes = [records / 4, records]
        o.pruneSizes = [records]
        o.batchSizes = [1_000]
        o.searchSizes = [records]
        o.repetitions = 2
        o.deleteOps = 50
        o.searchQueries = 50
        o.dimension = dimension
        let run = try BenchRunner(backend: own, options: o, scratch: scratch).run()
        func median(_ scenario: BenchScenario, _ variant: String, _ n: Int, _ metric: Metric) -> Double? {
            let v = run.measurements.filter { $0.scenario == scenario.rawValue && $0.variant == variant && $0.n == n && $0.metric == metric.name }.map(\.value).sorted()
            return v.isEmpty ? nil : v[v.count / 2]
        }
        let search = full.engramVariant(.search) + "/" + VariantName.unfiltered
        var figures: [String: Double] = [
            "batch_records_per_s": median(.batch, VariantName.batch, 1_000, .recordsPerSecond),
            "single_records_per_s": median(.batch, VariantName.single, 1_000, .recordsPerSecond),
            "search_p50_us": median(.search, search, records, .latency(.query, .p50)),
            "search_qps": median(.search, search, records, .queriesPerSecond),
            "search_recall_at_10": median(.search, search, records, .recallAt10),
            "delete_p50_us": median(.delete, full.engramVariant(.delete), records, .latency(.delete, .p50)),
            "delete_search_p50_us": median(.delete, full.engramVariant(.delete), records, .latency(.pair, .p50)),
            "prune_ms": median(.prune, full.engramVariant(.prune), records, .pruneMs),
        ].compactMapValues { $0 }
        // The delete's growth exponent, over whatever sizes the run fitted it.
        let growth = SummaryKey.exponent(.delete, full.engramVariant(.delete), .latency(.delete, .p50), from: 0, to: 0).name
        if let b = run.manifest.summary.first(where: { $0.key.scenario == .scale && $0.key.name == growth })?.value {
            figures["delete_growth_b"] = b
        }
        return (figures, run.manifest)
    }

    /// What the probes of one backend found.
    public struct ProbeResults {
        public var crossPartition: Int?
        /// Vectors held beyond the live records with an embedding, per kind.
        public var leak: [MemoryKind: Int]?
        public var deleteGrowth: (b: Double, p50: [Int: Double])?
        public var batch: BatchOutcome?
        public init() {}
    }

    /// What a batch of three, the second with a wrong-dimension embedding, did.
    public enum BatchOutcome {
        /// Refused, nothing stored.
        case atomic
        /// Failed after storing this many.
        case leftPart(Int)
        /// Accepted; this many stored.
        case acceptedInvalid(Int)
    }

    /// MED-003's atomicity: one save call of three outcomes, the second with a 3-component
    /// embedding (4 when the store's dimension is 3). Counted with `stats` afterwards.
    func batchProbe(_ target: Target, scratch: URL) throws -> (BatchOutcome, adapter: String?) {
        let store = try target.entry.fixture(scratch, dimension).makeEmpty()
        defer { try? store.close() }
        var g = SeededGenerator(seed: 5)
        let records = (0..<3).map { i in Self.probeRecord(.outcome, "b\(i)", g.vector(dimension: i == 1 ? (dimension == 3 ? 4 : 3) : dimension)) }
        let failed: Bool
        do { _ = try store.save(records); failed = false } catch { failed = true }
        let stored = try store.stats(projectId: "p", agent: nil).records[.outcome] ?? 0
        let outcome: BatchOutcome = failed ? (stored == 0 ? .atomic : .leftPart(stored)) : .acceptedInvalid(stored)
        return (outcome, (store as? ExternalStore).map { "adapter \($0.adapterVersion)" })
    }

    /// A record of `kind` with an embedding, in project `p`.
    static func probeRecord(_ kind: MemoryKind, _ id: String, _ v: [Float]) -> MemoryRecord {
        let t = Timestamp(microsecondsSinceEpoch: 1_700_000_000_000_000)
        return switch kind {
        case .heuristic: .heuristic(Heuristic(id: id, agent: "a", projectId: "p", condition: "c", strategy: "s", confidence: 0.5, occurrenceCount: 1, successCount: 0, lastValidated: t, createdAt: t, embedding: v))
        case .outcome: .outcome(Outcome(id: id, agent: "a", projectId: "p", taskType: "t", taskDescription: "d", success: true, strategyUsed: "s", timestamp: t, embedding: v))
        case .domainKnowledge: .domainKnowledge(DomainKnowledge(id: id, agent: "a", projectId: "p", domain: "x", fact: "f", source: "s", lastVerified: t, embedding: v))
        case .antiPattern: .antiPattern(AntiPattern(id: id, agent: "a", projectId: "p", pattern: "p", whyBad: "w", betterAlternative: "b", occurrenceCount: 1, lastSeen: t, createdAt: t, embedding: v))
        case .userPreference: .userPreference(UserPreference(id: id, userId: "u", category: "c", preference: "p", source: "s", timestamp: t))
        }
    }

    /// HIGH-001 as a user meets it: four records of each vector kind, two deleted one by one,
    /// one search per kind (a store may rebuild lazily on it), then the vectors the index holds
    /// against the live records with an embedding. Nil without introspection.
    func vectorLeakProbe(_ target: Target, scratch: URL) throws -> [MemoryKind: Int]? {
        let store = try target.entry.fixture(scratch, dimension).makeEmpty()
        defer { try? store.close() }
        guard store.capabilities.contains(.vectorIntrospection), let intro = store as? any VectorIntrospecting else { return nil }
        var g = SeededGenerator(seed: 11)
        for kind in MemoryKind.vectorKinds {
            for i in 0..<4 { try store.save(Self.probeRecord(kind, "k\(i)", g.vector(dimension: dimension))) }
            for i in 0..<2 { _ = try store.delete(RecordKey(kind, scope: "p", id: "k\(i)")) }
            _ = try store.query(MemoryQuery(kind: kind, projectId: "p", topK: 10, vector: g.vector(dimension: dimension)))
        }
        let held = try intro.vectorsHeld()
        return Dictionary(uniqueKeysWithValues: MemoryKind.vectorKinds.map { ($0, (held[$0] ?? 0) - 2) })
    }

    /// MED-004: the p50 of 20 single domain-knowledge deletes (the kind whose delete rebuilds
    /// in the original) at a quarter of the slice's size and at its size, and b of a·n^b.
    func deleteGrowthProbe(_ target: Target, scratch: URL) throws -> (b: Double, p50: [Int: Double]) {
        var p50: [Int: Double] = [:]
        for n in [records / 4, records] {
            let store = try target.entry.fixture(scratch, dimension).makeEmpty()
            defer { try? store.close() }
            var g = SeededGenerator(seed: UInt64(n))
            for start in stride(from: 0, to: n, by: 1_000) {
                _ = try store.save((start..<min(n, start + 1_000)).map { Self.probeRecord(.domainKnowledge, "d\($0)", g.vector(dimension: dimension)) })
            }
            var ns: [Double] = []
            for i in 0..<20 {
                let key = RecordKey(.domainKnowledge, scope: "p", id: "d\((i * 7_919) % n)")
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = try store.delete(key)
                ns.append(Double(DispatchTime.now().uptimeNanoseconds - t0))
            }
            p50[n] = ns.sorted()[ns.count / 2] / 1000
        }
        let b = Foundation.log(p50[records]! / p50[records / 4]!) / Foundation.log(4.0)
        return (b, p50)
    }

    /// Single-record calls on a Cosmos DB store, counting the cross-partition queries they send.
    func crossPartitionProbe(_ target: Target, scratch: URL) throws -> Int? {
        let store = try target.entry.fixture(scratch, dimension).makeEmpty()
        defer { try? store.close() }
        guard let counting = store as? any CrossPartitionCounting else { return nil }
        var before = 0
        try Probes.singleRecordCalls(on: store) { before = counting.crossPartitionQueries }
        return counting.crossPartitionQueries - before
    }

    /// The verdict rules: a finding of another family is not applicable; one no store call can
    /// reach is not reachable; a measured finding is judged on its probe (batch atomicity and
    /// speed, delete growth b against 0.2 and 0.5, leaked vectors, cross-partition queries);
    /// otherwise a failed scenario reproduces it, a passed one shows it fixed.
    /// `entryName` is the catalog entry's name (`external` for an adapter).
    public func verdict(_ f: Finding, family: String, name: String, entryName: String, _ results: [String: ScenarioResult],
                        _ figures: [String: Double], _ probes: ProbeResults) -> Verdict {
        if !f.families.isEmpty, !f.families.contains(family) {
            return Verdict(kind: .notApplicable, evidence: family.isEmpty ? "concerns \(f.families.sorted().joined(separator: ", ")); the adapter's family is not named" : "concerns \(f.families.sorted().joined(separator: ", ")), not \(family)")
        }
        if let why = f.unreachable { return Verdict(kind: .notReachable, evidence: why) }
        let scenario = f.scenarios.compactMap { results[$0] }
        let failed = scenario.filter { $0.status == .failed }
        let passed = scenario.filter { $0.status == .passed }
        var measured = ""
        switch f.measure {
        case .pruneTime?: measured = figures["prune_ms"].map { "prune of 1,000 at \(records): \(fmt($0)) ms" } ?? ""
        case .batchRatio?:
            // A batch interface is atomic (the contract's `batch.all-or-nothing`) and cheaper per
            // record than single saves; the probe shows the first, the slice the second.
            var speed = ""
            var slow = false
            if let b = figures["batch_records_per_s"], let s = figures["single_records_per_s"], s > 0 {
                speed = "batch of 1,000: \(fmt(b / s))x the single-save rate (\(fmt(b)) vs \(fmt(s)) records/s)"
                slow = b / s < 1.5
            }
            let join = { (a: String, b: String) in [a, b].filter { !$0.isEmpty }.joined(separator: "; ") }
            switch probes.batch {
            case .leftPart(let k)?: return Verdict(kind: .reproduced, evidence: join("not atomic: a batch of 3 whose second record has a wrong-dimension embedding failed and left \(k) of its records stored", speed))
            case .acceptedInvalid(let k)?:
                if slow { return Verdict(kind: .reproduced, evidence: join("no faster than single saves", speed)) }
                return Verdict(kind: .notReachable, evidence: join("atomicity not shown: the store accepted a batch whose second record has a wrong-dimension embedding (\(k) of 3 stored; it validates nothing that could fail a batch)", speed.isEmpty ? "batch speed not measured (scenarios only)" : speed))
            case .atomic?:
                if slow { return Verdict(kind: .reproduced, evidence: join("atomic, but no faster than single saves", speed)) }
                return Verdict(kind: .fixed, evidence: join("atomic: a batch with one bad record was refused and stored nothing", speed))
            case nil: return Verdict(kind: .notReachable, evidence: "the batch probe did not run")
            }
        case .deleteGrowth?:
            guard let (b, p50) = probes.deleteGrowth else {
                return Verdict(kind: .notReachable, evidence: scenariosOnly.contains(name) ? "not measured: scenarios only (--scenarios-only)" : "no delete measurements")
            }
            let at = "one domain-knowledge delete: p50 \(fmt(p50[records / 4] ?? .nan)) µs at \(records / 4) records, \(fmt(p50[records] ?? .nan)) µs at \(records)"
            let pair = figures["delete_search_p50_us"].map { "; a delete then a search: p50 \(fmt($0)) µs at \(records) (a rebuild deferred to the next search shows here)" } ?? ""
            // Targets of docs/benchmarks.md: b < 0.2 is a delete whose cost does not grow with n.
            if b >= 0.5 { return Verdict(kind: .reproduced, evidence: "a delete costs more as the index grows: b = \(fmt(b)); \(at)\(pair)") }
            if b < 0.2 { return Verdict(kind: .fixed, evidence: "a delete's cost does not grow with n: b = \(fmt(b)); \(at)\(pair)") }
            return Verdict(kind: .inconclusive, evidence: "b = \(fmt(b)), between 0.2 and 0.5; \(at)")
        case .vectorLeak?:
            if let leak = probes.leak {
                let extra = leak.filter { $0.value > 0 }
                if let lost = leak.first(where: { $0.value < 0 }) {
                    return Verdict(kind: .inconclusive, evidence: "the index holds fewer vectors than the live \(lost.key.rawValue) records with an embedding (\(2 + lost.value) of 2)")
                }
                if !extra.isEmpty {
                    return Verdict(kind: .reproduced, evidence: "after deleting 2 of 4 records per kind and one search, the index still holds " + extra.sorted { $0.key < $1.key }.map { "\($0.value) vector(s) of deleted \($0.key.rawValue) records" }.joined(separator: ", ") + (failed.isEmpty ? "" : "; " + failed.map { "\($0.id) FAILED: \($0.reason.prefix(200))" }.joined(separator: "; ")))
                }
                return Verdict(kind: .fixed, evidence: "after deleting 2 of 4 records per kind and one search, the index holds exactly the live records' vectors" + (failed.isEmpty ? "" : "; but " + failed.map { "\($0.id) FAILED: \($0.reason.prefix(200))" }.joined(separator: "; ")))
            }
        case .crossPartitionQueries?:
            if let n = probes.crossPartition {
                return n > 0 ? Verdict(kind: .reproduced, evidence: "\(n) cross-partition queries for 6 single-record calls")
                    : Verdict(kind: .fixed, evidence: "0 cross-partition queries for 6 single-record calls (get, patch, increment, both confidence updates, delete)" + (failed.isEmpty ? "" : "; but " + failed.map { "\($0.id): \($0.reason)" }.joined(separator: "; ")))
            }
            if entryName == "external" { return Verdict(kind: .notReachable, evidence: "the adapter protocol does not show which requests cross partitions") }
        case nil: break
        }
        if !failed.isEmpty {
            return Verdict(kind: .reproduced, evidence: failed.map { "\($0.id) FAILED: \($0.reason.prefix(240))" }.joined(separator: "; ") + (measured.isEmpty ? "" : "; " + measured))
        }
        if passed.isEmpty {
            let why = scenario.first.map { "\($0.id) skipped: \($0.reason)" } ?? "no scenario reaches it"
            return Verdict(kind: .notReachable, evidence: why + (measured.isEmpty ? "" : "; measured: " + measured))
        }
        return Verdict(kind: .fixed, evidence: "passed: " + passed.map(\.id).joined(separator: ", ") + (measured.isEmpty ? "" : "; " + measured))
    }

}

/// The findings' report: a verdict per finding and backend with its evidence, and the slice's
/// figures, as Markdown, JSON and a screen table.
public struct FindingsReport {
    public let targets: [String]
    public let rows: [String: [String: Verdict]]
    public let performance: [(String, [String: Double])]
    public let records: Int
    public let dimension: Int
    public let versions: [String: String]

    public init(targets: [String], rows: [String: [String: Verdict]], performance: [(String, [String: Double])], records: Int, dimension: Int, versions: [String: String]) {
        self.targets = targets
        self.rows = rows
        self.performance = performance
        self.records = records
        self.dimension = dimension
        self.versions = versions
    }

    static let figures: [(key: String, label: String)] = [
        ("batch_records_per_s", "batch save, records/s (1,000 per batch)"), ("single_records_per_s", "single saves, records/s"),
        ("search_p50_us", "search p50, µs (top 10, unfiltered)"), ("search_qps", "search, queries/s"), ("search_recall_at_10", "search recall@10"),
        ("delete_p50_us", "delete p50, µs"), ("delete_search_p50_us", "delete then search p50, µs"),
        ("delete_growth_b", "outcome delete cost growth b (a·n^b)"), ("prune_ms", "prune 1,000 oldest outcomes, ms"),
    ]

    public func markdown() -> String {
        var s = "# The review's findings, per backend\n\n"
        s += "Produced by `engram findings` (\(records) records, dimension \(dimension)). Verdicts: **reproduced** (a scenario or probe that tests the finding fails, or its measurement shows it), **fixed** (its scenarios and probes pass; a failure of a scenario for another reason is quoted after \"but\"), **not applicable** (the finding concerns another storage family), **not reachable** (the backend's interface cannot show it; the reason is given), **inconclusive** (the evidence points neither way, or the run failed; the reason is given). Adapter figures include the adapter protocol's overhead (JSON lines over a pipe). A \"-\" is a figure not measured: the backend ran scenarios only, or the run failed.\n\n"
        for (name, v) in versions.sorted(by: { $0.key < $1.key }) where !v.isEmpty { s += "- `\(name)`: \(v)\n" }
        s += "\n| finding | " + targets.joined(separator: " | ") + " |\n|---|" + targets.map { _ in "---|" }.joined() + "\n"
        for f in Finding.all {
            s += "| \(f.id) \(f.title) | " + targets.map { rows[f.id]?[$0]?.kind.rawValue ?? "-" }.joined(separator: " | ") + " |\n"
        }
        s += "\n## Evidence\n"
        for f in Finding.all {
            s += "\n### \(f.id): \(f.title)\n\n\(f.claim). Tested by: \((f.scenarios.map { "`\($0)`" } + (f.measure.map { [$0.label] } ?? [])).joined(separator: " and ")).\n\n"
            for t in targets { if let v = rows[f.id]?[t] { s += "- **\(t)**: \(v.kind.rawValue). \(v.evidence.replacingOccurrences(of: "\n", with: " "))\n" } }
        }
        s += "\n## Performance at \(records) records, dimension \(dimension)\n\n| measure | " + targets.joined(separator: " | ") + " |\n|---|" + targets.map { _ in "---|" }.joined() + "\n"
        let perf = Dictionary(performance, uniquingKeysWith: { a, _ in a })
        for (key, label) in Self.figures {
            s += "| \(label) | " + targets.map { perf[$0]?[key].map(fmt) ?? "-" }.joined(separator: " | ") + " |\n"
        }
        return s
    }

    public func json() -> JSONValue {
        .object([
            "records": .int(Int64(records)), "dimension": .int(Int64(dimension)),
            "backends": .array(targets.map(JSONValue.string)),
            "versions": .object(versions.mapValues(JSONValue.string)),
            "findings": .array(Finding.all.map { f in
                .object(["id": .string(f.id), "title": .string(f.title), "claim": .string(f.claim),
                         "scenarios": .array(f.scenarios.map(JSONValue.string)),
                         "verdicts": .object((rows[f.id] ?? [:]).mapValues { .object(["verdict": .string($0.kind.rawValue), "evidence": .string($0.evidence)]) })])
            }),
            "performance": .object(Dictionary(performance.map { ($0.0, JSONValue.object($0.1.mapValues(JSONValue.double))) }, uniquingKeysWith: { a, _ in a })),
        ])
    }

    public func screen() -> String {
        let width = max(14, targets.map(\.count).max() ?? 0) + 2
        var s = "finding".padding(toLength: 46, withPad: " ", startingAt: 0) + targets.map { $0.padding(toLength: width, withPad: " ", startingAt: 0) }.joined() + "\n"
        for f in Finding.all {
            s += "\(f.id) \(f.title)".prefix(44).padding(toLength: 46, withPad: " ", startingAt: 0)
            s += targets.map { (rows[f.id]?[$0]?.kind.rawValue ?? "-").padding(toLength: width, withPad: " ", startingAt: 0) }.joined() + "\n"
        }
        return s
    }
}

private func fmt(_ x: Double) -> String { x.isFinite ? String(format: "%.3g", x) : "-" }
