import ArgumentParser

@main
struct Engram: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engram",
        abstract: "Storage for AI agents' learned memories: conformance suite and benchmark runner.",
        subcommands: [Conform.self, Bench.self, Report.self, GateCommand.self, AB.self, BaselineCommand.self, Plan.self, Findings.self, TortureCommand.self, Replay.self, FilesWriter.self, TortureChild.self])
}
