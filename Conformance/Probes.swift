import EngramCore

/// Call sequences that checks outside the scenarios share (a backend's own tests, `engram findings`).
public enum Probes {
    /// Saves one heuristic `h` and one domain-knowledge record `d` in project `p`, runs
    /// `afterSetup` (to start counting), then every single-record call of the contract on them:
    /// get, patch, increment, both confidence updates, delete. Each should be a point operation
    /// in its scope's partition (review MED-007).
    public static func singleRecordCalls(on store: any MemoryStore, afterSetup: () throws -> Void = {}) throws {
        let t = Timestamp(microsecondsSinceEpoch: 0)
        try store.save(Heuristic(id: "h", agent: "a", projectId: "p", condition: "c", strategy: "s", confidence: 0.5,
                                 occurrenceCount: 1, successCount: 0, lastValidated: t, createdAt: t))
        try store.save(DomainKnowledge(id: "d", agent: "a", projectId: "p", domain: "x", fact: "f", source: "s", lastVerified: t))
        try afterSetup()
        _ = try store.get(RecordKey(.heuristic, scope: "p", id: "h"))
        _ = try store.updateHeuristic(projectId: "p", id: "h", patch: HeuristicPatch(strategy: "s2"))
        _ = try store.incrementHeuristicOccurrence(projectId: "p", id: "h", success: true)
        _ = try store.updateHeuristicConfidence(projectId: "p", id: "h", confidence: 0.9)
        _ = try store.updateKnowledgeConfidence(projectId: "p", id: "d", confidence: 0.2)
        _ = try store.delete(RecordKey(.heuristic, scope: "p", id: "h"))
    }
}
