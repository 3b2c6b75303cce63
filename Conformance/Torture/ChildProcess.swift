import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sends `signal` to `pid` (the libc call, which `ChildProcess.kill()` would shadow).
private func send(_ signal: Int32, to pid: Int32) {
    _ = kill(pid, signal)
}

/// A child process whose standard output is read line by line as it is written, and which
/// can be frozen (SIGSTOP), looked at, resumed or killed (SIGKILL) at a point chosen by what
/// it has printed — the work it has done — never by the clock.
///
/// Kill tests use it so that a slow machine changes how long a run takes, not what it tests:
/// the parent waits for the child's `ready`, counts its acknowledged calls, and kills it
/// inside the call it chose after freezing the child and checking that the call is still in
/// flight. Standard error goes to a scratch file (a full pipe would block the child). Freezing
/// reads the child's state from `/proc` (Linux).
public final class ChildProcess {
    private let process = Process()
    private let stdout: Int32
    private let errorFile: URL
    private var buffer: [UInt8] = []
    private var atEnd = false
    /// Every whole line the child printed so far, in order.
    public private(set) var lines: [String] = []

    public init(executable: URL, arguments: [String], environment: [String: String]? = nil) throws {
        let pipe = Pipe()
        errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("engram-child-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = pipe
        let errors = try FileHandle(forWritingTo: errorFile)
        defer { try? errors.close() }
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            try? FileManager.default.removeItem(at: errorFile)
            throw error
        }
        stdout = pipe.fileHandleForReading.fileDescriptor
        // The parent keeps only the read end; the write end must close here so EOF arrives.
        try? pipe.fileHandleForWriting.close()
        pipeReader = pipe.fileHandleForReading
    }
    private var pipeReader: FileHandle?

    deinit {
        if process.isRunning {
            send(SIGKILL, to: process.processIdentifier)
            send(SIGCONT, to: process.processIdentifier)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: errorFile)
    }

    public var pid: Int32 { process.processIdentifier }

    /// An executable product of this package as a test sees it: beside the test bundle, or
    /// in `.build/debug` of the package holding `file`.
    public static func builtProduct(_ name: String, packageFile file: String = #filePath) -> URL {
        var root = URL(fileURLWithPath: file)
        while root.pathComponents.count > 1, !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) {
            root.deleteLastPathComponent()
        }
        let candidates = [
            Bundle.main.executableURL?.deletingLastPathComponent().appendingPathComponent(name),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent(name),
            root.appendingPathComponent(".build/debug/\(name)"),
        ].compactMap { $0 }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[candidates.count - 1]
    }

    /// The next whole line, waiting for it; nil once the child closed its output (it exited
    /// or was killed) with no whole line left.
    public func nextLine() -> String? {
        while true {
            if let line = takeLine() { return line }
            if atEnd || !fill(wait: -1) { return nil }
        }
    }

    /// The next whole line if one arrives within `milliseconds`; nil otherwise or at the end.
    /// Used only to bound a wait against a hang, never to judge a result.
    public func nextLine(within milliseconds: Int) -> String? {
        let deadline = ContinuousClock.now + .milliseconds(milliseconds)
        while true {
            if let line = takeLine() { return line }
            let left = deadline - ContinuousClock.now
            guard !atEnd, left > .zero else { return nil }
            let ms = Int32(clamping: left.components.seconds * 1_000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            guard fill(wait: ms) else { return nil }
        }
    }

    /// The whole lines already written and not yet read, without waiting.
    public func availableLines() -> [String] {
        while !atEnd, fill(wait: 0) {}
        var out: [String] = []
        while let line = takeLine() { out.append(line) }
        return out
    }

    /// Freezes the child and returns true once the kernel reports it stopped, so everything
    /// it wrote before is in the pipe and it writes nothing more until `resume`; false when
    /// it had exited (or never stopped: the wait is bounded against a hang).
    public func freeze() -> Bool {
        guard process.isRunning else { return false }
        send(SIGSTOP, to: pid)
        for _ in 0..<200_000 {
            switch state {
            case "T", "t": return true
            case "Z", "X", nil: return false
            default: usleep(50)
            }
        }
        return false
    }

    public func resume() { send(SIGCONT, to: pid) }

    /// Kills the child with SIGKILL, waits for it, and returns the whole lines it wrote that
    /// were not read yet (text after the last line break was cut by the kill: not a line).
    @discardableResult
    public func kill() -> [String] {
        if process.isRunning {
            send(SIGKILL, to: pid)
            send(SIGCONT, to: pid)
        }
        process.waitUntilExit()
        return rest()
    }

    /// Waits for a child that ends by itself and returns its remaining whole lines.
    public func waitForExit() -> [String] {
        let out = rest()
        process.waitUntilExit()
        return out
    }

    public var isRunning: Bool { process.isRunning }
    /// Whether the child closed its output (it exited, or will): no line will come.
    public var outputEnded: Bool {
        if !atEnd { _ = availableLines().count }
        return atEnd
    }
    /// Exit status, or the signal that ended it (after `kill` or `waitForExit`).
    public var terminationStatus: Int32 { process.terminationStatus }
    public var diedBySignal: Bool { process.terminationReason == .uncaughtSignal }

    /// The first 2,000 bytes the child wrote to standard error.
    public var errorText: String {
        let data = (try? Data(contentsOf: errorFile)) ?? Data()
        return String(decoding: data.prefix(2_000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The child's state letter in `/proc/<pid>/stat` (nil once it is gone).
    private var state: Character? {
        guard process.isRunning, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")"), stat.distance(from: close, to: stat.endIndex) > 2 else { return nil }
        return stat[stat.index(close, offsetBy: 2)]
    }

    private func rest() -> [String] {
        var out: [String] = []
        while true {
            while let line = takeLine() { out.append(line) }
            if atEnd || !fill(wait: -1) { break }
        }
        buffer.removeAll()  // a partial last line: cut by the kill
        return out
    }

    private func takeLine() -> String? {
        guard let end = buffer.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let line = String(decoding: buffer[..<end], as: UTF8.self)
        buffer.removeSubrange(...end)
        lines.append(line)
        return line
    }

    /// Reads what is there (waiting up to `wait` ms, -1 = until something comes); false at
    /// the end of the output or when nothing came in time.
    private func fill(wait: Int32) -> Bool {
        var p = pollfd(fd: stdout, events: Int16(POLLIN), revents: 0)
        var ready: Int32
        repeat { ready = poll(&p, 1, wait) } while ready < 0 && errno == EINTR
        guard ready > 0 else { return false }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        var n: Int
        repeat { n = read(stdout, &chunk, chunk.count) } while n < 0 && errno == EINTR
        if n <= 0 { atEnd = true; return false }
        buffer.append(contentsOf: chunk[..<n])
        return true
    }
}
