import Dispatch
import EngramCore
import Foundation
import Synchronization

/// A child process that speaks JSON lines on stdin/stdout; its stderr is passed through.
/// Reads happen on a background thread, so a request can give up after its timeout
/// instead of blocking forever on a silent adapter.
final class AdapterProcess: @unchecked Sendable {
    // @unchecked: `process` and the handles are set once in init; `lines` and `state` are
    // behind mutexes; `arrived` is a semaphore.
    private let process = Process()
    private let input: FileHandle
    /// Lines read from stdout by the reader thread, and whether stdout has closed.
    private final class Inbox: Sendable {
        let lines = Mutex<[String]>([])
        let arrived = DispatchSemaphore(value: 0)
        let ended = Atomic<Bool>(false)
    }
    private let inbox = Inbox()
    let command: String

    init(command: String, log: @escaping @Sendable (String) -> Void) throws {
        self.command = command
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exec " + command]
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        input = stdin.fileHandleForWriting
        do { try process.run() } catch {
            throw EngramError(.unavailable, "cannot start the adapter '\(command)': \(error)")
        }
        let out = stdout.fileHandleForReading
        let inbox = self.inbox
        Thread.detachNewThread {
            var pending = Data()
            while true {
                let chunk = out.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let nl = pending.firstIndex(of: 10) {
                    let line = String(decoding: pending[pending.startIndex..<nl], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...nl)
                    inbox.lines.withLock { $0.append(line) }
                    inbox.arrived.signal()
                }
            }
            inbox.ended.store(true, ordering: .releasing)
            inbox.arrived.signal()
        }
        let err = stderr.fileHandleForReading
        Thread.detachNewThread {
            var pending = Data()
            while true {
                let chunk = err.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let nl = pending.firstIndex(of: 10) {
                    log(String(decoding: pending[pending.startIndex..<nl], as: UTF8.self))
                    pending.removeSubrange(pending.startIndex...nl)
                }
            }
            if !pending.isEmpty { log(String(decoding: pending, as: UTF8.self)) }
        }
    }

    var isRunning: Bool { process.isRunning }

    /// Writes one line.
    func send(_ line: String) throws {
        guard process.isRunning else { throw EngramError(.unavailable, "the adapter has exited (status \(process.terminationStatus))") }
        do { try input.write(contentsOf: Data((line + "\n").utf8)) } catch {
            throw EngramError(.unavailable, "cannot write to the adapter: \(error)")
        }
    }

    /// The next line, or nil when the adapter closed stdout; throws after `timeout`.
    func receive(timeout: Double) throws -> String? {
        let deadline = DispatchTime.now() + timeout
        while true {
            if let line = inbox.lines.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return line }
            if inbox.ended.load(ordering: .acquiring) { return nil }
            if inbox.arrived.wait(timeout: deadline) == .timedOut {
                if let line = inbox.lines.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return line }
                throw EngramError(.unavailable, "the adapter did not answer within \(timeout) s")
            }
        }
    }

    /// Ends the process (SIGKILL if it does not leave by itself).
    func terminate() {
        try? input.close()
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(2)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
    }

    deinit { terminate() }
}
