import Synchronization

/// A minimal lock for the suite's own bookkeeping across threads.
final class NSLockish: Sendable {
    private let mutex = Mutex(())
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        try mutex.withLock { _ in try body() }
    }
}
