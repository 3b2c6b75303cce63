import EngramCore

/// Deterministic workloads: record i of a run is the same on every machine and every run
/// with the same seed, and can be regenerated alone (for ground truth) without the rest.
struct Workload: Sendable {
    let dimension: Int
    let seed: UInt64
    let clustered: ClusteredVectors?
    /// Vectors from the user's files: record i is row i, query j is query row j (mod their count).
    let file: VectorFileSet?
    /// What the embeddings are, for the manifest.
    let fingerprint: VectorFingerprint

    init(dimension: Int, seed: UInt64, vectors: VectorSource = .uniform) {
        self.dimension = dimension
        self.seed = seed
        clustered = vectors == .clustered ? ClusteredVectors(dimension: dimension, seed: seed) : nil
        file = nil
        var parameters = ["seed": String(seed)]
        if vectors == .clustered {
            parameters.merge(["clusters": String(ClusteredVectors.clusters), "intrinsic_dimension": String(ClusteredVectors.intrinsicDimension),
                              "spread": String(ClusteredVectors.spread), "noise": String(ClusteredVectors.noise)]) { a, _ in a }
        } else {
            parameters["components"] = "uniform in [-1, 1)"
        }
        fingerprint = VectorFingerprint(source: vectors.rawValue, dimension: dimension, rows: nil, queries: "generated (a separate stream)",
                                        groundTruth: "brute_force", parameters: parameters, files: [])
    }

    /// The workload of a run's options: generated, or read from the files they name.
    init(options o: BenchOptions) throws {
        guard (o.vectors ?? .uniform) == .file else {
            self.init(dimension: o.dimension, seed: o.seed, vectors: o.vectors ?? .uniform)
            return
        }
        guard let path = o.vectorFile else { throw EngramError.invalid("vectors", "the file source needs a file") }
        let set = try VectorFileSet.load(vectors: path, queries: o.queryFile, neighbors: o.neighborFile)
        self.init(dimension: set.train.dimension, seed: o.seed, clustered: nil, file: set, fingerprint: set.fingerprint)
    }

    private init(dimension: Int, seed: UInt64, clustered: ClusteredVectors?, file: VectorFileSet?, fingerprint: VectorFingerprint) {
        self.dimension = dimension
        self.seed = seed
        self.clustered = clustered
        self.file = file
        self.fingerprint = fingerprint
    }

    /// How many distinct record vectors there are (nil: as many as asked for).
    var capacity: Int? { file?.train.rows }

    /// Query j's true top 10 as record ids when the vector file gives them and they apply: an
    /// unfiltered search over all of the file's rows.
    func fileNeighbors(_ j: Int, n: Int) -> [String]? {
        guard let file, let neighbors = file.neighbors, n == file.train.rows else { return nil }
        return neighbors[j % file.queries.rows].prefix(10).map { "o\($0)" }
    }
    let project = "p0"
    let agents = ["a0", "a1", "a2", "a3"]
    /// The instant of the oldest outcome; outcome timestamps are t0 + a permutation of 0..<n µs.
    let t0 = Timestamp(microsecondsSinceEpoch: 1_767_225_600_000_000)

    /// The embedding of record i.
    func vector(_ i: Int) -> [Float] {
        if let file {
            // Query rows, addressed as negative i by `query`, come from the query matrix.
            return i >= 0 ? file.train.row(i) : file.queries.row((-1 - i) % file.queries.rows)
        }
        if let clustered { return clustered.vector(i) }
        var g = SeededGenerator(seed: seed ^ (UInt64(bitPattern: Int64(i)) &* 0x9E37_79B9_7F4A_7C15))
        return g.vector(dimension: dimension)
    }

    /// A query vector (from a stream separate from the records').
    func query(_ j: Int) -> [Float] { vector(-1 - j) }

    /// Outcome i of n. With `timeOrdered` its timestamp is t0 + i µs, as when an agent logs
    /// outcomes as they happen; otherwise a bijective shuffle of 0..<n, so that insertion
    /// order and time order differ.
    func outcome(_ i: Int, of n: Int, embedding: Bool, timeOrdered: Bool = false) -> MemoryRecord {
        // 2654435761 is odd and not a multiple of 5, so i ↦ i·c mod 10^k is a bijection.
        let shuffled = timeOrdered ? i : Int((UInt64(i) &* 2_654_435_761) % UInt64(n))
        return .outcome(Outcome(
            id: "o\(i)", agent: agents[i % agents.count], projectId: project, taskType: "task\(i % 10)",
            taskDescription: "benchmark task \(i)", success: i % 3 != 0, strategyUsed: "strategy \(i % 17)",
            durationMs: i % 1000, timestamp: t0.adding(microseconds: Int64(shuffled)),
            embedding: embedding ? vector(i) : nil))
    }

    /// Saves outcomes 0..<n in batches of `chunk`, each changed by `adjust` first (a scenario's
    /// own agents, task types or projects).
    func load(_ store: any MemoryStore, n: Int, embedding: Bool, timeOrdered: Bool = false, chunk: Int = 5_000,
              adjust: (Int, inout Outcome) -> Void = { _, _ in }) throws {
        var start = 0
        while start < n {
            let end = min(n, start + chunk)
            _ = try store.save((start..<end).map { i in
                guard case .outcome(var o) = outcome(i, of: n, embedding: embedding, timeOrdered: timeOrdered) else { preconditionFailure("the workload makes outcomes") }
                adjust(i, &o)
                return .outcome(o)
            })
            start = end
        }
    }

    /// A seeded permutation of 0..<n.
    func permutation(_ n: Int, salt: UInt64) -> [Int] {
        var g = SeededGenerator(seed: seed ^ salt)
        var p = Array(0..<n)
        p.shuffle(using: &g)
        return p
    }
}
