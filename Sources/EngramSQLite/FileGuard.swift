import EngramCore
import Glibc
import Synchronization

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
    private struct Open {
        /// Per file: its descriptors, the stores that hold it, and the name they opened it by.
        var files: [FileID: (fds: [Int32], stores: Int, path: String)] = [:]
    }
    private static let open = Mutex(Open())

    static func acquire(_ path: String, given: String) throws -> FileID {
        try open.withLock { o in
            var st = stat()
            if stat(path, &st) == 0 {
                let id = FileID(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
                if let held = o.files[id] {
                    guard st.st_nlink <= 1 else { throw linked(given, st.st_nlink) }
                    guard held.path.isExactly(path) else { throw renamed(given, held.path) }
                    o.files[id] = (held.fds, held.stores + 1, held.path)
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
                guard st.st_nlink <= 1, held.path.isExactly(path) else {
                    o.files[opened] = (held.fds + [fd], held.stores, held.path)
                    throw st.st_nlink > 1 ? linked(given, st.st_nlink) : renamed(given, held.path)
                }
                o.files[opened] = (held.fds + [fd], held.stores + 1, held.path)
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
            o.files[opened] = ([fd], 1, path)
            return opened
        }
    }

    /// One store fewer on the file; the descriptor closes with the last.
    static func release(_ id: FileID?) {
        guard let id else { return }
        open.withLock { o in
            guard let held = o.files[id] else { return }
            if held.stores > 1 {
                o.files[id] = (held.fds, held.stores - 1, held.path)
            } else {
                for fd in held.fds { Glibc.close(fd) }
                o.files[id] = nil
            }
        }
    }

    /// Whether `path` still names the file `id` (false: it was moved, replaced or deleted).
    static func names(_ path: String, _ id: FileID) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && FileID(device: UInt64(st.st_dev), inode: UInt64(st.st_ino)) == id
    }

    /// Runs `body` when no other process has the file open — none holds its flock (every
    /// Engram store does, from its open) nor an SQLite lock on it (every connection in WAL
    /// mode holds one once it has read) — with the flock held exclusively meanwhile, so no
    /// store of another process opens it until `body` returns; nil when another has it.
    static func alone<T>(_ id: FileID, _ body: () -> T) -> T? {
        open.withLock { o -> T? in
            guard let fd = o.files[id]?.fds.first, flock(fd, LOCK_EX | LOCK_NB) == 0 else { return nil }
            defer { _ = flock(fd, LOCK_SH) }
            var lock = flock()
            lock.l_type = Int16(F_WRLCK)
            lock.l_whence = Int16(SEEK_SET)
            lock.l_start = 0x4000_0000  // SQLite's lock bytes: pending, reserved, shared range
            lock.l_len = 2 + 510
            guard fcntl(fd, F_GETLK, &lock) == 0, lock.l_type == Int16(F_UNLCK) else { return nil }
            return body()
        }
    }

    /// The error of a store whose file was moved, replaced or deleted while it was open;
    /// `rescued` says whether the writes it had acknowledged were copied into the file itself.
    static func moved(_ given: String, rescued: Bool) -> EngramError {
        EngramError(.unavailable, "\(given) was moved, replaced or deleted while this store had it open: nothing more is written through this store; "
            + (rescued ? "every write it acknowledged was copied into the file itself (wherever it is now); "
                : "writes it acknowledged that SQLite had not yet copied into the file stay in the write-ahead log beside the old name (another file has the name now, or another process had the file open); ")
            + "close the store and open the file where it is now")
    }

    private static func renamed(_ given: String, _ held: String) -> EngramError {
        EngramError(.unavailable, "\(given) is the file another store of this process opened as \(held) (it was moved or renamed since): SQLite keeps its write-ahead log beside the name, so two names of one file would keep two logs; close that store first")
    }

    private static func linked(_ given: String, _ links: nlink_t) -> EngramError {
        EngramError(.unavailable, "\(given) has \(links) hard links and another store has it open: SQLite keeps its write-ahead log beside the name, so two names of one file would keep two logs; with more than one link one store at a time may open it (remove the extra links to share it)")
    }
}
