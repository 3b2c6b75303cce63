import CFaissShim

/// An error from the FAISS shim, carried across the C boundary as a value.
public struct VectorIndexError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable { case invalidArgument, faiss, outOfMemory }
    public var kind: Kind
    public var message: String
    public var description: String { "vector index: \(message)" }
}

/// How a removal is carried out: both are kept so the benchmark runner can compare them.
public enum VectorRemoval: String, Sendable, CaseIterable {
    /// O(d) per id: the last vector moves into the freed slot (Engram's shim).
    case swapWithLast = "swap"
    /// FAISS's own `remove_ids`: one O(n) pass per call, whatever the number of ids.
    case faissRemoveIds = "remove_ids"
}

/// Which kernel ranks vectors in a search.
public enum VectorScan: String, Sendable, CaseIterable {
    /// The shim's SIMD kernel (AVX2+FMA when the CPU has it) with a top-k heap.
    case engram
    /// FAISS's own flat search; Debian's build runs its scalar reference kernel.
    case faiss
}

/// An exact cosine-similarity index over FAISS (`IndexIDMap2` over `IndexFlatIP`), with
/// caller-chosen 64-bit ids, in-place removal and top-k restricted to an allowed id set.
///
/// Not synchronised: the owner serialises mutations (reads may run concurrently with
/// each other). Vectors are normalised inside, so scores are cosine similarities.
public final class VectorIndex {
    private let handle: OpaquePointer
    public let dimension: Int

    public init(dimension: Int) throws {
        var err = [CChar](repeating: 0, count: 512)
        guard let h = engram_faiss_new(Int32(clamping: dimension), &err, err.count) else {
            throw VectorIndexError(kind: .invalidArgument, message: cText(err))
        }
        handle = h
        self.dimension = dimension
    }

    deinit { engram_faiss_free(handle) }

    /// The FAISS version linked in.
    public static var faissVersion: String { String(cString: engram_faiss_version()) }

    /// Vectors held.
    public var count: Int { Int(engram_faiss_count(handle)) }

    /// Approximate heap bytes held by the index.
    public var memoryBytes: Int { Int(engram_faiss_memory_bytes(handle)) }

    /// The part of `memoryBytes` allocated but not in use: room left by the arrays' growth.
    public var slackBytes: Int { Int(engram_faiss_slack_bytes(handle)) }

    public func contains(_ id: Int64) -> Bool { engram_faiss_contains(handle, id) == 1 }

    /// Adds vectors with ids, all or nothing (duplicate ids, non-finite or zero vectors are rejected).
    public func add(_ vectors: [[Float]], ids: [Int64]) throws {
        precondition(vectors.count == ids.count, "one id per vector")
        guard !ids.isEmpty else { return }
        if let v = vectors.first(where: { $0.count != dimension }) {
            throw VectorIndexError(kind: .invalidArgument, message: "vector has \(v.count) components, index has \(dimension)")
        }
        // Room for all first, then in chunks through one small buffer: a large batch is not
        // copied whole once more (fresh pages cost more than the copy). A chunk the shim
        // refuses takes the chunks before it back out, so the call stays all or nothing.
        if ids.count > Self.addChunk { try call { err, len in engram_faiss_reserve(handle, Int64(ids.count), err, len) } }
        var flat = [Float]()
        flat.reserveCapacity(min(ids.count, Self.addChunk) * dimension)
        var start = 0
        do {
            while start < ids.count {
                let end = min(ids.count, start + Self.addChunk)
                flat.removeAll(keepingCapacity: true)
                for v in vectors[start..<end] { flat.append(contentsOf: v) }
                try ids[start..<end].withUnsafeBufferPointer { chunk in
                    try call { err, len in engram_faiss_add(handle, Int64(chunk.count), flat, chunk.baseAddress, err, len) }
                }
                start = end
            }
        } catch {
            if start > 0 { _ = try? remove(Array(ids[..<start])) }
            throw error
        }
    }

    /// Vectors per shim call when adding many.
    public static let addChunk = 4_096

    public func add(_ vector: [Float], id: Int64) throws { try add([vector], ids: [id]) }

    /// Removes the ids present (others are ignored); returns how many were removed.
    @discardableResult
    public func remove(_ ids: [Int64], using method: VectorRemoval = .swapWithLast) throws -> Int {
        guard !ids.isEmpty else { return 0 }
        var removed: Int64 = 0
        try call { err, len in
            switch method {
            case .swapWithLast: engram_faiss_remove_swap(handle, Int64(ids.count), ids, &removed, err, len)
            case .faissRemoveIds: engram_faiss_remove_ids(handle, Int64(ids.count), ids, &removed, err, len)
            }
        }
        return Int(removed)
    }

    /// The stored (normalised) vector of `id`, or nil.
    public func vector(for id: Int64) -> [Float]? {
        var out = [Float](repeating: 0, count: dimension)
        var err = [CChar](repeating: 0, count: 256)
        return engram_faiss_reconstruct(handle, id, &out, &err, err.count) == 0 ? out : nil
    }

    /// The `k` nearest by cosine similarity, best first; `allowed` restricts the candidates.
    public func search(_ query: [Float], k: Int, allowed: [Int64]? = nil, scan: VectorScan = .engram) throws -> [(id: Int64, score: Float)] {
        guard query.count == dimension else {
            throw VectorIndexError(kind: .invalidArgument, message: "query has \(query.count) components, index has \(dimension)")
        }
        let capacity = max(0, min(k, allowed?.count ?? count))
        if capacity == 0 {
            if k < 1 { throw VectorIndexError(kind: .invalidArgument, message: "k must be at least 1") }
            return []
        }
        var ids = [Int64](repeating: -1, count: capacity)
        var scores = [Float](repeating: 0, count: capacity)
        var n: Int64 = 0
        let kernel = Int32(scan == .engram ? ENGRAM_FAISS_SCAN_ENGRAM : ENGRAM_FAISS_SCAN_FAISS)
        try call { err, len in
            if let allowed {
                engram_faiss_search(handle, query, Int64(capacity), allowed, Int64(allowed.count), kernel, &ids, &scores, &n, err, len)
            } else {
                engram_faiss_search(handle, query, Int64(capacity), nil, 0, kernel, &ids, &scores, &n, err, len)
            }
        }
        return (0..<Int(n)).map { (ids[$0], scores[$0]) }
    }

    /// Removes every vector.
    public func removeAll() throws {
        guard engram_faiss_reset(handle) == 0 else {
            throw VectorIndexError(kind: .faiss, message: "reset failed")
        }
    }

    private func call(_ body: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws {
        var err = [CChar](repeating: 0, count: 512)
        let code = err.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
        guard code != 0 else { return }
        let message = cText(err)
        switch code {
        case 1: throw VectorIndexError(kind: .invalidArgument, message: message)
        case 3: throw VectorIndexError(kind: .outOfMemory, message: message)
        default: throw VectorIndexError(kind: .faiss, message: message)
        }
    }
}

/// The text of a NUL-terminated C buffer.
private func cText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
