import EngramCore
import Foundation

/// Where a run's embeddings come from.
public enum VectorSource: String, Codable, Sendable, CaseIterable {
    /// Components uniform in [-1, 1): no neighbour structure (every point is about as far from
    /// a query as every other), the worst case for an approximate index.
    case uniform
    /// A seeded mixture of anisotropic clusters of low intrinsic dimension (`ClusteredVectors`),
    /// so that a query has near neighbours, as in text embeddings. The default.
    case clustered
    /// Vectors a user brings (`BenchOptions.vectorFile`, see `VectorFileSet`).
    case file
}

/// The `clustered` source: `clusters` centres on the unit sphere; each cluster spans
/// `intrinsicDimension` random directions with scales falling as 1/√(j+1) (anisotropic),
/// spread `spread`; plus isotropic noise `noise`; every vector normalised. Vector i (and query
/// j, from a separate stream) is regenerated from the seed alone, so ground truth needs no storage.
final class ClusteredVectors: Sendable {
    static let clusters = 100, intrinsicDimension = 12
    static let spread = 0.35, noise = 0.02

    let dimension: Int
    let seed: UInt64
    private let centres: [[Double]]
    private let bases: [[[Double]]]

    init(dimension: Int, seed: UInt64) {
        self.dimension = dimension
        self.seed = seed
        var g = SeededGenerator(seed: seed ^ 0xC105_7E2D)
        centres = (0..<Self.clusters).map { _ in Self.unit(Self.gaussian(&g, dimension)) }
        bases = (0..<Self.clusters).map { _ in (0..<Self.intrinsicDimension).map { _ in Self.unit(Self.gaussian(&g, dimension)) } }
    }

    /// Vector i of the stream (negative i for queries).
    func vector(_ i: Int) -> [Float] {
        var g = SeededGenerator(seed: seed ^ (UInt64(bitPattern: Int64(i)) &* 0x9E37_79B9_7F4A_7C15) ^ 0x5EED)
        let c = Int(g.next() % UInt64(Self.clusters))
        var v = centres[c]
        for (j, b) in bases[c].enumerated() {
            let z = Self.spread / Double(j + 1).squareRoot() * Self.normal(&g)
            for k in 0..<dimension { v[k] += z * b[k] }
        }
        for k in 0..<dimension { v[k] += Self.noise * Self.normal(&g) }
        return Self.unit(v).map(Float.init)
    }

    static func normal(_ g: inout SeededGenerator) -> Double {
        // Box–Muller; u1 in (0, 1] so the log is finite.
        let u1 = (Double(g.next() >> 11) + 1) / Double(1 << 53), u2 = Double(g.next() >> 11) / Double(1 << 53)
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    static func gaussian(_ g: inout SeededGenerator, _ d: Int) -> [Double] { (0..<d).map { _ in normal(&g) } }

    static func unit(_ v: [Double]) -> [Double] {
        let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return n > 0 ? v.map { $0 / n } : v
    }
}
