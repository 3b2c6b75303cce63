import Dispatch
import EngramCore

/// How the suite gets stores from a backend author: an empty store per scenario, and a
/// way to reopen a store from what it persisted (for the durability scenarios).
public struct StoreFixture: Sendable {
    /// The backend's name in reports.
    public var name: String
    /// Makes a new, empty store. Called once per scenario.
    public var makeEmpty: @Sendable () throws -> any MemoryStore
    /// Closes `store` and opens it again from its persisted state; nil for stores
    /// without the `durability` capability.
    public var reopen: (@Sendable (any MemoryStore) throws -> any MemoryStore)?
    /// Opens a second store on the same data while the first stays open, as another process
    /// would; nil for stores without the `sharedAccess` capability.
    public var openAnother: (@Sendable (any MemoryStore) throws -> any MemoryStore)?

    public init(
        name: String, makeEmpty: @escaping @Sendable () throws -> any MemoryStore,
        reopen: (@Sendable (any MemoryStore) throws -> any MemoryStore)? = nil,
        openAnother: (@Sendable (any MemoryStore) throws -> any MemoryStore)? = nil
    ) {
        self.name = name
        self.makeEmpty = makeEmpty
        self.reopen = reopen
        self.openAnother = openAnother
    }
}

/// One check of the contract, with a stable id such as `delete.vector-slot-reclaimed`.
public struct Scenario: Sendable {
    public var id: String
    public var description: String
    /// The capability a store must declare for this scenario to run; nil = core.
    public var requires: Capability?
    /// What to check first when it fails (`Troubleshooting`), shown under the failure.
    public var check: String
    let body: @Sendable (ScenarioContext) throws -> Void

    /// A scenario of your own: an id (`group.name`), what it checks, the capability it needs
    /// (nil = every store), what an author should check when it fails (default: the note of
    /// its group, if any), and a body that throws `ConformanceFailure` (the `check…` helpers do).
    public init(_ id: String, _ description: String, requires: Capability? = nil, check: String? = nil,
                _ body: @escaping @Sendable (ScenarioContext) throws -> Void) {
        self.id = id
        self.description = description
        self.requires = requires
        self.check = check ?? Troubleshooting.note(for: id)
        self.body = body
    }
}

/// What a scenario works with: the store under test (replaced when reopened) and fixtures.
public final class ScenarioContext {
    public private(set) var store: any MemoryStore
    let fixture: StoreFixture
    /// Builders of records and vectors for the store's dimension.
    public let make: Make
    /// The size of the at-scale scenarios (`ConformanceSuite.scale`).
    public let scale: Int

    init(store: any MemoryStore, fixture: StoreFixture, scale: Int = ConformanceSuite.quickScale) {
        self.store = store
        self.fixture = fixture
        self.make = Make(dimension: store.embeddingDimension)
        self.scale = scale
    }

    /// Closes and reopens the store through the fixture.
    public func reopen() throws {
        guard let reopen = fixture.reopen else {
            throw ConformanceFailure("the fixture declares durability but provides no reopen")
        }
        store = try reopen(store)
    }

    /// A second store on the same data (the caller closes it).
    public func another() throws -> any MemoryStore {
        guard let open = fixture.openAnother else {
            throw ConformanceFailure("the fixture declares shared access but provides no openAnother")
        }
        return try open(store)
    }
}

/// The outcome of one scenario.
public struct ScenarioResult: Sendable {
    public enum Status: String, Sendable { case passed, failed, skipped }
    public var id: String
    public var description: String
    public var backend: String
    public var status: Status
    public var durationMs: Double
    /// Why it failed or was skipped; empty when it passed.
    public var reason: String
    /// The scenario's troubleshooting note (`Scenario.check`); reports show it under a failure.
    public var check: String = ""
}

/// A failed expectation inside a scenario.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The conformance suite: runs every scenario of the contract over one backend.
///
/// ```swift
/// let results = ConformanceSuite(fixture: StoreFixture(name: "mine") { try MyStore() }).run()
/// #expect(results.allSatisfy { $0.status != .failed })
/// ```
public struct ConformanceSuite: Sendable {
    public var fixture: StoreFixture
    /// Scenario ids or id prefixes to run (`delete.`); nil = all.
    public var only: [String]?
    /// Records in the at-scale scenarios: `quickScale` by default, `fullScale` for a `--full`
    /// run (sizes where approximate indexes and scan limits show).
    public var scale: Int
    public static let quickScale = 2_000, fullScale = 25_000

    public init(fixture: StoreFixture, only: [String]? = nil, scale: Int = ConformanceSuite.quickScale) {
        self.fixture = fixture
        self.only = only
        self.scale = scale
    }

    /// The contract's scenarios by group, in a stable order: the one list the suite runs.
    public static let groups: [(name: String, scenarios: [Scenario])] = [
        ("roundtrip", roundTripScenarios), ("upsert", upsertScenarios), ("batch", batchScenarios), ("query", queryScenarios),
        ("delete", deleteScenarios), ("prune", pruneScenarios), ("update", updateScenarios), ("stats", statsScenarios),
        ("isolation", isolationScenarios), ("validation", validationScenarios + moreValidationScenarios.filter { $0.id.hasPrefix("validation.") }),
        ("lifecycle", moreValidationScenarios.filter { $0.id.hasPrefix("lifecycle.") }), ("concurrency", concurrencyScenarios),
        ("multiprocess", multiprocessScenarios),
        ("capability", capabilityScenarios),
    ]

    /// Every scenario of the contract, in a stable order.
    public static var scenarios: [Scenario] { groups.flatMap(\.scenarios) }

    /// Scenarios of the backend's author, run after the contract's (ids must not repeat).
    public var extraScenarios: [Scenario] = []

    /// The scenarios this run selects.
    public var selected: [Scenario] {
        let all = Self.scenarios + extraScenarios
        guard let only, !only.isEmpty else { return all }
        return all.filter { s in only.contains { s.id == $0 || s.id.hasPrefix($0) } }
    }

    /// Runs the one scenario `id` (for a test framework that makes each scenario a test case).
    public func run(id: String) -> ScenarioResult? {
        guard let scenario = (Self.scenarios + extraScenarios).first(where: { $0.id == id }) else { return nil }
        var capabilities: Set<Capability>?
        return run(scenario, capabilities: &capabilities)
    }

    /// Runs the selected scenarios, each on a fresh empty store, reporting each result as it ends.
    public func run(onResult: (ScenarioResult) -> Void = { _ in }) -> [ScenarioResult] {
        var results: [ScenarioResult] = []
        var capabilities: Set<Capability>?
        for scenario in selected {
            let result = run(scenario, capabilities: &capabilities)
            onResult(result)
            results.append(result)
        }
        return results
    }

    func run(_ scenario: Scenario, capabilities: inout Set<Capability>?) -> ScenarioResult {
        let start = DispatchTime.now().uptimeNanoseconds
        func result(_ status: ScenarioResult.Status, _ reason: String) -> ScenarioResult {
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            return ScenarioResult(
                id: scenario.id, description: scenario.description, backend: fixture.name, status: status,
                durationMs: ms, reason: reason, check: scenario.check)
        }
        let store: any MemoryStore
        do { store = try fixture.makeEmpty() } catch {
            return result(.failed, "could not make an empty store: \(error)")
        }
        if capabilities == nil { capabilities = store.capabilities }
        if let needed = scenario.requires, !store.capabilities.contains(needed) {
            try? store.close()
            return result(.skipped, "backend does not declare capability '\(needed)'")
        }
        let context = ScenarioContext(store: store, fixture: fixture, scale: scale)
        defer { try? context.store.close() }
        do {
            try scenario.body(context)
            return result(.passed, "")
        } catch let failure as ConformanceFailure {
            return result(.failed, failure.description)
        } catch {
            return result(.failed, "unexpected error: \(error)")
        }
    }
}
