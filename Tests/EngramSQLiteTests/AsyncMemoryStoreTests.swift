import EngramCore
import EngramSQLite
import Foundation
import Synchronization
import Testing

/// `AsyncMemoryStore` runs blocking calls on threads of its own: 64 searches held inside a
/// real SQLite store at once leave Swift's cooperative pool (one thread per core) free to run
/// other tasks. Nothing here is timed: the searches are held by a gate, counted in, and let go
/// only after the other tasks have finished; the one wait with a limit is the fail-safe that
/// turns starvation into a failure instead of a hang.
@Suite struct AsyncMemoryStoreTests {
    /// A store whose searches wait at a gate once inside (counted), until it opens. The gate
    /// gives up after three minutes (counted, and then open for all), so a pool that starves
    /// ends in a failure, not a hang.
    final class GatedStore: ForwardingStore, @unchecked Sendable {
        let inner: SQLiteStore
        let inside = Mutex(0)
        let gate = DispatchSemaphore(value: 0)
        let gaveUp = Mutex(0)
        /// Searches that ran on a thread that is not a pool's.
        let offPool = Mutex(0)
        let expected: Int
        init(_ inner: SQLiteStore, expected: Int) {
            self.inner = inner
            self.expected = expected
        }
        var writes: any MemoryStore { inner }
        var reads: any MemoryStore { inner }
        func query(_ query: MemoryQuery) throws -> [ScoredRecord] {
            if !BlockingPool.onPoolThread { offPool.withLock { $0 += 1 } }
            inside.withLock { $0 += 1 }
            if gate.wait(timeout: .now() + 180) == .timedOut {
                gaveUp.withLock { $0 += 1 }
                open()  // and lets every other search through, so a starved run ends
            }
            return try inner.query(query)
        }
        func open() { for _ in 0..<expected { gate.signal() } }
        func close() throws { try inner.close() }
    }

    func vector(_ i: Int) -> [Float] { (0..<16).map { j in Float((i * 31 + j * 7) % 13) - 6 + 0.5 } }

    @Test func sixtyFourSearchesInFlightLeaveTheCooperativePoolFree() async throws {
        let sqlite = try SQLiteStore(path: temporaryDatabasePath(), embeddingDimension: 16)
        _ = try sqlite.save((0..<2_000).map { i in
            .outcome(Outcome(id: "o\(i)", agent: "a\(i % 4)", projectId: "p", taskType: "t", taskDescription: "d", success: true,
                             strategyUsed: "s", timestamp: Timestamp(microsecondsSinceEpoch: Int64(i)), embedding: vector(i)))
        })
        let calls = 64
        let gated = GatedStore(sqlite, expected: calls)
        let pool = BlockingPool(threads: calls)
        defer { pool.shutdown() }
        let store = AsyncMemoryStore(gated, pool: pool)
        try await withThrowingTaskGroup(of: [String].self) { searches in
            for i in 0..<calls {
                searches.addTask { try await store.query(MemoryQuery(kind: .outcome, projectId: "p", topK: 10, vector: vector(i))).map(\.record.id) }
            }
            // All 64 inside the store, each blocking a thread: none of them the cooperative
            // pool's. Awaited, not blocked on (this test's own task is on that pool); the
            // bound on the polls is the fail-safe.
            var polls = 0
            while gated.inside.withLock({ $0 }) < calls, polls < 12_000 {
                try await Task.sleep(for: .milliseconds(10))
                polls += 1
            }
            #expect(gated.inside.withLock { $0 } == calls, "only \(gated.inside.withLock { $0 }) of \(calls) searches got into the store")
            // Other work on the cooperative pool runs to its end meanwhile.
            let sum = await withTaskGroup(of: Int.self) { tasks in
                for j in 0..<1_000 { tasks.addTask { await Task.yield(); return j } }
                return await tasks.reduce(0, +)
            }
            #expect(sum == 499_500)
            #expect(gated.inside.withLock { $0 } == calls)
            gated.open()
            var answered = 0
            for try await ids in searches {
                #expect(ids.count == 10)
                answered += 1
            }
            #expect(answered == calls)
        }
        #expect(gated.gaveUp.withLock { $0 } == 0)
        #expect(gated.offPool.withLock { $0 } == 0)
        // The same answers as the synchronous call.
        let q = MemoryQuery(kind: .outcome, projectId: "p", agents: ["a1"], topK: 5, vector: vector(7))
        #expect(try await AsyncMemoryStore(sqlite).query(q).map(\.record.id) == sqlite.query(q).map(\.record.id))
        try await store.close()
    }

    @Test func aShutDownPoolRefusesAndACancelledTaskRunsNothing() async throws {
        let sqlite = try SQLiteStore(path: temporaryDatabasePath(), embeddingDimension: 16)
        defer { try? sqlite.close() }
        let pool = BlockingPool(threads: 1)
        let store = AsyncMemoryStore(sqlite, pool: pool)
        let record = MemoryRecord.outcome(Outcome(id: "x", agent: "a", projectId: "p", taskType: "t", taskDescription: "d", success: true,
                                                  strategyUsed: "s", timestamp: .epoch, embedding: vector(1)))
        #expect(try await store.save(record) == "x")
        // Bad input is the synchronous call's error, unchanged.
        await #expect(throws: EngramError.self) { try await store.query(MemoryQuery(kind: .outcome, projectId: "p", topK: 0, vector: vector(1))) }
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await store.delete(RecordKey(.outcome, scope: "p", id: "x"))
        }
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(try sqlite.get(RecordKey(.outcome, scope: "p", id: "x")) != nil)
        pool.shutdown()
        await #expect(throws: EngramError.self) { try await store.get(RecordKey(.outcome, scope: "p", id: "x")) }
    }

    /// A call cancelled while it waits for the pool's one thread never runs.
    @Test func aCallCancelledWhileQueuedRunsNothing() async throws {
        let pool = BlockingPool(threads: 1)
        defer { pool.shutdown() }
        let busy = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let ran = Mutex(false)
        let first = Task { try await pool.run { busy.signal(); release.wait() } }
        busy.wait()  // the pool's thread is taken (a counted hand-shake, not a delay)
        let queued = Task { try await pool.run { ran.withLock { $0 = true } } }
        var polls = 0
        while pool.waiting < 1, polls < 12_000 {  // in the queue, behind the first
            try await Task.sleep(for: .milliseconds(10))
            polls += 1
        }
        #expect(pool.waiting == 1)
        queued.cancel()
        release.signal()
        try await first.value
        await #expect(throws: CancellationError.self) { try await queued.value }
        #expect(!ran.withLock { $0 })
    }
}
