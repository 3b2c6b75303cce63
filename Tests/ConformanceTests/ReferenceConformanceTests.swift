import Conformance
import EngramCore
import EngramReference
import Testing

@Suite struct ReferenceConformance {
    @Test func referenceStorePassesEveryScenario() {
        let suite = ConformanceSuite(fixture: StoreFixture(name: "memory") { ReferenceStore() })
        let results = suite.run()
        #expect(results.count >= 40)
        let failed = results.filter { $0.status == .failed }
        #expect(failed.isEmpty, "failed: \(failed.map { "\($0.id): \($0.reason)" })")
        // The reference store has no durability or query plans; it runs every core scenario.
        let skipped = results.filter { $0.status == .skipped }
        let required = Dictionary(uniqueKeysWithValues: ConformanceSuite.scenarios.map { ($0.id, $0.requires) })
        #expect(skipped.allSatisfy { result in required[result.id] != nil && required[result.id]! != nil })
    }

    /// Each scenario its own test case, so a failure names it and `--filter` can pick it.
    @Test(arguments: ConformanceSuite.scenarios.map(\.id))
    func scenario(id: String) throws {
        let result = try #require(ConformanceSuite(fixture: StoreFixture(name: "memory") { ReferenceStore() }).run(id: id))
        #expect(result.status != .failed, "\(result.reason)")
    }

    /// A backend author's own scenario runs beside the contract's, with the same helpers.
    @Test func authorsAddTheirOwnScenarios() {
        var suite = ConformanceSuite(fixture: StoreFixture(name: "memory") { ReferenceStore() }, only: ["mine."])
        suite.extraScenarios = [
            Scenario("mine.saves-twice", "saving one record twice keeps one") { c in
                _ = try c.store.save([.outcome(c.make.outcome("x")), .outcome(c.make.outcome("x"))])
                try checkEqual(try c.store.stats(projectId: "p1", agent: nil).records[.outcome], 1, "outcomes")
            },
            Scenario("mine.fails", "a scenario that must fail") { _ in try check(false, "on purpose") },
        ]
        #expect(suite.run().map(\.status) == [.passed, .failed])
    }

    @Test func everyScenarioBelongsToItsGroup() {
        for (name, scenarios) in ConformanceSuite.groups where name != "capability" {
            #expect(scenarios.allSatisfy { $0.id.hasPrefix(name + ".") }, "\(name): \(scenarios.map(\.id))")
        }
    }

    @Test func scenarioIdsAreUniqueAndDescribed() {
        let ids = ConformanceSuite.scenarios.map(\.id)
        #expect(Set(ids).count == ids.count)
        #expect(ConformanceSuite.scenarios.allSatisfy { !$0.description.isEmpty && $0.id.contains(".") })
    }

    @Test func prefixSelection() {
        let suite = ConformanceSuite(fixture: StoreFixture(name: "memory") { ReferenceStore() }, only: ["delete."])
        #expect(!suite.selected.isEmpty && suite.selected.allSatisfy { $0.id.hasPrefix("delete.") })
    }
}
