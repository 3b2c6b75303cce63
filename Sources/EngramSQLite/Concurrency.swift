import CSQLite
import EngramCore
import Glibc
import Synchronization

/// A readers–writer lock (pthread, writer-preferring so a stream of searches cannot starve
/// a save). `@unchecked Sendable`: the pthread lock is the synchronisation.
final class ReadersWriterLock: @unchecked Sendable {
    private let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)

    init() {
        var attr = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attr)
        pthread_rwlockattr_setkind_np(&attr, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        pthread_rwlock_init(lock, &attr)
        pthread_rwlockattr_destroy(&attr)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    func read<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    func write<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }
}

/// Read-only connections to one database file, handed to one thread at a time. WAL lets
/// them read while the writer connection writes; each statement reads the latest commit.
final class ReaderPool: Sendable {
    private final class Idle: @unchecked Sendable {
        var connections: [Connection] = []
        var closed = false
    }
    private let idle = Mutex(Idle())
    let path: String

    init(path: String) { self.path = path }

    /// Runs `body` with a reader connection (opened when none is idle).
    func with<T>(_ body: (Connection) throws -> T) throws -> T {
        let c = try idle.withLock { s -> Connection? in
            guard !s.closed else { throw EngramError(.unavailable, "the store is closed") }
            return s.connections.popLast()
        } ?? open()
        defer {
            // A statement left mid-way would pin an old snapshot for the next user.
            c.resetAll()
            let keep = idle.withLock { s in
                guard !s.closed else { return false }
                s.connections.append(c)
                return true
            }
            if !keep { c.close() }
        }
        return try body(c)
    }

    private func open() throws -> Connection {
        let c = try Connection(path: path, readOnly: true)
        do {
            try c.execute("PRAGMA busy_timeout = 5000")
            try c.execute("PRAGMA cache_size = -\(SQLiteStore.readerCacheKiB)")
        } catch {
            c.close()
            throw error
        }
        return c
    }

    /// Runs `body` on every idle connection.
    func forEachIdle(_ body: (Connection) throws -> Void) throws {
        try idle.withLock { s in for c in s.connections { try body(c) } }
    }

    /// Closes the idle connections; ones in use are closed when they are handed back.
    func close() {
        let all = idle.withLock { s in
            s.closed = true
            defer { s.connections.removeAll() }
            return s.connections
        }
        for c in all { c.close() }
    }
}
