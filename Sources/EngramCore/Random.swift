/// A small, fast, seeded generator (SplitMix64), so that test fixtures and benchmark
/// workloads are the same on every run and every machine.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A vector of `dimension` components uniform in [-1, 1).
    public mutating func vector(dimension: Int) -> [Float] {
        (0..<dimension).map { _ in Float(Double(next() >> 11) / Double(1 << 53) * 2 - 1) }
    }
}

/// Cosine similarity in Double precision.
public func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0
    for i in 0..<min(a.count, b.count) {
        let x = Double(a[i]), y = Double(b[i])
        dot += x * y
        na += x * x
        nb += y * y
    }
    return na > 0 && nb > 0 ? dot / (na.squareRoot() * nb.squareRoot()) : 0
}

/// FNV-1a of `text`'s UTF-8: a hash that is the same in every process and on every machine
/// (Swift's `hashValue` is seeded per process), for seeds derived from names.
public func fnv1a(_ text: String) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return h
}
