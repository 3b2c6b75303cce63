import Foundation

/// The name of one summary figure: `<scenario>.<name>[@<sizes>]`, e.g.
/// `delete.pair.full_rebuild_vs_swap_remove@100000`, `prune.no_index_vs_index@100000`,
/// `get.p50_us.engram`, `scale.b.delete.swap_remove.delete_p50_us@1000-100000`. The scenarios
/// build them, the manifest stores them, the gate's thresholds, the A/B comparison and the
/// findings look them up, all through this type; a key read from a file is checked here.
public struct SummaryKey: Hashable, Comparable, Sendable, CustomStringConvertible, Codable, CodingKeyRepresentable {
    /// The scenario that measures the figure (what the gate re-runs to re-measure it).
    public let scenario: BenchScenario
    /// What the figure is (a metric or a ratio, then the variant where it has one).
    public let name: String
    /// The store size it was measured at ("100000"), or the range a fit spans ("1000-100000").
    public let sizes: String?

    /// A key from its parts, joined by dots: `SummaryKey(.search, "qps", "exact", n: 10_000)`.
    public init(_ scenario: BenchScenario, _ parts: String..., n: Int? = nil) {
        self.init(scenario, parts, sizes: n.map(String.init))
    }

    /// A fitted figure's key, over the sizes from `lo` to `hi`.
    public init(_ scenario: BenchScenario, _ parts: [String], from lo: Int, to hi: Int) {
        self.init(scenario, parts, sizes: "\(lo)-\(hi)")
    }

    init(_ scenario: BenchScenario, _ parts: [String], sizes: String?) {
        self.scenario = scenario
        name = parts.joined(separator: ".")
        self.sizes = sizes
        assert(Self.problem(name: name, sizes: sizes) == nil, "summary key \(description): \(Self.problem(name: name, sizes: sizes) ?? "")")
    }

    /// Parses and checks a key written as text (a thresholds file, a manifest).
    public init(parsing text: String) throws {
        let at = text.lastIndex(of: "@")
        let head = at.map { String(text[..<$0]) } ?? text
        let sizes = at.map { String(text[text.index(after: $0)...]) }
        let parts = head.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let scenario = BenchScenario(rawValue: String(parts[0])) else {
            throw BenchError("summary key \(text.debugDescription): it must start with a scenario (\(BenchScenario.allCases.map(\.rawValue).joined(separator: ", "))) and a dot")
        }
        if let problem = Self.problem(name: String(parts[1]), sizes: sizes) { throw BenchError("summary key \(text.debugDescription): \(problem)") }
        self.init(scenario, [String(parts[1])], sizes: sizes)
    }

    static func problem(name: String, sizes: String?) -> String? {
        if name.isEmpty { return "no name after the scenario" }
        if name.contains("@") { return "\"@\" only before the sizes" }
        if name.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control || $0.properties.generalCategory == .unassigned }) {
            return "the name must be printable text without spaces"
        }
        if let sizes {
            let ends = sizes.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(ends.count), ends.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && Int($0) != nil }) else {
                return "the sizes after \"@\" must be a record count or a range of them (1000-100000)"
            }
        }
        return nil
    }

    public var description: String { "\(scenario.rawValue).\(name)" + (sizes.map { "@\($0)" } ?? "") }

    public static func < (a: SummaryKey, b: SummaryKey) -> Bool { a.description < b.description }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    public var codingKey: any CodingKey { Name(stringValue: description) }
    public init?<T: CodingKey>(codingKey: T) { try? self.init(parsing: codingKey.stringValue) }

    private struct Name: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// Turns a run's measurements into named figures, each measured within the run: each
/// scenario's own (see its `summarize`).
public enum Summary {
    public static func ratios(_ run: BenchRun, engramVariant: (BenchScenario) -> String) -> [SummaryKey: Double] {
        var out: [SummaryKey: Double] = [:]
        for scenario in BenchmarkScenario.all {
            let rows = run.measurements.filter { $0.scenario == scenario.id.rawValue }
            guard !rows.isEmpty else { continue }
            out.merge(scenario.summarize(rows, engramVariant(scenario.id))) { a, _ in a }
        }
        return out
    }
}
