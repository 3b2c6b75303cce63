import ArgumentParser
import Conformance
import EngramCore
import EngramCatalog
import Foundation

/// `engram replay FILE`: re-runs a shrunk fuzz history (written by `engram conform --fuzz`)
/// on a backend, and says whether it still diverges from the reference store.
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Re-run a shrunk fuzz history on a backend.")

    @Argument(help: "A fuzz report (results/fuzz-<backend>-<seed>.json).") var file: String
    @OptionGroup var target: BackendOptions

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
        let report = try JSONValue.parse(String(decoding: data, as: UTF8.self))
        guard let o = report.objectValue, case .string(let seedText)? = o["seed"], let seed = UInt64(seedText),
              case .int(let length)? = o["length"], case .int(let dimension)? = o["dimension"] else {
            throw ValidationError("\(file) is not a fuzz report (seed, length and dimension are required)")
        }
        let entry = try target.entry()
        defer { entry.cleanup() }
        let scratch = ScratchDirectory(prefix: "engram-replay")
        let fuzzer = Fuzzer(fixture: entry.fixture(scratch.url, Int(dimension)), seed: seed, length: Int(length))
        if case .array(let operations)? = o["operations"] {
            for case .string(let op) in operations { print("  \(op)") }
        }
        if let why = try fuzzer.replay(report, dimension: Int(dimension)) {
            print("diverges on '\(entry.name)': \(environmentRedactor()(why))")
            throw ExitCode(1)
        }
        print("no divergence on '\(entry.name)'")
    }
}
