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
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(run.manifest)
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
    public var summary: [String: Double]
    public var durationSeconds: Double
    public var measurementCount: Int
    /// Where the embeddings came from (absent in runs before it was recorded).
    public var vectors: VectorFingerprint?
    /// How busy the machine was during the run (absent in runs before it was recorded).
    public var load: MachineLoad?
}

public struct BenchError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
