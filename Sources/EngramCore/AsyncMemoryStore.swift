import Foundation
import Glibc
import Synchronization

/// Threads of their own for blocking calls, so that async callers never block Swift's
/// cooperative pool (one thread per core: a search holding one would stall every other task
/// on it). Calls wait in order for a free thread, as postgres-nio's `NIOThreadPool` does.
public final class BlockingPool: Sendable {
    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var head = 0
        var shutDown = false
    }
    private let state = Mutex(State())
    /// One signal per job submitted, and one per thread at shutdown.
    private let ready = DispatchSemaphore(value: 0)
    public let threads: Int

    /// Starts `threads` threads (at least 1), which live until `shutdown()`.
    public init(threads: Int) {
        self.threads = max(1, threads)
        for i in 0..<self.threads {
            let thread = Thread { [self] in
                pthread_setspecific(Self.marker, Self.markerValue)
                work()
            }
            thread.name = "engram-pool-\(i)"
            thread.start()
        }
    }

    /// Whether the calling thread is one of a pool's (a thread-specific mark each sets when it
    /// starts; thread names are not reliable for this on Linux).
    public static var onPoolThread: Bool { pthread_getspecific(marker) != nil }

    private static let marker: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()
    private nonisolated(unsafe) static let markerValue = UnsafeMutableRawPointer(bitPattern: 1)

    /// The pool `AsyncMemoryStore` uses unless given another: twice the cores, at least 4.
    /// Not to be shut down (every default `AsyncMemoryStore` of the process uses it); a pool
    /// of your own is, when you are done with it (its threads live until then).
    public static let shared = BlockingPool(threads: max(4, 2 * ProcessInfo.processInfo.activeProcessorCount))

    /// Runs `body` on one of the pool's threads and returns its result. A task cancelled on
    /// entry gets `CancellationError` at once; one cancelled while it waits for a thread gets
    /// it when its turn comes, and nothing runs. Once started, a call runs to its end (a store
    /// call is atomic: stopping it half-way would leave its outcome unknown).
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try Task.checkCancellation()
        let cancelled = Atomic<Bool>(false)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
                let accepted = state.withLock { s -> Bool in
                    guard !s.shutDown else { return false }
                    s.jobs.append {
                        if cancelled.load(ordering: .acquiring) { c.resume(throwing: CancellationError()) } else { c.resume(with: Result { try body() }) }
                    }
                    return true
                }
                if accepted { ready.signal() } else { c.resume(throwing: EngramError(.unavailable, "the blocking pool is shut down")) }
            }
        } onCancel: {
            cancelled.store(true, ordering: .releasing)
        }
    }

    /// Calls submitted and not yet started (waiting for a thread).
    public var waiting: Int { state.withLock { $0.jobs.count - $0.head } }

    /// Lets the threads finish the calls already submitted, then end; later calls fail with
    /// `unavailable`.
    public func shutdown() {
        let first = state.withLock { s -> Bool in
            defer { s.shutDown = true }
            return !s.shutDown
        }
        if first { for _ in 0..<threads { ready.signal() } }
    }

    private static let done: @Sendable () -> Void = {}

    private func work() {
        while true {
            ready.wait()
            let job = state.withLock { s -> (@Sendable () -> Void)? in
                guard s.head < s.jobs.count else { return nil }
                let job = s.jobs[s.head]
                // The slot lets go of the job (and all it captured) at once; the taken slots
                // are dropped when the queue empties or when they are half of it.
                s.jobs[s.head] = BlockingPool.done
                s.head += 1
                if s.head == s.jobs.count {
                    s.jobs.removeAll(keepingCapacity: true)
                    s.head = 0
                } else if s.head >= 1_024, 2 * s.head >= s.jobs.count {
                    s.jobs.removeFirst(s.head)
                    s.head = 0
                }
                return job
            }
            // No job for this signal: it was a shutdown's (jobs submitted before it come first).
            guard let job else { return }
            job()
        }
    }
}

/// Every `MemoryStore` operation as an `async` call over any store: the blocking work runs on a
/// `BlockingPool` thread, never on the cooperative pool: searches in flight leave other tasks
/// running (`AsyncMemoryStoreTests`: 64 at once on a pool of 64 threads). The store's own guarantees hold unchanged: each
/// call is the synchronous call, validated, atomic, thread-safe.
public struct AsyncMemoryStore: Sendable {
    /// The store the calls go to (its synchronous API stays usable beside this one).
    public let store: any MemoryStore
    public let pool: BlockingPool

    public init(_ store: any MemoryStore, pool: BlockingPool = .shared) {
        self.store = store
        self.pool = pool
    }

    public var embeddingDimension: Int { store.embeddingDimension }
    public var capabilities: Set<Capability> { store.capabilities }

    @discardableResult
    public func save(_ records: [MemoryRecord]) async throws -> [String] { try await pool.run { [store] in try store.save(records) } }
    @discardableResult
    public func save(_ record: MemoryRecord) async throws -> String { try await save([record])[0] }
    public func get(_ key: RecordKey) async throws -> MemoryRecord? { try await pool.run { [store] in try store.get(key) } }
    public func query(_ query: MemoryQuery) async throws -> [ScoredRecord] { try await pool.run { [store] in try store.query(query) } }
    public func queryPreferences(userId: String, category: String? = nil) async throws -> [UserPreference] {
        try await pool.run { [store] in try store.queryPreferences(userId: userId, category: category) }
    }
    public func updateHeuristic(projectId: String, id: String, patch: HeuristicPatch) async throws -> Bool {
        try await pool.run { [store] in try store.updateHeuristic(projectId: projectId, id: id, patch: patch) }
    }
    public func incrementHeuristicOccurrence(projectId: String, id: String, success: Bool) async throws -> Bool {
        try await pool.run { [store] in try store.incrementHeuristicOccurrence(projectId: projectId, id: id, success: success) }
    }
    public func updateHeuristicConfidence(projectId: String, id: String, confidence: Double) async throws -> Bool {
        try await pool.run { [store] in try store.updateHeuristicConfidence(projectId: projectId, id: id, confidence: confidence) }
    }
    public func updateKnowledgeConfidence(projectId: String, id: String, confidence: Double) async throws -> Bool {
        try await pool.run { [store] in try store.updateKnowledgeConfidence(projectId: projectId, id: id, confidence: confidence) }
    }
    public func delete(_ key: RecordKey) async throws -> Bool { try await pool.run { [store] in try store.delete(key) } }
    public func deleteOutcomes(projectId: String, olderThan: Timestamp, agent: String? = nil) async throws -> Int {
        try await pool.run { [store] in try store.deleteOutcomes(projectId: projectId, olderThan: olderThan, agent: agent) }
    }
    public func deleteHeuristics(projectId: String, confidenceBelow: Double, agent: String? = nil) async throws -> Int {
        try await pool.run { [store] in try store.deleteHeuristics(projectId: projectId, confidenceBelow: confidenceBelow, agent: agent) }
    }
    public func stats(projectId: String, agent: String? = nil) async throws -> StoreStats {
        try await pool.run { [store] in try store.stats(projectId: projectId, agent: agent) }
    }
    public func close() async throws { try await pool.run { [store] in try store.close() } }
}
