import EngramCore
import EngramPostgres
import Foundation
import Synchronization

/// A server a backend runs on, started on first use by the command (or test) that needs it.
public struct Service: Sendable {
    /// What a child process needs in its environment to reach the same server.
    public let environment: @Sendable () throws -> [String: String]
    /// Stops the server as a power cut would and starts it again; nil when it is not Engram's to crash.
    public let crash: (@Sendable () throws -> Void)?
    /// Stops the server if this process started it.
    public let stop: @Sendable () -> Void
}

/// The project's own PostgreSQL + pgvector server (scripts/postgres.sh), or the one
/// ENGRAM_POSTGRES_URL names: started on first use by this command, stopped when it ends.
public enum PostgresService {
    struct State {
        var url: String?
        var startedIn: URL?
    }
    static let state = Mutex(State())

    /// The PostgreSQL server: `ENGRAM_POSTGRES_URL`, or the project's own, started on first
    /// use and stopped by `stop()` when the command ends.
    public static func url() throws -> String {
        try state.withLock { state in
            if let url = state.url { return url }
            if let url = ProjectPostgres.configuredURL {
                state.url = url
                return url
            }
            let here = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            let binary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            guard let repo = ProjectPostgres.repository(from: here) ?? ProjectPostgres.repository(from: binary) else {
                throw EngramError(.unavailable, "no ENGRAM_POSTGRES_URL and no scripts/postgres.sh found above \(here.path) to start the project's server")
            }
            FileHandle.standardError.write(Data("starting the project's PostgreSQL server (scripts/postgres.sh)\n".utf8))
            state.url = try ProjectPostgres.start(repository: repo)
            state.startedIn = repo
            return state.url!
        }
    }

    /// Stops the project's server as a power cut would, then starts it again (crash tests).
    /// Refused for a server named by ENGRAM_POSTGRES_URL: it is not Engram's to crash.
    public static func crash() throws {
        try state.withLock { state in
            guard let repo = state.startedIn else {
                throw EngramError(.notSupported, "only the project's own server (started by this command) is crashed on purpose")
            }
            try ProjectPostgres.crash(repository: repo)
            state.url = try ProjectPostgres.start(repository: repo)
        }
    }

    static let service = Service(environment: { ["ENGRAM_POSTGRES_URL": try url()] }, crash: { try crash() }, stop: { stop() })

    /// Stops the project's server if this process started it.
    public static func stop() {
        state.withLock { state in
            if let repo = state.startedIn { try? ProjectPostgres.stop(repository: repo) }
            state.startedIn = nil
            state.url = nil
        }
    }
}

/// The Cosmos DB account: ENGRAM_COSMOS_ENDPOINT and ENGRAM_COSMOS_KEY when set (a real
/// account), else the in-repo REST stand-in, started on first use and stopped when the command ends.
public enum CosmosStandInService {
    /// Cosmos DB's public emulator key, used by the stand-in.
    static let key = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU9DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="

    final class State: @unchecked Sendable {
        // @unchecked: only touched inside `state.withLock`.
        var endpoint: String?
        var process: Process?
        var input: Pipe?
    }
    static let state = Mutex(State())

    static let service = Service(environment: {
        let (endpoint, accountKey) = try account()
        return ["ENGRAM_COSMOS_ENDPOINT": endpoint, "ENGRAM_COSMOS_KEY": accountKey]
    }, crash: nil, stop: { stop() })

    public static func account() throws -> (String, String) {
        let env = ProcessInfo.processInfo.environment
        if let endpoint = env["ENGRAM_COSMOS_ENDPOINT"], let accountKey = env["ENGRAM_COSMOS_KEY"], !endpoint.isEmpty, !accountKey.isEmpty {
            return (endpoint, accountKey)
        }
        return try state.withLock { state in
            if let endpoint = state.endpoint { return (endpoint, key) }
            let here = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            guard let repo = ProjectPostgres.repository(from: here) ?? ProjectPostgres.repository(from: URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()) else {
                throw EngramError(.unavailable, "no ENGRAM_COSMOS_ENDPOINT/KEY and no repository found to start the Cosmos DB stand-in")
            }
            FileHandle.standardError.write(Data("no Cosmos DB account configured: starting the REST stand-in (Tests/CosmosStandIn)\n".utf8))
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", repo.appendingPathComponent("Tests/CosmosStandIn/cosmos_standin.py").path, "--port", "0", "--key", key, "--exit-on-stdin-eof"]
            let out = Pipe(), input = Pipe()
            p.standardOutput = out
            p.standardInput = input
            try p.run()
            var line = Data()
            while true {
                let byte = out.fileHandleForReading.readData(ofLength: 1)
                if byte.isEmpty || byte == Data("\n".utf8) { break }
                line.append(byte)
            }
            guard let port = String(decoding: line, as: UTF8.self).split(separator: " ").last, Int(port) != nil else {
                throw EngramError(.unavailable, "the Cosmos DB stand-in did not start")
            }
            state.endpoint = "http://127.0.0.1:\(port)"
            state.process = p
            state.input = input
            return (state.endpoint!, key)
        }
    }

    public static func stop() {
        state.withLock { state in
            try? state.input?.fileHandleForWriting.close()
            state.process?.terminate()
            state.endpoint = nil
            state.process = nil
        }
    }
}
