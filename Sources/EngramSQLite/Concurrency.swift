import CSQLite
import EngramCore
import Glibc
import Synchronization

/// A readers–writer lock that owns the state it protects (pthread, writer-preferring so a
/// stream of searches cannot starve a save): the state is reachable only inside `read` (shared,
/// by value) or `write` (exclusive, `inout`), as `Mutex` owns its value. `@unchecked Sendable`
/// as `Mutex` is: the pthread lock is the synchronisation, and the state never leaves it.
final class ReadersWriterLock<State>: @unchecked Sendable {
    private let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
    private var state: State

    init(_ state: sending State) {
        self.state = state
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

    /// `body` with the state, beside other readers.
    func read<T>(_ body: (State) throws -> T) rethrows -> T {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body(state)
    }

    /// `body` with the state to change, alone.
    func write<T>(_ body: (inout State) throws -> T) rethrows -> T {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body(&state)
    }
}

/// Read-only connections to one database file, handed to one thread at a time. WAL lets
/// them read while the writer connection writes; each statement reads the latest commit.
final class ReaderPool: Sendable {
    private struct Idle {
        var connections: [Connection] = []
        var closed = false
        /// Connections handed out and not yet back.
        var out = 0
        /// Run once the pool is closed and every connection is back (and closed).
        var onDrained: (@Sendable () -> Void)?
    }
    private let idle = Mutex(Idle())
    let path: String
    /// The writer's file: a connection opened on another (the path was moved or replaced) is refused.
    let file: FileGuard.FileID?
    let given: String

    init(path: String, file: FileGuard.FileID?, given: String) {
        self.path = path
        self.file = file
        self.given = given
    }

    /// Runs `body` with a reader connection (opened when none is idle).
    func with<T>(_ body: (Connection) throws -> T) throws -> T {
        let reused = try idle.withLock { s -> Connection? in
            guard !s.closed else { throw EngramError(.unavailable, "the store is closed") }
            s.out += 1
            return s.connections.popLast()
        }
        let c: Connection
        do { c = try reused ?? open() } catch {
            handBack(nil)
            throw error
        }
        defer { handBack(c) }
        return try body(c)
    }

    /// Returns a connection (nil: one that failed to open) to the pool, or closes it when the
    /// pool is closed; the last one back after a close runs `onDrained`.
    private func handBack(_ c: Connection?) {
        // A statement left mid-way would pin an old snapshot for the next user.
        c?.resetAll()
        let (keep, drained) = idle.withLock { s -> (Bool, (@Sendable () -> Void)?) in
            s.out -= 1
            if !s.closed, let c {
                s.connections.append(c)
                return (true, nil)
            }
            let done = s.out == 0 ? s.onDrained : nil
            if done != nil { s.onDrained = nil }
            return (false, done)
        }
        if !keep { c?.close() }
        drained?()
    }

    private func open() throws -> Connection {
        let c = try Connection(path: path, readOnly: true)
        do {
            if let file, !FileGuard.names(path, file) { throw FileGuard.moved(given, rescued: false) }
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

    /// Closes the idle connections; ones in use are closed when they are handed back. Then,
    /// once none is left open, runs `drained` (at once when none is out).
    func close(then drained: @escaping @Sendable () -> Void = {}) {
        let (all, now) = idle.withLock { s -> ([Connection], Bool) in
            s.closed = true
            defer { s.connections.removeAll() }
            if s.out > 0 { s.onDrained = drained }
            return (s.connections, s.out == 0)
        }
        for c in all { c.close() }
        if now { drained() }
    }
}
