import EngramCore

/// Deterministic workloads: record i of a run is the same on every machine and every run
/// with the same seed, and can be regenerated alone (for ground truth) without the rest.
struct Workload: Sendable {
    let dimension: Int
    let seed: UInt64
    let clustered: ClusteredVectors?

    init(dimension: Int, seed: UInt64, vectors: VectorSource = .uniform) {
        self.dimension = dimension
        self.seed = seed
        clustered = vectors == .clustered ? ClusteredVectors(dimension: dimension, seed: seed) : nil
    }
    let project = "p0"
    let agents = ["a0", "a1", "a2", "a3"]
    /// The instant of the oldest outcome; outcome timestamps are t0 + a permutation of 0..<n µs.
    let t0 = Timestamp(microsecondsSinceEpoch: 1_767_225_600_000_000)

    /// The embedding of record i.
    func vector(_ i: Int) -> [Float] {
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

    /// Saves outcomes 0..<n in batches of `chunk`.
    func load(_ store: any MemoryStore, n: Int, embedding: Bool, timeOrdered: Bool = false, chunk: Int = 5_000) throws {
        var start = 0
        while start < n {
            let end = min(n, start + chunk)
            _ = try store.save((start..<end).map { outcome($0, of: n, embedding: embedding, timeOrdered: timeOrdered) })
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
