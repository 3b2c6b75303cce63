import EngramCore
import Foundation
import Glibc
import Synchronization

/// A child process that speaks JSON lines on stdin/stdout; its stderr is passed to a log.
///
/// Built for adapters that misbehave: it is started with `posix_spawn` in a process group
/// of its own (so ending it also ends any child it forked that still holds a pipe), its
/// stdin is a socket written with `MSG_NOSIGNAL` (an adapter that closes stdin gives an
/// error, never a SIGPIPE that kills the caller), every write and read waits at most until
/// the request's deadline, lines are assembled in linear time, and a line longer than
/// `maxLineBytes` is a protocol error instead of unbounded memory.
final class AdapterProcess: @unchecked Sendable {
    // @unchecked: `pid`, the descriptors and `buffer` are used by one caller at a time
    // (ExternalStore serialises calls under its lock); `reaped` is atomic.
    let command: String
    /// The longest response line accepted.
    let maxLineBytes: Int
    private let pid: pid_t
    private var stdinFD: Int32
    private var stdoutFD: Int32
    /// Bytes read from stdout and not yet returned as a line.
    private var buffer: [UInt8] = []
    /// Where the scan for the next newline resumes (all bytes before it hold none).
    private var scanned = 0
    private let exitStatus = Mutex<Int32?>(nil)
    private var terminated = false

    init(command: String, maxLineBytes: Int, log: @escaping @Sendable (String) -> Void) throws {
        self.command = command
        self.maxLineBytes = maxLineBytes
        // Socket pairs rather than pipes: created close-on-exec atomically (another thread's
        // spawn cannot inherit them), and written with MSG_NOSIGNAL. Each is one-way.
        var inPair: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        for i in 0..<3 {
            var pair: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
                for fd in inPair + outPipe + errPipe where fd >= 0 { Glibc.close(fd) }
                throw EngramError(.unavailable, "cannot create pipes for the adapter: \(String(cString: strerror(errno)))")
            }
            if i == 0 { inPair = pair } else if i == 1 { outPipe = pair } else { errPipe = pair }
        }
        shutdown(inPair[1], Int32(SHUT_WR))
        shutdown(outPipe[1], Int32(SHUT_RD))
        shutdown(errPipe[1], Int32(SHUT_RD))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPair[1], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)  // the adapter gets default signal handling whatever ours is
        var noMask = sigset_t()
        sigemptyset(&noMask)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setsigmask(&attr, &noMask)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var child: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup("exec " + command), nil]
        defer { for a in argv { free(a) } }
        let rc = posix_spawn(&child, "/bin/sh", &actions, &attr, argv, environ)
        for fd in [inPair[1], outPipe[1], errPipe[1]] { Glibc.close(fd) }
        guard rc == 0 else {
            for fd in [inPair[0], outPipe[0], errPipe[0]] { Glibc.close(fd) }
            throw EngramError(.unavailable, "cannot start the adapter '\(command)': \(String(cString: strerror(rc)))")
        }
        pid = child
        stdinFD = inPair[0]
        stdoutFD = outPipe[0]
        _ = fcntl(stdinFD, F_SETFL, fcntl(stdinFD, F_GETFL) | O_NONBLOCK)
        _ = fcntl(stdoutFD, F_SETFL, fcntl(stdoutFD, F_GETFL) | O_NONBLOCK)
        let err = errPipe[0]
        Thread.detachNewThread {
            // Ends when every holder of the pipe's write end has exited (the group is killed at the end).
            var pending: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(err, $0.baseAddress, $0.count) }
                if n < 0, errno == EINTR { continue }
                if n <= 0 { break }
                var start = 0
                for i in 0..<n where chunk[i] == 10 {
                    pending += chunk[start..<i]
                    log(String(decoding: pending.prefix(65_536), as: UTF8.self))
                    pending.removeAll(keepingCapacity: true)
                    start = i + 1
                }
                if pending.count < 65_536 { pending += chunk[start..<n].prefix(65_536 - pending.count) }
            }
            if !pending.isEmpty { log(String(decoding: pending, as: UTF8.self)) }
            Glibc.close(err)
        }
    }

    /// Whether the adapter process itself is still running (reaps it when it has exited).
    var isRunning: Bool { status == nil }

    /// The adapter's exit status once it has exited, else nil.
    private var status: Int32? {
        exitStatus.withLock { s in
            if s == nil {
                var st: Int32 = 0
                if waitpid(pid, &st, WNOHANG) == pid { s = st }
            }
            return s
        }
    }

    private func describeExit() -> String {
        guard let st = status else { return "the adapter is running" }
        let signal = st & 0x7f
        return signal == 0 ? "the adapter has exited (status \((st >> 8) & 0xff))" : "the adapter was killed by signal \(signal)"
    }

    /// Waits until `fd` is ready for `events` or `deadline` passes; checks the adapter's
    /// own exit every 100 ms (a forked child may hold the pipe open after it exited), and
    /// whether it closed its input while an answer is awaited (after 0.5 s of silence that
    /// is the answer: it can no longer read requests).
    private func wait(_ fd: Int32, _ events: Int16, until deadline: ContinuousClock.Instant, _ what: String, timeout: Double) throws {
        var inputClosedSince: ContinuousClock.Instant?
        while true {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { throw EngramError(.unavailable, "the adapter did not \(what) within \(timeout) s") }
            var fds = [pollfd(fd: fd, events: events, revents: 0), pollfd(fd: stdinFD, events: 0, revents: 0)]
            let ms = min(100, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000) + 1)
            let r = poll(&fds, fd == stdinFD ? 1 : 2, ms)
            if r < 0, errno != EINTR { throw EngramError(.unavailable, "poll failed: \(String(cString: strerror(errno)))") }
            if fds[0].revents != 0 { return }
            if !isRunning { throw EngramError(.unavailable, describeExit() + " before it could \(what)") }
            if fd != stdinFD, fds[1].revents & Int16(POLLHUP) != 0 {
                let since = inputClosedSince ?? ContinuousClock.now
                inputClosedSince = since
                if ContinuousClock.now - since > .milliseconds(500) {
                    throw EngramError(.unavailable, "the adapter closed its input and did not \(what) (still running)")
                }
                usleep(20_000)
            }
        }
    }

    /// Writes one line, giving up at the deadline (an adapter that stops reading cannot block us).
    func send(_ line: String, timeout: Double) throws {
        guard isRunning else { throw EngramError(.unavailable, describeExit()) }
        let deadline = ContinuousClock.now.advanced(by: .seconds(timeout))
        var bytes = Array(line.utf8)
        bytes.append(10)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(stdinFD, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
            if n > 0 { off += n; continue }
            switch errno {
            case EINTR: continue
            case EAGAIN: try wait(stdinFD, Int16(POLLOUT), until: deadline, "read its request", timeout: timeout)
            case EPIPE, ECONNRESET: throw EngramError(.unavailable, "the adapter closed its input (\(isRunning ? "still running" : describeExit()))")
            default: throw EngramError(.unavailable, "cannot write to the adapter: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// The next line, or nil when the adapter closed stdout; throws after `timeout`, and for
    /// a line over `maxLineBytes`.
    func receive(timeout: Double) throws -> String? {
        let deadline = ContinuousClock.now.advanced(by: .seconds(timeout))
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            if let nl = buffer[scanned...].firstIndex(of: 10) {
                // Invalid UTF-8 is a protocol error, not text quietly repaired with U+FFFD.
                guard let line = String(validating: buffer[..<nl], as: UTF8.self) else {
                    throw EngramError(.internal, "protocol: a response line is not valid UTF-8")
                }
                buffer.removeSubrange(...nl)
                scanned = 0
                return line
            }
            scanned = buffer.count
            guard buffer.count <= maxLineBytes else {
                throw EngramError(.internal, "protocol: a response line is longer than \(maxLineBytes) bytes")
            }
            let n = chunk.withUnsafeMutableBytes { read(stdoutFD, $0.baseAddress, $0.count) }
            if n > 0 {
                buffer.append(contentsOf: chunk[..<n])
            } else if n == 0 {
                return nil
            } else if errno == EAGAIN {
                try wait(stdoutFD, Int16(POLLIN), until: deadline, "answer", timeout: timeout)
            } else if errno != EINTR {
                throw EngramError(.unavailable, "cannot read from the adapter: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Ends the adapter: closes its input, gives it `grace` seconds to leave, then kills its
    /// whole process group (children it forked included) and reaps it.
    func terminate(grace: Double = 2) {
        guard !terminated else { return }  // once: the group id could be reused afterwards
        terminated = true
        if stdinFD >= 0 { Glibc.close(stdinFD); stdinFD = -1 }
        let deadline = ContinuousClock.now.advanced(by: .seconds(grace))
        while isRunning, ContinuousClock.now < deadline { usleep(10_000) }
        kill(-pid, SIGKILL)
        if isRunning {
            var st: Int32 = 0
            while waitpid(pid, &st, 0) < 0, errno == EINTR {}
            exitStatus.withLock { $0 = st }
        }
        if stdoutFD >= 0 { Glibc.close(stdoutFD); stdoutFD = -1 }
    }

    deinit { terminate(grace: 0) }
}
