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
        /// Connections handed out and not yet back.
        var out = 0
        /// Run once the pool is closed and every connection is back (and closed).
        var onDrained: (@Sendable () -> Void)?
    }
    private let idle = Mutex(Idle())
    let path: String

    init(path: String) { self.path = path }

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

/// One descriptor per database file (device and inode) for the whole process, holding a shared
/// `flock` while any store of this process has the file open. Closing any descriptor of a file
/// drops every POSIX lock the process holds on it — SQLite's own among them — so it is closed
/// only when the last store on the file has closed its connections.
///
/// The lock is also how two names of one file are told apart: SQLite keeps the write-ahead
/// log beside the name a file is opened by, so stores opening one file through two hard-linked
/// names would each keep a log and corrupt it. A file with more than one link is opened by one
/// store at a time, in any process.
enum FileGuard {
    struct FileID: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
    }
    private final class Open: @unchecked Sendable {
        var files: [FileID: (fds: [Int32], stores: Int)] = [:]
    }
    private static let open = Mutex(Open())

    static func acquire(_ path: String, given: String) throws -> FileID {
        try open.withLock { o in
            var st = stat()
            if stat(path, &st) == 0 {
                let id = FileID(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
                if let held = o.files[id] {
                    guard st.st_nlink <= 1 else { throw linked(given, st.st_nlink) }
                    o.files[id] = (held.fds, held.stores + 1)
                    return id
                }
            }
            let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                let e = errno
                throw EngramError(.unavailable, "cannot open \(given): \(String(cString: strerror(e)))", nativeCode: "errno \(e)")
            }
            guard fstat(fd, &st) == 0 else {
                Glibc.close(fd)
                throw EngramError(.unavailable, "cannot stat \(given)")
            }
            // The file the descriptor opened may be held after all (created or renamed into
            // place since the stat): then keep this descriptor with the others — closing it
            // would drop the locks of the stores that hold the file.
            let opened = FileID(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
            if let held = o.files[opened] {
                guard st.st_nlink <= 1 else {
                    o.files[opened] = (held.fds + [fd], held.stores)
                    throw linked(given, st.st_nlink)
                }
                o.files[opened] = (held.fds + [fd], held.stores + 1)
                return opened
            }
            // No store of this process has the file, so closing `fd` on failure drops no lock.
            if st.st_nlink > 1, flock(fd, LOCK_EX | LOCK_NB) != 0 {
                Glibc.close(fd)
                throw linked(given, st.st_nlink)
            }
            // Shared, without waiting long: an exclusive holder (an Engram from before stores
            // could share a file, or another program) keeps it as long as it likes.
            var waited = 0.0
            while flock(fd, LOCK_SH | LOCK_NB) != 0 {
                guard errno == EWOULDBLOCK || errno == EINTR, waited < 1 else {
                    Glibc.close(fd)
                    throw EngramError(.unavailable, "\(given) is locked exclusively by another process (an Engram from before stores could share a file, or another program)")
                }
                usleep(10_000)
                waited += 0.01
            }
            o.files[opened] = ([fd], 1)
            return opened
        }
    }

    /// One store fewer on the file; the descriptor closes with the last.
    static func release(_ id: FileID?) {
        guard let id else { return }
        open.withLock { o in
            guard let held = o.files[id] else { return }
            if held.stores > 1 {
                o.files[id] = (held.fds, held.stores - 1)
            } else {
                for fd in held.fds { Glibc.close(fd) }
                o.files[id] = nil
            }
        }
    }

    private static func linked(_ given: String, _ links: nlink_t) -> EngramError {
        EngramError(.unavailable, "\(given) has \(links) hard links and another store has it open: SQLite keeps its write-ahead log beside the name, so two names of one file would keep two logs; with more than one link one store at a time may open it (remove the extra links to share it)")
    }
}
