import Conformance
import EngramCore
import EngramReference
import Synchronization
import Testing

/// Forwards everything to a reference store; subclasses break one rule on purpose.
class BrokenStore: MemoryStore, @unchecked Sendable {
    // @unchecked: subclasses keep their extra state behind `extra` (a Mutex).
    let inner = ReferenceStore()
    var backendName: String { "broken" }
    var embeddingDimension: Int { inner.embeddingDimension }
    var capabilities: Set<Capability> { [] }
    func save(_ records: [MemoryRecord]) throws -> [String] { try inner.save(records) }
    func get(_ key: RecordKey) throws -> MemoryRecord? { try inner.get(key) }
    func query(_ query: MemoryQuery) throws -> [ScoredRecord] { try inner.query(query) }
    func queryPreferences(userId: String, category: String?) throws -> [UserPreference] {
        try inner.queryPreferences(userId: userId, category: category)
    }
    func updateHeuristic(projectId: String, id: String, patch: HeuristicPatch) throws -> Bool {
        try inner.updateHeuristic(projectId: projectId, id: id, patch: patch)
    }
    func incrementHeuristicOccurrence(projectId: String, id: String, success: Bool) throws -> Bool {
        try inner.incrementHeuristicOccurrence(projectId: projectId, id: id, success: success)
    }
    func updateHeuristicConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try inner.updateHeuristicConfidence(projectId: projectId, id: id, confidence: confidence)
    }
    func updateKnowledgeConfidence(projectId: String, id: String, confidence: Double) throws -> Bool {
        try inner.updateKnowledgeConfidence(projectId: projectId, id: id, confidence: confidence)
    }
    func delete(_ key: RecordKey) throws -> Bool { try inner.delete(key) }
    func deleteOutcomes(projectId: String, olderThan: Timestamp, agent: String?) throws -> Int {
        try inner.deleteOutcomes(projectId: projectId, olderThan: olderThan, agent: agent)
    }
    func deleteHeuristics(projectId: String, confidenceBelow: Double, agent: String?) throws -> Int {
        try inner.deleteHeuristics(projectId: projectId, confidenceBelow: confidenceBelow, agent: agent)
    }
    func stats(projectId: String, agent: String?) throws -> StoreStats { try inner.stats(projectId: projectId, agent: agent) }
    func close() throws { try inner.close() }
}

/// Like the original SQLite backend (HIGH-001): deleted records keep their vectors, which
/// still come back from vector search and take top-k slots.
final class KeepsDeletedVectors: BrokenStore, @unchecked Sendable {
    let ghosts = Mutex<[RecordKey: MemoryRecord]>([:])
    override func delete(_ key: RecordKey) throws -> Bool {
        if let r = try inner.get(key) { ghosts.withLock { $0[key] = r } }
        return try inner.delete(key)
    }
    override func query(_ query: MemoryQuery) throws -> [ScoredRecord] {
        let live = try inner.query(query)
        guard let v = query.vector else { return live }
        let stale = ghosts.withLock { g in g.values.filter { query.matches($0) } }
            .compactMap { r in r.embedding.map { ScoredRecord(record: r, score: cosineSimilarity(v, $0)) } }
        return Array((live + stale).sorted(by: MemoryKind.scoreOrder).prefix(query.topK))
    }
}

/// Like pgvector's HNSW scan without iterative scans: the nearest 40 of the whole kind
/// are taken first and filtered afterwards, so a selective filter returns too few.
final class PostFilters: BrokenStore, @unchecked Sendable {
    let all = Mutex<[RecordKey: MemoryRecord]>([:])
    override func save(_ records: [MemoryRecord]) throws -> [String] {
        let ids = try inner.save(records)
        all.withLock { a in for r in records { a[r.key] = r } }
        return ids
    }
    override func query(_ query: MemoryQuery) throws -> [ScoredRecord] {
        guard let v = query.vector else { return try inner.query(query) }
        try Validation.query(query, dimension: embeddingDimension)
        let candidates = all.withLock { a in a.values.filter { $0.kind == query.kind } }
            .compactMap { r in r.embedding.map { ScoredRecord(record: r, score: cosineSimilarity(v, $0)) } }
            .sorted(by: MemoryKind.scoreOrder).prefix(40)
        return Array(candidates.filter { query.matches($0.record) }.prefix(query.topK))
    }
}

/// Reads a stored 0.0 confidence back as 1.0 and a 0 count as 1 (`x or default` in Python).
final class CoercesZero: BrokenStore, @unchecked Sendable {
    override func get(_ key: RecordKey) throws -> MemoryRecord? {
        switch try inner.get(key) {
        case .heuristic(var h)?:
            if h.confidence == 0 { h.confidence = 1 }
            if h.occurrenceCount == 0 { h.occurrenceCount = 1 }
            return .heuristic(h)
        case .domainKnowledge(var d)?:
            if d.confidence == 0 { d.confidence = 1 }
            return .domainKnowledge(d)
        case let other: return other
        }
    }
}

/// Accepts any embedding without checking its dimension or values.
final class SkipsValidation: BrokenStore, @unchecked Sendable {
    override func save(_ records: [MemoryRecord]) throws -> [String] {
        // Drops bad records silently instead of rejecting the call.
        let good = records.filter { (try? Validation.record($0, dimension: embeddingDimension)) != nil }
        _ = try inner.save(good)
        return records.map(\.id)
    }
}

@Suite struct BrokenStoresAreCaught {
    func failures(_ make: @escaping @Sendable () -> any MemoryStore) -> Set<String> {
        let results = ConformanceSuite(fixture: StoreFixture(name: "broken", makeEmpty: make)).run()
        return Set(results.filter { $0.status == .failed }.map(\.id))
    }

    @Test func keptDeletedVectorsFailTheDeleteScenarios() {
        let failed = failures { KeepsDeletedVectors() }
        #expect(failed.isSuperset(of: ["delete.gone-everywhere", "delete.vector-slot-reclaimed"]))
        #expect(!failed.contains("roundtrip.heuristic"))
    }

    @Test func postFilteringFailsFilterThenRank() {
        let failed = failures { PostFilters() }
        #expect(failed.isSuperset(of: ["query.filter-then-rank.agents", "query.filter-then-rank.selective"]))
        #expect(!failed.contains("query.vector.ranking"))
    }

    @Test func coercedZerosFailTheRoundTrip() {
        let failed = failures { CoercesZero() }
        #expect(failed.contains("roundtrip.zero-values"))
        #expect(!failed.contains("roundtrip.heuristic"))
    }

    @Test func silentlyDroppedRecordsFailValidation() {
        let failed = failures { SkipsValidation() }
        #expect(failed.isSuperset(of: ["validation.embedding", "validation.confidence", "batch.all-or-nothing"]))
    }
}

/// The differential fuzzer finds each broken store's divergence from the reference store
/// and shrinks the history to a handful of operations; the reference store itself never diverges.
@Suite struct FuzzerFindsBrokenStores {
    /// Coverage is counted per history: 50 histories of 100 operations run every operation
    /// and meet the contract's validation errors; a one-operation run names what it left out.
    @Test func coverageCountsEveryOperationAndError() {
        let fixture = StoreFixture(name: "reference") { ReferenceStore() }
        let (found, coverage) = Fuzzer(fixture: fixture, seed: 3, length: 100).runWithCoverage(histories: 50)
        #expect(found.isEmpty && coverage.histories == 50)
        #expect(coverage.neverRun.isEmpty && coverage.neverSucceeded.isEmpty, "\(coverage.neverRun) \(coverage.neverSucceeded)")
        #expect(coverage.errors.keys.contains { $0.hasPrefix("invalid") }, "\(coverage.errors)")
        #expect(coverage.operations.values.allSatisfy { $0 <= 50 })
        let short = Fuzzer(fixture: fixture, seed: 3, length: 1).runWithCoverage(histories: 1).coverage
        #expect(short.neverRun.count == FuzzOp.names.count - 1 && short.table.contains("stats"))
    }

    func fuzz(_ make: @escaping @Sendable () -> any MemoryStore) -> [Fuzzer.Divergence] {
        Fuzzer(fixture: StoreFixture(name: "broken") { make() }, seed: 3, length: 100).run(histories: 200)
    }

    @Test func theReferenceStoreAgreesWithItself() {
        #expect(fuzz { ReferenceStore() }.isEmpty)
    }

    @Test(arguments: ["keeps-deleted-vectors", "post-filters", "coerces-zero", "skips-validation"])
    func aBrokenStoreIsFoundAndShrunk(kind: String) throws {
        let found = fuzz {
            switch kind {
            case "keeps-deleted-vectors": KeepsDeletedVectors()
            case "post-filters": PostFilters()
            case "coerces-zero": CoercesZero()
            default: SkipsValidation()
            }
        }
        let d = try #require(found.first, "\(kind): no divergence found in 200 histories")
        #expect(d.kept.count <= 8, "\(kind): shrunk only to \(d.kept.count) operations: \(d.operations)")
    }
}

/// Every failure tells the author what to check: each scenario of the contract has a note,
/// and a broken store's failure carries its note into the CSV and the JUnit XML.
@Suite struct TroubleshootingNotes {
    @Test func everyScenarioOfTheContractHasANote() {
        let missing = ConformanceSuite.scenarios.filter { $0.check.isEmpty }.map(\.id)
        #expect(missing.isEmpty, "scenarios without a note: \(missing)")
        // The specific notes win over their group's: the post-filtering store fails with
        // filter-then-rank's note, not query's.
        let specific = ConformanceSuite.scenarios.first { $0.id == "query.filter-then-rank.agents" }!.check
        #expect(specific.contains("Filter first") && specific != ConformanceSuite.scenarios.first { $0.id == "query.top-k" }!.check)
        #expect(Scenario("mine.x", "an author's own", check: "look here") { _ in }.check == "look here")
    }

    @Test func aFailureCarriesItsNoteIntoTheReports() {
        let results = ConformanceSuite(fixture: StoreFixture(name: "broken", makeEmpty: { PostFilters() }), only: ["query.filter-then-rank.agents", "query.top-k"]).run()
        let failed = results.first { $0.id == "query.filter-then-rank.agents" }!
        #expect(failed.status == .failed && failed.check.contains("Filter first"))
        let xml = ConformanceReport.junitXML(results, backend: "broken")
        #expect(xml.contains("What to check: Filter first"))
        let csv = ConformanceReport.csv(results)
        #expect(csv.split(separator: "\n").first == "scenario,backend,status,duration_ms,reason,description,check")
        // A passing scenario's row has no note.
        let passed = csv.split(separator: "\n").first { $0.hasPrefix("query.top-k,") }!
        #expect(passed.hasSuffix(","))
        #expect(csv.contains("Filter first"))
    }
}
