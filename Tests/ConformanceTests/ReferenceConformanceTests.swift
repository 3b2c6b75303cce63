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
