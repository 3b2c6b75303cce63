import EngramVectorIndex
import Testing

@Suite struct VectorIndexTests {
    func unit(_ i: Int, dim: Int = 8) -> [Float] {
        var v = [Float](repeating: 0, count: dim)
        v[i % dim] = 1
        return v
    }

    @Test func addSearchAndCount() throws {
        let index = try VectorIndex(dimension: 8)
        try index.add((0..<8).map { unit($0) }, ids: (0..<8).map { Int64($0 * 10) })
        #expect(index.count == 8)
        let hits = try index.search(unit(3), k: 2)
        #expect(hits.first?.id == 30)
        #expect(abs((hits.first?.score ?? 0) - 1) < 1e-6)
        #expect(hits.count == 2)
    }

    @Test func normalisesSoScoresAreCosine() throws {
        let index = try VectorIndex(dimension: 2)
        try index.add([100, 0], id: 1)
        try index.add([1, 1], id: 2)
        let hits = try index.search([3, 3], k: 2)
        #expect(hits.map(\.id) == [2, 1])
        #expect(abs(hits[1].score - Float(0.5).squareRoot()) < 1e-6)
    }

    @Test(arguments: VectorRemoval.allCases)
    func removesInPlaceAndStaysConsistent(method: VectorRemoval) throws {
        let index = try VectorIndex(dimension: 8)
        try index.add((0..<8).map { unit($0) }, ids: (0..<8).map(Int64.init))
        #expect(try index.remove([2, 5, 99], using: method) == 2)
        #expect(index.count == 6)
        #expect(!index.contains(2) && !index.contains(5) && index.contains(7))
        #expect(try index.search(unit(2), k: 1).first?.score ?? 1 < 0.5)
        #expect(index.vector(for: 7) == unit(7))
        try index.add(unit(2), id: 2)  // a removed id can come back
        #expect(try index.search(unit(2), k: 1).first?.id == 2)
        #expect(try index.search(unit(7), k: 1).first?.id == 7)
    }

    @Test(arguments: VectorScan.allCases)
    func filteredSearchOnlyReturnsAllowedIds(scan: VectorScan) throws {
        let index = try VectorIndex(dimension: 8)
        try index.add((0..<200).map { unit($0) }, ids: (0..<200).map(Int64.init))
        let small = try index.search(unit(0), k: 5, allowed: [1, 8, 16, 3, 3], scan: scan)  // small set, a repeat
        #expect(Set(small.map(\.id)) == [1, 8, 16, 3] && [8, 16].contains(small[0].id))
        let large = Array(stride(from: Int64(1), to: 200, by: 2))  // large set: FAISS with a selector
        let hits = try index.search(unit(0), k: 10, allowed: large, scan: scan)
        #expect(hits.count == 10 && hits.allSatisfy { $0.id % 2 == 1 })
        #expect(try index.search(unit(0), k: 3, allowed: [], scan: scan).isEmpty)
        #expect(small.count == 4)
    }

    @Test func kLargerThanCountReturnsEverythingWithoutPadding() throws {
        let index = try VectorIndex(dimension: 8)
        try index.add([unit(1), unit(2)], ids: [1, 2])
        #expect(try index.search(unit(1), k: 100).map(\.id) == [1, 2])
        #expect(try VectorIndex(dimension: 8).search(unit(1), k: 5).isEmpty)
    }

    @Test func duplicatesAndBadVectorsAreRejectedWithoutChange() throws {
        let index = try VectorIndex(dimension: 4)
        try index.add([1, 0, 0, 0], id: 1)
        #expect(throws: VectorIndexError.self) { try index.add([[0, 1, 0, 0], [0, 0, 1, 0]], ids: [2, 1]) }
        #expect(throws: VectorIndexError.self) { try index.add([[0, 1, 0, 0], [0, 0, 1, 0]], ids: [3, 3]) }
        #expect(throws: VectorIndexError.self) { try index.add([0, 0, 0, 0], id: 4) }
        #expect(throws: VectorIndexError.self) { try index.add([.nan, 0, 0, 0], id: 5) }
        #expect(throws: VectorIndexError.self) { try index.add([1, 0, 0], id: 6) }
        #expect(throws: VectorIndexError.self) { try index.search([0, 0, 0, 0], k: 1) }
        #expect(index.count == 1 && !index.contains(2))
    }

    /// A batch larger than one shim call is added in chunks; a chunk refused after others
    /// went in takes them back out, so the batch is still all or nothing.
    @Test func aLargeBatchRefusedInALaterChunkLeavesNothing() throws {
        let index = try VectorIndex(dimension: 4)
        try index.add([1, 0, 0, 0], id: 1_000_000)
        let n = 3 * VectorIndex.addChunk + 5
        let vectors = (0..<n).map { i -> [Float] in [1, Float(i % 7), Float(i % 11), 1] }
        for bad in [(n - 1, [Float](repeating: 0, count: 4)), (VectorIndex.addChunk * 2 + 1, [Float.infinity, 0, 0, 0])] {
            var v = vectors
            v[bad.0] = bad.1
            #expect(throws: VectorIndexError.self) { try index.add(v, ids: (0..<n).map(Int64.init)) }
            #expect(index.count == 1 && !index.contains(0) && !index.contains(Int64(VectorIndex.addChunk)))
        }
        // An id of the first chunk repeated in the last: refused once the first is in.
        var ids = (0..<n).map(Int64.init)
        ids[n - 1] = 3
        #expect(throws: VectorIndexError.self) { try index.add(vectors, ids: ids) }
        #expect(index.count == 1 && !index.contains(3))
        try index.add(vectors, ids: (0..<n).map(Int64.init))
        #expect(index.count == n + 1 && index.contains(Int64(n - 1)))
        #expect(try index.search(vectors[4_097], k: 1).first?.score ?? 0 > 0.999)
    }

    @Test func errorsCrossTheCBoundaryWithMessages() {
        #expect {
            try VectorIndex(dimension: 0)
        } throws: { error in
            guard let e = error as? VectorIndexError else { return false }
            return e.kind == .invalidArgument && !e.message.isEmpty
        }
    }

    @Test(arguments: VectorScan.allCases)
    func randomMixMatchesBruteForce(scan: VectorScan) throws {
        var rng = SplitMix(seed: 7)
        let dim = 16
        let index = try VectorIndex(dimension: dim)
        var model: [Int64: [Float]] = [:]
        for step in 0..<3000 {
            let id = Int64(rng.next() % 500)
            if rng.next() % 3 == 0 {
                try index.remove([id], using: step % 2 == 0 ? .swapWithLast : .faissRemoveIds)
                model[id] = nil
            } else if model[id] == nil {
                let v = (0..<dim).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 + 0.001 }
                try index.add(v, id: id)
                model[id] = v
            }
        }
        #expect(index.count == model.count)
        let q = (0..<dim).map { Float($0) - 7.5 }
        func cos(_ a: [Float], _ b: [Float]) -> Double {
            let d = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let na = a.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot(), nb = b.reduce(0.0) { $0 + Double($1 * $1) }.squareRoot()
            return d / (na * nb)
        }
        let expected = model.map { ($0.key, cos(q, $0.value)) }.sorted { $0.1 > $1.1 }.prefix(20).map(\.0)
        #expect(try index.search(q, k: 20, scan: scan).map(\.id) == Array(expected))
        // Every path of the search: a few ids looked up one by one, a third gathered (or FAISS's
        // bitmap), nine in ten by a masked sequential scan.
        for keep: (Int64) -> Bool in [{ $0 % 50 == 0 }, { $0 % 3 == 0 }, { $0 % 10 != 0 }] {
            let allowed = Array(model.keys.filter(keep))
            let expectedFiltered = model.filter { keep($0.key) }.map { ($0.key, cos(q, $0.value)) }.sorted { $0.1 > $1.1 }.prefix(7).map(\.0)
            #expect(try index.search(q, k: 7, allowed: allowed, scan: scan).map(\.id) == Array(expectedFiltered), "\(allowed.count) of \(model.count) allowed")
        }
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
