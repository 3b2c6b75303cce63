import CHDF5
import COpenSSL
import EngramCore
import Foundation
import Synchronization

/// Row-major vectors read from a file: `rows` × `dimension`.
struct VectorMatrix: Sendable {
    let rows: Int
    let dimension: Int
    let values: [Float]

    func row(_ i: Int) -> [Float] { Array(values[(i * dimension)..<((i + 1) * dimension)]) }

    /// Every component finite and no row all zeros (cosine has no direction for it): else a
    /// typed error naming the file, the row and the component.
    func check(_ path: String, dataset: String? = nil) throws {
        let prefix = dataset.map { "\($0) " } ?? ""
        for r in 0..<rows {
            var zero = true
            for k in 0..<dimension {
                let v = values[r * dimension + k]
                guard v.isFinite else { throw VectorFileSet.invalid(path, r, "\(prefix)component \(k) is \(v), not a finite number") }
                if v != 0 { zero = false }
            }
            if zero { throw VectorFileSet.invalid(path, r, "\(prefix)is all zeros; cosine similarity needs a direction") }
        }
    }
}

/// What a run read its embeddings from, recorded in the manifest so two runs can be told apart
/// or matched: the source, its parameters, and for files their paths, formats and SHA-256.
public struct VectorFingerprint: Codable, Sendable, Equatable {
    public var source: String
    public var dimension: Int
    /// Vectors the records draw from, and the queries (held out, from a test split or a file).
    public var rows: Int?
    public var queries: String?
    /// Where recall's ground truth comes from: `brute_force`, or the file's neighbours.
    public var groundTruth: String
    public var parameters: [String: String]
    public var files: [File]

    public struct File: Codable, Sendable, Equatable {
        public var role: String
        public var path: String
        public var format: String
        public var bytes: Int
        public var sha256: String
    }
}

/// Vectors a user brings: the records' vectors, the queries and, when the file has them, each
/// query's true nearest neighbours (indices into the records' rows, nearest first).
///
/// Formats: `.fvecs`, `.bvecs` (Texmex / big-ann: per row a little-endian int32 dimension then
/// the components as float32 or uint8), `.ivecs` (the same with int32: neighbours), `.npy`
/// (NumPy 2-D, little-endian float32 for vectors, int32 or int64 for neighbours) and `.hdf5`
/// (ann-benchmarks: datasets `train`, `test`, `neighbors` and a root `distance` attribute).
/// Queries come from `queries` or the HDF5 test split; else the last rows of the file are held
/// out (a tenth, at most 1,000). Neighbours are used as ground truth only when they rank by
/// cosine: an HDF5 file whose `distance` is not `angular` gets brute force instead.
struct VectorFileSet: Sendable {
    let train: VectorMatrix
    let queries: VectorMatrix
    let neighbors: [[Int]]?
    let fingerprint: VectorFingerprint

    /// The largest number of query rows held out of a file without a test split.
    static let maxHeldOut = 1_000

    static func load(vectors: String, queries queryPath: String? = nil, neighbors neighborPath: String? = nil) throws -> VectorFileSet {
        var files: [VectorFingerprint.File] = []
        func fingerprint(_ path: String, role: String, format: String) throws {
            let (bytes, digest) = try sha256(path)
            files.append(.init(role: role, path: path, format: format, bytes: bytes, sha256: digest))
        }
        let format = try Format(path: vectors)
        try fingerprint(vectors, role: "vectors", format: format.rawValue)
        var train: VectorMatrix, queries: VectorMatrix?, neighbors: [[Int]]?, queriesNote: String, groundTruth = "brute_force"
        var parameters: [String: String] = [:]
        if format == .hdf5 {
            let read = try HDF5File.serialized { () throws -> (VectorMatrix, VectorMatrix?, [[Int]]?, String?, Bool) in
                let h = try HDF5File(path: vectors)
                defer { h.close() }
                let train = try h.matrix("train"), queries = try h.has("test") ? h.matrix("test") : nil
                let distance = h.stringAttribute("distance"), listed = try h.has("neighbors") && queries != nil
                let neighbors = listed && (distance == "angular" || distance == "cosine") ? try h.indices("neighbors") : nil
                return (train, queries, neighbors, distance, listed)
            }
            let distance: String?, listed: Bool
            (train, queries, neighbors, distance, listed) = read
            parameters["distance"] = distance ?? "unknown"
            if neighbors != nil {
                groundTruth = "file:neighbors"
            } else if listed {
                groundTruth = "brute_force (the file's neighbors rank by \(distance ?? "an unnamed distance"), Engram by cosine)"
            }
        } else {
            guard format.holdsVectors else { throw invalid(vectors, nil, "a .\(format.rawValue) file holds neighbour indices, not vectors") }
            train = try format.read(vectors)
        }
        if let queryPath {
            guard queries == nil else { throw invalid(queryPath, nil, "\(vectors) has its own test split") }
            let f = try Format(path: queryPath)
            guard f.holdsVectors else { throw invalid(queryPath, nil, "a .\(f.rawValue) file holds neighbour indices, not vectors") }
            try fingerprint(queryPath, role: "queries", format: f.rawValue)
            queries = try f.read(queryPath)
        }
        if let neighborPath {
            guard queries != nil else { throw invalid(neighborPath, nil, "neighbours need queries from a file or a test split, not held-out rows") }
            guard neighbors == nil else { throw invalid(neighborPath, nil, "\(vectors) has neighbours of its own") }
            let f = try Format(path: neighborPath)
            try fingerprint(neighborPath, role: "neighbors", format: f.rawValue)
            let m = try f.readIndices(neighborPath)
            neighbors = m
            groundTruth = "file:\(neighborPath)"
        }
        if let q = queries {
            guard q.dimension == train.dimension else {
                throw invalid(queryPath ?? vectors, nil, "its queries have \(q.dimension) dimensions, the vectors \(train.dimension)")
            }
            queriesNote = queryPath.map { "file:\($0)" } ?? "test split (\(q.rows))"
        } else {
            let held = min(maxHeldOut, train.rows / 10)
            guard held >= 1 else { throw invalid(vectors, nil, "\(train.rows) rows are too few to hold out queries (at least 10)") }
            let keep = train.rows - held
            queries = VectorMatrix(rows: held, dimension: train.dimension, values: Array(train.values[(keep * train.dimension)...]))
            train = VectorMatrix(rows: keep, dimension: train.dimension, values: Array(train.values[..<(keep * train.dimension)]))
            queriesNote = "held out: the last \(held) rows"
        }
        if let neighbors {
            let source = neighborPath ?? vectors
            guard neighbors.count >= queries!.rows else {
                throw invalid(source, nil, "\(neighbors.count) neighbour rows for \(queries!.rows) queries")
            }
            for (r, row) in neighbors.enumerated() {
                guard row.count >= 10 else { throw invalid(source, r, "\(row.count) neighbours; recall@10 needs 10") }
                if let bad = row.first(where: { $0 < 0 || $0 >= train.rows }) {
                    throw invalid(source, r, "neighbour index \(bad) is outside the \(train.rows) vectors")
                }
            }
        }
        return VectorFileSet(
            train: train, queries: queries!, neighbors: neighbors,
            fingerprint: VectorFingerprint(source: "file", dimension: train.dimension, rows: train.rows, queries: queriesNote,
                                           groundTruth: groundTruth, parameters: parameters, files: files))
    }

    /// A typed error naming the file (the run's `vectors` option) and, where known, the row.
    static func invalid(_ path: String, _ row: Int?, _ message: String) -> EngramError {
        .invalid("vectors", "\(path)\(row.map { " row \($0)" } ?? ""): \(message)")
    }

    /// The file's size and SHA-256 (hex), read in 1 MiB pieces.
    static func sha256(_ path: String) throws -> (Int, String) {
        guard let h = FileHandle(forReadingAtPath: path) else { throw invalid(path, nil, "cannot be opened") }
        defer { try? h.close() }
        guard let ctx = EVP_MD_CTX_new() else { throw invalid(path, nil, "no digest context") }
        defer { EVP_MD_CTX_free(ctx) }
        EVP_DigestInit_ex(ctx, EVP_sha256(), nil)
        var bytes = 0
        while let chunk = try h.read(upToCount: 1 << 20), !chunk.isEmpty {
            bytes += chunk.count
            _ = chunk.withUnsafeBytes { EVP_DigestUpdate(ctx, $0.baseAddress, $0.count) }
        }
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        EVP_DigestFinal_ex(ctx, &digest, &length)
        return (bytes, digest.map { String(format: "%02x", $0) }.joined())
    }

    enum Format: String {
        case fvecs, bvecs, ivecs, npy, hdf5

        init(path: String) throws {
            let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
            guard let f = Format(rawValue: ext == "h5" ? "hdf5" : ext) else {
                throw VectorFileSet.invalid(path, nil, "unknown format .\(ext); known: .fvecs, .bvecs, .ivecs, .npy, .hdf5 (.h5)")
            }
            // stat follows symlinks: a device, a FIFO or a directory is refused before it is read.
            var st = stat()
            guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG, FileManager.default.isReadableFile(atPath: path) else {
                throw VectorFileSet.invalid(path, nil, "no such readable regular file")
            }
            self = f
        }

        var holdsVectors: Bool { self != .ivecs }

        func read(_ path: String) throws -> VectorMatrix {
            let m: VectorMatrix
            switch self {
            case .fvecs: m = try Texmex.vectors(path, width: 4) { p in Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(as: UInt32.self))) }
            case .bvecs: m = try Texmex.vectors(path, width: 1) { p in Float(p.load(as: UInt8.self)) }
            case .npy: m = try NPY.read(path).floats(path)
            case .ivecs, .hdf5: throw VectorFileSet.invalid(path, nil, "not a vector file")
            }
            try m.check(path)
            return m
        }

        func readIndices(_ path: String) throws -> [[Int]] {
            switch self {
            case .ivecs:
                let m = try Texmex.read(path, width: 4) { p in Int(Int32(littleEndian: p.loadUnaligned(as: Int32.self))) }
                return m.values.chunks(m.dimension)
            case .npy: return try NPY.read(path).indices(path)
            default: throw VectorFileSet.invalid(path, nil, "neighbours come as .ivecs or .npy")
            }
        }
    }
}

/// The Texmex formats: per row a little-endian int32 dimension, then that many components
/// of `width` bytes. Every row must have the first row's dimension.
enum Texmex {
    static func vectors(_ path: String, width: Int, _ component: (UnsafeRawPointer) -> Float) throws -> VectorMatrix {
        let (values, dim) = try read(path, width: width, component)
        return VectorMatrix(rows: values.count / dim, dimension: dim, values: values)
    }

    static func read<T>(_ path: String, width: Int, _ component: (UnsafeRawPointer) -> T) throws -> (values: [T], dimension: Int) {
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> ([T], Int) in
            guard raw.count >= 4, let base = raw.baseAddress else { throw VectorFileSet.invalid(path, 0, "the file is shorter than one row's dimension field") }
            let dim = Int(Int32(littleEndian: base.loadUnaligned(as: Int32.self)))
            guard dim >= 1, dim <= 1 << 16 else { throw VectorFileSet.invalid(path, 0, "dimension \(dim) is not in 1...65536") }
            let stride = 4 + dim * width
            guard raw.count % stride == 0 else {
                throw VectorFileSet.invalid(path, raw.count / stride, "the file ends inside a row (\(raw.count) bytes is not a multiple of \(stride))")
            }
            let rows = raw.count / stride
            var values: [T] = []
            values.reserveCapacity(rows * dim)
            for r in 0..<rows {
                let row = base + r * stride
                let d = Int(Int32(littleEndian: row.loadUnaligned(as: Int32.self)))
                guard d == dim else { throw VectorFileSet.invalid(path, r, "dimension \(d), the first row's is \(dim)") }
                for k in 0..<dim { values.append(component(row + 4 + k * width)) }
            }
            return (values, dim)
        }
    }
}

/// NumPy's `.npy` format (versions 1–3): magic, a header dict with `descr`, `fortran_order`
/// and a 2-D `shape`, then the data in C order.
struct NPY {
    let descr: String
    let rows: Int, columns: Int
    let data: Data

    static func read(_ path: String) throws -> NPY {
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        guard data.count >= 10, data.prefix(6) == Data([0x93] + Array("NUMPY".utf8)) else { throw VectorFileSet.invalid(path, nil, "not a .npy file (no magic)") }
        let major = data[data.startIndex + 6]
        let headerStart = major == 1 ? 10 : 12
        guard major >= 1, major <= 3, data.count >= headerStart else { throw VectorFileSet.invalid(path, nil, "unknown .npy version \(major)") }
        let length = major == 1 ? Int(data[8]) | Int(data[9]) << 8 : Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
        guard data.count >= headerStart + length, let header = String(data: data[headerStart..<(headerStart + length)], encoding: .utf8) else {
            throw VectorFileSet.invalid(path, nil, "the .npy header is cut short")
        }
        func value(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let d = value("descr"), d.hasPrefix("'"), let descr = d.dropFirst().split(separator: "'").first.map(String.init) else {
            throw VectorFileSet.invalid(path, nil, "the .npy header has no descr")
        }
        guard value("fortran_order")?.hasPrefix("False") == true else { throw VectorFileSet.invalid(path, nil, "Fortran-ordered arrays are not read; save in C order") }
        guard let s = value("shape"), s.hasPrefix("("), let close = s.firstIndex(of: ")") else { throw VectorFileSet.invalid(path, nil, "the .npy header has no shape") }
        let extents = s[s.index(after: s.startIndex)..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard extents.count == 2, let rows = Int(extents[0]), let columns = Int(extents[1]), rows >= 1, columns >= 1 else {
            throw VectorFileSet.invalid(path, nil, "shape \(s[...close]) is not 2-D")
        }
        let body = data[(headerStart + length)...]
        guard let width = ["<f4": 4, "<i4": 4, "<i8": 8][descr] else {
            throw VectorFileSet.invalid(path, nil, "dtype \(descr); vectors must be little-endian float32 (<f4), neighbours int32 or int64 (<i4, <i8)")
        }
        let (cells, o1) = rows.multipliedReportingOverflow(by: columns), (bytes, o2) = cells.multipliedReportingOverflow(by: width)
        guard !o1, !o2, body.count == bytes else {
            throw VectorFileSet.invalid(path, nil, "shape \(rows)×\(columns) of \(descr) does not match the \(body.count) bytes of data in the file")
        }
        return NPY(descr: descr, rows: rows, columns: columns, data: Data(body))
    }

    func floats(_ path: String) throws -> VectorMatrix {
        guard descr == "<f4" else { throw VectorFileSet.invalid(path, nil, "dtype \(descr); vectors must be little-endian float32 (<f4)") }
        let values = data.withUnsafeBytes { raw in (0..<(rows * columns)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) } }
        return VectorMatrix(rows: rows, dimension: columns, values: values)
    }

    func indices(_ path: String) throws -> [[Int]] {
        let flat: [Int] = try data.withUnsafeBytes { raw in
            switch descr {
            case "<i4": return (0..<(rows * columns)).map { Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
            case "<i8": return (0..<(rows * columns)).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self))) }
            default: throw VectorFileSet.invalid(path, nil, "dtype \(descr); neighbours must be little-endian int32 or int64")
            }
        }
        return flat.chunks(columns)
    }
}

/// An ann-benchmarks HDF5 file, read through libhdf5.
final class HDF5File {
    /// Debian's libhdf5 is built without thread safety: every use of the library, in any
    /// thread of the process, goes through this lock (`serialized`).
    private static let library = Mutex(())

    static func serialized<T>(_ body: () throws -> T) throws -> T {
        try library.withLock { _ in try body() }
    }

    let path: String
    private let id: hid_t

    init(path: String) throws {
        self.path = path
        id = engram_h5_open(path, 0)
        guard id >= 0 else { throw VectorFileSet.invalid(path, nil, "not an HDF5 file libhdf5 can open") }
    }

    func close() { engram_h5_close(id) }

    func has(_ name: String) throws -> Bool {
        let r = engram_h5_has(id, name)
        guard r >= 0 else { throw VectorFileSet.invalid(path, nil, "cannot look up dataset \(name)") }
        return r > 0
    }

    /// A dataset's 2-D shape. Its values may take at most 64 times the bytes it occupies in
    /// the file (float32 compresses far less than that), so a small file cannot demand gigabytes.
    func shape(_ name: String) throws -> (Int, Int) {
        var dims: [UInt64] = [0, 0]
        let rank = engram_h5_shape(id, name, &dims)
        guard rank == 2 else { throw VectorFileSet.invalid(path, nil, "dataset \(name) is \(rank < 0 ? "missing" : "\(rank)-D"), not 2-D") }
        let (cells, overflow) = dims[0].multipliedReportingOverflow(by: dims[1])
        let stored = engram_h5_storage_size(id, name)
        guard dims[0] >= 1, dims[1] >= 1, !overflow, cells <= 1 << 31, stored >= 0, cells * 4 <= max(UInt64(stored) * 64, 1 << 20) else {
            throw VectorFileSet.invalid(path, nil, "dataset \(name) has shape \(dims[0])×\(dims[1]) in \(max(stored, 0)) bytes of the file")
        }
        return (Int(dims[0]), Int(dims[1]))
    }

    /// Dataset `name` converted to float32.
    func matrix(_ name: String) throws -> VectorMatrix {
        let (rows, columns) = try shape(name)
        var values = [Float](repeating: 0, count: rows * columns)
        guard engram_h5_read(id, name, 1, &values) == 0 else { throw VectorFileSet.invalid(path, nil, "dataset \(name) cannot be read as float32") }
        let m = VectorMatrix(rows: rows, dimension: columns, values: values)
        try m.check(path, dataset: name)
        return m
    }

    /// Dataset `name` converted to int32, one array per row.
    func indices(_ name: String) throws -> [[Int]] {
        let (rows, columns) = try shape(name)
        var ints = [Int32](repeating: 0, count: rows * columns)
        guard engram_h5_read(id, name, 0, &ints) == 0 else { throw VectorFileSet.invalid(path, nil, "dataset \(name) cannot be read as int32") }
        return ints.map { Int($0) }.chunks(columns)
    }

    func stringAttribute(_ name: String) -> String? {
        var buf = [CChar](repeating: 0, count: 256)
        guard engram_h5_string_attribute(id, name, &buf, buf.count) == 0 else { return nil }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Array {
    /// Consecutive slices of `size` elements.
    func chunks(_ size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
