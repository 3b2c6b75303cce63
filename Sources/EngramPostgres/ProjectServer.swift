import EngramCore
import Foundation

/// The project's own PostgreSQL + pgvector server (`scripts/postgres.sh`), for tests, the
/// CLI and benchmarks when no `ENGRAM_POSTGRES_URL` points at another server.
public enum ProjectPostgres {
    /// `ENGRAM_POSTGRES_URL` when set; nil otherwise.
    public static var configuredURL: String? {
        ProcessInfo.processInfo.environment["ENGRAM_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Starts the project's server (installing it when missing) and returns its URL.
    public static func start(repository: URL) throws -> String {
        let out = try script(repository, "start")
        guard let url = out.split(separator: "\n").last.map(String.init), url.hasPrefix("postgresql://") else {
            throw EngramError(.unavailable, "scripts/postgres.sh start printed no URL: \(out)")
        }
        return url
    }

    /// Stops the project's server.
    public static func stop(repository: URL) throws { _ = try script(repository, "stop") }

    /// Stops the project's server the way a power cut would (`pg_ctl stop -m immediate`).
    public static func crash(repository: URL) throws { _ = try script(repository, "crash") }

    /// The repository holding `scripts/postgres.sh`, searched upwards from `start`.
    public static func repository(from start: URL) -> URL? {
        var dir = start
        while dir.path != "/" {
            if FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("scripts/postgres.sh").path) { return dir }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    /// Marks every descriptor above 2 close-on-exec. The server the script starts outlives it
    /// and would otherwise hold whatever popen passes on (a test runner's event pipe, another
    /// child's stdin) open for as long as it runs. It changes nothing for this process; the
    /// children it spawns on purpose get their descriptors by dup2, which clears the flag.
    private static func markCloseOnExec() {
        guard let dir = opendir("/proc/self/fd") else { return }
        defer { closedir(dir) }
        let own = dirfd(dir)
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let fd = Int32(name), fd > 2, fd != own else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// Runs the script through popen(3) and waitpid: Foundation's Process can wait forever
    /// here, because the server the script starts outlives the script.
    private static func script(_ repository: URL, _ verb: String) throws -> String {
        let path = repository.appendingPathComponent("scripts/postgres.sh").path
        markCloseOnExec()
        let command = "'" + path.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "' " + verb
        guard let pipe = popen(command, "r") else { throw EngramError(.unavailable, "cannot run \(path)") }
        var output = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, pipe)
            if n <= 0 { break }
            output += buffer[0..<n]
        }
        let status = pclose(pipe)
        let text = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard status == 0 else {
            throw EngramError(.unavailable, "scripts/postgres.sh \(verb) failed (status \(status)): \(text)")
        }
        return text
    }
}
