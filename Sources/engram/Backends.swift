import ArgumentParser
import EngramCatalog
import EngramCore
import Foundation

/// The options that choose a backend, shared by `conform`, `bench` and `replay`.
struct BackendOptions: ParsableArguments {
    @Option(help: "Backend: \(BackendCatalog.names.joined(separator: ", ")).")
    var backend = "sqlite"

    @Option(help: "A backend in another process instead: the command that starts its adapter.")
    var external: String?

    @Option(help: "Seconds to wait for each adapter response (with --external).")
    var timeout: Double = 30

    /// The chosen backend's catalog entry.
    func entry() throws -> BackendCatalog.Entry {
        try external.map { BackendCatalog.externalEntry(command: $0, timeout: timeout) } ?? BackendCatalog.entry(backend)
    }
}

/// Redacts the credentials of the environment's connection settings (ENGRAM_POSTGRES_URL,
/// ENGRAM_COSMOS_ENDPOINT and ENGRAM_COSMOS_KEY) from anything the CLI prints or writes.
func environmentRedactor() -> Redactor {
    let env = ProcessInfo.processInfo.environment
    return Redactor(connectionStrings: [env["ENGRAM_POSTGRES_URL"], env["ENGRAM_COSMOS_ENDPOINT"]].compactMap { $0 },
                    secrets: [env["ENGRAM_COSMOS_KEY"]].compactMap { $0 })
}

