/// A metric the runner writes: its name (the CSV's `metric` column) and unit, defined once
/// here and used by the scenarios, the summary, the charts and the gate.
public struct Metric: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public let unit: String
    public var description: String { name }

    /// A statistic of an operation's latencies, in microseconds (`ops` counts them).
    public enum LatencyStat: String, CaseIterable, Sendable {
        case p50, p95, p99, mean, ops
        var quantile: Double? { ["p50": 0.5, "p95": 0.95, "p99": 0.99][rawValue] }
    }

    /// The operations whose latencies are measured one by one.
    public enum Operation: String, Sendable {
        /// One delete; a delete followed by a search; one vector query; one point read; one
        /// save of one record.
        case delete, pair, query, get, save
    }

    public static func latency(_ op: Operation, _ stat: LatencyStat) -> Metric {
        stat == .ops ? Metric(name: "\(op.rawValue)_ops", unit: "count") : Metric(name: "\(op.rawValue)_\(stat.rawValue)_us", unit: "us")
    }

    public static let indexBytesPer1kVectors = Metric(name: "index_bytes_per_1k_vectors", unit: "bytes")
    public static let planUsesTimestampIndex = Metric(name: "plan_uses_timestamp_index", unit: "bool")
    public static let planFullScan = Metric(name: "plan_full_scan", unit: "bool")
    public static let pruneMs = Metric(name: "prune_ms", unit: "ms")
    public static let recordsPerSecond = Metric(name: "records_per_s", unit: "records/s")
    public static let copyBandwidth = Metric(name: "copy_bandwidth_bytes_per_s", unit: "bytes/s")
    public static let queriesPerSecond = Metric(name: "qps", unit: "queries/s")
    public static let savesPerSecond = Metric(name: "saves_per_s", unit: "saves/s")
    /// The fraction of saves in one store that another store on the same data found in its
    /// first search after the save returned.
    public static let visibleInNextSearch = Metric(name: "visible_in_next_search", unit: "fraction")
    public static let recallAt10 = Metric(name: "recall_at_10", unit: "fraction")
    /// Quantiles over queries of the cosine similarity of each query's nearest record.
    public static let nearestSimilarityP10 = Metric(name: "nearest_similarity_p10", unit: "cosine")
    public static let nearestSimilarityP50 = Metric(name: "nearest_similarity_p50", unit: "cosine")
    public static let nearestSimilarityP90 = Metric(name: "nearest_similarity_p90", unit: "cosine")
    public static let scanBandwidthFraction = Metric(name: "scan_bandwidth_fraction", unit: "fraction")
    public static let requestUnitsPerGet = Metric(name: "request_units_per_get", unit: "RU")
    public static let exponent = Metric(name: "exponent_b", unit: "1")
    /// The time a runbook step's operation took in total (`insert_ms`, `prune_outcomes_ms`, …).
    public static func stepMs(_ op: String) -> Metric { Metric(name: "\(op)_ms", unit: "ms") }
}

/// Variant names that scenarios and the summary give meaning to; backends name their
/// variants with these where they play these parts.
public enum VariantName {
    /// A backend's default configuration, when a scenario compares nothing.
    public static let engram = "engram"
    /// Exact vector search.
    public static let exact = "exact"
    /// Prune with and without the outcome timestamp index.
    public static let index = "index", noIndex = "no_index"
    /// One record per save, and all in one batch save.
    public static let single = "single", batch = "batch"
    /// The suffix of a variant that runs the same query as `<name>`, written by hand.
    public static let rawSQLSuffix = "_raw_sql"
    /// The search filters: every record of the project, or one agent's quarter of it.
    public static let unfiltered = "unfiltered", filtered = "filtered"
    /// The machine's copy bandwidth, measured beside the searches.
    public static let memcpy = "memcpy"
}
