import CLibPQ
import Dispatch
import EngramCore
import Synchronization

/// A fixed-size, thread-safe pool of libpq connections. A connection that the server or
/// the network dropped is noticed when it is lent (or when a call on it fails) and
/// replaced by a new one, so the next call works.
final class ConnectionPool: Sendable {
    let url: String
    let size: Int
    let connectTimeout: Int
    let applicationName: String
    let lockTimeoutMs: Int, statementTimeoutMs: Int
    /// Seconds a caller waits for a free connection before `unavailable`.
    let acquireTimeout: Double
    /// Idle connections. `@unchecked Sendable` box: a connection is only touched by the one
    /// caller that took it out of `idle` under the mutex.
    private final class Box: @unchecked Sendable { let conn: PGConnection; init(_ c: PGConnection) { conn = c } }
    private let idle = Mutex<[Box]>([])
    private let slots: DispatchSemaphore
    private let closed = Atomic<Bool>(false)

    init(url: String, size: Int, connectTimeout: Int, applicationName: String, lockTimeoutMs: Int = 0, statementTimeoutMs: Int = 0,
         acquireTimeout: Double = .infinity) throws {
        self.url = url
        self.size = size
        self.connectTimeout = connectTimeout
        self.applicationName = applicationName
        self.lockTimeoutMs = lockTimeoutMs
        self.statementTimeoutMs = statementTimeoutMs
        self.acquireTimeout = acquireTimeout
        slots = DispatchSemaphore(value: size)
        let first = try connect()  // fail fast on a bad URL
        idle.withLock { $0.append(Box(first)) }
    }

    /// Lends a healthy connection to `body`; at most `size` callers at once, others wait.
    @discardableResult
    func with<T>(_ body: (PGConnection) throws -> T) throws -> T {
        guard !closed.load(ordering: .acquiring) else { throw EngramError(.unavailable, "the store is closed") }
        if acquireTimeout.isFinite {
            guard slots.wait(timeout: .now() + acquireTimeout) == .success else {
                throw EngramError(.unavailable, "all \(size) connections of the pool stayed busy for \(acquireTimeout) s (pool_size, pool_wait)")
            }
        } else {
            slots.wait()
        }
        defer { slots.signal() }
        var conn = idle.withLock { $0.popLast() }?.conn
        if let c = conn, !(PQconsumeInput(c.conn) == 1 && c.isHealthy) { conn = nil }  // dropped while idle
        let c = try conn ?? connect()
        do {
            let result = try body(c)
            if c.isHealthy { idle.withLock { $0.append(Box(c)) } }
            return result
        } catch {
            if c.isHealthy { idle.withLock { $0.append(Box(c)) } }  // a broken one is dropped
            throw error
        }
    }

    /// Runs work whose repetition leaves the same state and result (a read), outside a
    /// transaction. A connection the server dropped while it was idle
    /// is only found when the statement fails; then it runs once more on a new connection.
    @discardableResult
    func idempotent<T>(_ body: (PGConnection) throws -> T) throws -> T {
        try with { c in
            do {
                return try body(c)
            } catch let e as EngramError where e.code == .unavailable && !c.isHealthy {
                let fresh = try connect()  // the dead one is dropped by `with`
                let result = try body(fresh)
                idle.withLock { $0.append(Box(fresh)) }
                return result
            }
        }
    }

    /// A new connection with the pool's settings, outside the pool (also `Maintenance`'s own).
    func connect() throws -> PGConnection {
        try PGConnection(url: url, connectTimeout: connectTimeout, applicationName: applicationName,
                         lockTimeoutMs: lockTimeoutMs, statementTimeoutMs: statementTimeoutMs)
    }

    /// Runs `body` in a transaction: committed if it returns, rolled back if it throws.
    /// A connection found dead at BEGIN (dropped while idle: nothing of this call ran) is
    /// replaced and the call goes on; a failure later is reported, never retried, since
    /// the server may have done part of the work (the transaction then rolls back).
    @discardableResult
    func transaction<T>(_ body: (PGConnection) throws -> T) throws -> T {
        try with { first in
            let c = first
            do {
                try c.simple("BEGIN")
            } catch let e as EngramError where e.code == .unavailable && !c.isHealthy {
                let fresh = try connect()  // the dead one is dropped by `with`
                try fresh.simple("BEGIN")
                do {
                    let result = try finish(fresh, body)
                    idle.withLock { $0.append(Box(fresh)) }
                    return result
                } catch {
                    if fresh.isHealthy { idle.withLock { $0.append(Box(fresh)) } }
                    throw error
                }
            }
            return try finish(c, body)
        }
    }

    /// Runs `body` in a transaction on the connection `c` the caller already holds.
    func transaction<T>(on c: PGConnection, _ body: (PGConnection) throws -> T) throws -> T {
        try c.simple("BEGIN")
        return try finish(c, body)
    }

    private func finish<T>(_ c: PGConnection, _ body: (PGConnection) throws -> T) throws -> T {
        do {
            let result = try body(c)
            try c.simple("COMMIT")
            return result
        } catch {
            if c.isHealthy { _ = try? c.simple("ROLLBACK") }
            throw error
        }
    }

    func close() {
        closed.store(true, ordering: .releasing)
        idle.withLock { $0.removeAll() }
    }
}
