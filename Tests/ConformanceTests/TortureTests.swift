import EngramCore
import EngramReference
import Foundation
import Testing
import Conformance

/// The torture checker must be able to fail: each kind of lost or resurrected write, and
/// a half-applied call in flight, is reported; a store that matches is not.
@Suite struct TortureCheckerTests {
    /// A model after `ops` were acknowledged, and a store that applied `stored` of them.
    func scenario(_ ops: [TortureOp], stored: [TortureOp]) throws -> (TortureModel, ReferenceStore) {
        var model = TortureModel()
        _ = model.apply(ops.map { "begin \($0.line)\nack\n" }.joined())
        let store = ReferenceStore(embeddingDimension: TortureOp.dimension)
        for op in stored { try op.perform(on: store) }
        return (model, store)
    }

    let save = TortureOp.save([(.outcome, "k1", 10), (.heuristic, "k2", 11)])

    @Test func aMatchingStorePasses() throws {
        var (model, store) = try scenario([save, .delete(.outcome, "k1"), .increment("k2", true)], stored: [save, .delete(.outcome, "k1"), .increment("k2", true)])
        #expect(model.check(store, pending: nil).1.isEmpty)
    }

    @Test func aLostWriteIsAViolation() throws {
        var (model, store) = try scenario([save], stored: [])
        #expect(model.check(store, pending: nil).1.contains { $0.contains("was acknowledged but is missing") })
    }

    @Test func aResurrectedDeleteIsAViolation() throws {
        var (model, store) = try scenario([save, .delete(.outcome, "k1")], stored: [save])
        #expect(model.check(store, pending: nil).1.contains { $0.contains("present but was deleted") })
    }

    @Test func aHalfAppliedBatchInFlightIsAViolation() throws {
        var (model, store) = try scenario([], stored: [.save([(.outcome, "k1", 10)])])
        let violations = model.check(store, pending: save)
        #expect(violations.1.contains { $0.contains("neither absent nor whole") }, "\(violations)")
    }

    @Test func aWholeCallInFlightIsAcceptedAndSettled() throws {
        var (model, store) = try scenario([], stored: [save])
        #expect(model.check(store, pending: save).1.isEmpty)
        #expect(model.records.count == 2, "the model takes the call in flight once the store shows it whole")
    }

    /// An increment in flight that committed carries the child's clock in lastValidated: that
    /// is the call done whole, not a violation.
    @Test func anIncrementInFlightWithAnotherClockIsWhole() throws {
        var (model, store) = try scenario([save], stored: [save])
        usleep(2_000)
        _ = try store.incrementHeuristicOccurrence(projectId: TortureOp.project, id: "k2", success: true)
        #expect(model.check(store, pending: .increment("k2", true)).1.isEmpty)
    }

    /// After a violation the model takes the store's state, so one fault is reported once.
    @Test func aViolationIsReportedOnce() throws {
        var (model, store) = try scenario([save], stored: [])
        #expect(!model.check(store, pending: nil).1.isEmpty)
        #expect(model.check(store, pending: nil).1.isEmpty)
    }

    @Test func aLineCutByTheKillIsNotACall() {
        var model = TortureModel()
        let (acked, pending) = model.apply("begin save outcome:k1:10\nack\nbegin save outcome:k2:1")  // "...:10\n" cut short
        #expect(acked == 1 && pending == nil)
        let (_, inFlight) = model.apply("begin delete outcome k1\n")
        #expect(inFlight?.line == "delete outcome k1")
    }
}
