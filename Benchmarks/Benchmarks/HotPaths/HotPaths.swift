import Benchmark
import EngramCore
import EngramVectorIndex
import Foundation

/// Hot paths with allocation thresholds: a change that adds mallocs to a vector add,
/// a removal, a filtered search or a record's encode/decode fails `benchmark thresholds check`.
///
/// Every benchmark times one uninterrupted loop of `scaledIterations` operations, so the
/// per-operation figure package-benchmark reports is the loop's time divided by the count.
/// (It keeps only the last start→stop interval of a run: a loop that stops and restarts the
/// measurement around untimed work reports one operation's time divided by the whole count.)
/// No `instructions` metric: it needs hardware performance counters, which many CI machines
/// and virtual machines (this project's among them) do not expose.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal],
        warmupIterations: 3,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        thresholds: [.mallocCountTotal: .init(relative: [.p90: 5.0], absolute: [.p90: 2])]
    )

    let dimension = 384
    var rng = SeededGenerator(seed: 1)
    let vectors = (0..<10_000).map { _ in rng.vector(dimension: dimension) }
    let query = rng.vector(dimension: dimension)

    /// An index holding the 10,000 vectors with ids 0..<10,000.
    func filledIndex() -> VectorIndex {
        let index = try! VectorIndex(dimension: dimension)
        try! index.add(vectors, ids: (0..<Int64(vectors.count)).map { $0 })
        return index
    }

    Benchmark("VectorIndex.add one vector") { benchmark in
        let index = try! VectorIndex(dimension: dimension)
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            try! index.add(vectors[i % vectors.count], id: Int64(i))
        }
    }

    // 1,000 removals of random ids (seeded, as the runner's deletes are random) from a fresh
    // index of 10,000 per run (n falls to 9,000: the swap's cost does not depend on n;
    // remove_ids compacts everything after the hole, so its figure is for about 9,500).
    var shuffle = SeededGenerator(seed: 2)
    let victims = Array((0..<Int64(vectors.count)).shuffled(using: &shuffle).prefix(1_000))
    for method in VectorRemoval.allCases {
        Benchmark("VectorIndex.remove one (\(method.rawValue)) of 10k") { benchmark in
            let index = filledIndex()
            benchmark.startMeasurement()
            for i in benchmark.scaledIterations {
                try! index.remove([victims[i]], using: method)
            }
        }
    }

    // One agent of four, as in the runner's `search` scenario (exact/filtered): every fourth id.
    // The index is built once and shared by every sample, as a store's index is (a fresh
    // 15 MB index per sample measured the page faults of its first scan too).
    let allowed = (0..<Int64(vectors.count)).filter { $0 % 4 == 0 }
    let searched = filledIndex()
    Benchmark("VectorIndex.search top 10 of 10k, 25% allowed", configuration: .init(scalingFactor: .one)) { benchmark in
        let index = searched
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try! index.search(query, k: 10, allowed: allowed))
        }
    }

    let record = MemoryRecord.heuristic(Heuristic(
        id: "h-1", agent: "agent", projectId: "project", condition: "when the API times out",
        strategy: "retry with backoff", confidence: 0.75, occurrenceCount: 12, successCount: 9,
        lastValidated: Timestamp(microsecondsSinceEpoch: 1_769_567_190_123_456),
        createdAt: Timestamp(microsecondsSinceEpoch: 1_769_000_000_000_001), embedding: vectors[0],
        metadata: .object(["tags": .array([.string("api"), .string("retry")]), "score": .double(0.5)])))
    let encoded = try! JSONEncoder().encode(record)

    Benchmark("MemoryRecord encode (JSON, 384-d)", configuration: .init(scalingFactor: .one)) { benchmark in
        let encoder = JSONEncoder()
        for _ in benchmark.scaledIterations { blackHole(try! encoder.encode(record)) }
    }

    Benchmark("MemoryRecord decode (JSON, 384-d)", configuration: .init(scalingFactor: .one)) { benchmark in
        let decoder = JSONDecoder()
        for _ in benchmark.scaledIterations { blackHole(try! decoder.decode(MemoryRecord.self, from: encoded)) }
    }

    let metadataText = record.metadata.jsonText
    Benchmark("metadata JSON text round trip") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try! JSONValue.parse(metadataText).jsonText) }
    }
}
