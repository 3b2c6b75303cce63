import EngramCore
import Foundation

/// Report writers and readers for `results/`: the tidy CSV, the JSON manifest, the charts.
public enum BenchReports {
    public static let csvHeader = earlierCSVHeader + ",step"
    /// The header before runbooks added `step`; such files still read (step 0).
    static let earlierCSVHeader = "run_id,started_at,git_commit,host,backend,scenario,variant,n,dim,batch_size,repetition,metric,value,unit"

    /// The tidy CSV: one measurement per row, columns as in docs/benchmarks.md.
    public static func csv(_ run: BenchRun) -> String {
        var out = csvHeader + "\n"
        for m in run.measurements {
            let fields: [String] = [run.manifest.runId, run.manifest.startedAt, run.manifest.gitCommit, run.manifest.host, m.backend, m.scenario, m.variant,
                                    String(m.n), String(m.dim), String(m.batchSize), String(m.repetition), m.metric,
                                    format(m.value), m.unit, String(m.step)]
            out += CSV.row(fields) + "\n"
        }
        return out
    }

    /// Reads measurements back from CSVs written by `csv(_:)`.
    public static func readCSV(_ text: String) throws -> [Measurement] {
        var lines = text.split(whereSeparator: \.isNewline)
        guard let header = lines.first, header == csvHeader || header == earlierCSVHeader else {
            throw BenchError("not an Engram benchmark CSV (expected the header \(csvHeader))")
        }
        let columns = header == csvHeader ? 15 : 14
        lines.removeFirst()
        return try lines.enumerated().map { i, line in
            let f = parseCSVLine(String(line))
            guard f.count == columns, let n = Int(f[7]), let dim = Int(f[8]), let batch = Int(f[9]), let rep = Int(f[10]), let value = Double(f[12]),
                  let step = columns == 15 ? Int(f[14]) : 0 else {
                throw BenchError("line \(i + 2) of the CSV is malformed: \(line.prefix(120))")
            }
            return Measurement(backend: f[4], scenario: f[5], variant: f[6], n: n, dim: dim, batchSize: batch, repetition: rep, metric: f[11], value: value, unit: f[13], step: step)
        }
    }

    public static func manifestJSON(_ run: BenchRun) throws -> Data {
        try JSONEncoder.pretty.encode(run.manifest)
    }

    public static func readManifest(_ data: Data) throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: data)
    }

    /// Writes `bench.csv`, `bench-manifest.json` and the charts into `directory`.
    public static func write(_ run: BenchRun, to directory: URL) throws -> [URL] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let csvURL = directory.appendingPathComponent("bench-\(run.manifest.backend).csv")
        let manifestURL = directory.appendingPathComponent("bench-\(run.manifest.backend)-manifest.json")
        try csv(run).write(to: csvURL, atomically: true, encoding: .utf8)
        try manifestJSON(run).write(to: manifestURL, options: .atomic)
        let charts = try Charts.write(run.measurements, backend: run.manifest.backend, to: directory.appendingPathComponent("charts"))
        return [csvURL, manifestURL] + charts
    }

    static func format(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(format: "%.6g", v)
    }

    static func parseCSVLine(_ line: String) -> [String] {
        var fields: [String] = [], field = "", quoted = false
        var it = line.makeIterator()
        while let c = it.next() {
            if quoted {
                if c == "\"" {
                    if let n = it.next() {
                        if n == "\"" { field.append("\"") } else { quoted = false; if n == "," { fields.append(field); field = "" } else { field.append(n) } }
                    } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" { quoted = true }
            else if c == "," { fields.append(field); field = "" }
            else { field.append(c) }
        }
        fields.append(field)
        return fields
    }
}

/// The JSON manifest of a run: configuration, versions, machine, plans and every ratio.
public struct Manifest: Codable, Sendable {
    public var runId: String
    public var startedAt: String
    public var gitCommit: String
    public var host: String
    public var backend: String
    public var options: BenchOptions
    public var versions: [String: String]
    public var machine: [String: String]
    public var plans: [String: String]
    public var summary: [SummaryKey: Double]
    public var durationSeconds: Double
    public var measurementCount: Int
    /// Where the embeddings came from (absent in runs before it was recorded).
    public var vectors: VectorFingerprint?
    /// How busy the machine was during the run (absent in runs before it was recorded).
    public var load: MachineLoad?

    private enum CodingKeys: String, CodingKey {
        case runId, startedAt, gitCommit, host, backend, options, versions, machine, plans, summary, durationSeconds, measurementCount, vectors, load
    }
}

extension Manifest {
    /// Decoded as written, except that each summary key is parsed (`SummaryKey(parsing:)`): a
    /// key that does not parse fails the whole manifest, naming the key and why.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        runId = try c.decode(String.self, forKey: .runId)
        startedAt = try c.decode(String.self, forKey: .startedAt)
        gitCommit = try c.decode(String.self, forKey: .gitCommit)
        host = try c.decode(String.self, forKey: .host)
        backend = try c.decode(String.self, forKey: .backend)
        options = try c.decode(BenchOptions.self, forKey: .options)
        versions = try c.decode([String: String].self, forKey: .versions)
        machine = try c.decode([String: String].self, forKey: .machine)
        plans = try c.decode([String: String].self, forKey: .plans)
        var summary: [SummaryKey: Double] = [:]
        for (text, value) in try c.decode([String: Double].self, forKey: .summary) {
            do { summary[try SummaryKey(parsing: text)] = value } catch {
                throw DecodingError.dataCorruptedError(forKey: .summary, in: c, debugDescription: "\(error)")
            }
        }
        self.summary = summary
        durationSeconds = try c.decode(Double.self, forKey: .durationSeconds)
        measurementCount = try c.decode(Int.self, forKey: .measurementCount)
        vectors = try c.decodeIfPresent(VectorFingerprint.self, forKey: .vectors)
        load = try c.decodeIfPresent(MachineLoad.self, forKey: .load)
    }
}

public struct BenchError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// Where a verdict's reports go: the markdown summary (into a file, else appended to
/// `$GITHUB_STEP_SUMMARY` when set) and JUnit XML; shared by `engram gate` and `engram ab`.
public enum VerdictReports {
    /// Writes the reports asked for; returns one message per report that could not be written.
    public static func publish(rows: [Gate.Row], summary: String, markdown: String?, junit: String?, failOnImprovement: Bool,
                               environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        var failures: [String] = []
        func report(_ path: String, _ text: String, append: Bool = false) {
            do { try write(path, text, append: append) } catch { failures.append("cannot write \(path): \(error)") }
        }
        if let markdown {
            report(markdown, summary)
        } else if let path = environment["GITHUB_STEP_SUMMARY"], !path.isEmpty {
            report(path, summary, append: true)
        }
        if let junit { report(junit, Gate.junit(rows, failOnImprovement: failOnImprovement)) }
        return failures
    }

    /// Writes a report into the file named (a device, a symlink's target), or appends to it.
    public static func write(_ path: String, _ text: String, append: Bool = false) throws {
        if append {
            guard let h = FileHandle(forWritingAtPath: path) else { throw BenchError("cannot open it for writing") }
            defer { try? h.close() }
            try h.seekToEnd()
            try h.write(contentsOf: Data(text.utf8))
        } else {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        }
    }
}

extension JSONEncoder {
    /// Pretty-printed, sorted keys: the encoder of every JSON report Engram writes.
    public static var pretty: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return e
    }
}
