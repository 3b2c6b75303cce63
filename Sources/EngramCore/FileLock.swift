#if canImport(Glibc)
import Glibc
#endif

/// An exclusive advisory lock (`flock`) that keeps a second process from opening a store.
///
/// The lock belongs to the file, not to its path text: a symlink or a hard link to a
/// locked file finds it locked. A failed attempt is retried for `patience` seconds,
/// because a thread of this very process that spawns a child shares every open file
/// with that child until its `exec`, and so can hold a just-released lock for an instant.
public enum FileLock {
    /// Opens (creating it when missing) and locks `path`; returns the descriptor to
    /// release with `unlock`. Throws `unavailable` with `busy` when another holder keeps it.
    public static func lock(_ path: String, busy: String, patience: Double = 1) throws -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let e = errno
            throw EngramError(.unavailable, "cannot open \(path): \(String(cString: strerror(e)))", nativeCode: "errno \(e)")
        }
        var waited = 0.0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, waited < patience else {
                close(fd)
                throw EngramError(.unavailable, busy)
            }
            usleep(10_000)
            waited += 0.01
        }
        return fd
    }

    /// Releases a lock taken by `lock`.
    public static func unlock(_ fd: Int32) {
        if fd >= 0 { close(fd) }
    }
}
