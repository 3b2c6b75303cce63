import CHDF5
@testable import EngramBench
import EngramCatalog
import EngramCore
import Foundation
import Testing

/// Vector files a user brings: every format reads back what was written, a malformed file is
/// a typed error naming the file and row, and a run records the file's SHA-256.
@Suite struct VectorFiles {
    let dir: URL = {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("engram-vectors-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }()

    /// Rows with a recognisable pattern: row i, component k = i + k/100 (exact in float32).
    static func rows(_ n: Int, _ d: Int) -> [[Float]] { (0..<n).map { i in (0..<d).map { Float(i) + Float($0) / 128 } } }

    func write(_ name: String, _ bytes: Data) -> String {
        let url = dir.appendingPathComponent(name)
        try! bytes.write(to: url)
        return url.path
    }

    static func le<T: FixedWidthInteger>(_ v: T) -> Data { withUnsafeBytes(of: v.littleEndian) { Data($0) } }

    static func texmex<T>(_ rows: [[T]], _ encode: (T) -> Data) -> Data {
        var out = Data()
        for r in rows {
            out += le(Int32(r.count))
            for v in r { out += encode(v) }
        }
        return out
    }

    static func fvecs(_ rows: [[Float]]) -> Data { texmex(rows) { le($0.bitPattern) } }

    static func npy(_ descr: String, rows: Int, columns: Int, body: Data) -> Data {
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(rows), \(columns)), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        return Data([0x93] + Array("NUMPY".utf8) + [1, 0]) + le(UInt16(header.utf8.count)) + Data(header.utf8) + body
    }

    func expectInvalid(_ fragments: [String], _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected an error mentioning \(fragments)")
        } catch let e as EngramError {
            let (field, message) = (e.field, e.message)
            #expect(e.code == .invalidInput && field == "vectors")
            for f in fragments { #expect(message.contains(f), "\(message) lacks \(f)") }
        } catch {
            Issue.record("untyped error \(error)")
        }
    }

    @Test func fvecsBvecsAndNpyReadBackWithHeldOutQueries() throws {
        let rows = Self.rows(50, 4)
        let f = try VectorFileSet.load(vectors: write("a.fvecs", Self.fvecs(rows)))
        // A tenth held out as queries: 45 records, 5 queries (the last rows).
        #expect(f.train.rows == 45 && f.queries.rows == 5 && f.train.row(3) == rows[3] && f.queries.row(0) == rows[45])
        let b = try VectorFileSet.load(vectors: write("a.bvecs", Self.texmex([[1, 2, 255], [4, 5, 6]] + Array(repeating: [7, 8, 9] as [UInt8], count: 18)) { Data([$0]) }))
        #expect(b.train.row(0) == [1, 2, 255] && b.train.dimension == 3)
        var body = Data()
        for r in rows { for v in r { body += Self.le(v.bitPattern) } }
        let n = try VectorFileSet.load(vectors: write("a.npy", Self.npy("<f4", rows: 50, columns: 4, body: body)))
        #expect(n.train.values == f.train.values && n.queries.values == f.queries.values)
    }

    @Test func queriesAndNeighboursFromTheirOwnFiles() throws {
        let rows = Self.rows(30, 4)
        let base = write("b.fvecs", Self.fvecs(rows))
        let queries = write("q.fvecs", Self.fvecs(Self.rows(3, 4)))
        let truth: [[Int32]] = (0..<3).map { q in (0..<10).map { Int32(q + $0) } }
        let ivecs = write("gt.ivecs", Self.texmex(truth) { Self.le($0) })
        let set = try VectorFileSet.load(vectors: base, queries: queries, neighbors: ivecs)
        #expect(set.train.rows == 30 && set.queries.rows == 3 && set.neighbors?[2] == Array(2..<12))
        #expect(set.fingerprint.files.map(\.role) == ["vectors", "queries", "neighbors"] && set.fingerprint.groundTruth.hasPrefix("file:"))
        // int64 .npy neighbours too.
        var body = Data()
        for r in truth { for v in r { body += Self.le(Int64(v)) } }
        let npy = write("gt.npy", Self.npy("<i8", rows: 3, columns: 10, body: body))
        #expect(try VectorFileSet.load(vectors: base, queries: queries, neighbors: npy).neighbors == set.neighbors)
        // A neighbour beyond the vectors names the row.
        let bad = write("bad.ivecs", Self.texmex([Array(repeating: Int32(0), count: 10), [0, 1, 2, 3, 4, 5, 6, 7, 8, 99], Array(repeating: Int32(1), count: 10)]) { Self.le($0) })
        expectInvalid(["bad.ivecs row 1", "99"]) { _ = try VectorFileSet.load(vectors: base, queries: queries, neighbors: bad) }
    }

    @Test func malformedFilesNameTheFileAndRow() {
        var rows = Self.rows(20, 4)
        rows[7][2] = .nan
        expectInvalid(["nan.fvecs row 7", "component 2"]) { _ = try VectorFileSet.load(vectors: write("nan.fvecs", Self.fvecs(rows))) }
        var mixed = Self.fvecs(Self.rows(5, 4))
        mixed += Self.fvecs([[1, 2, 3]])
        expectInvalid(["mixed.fvecs"]) { _ = try VectorFileSet.load(vectors: write("mixed.fvecs", mixed)) }
        let short = Self.fvecs(Self.rows(20, 4)).dropLast(3)
        expectInvalid(["short.fvecs row 19", "ends inside a row"]) { _ = try VectorFileSet.load(vectors: write("short.fvecs", Data(short))) }
        let dims = Self.fvecs(Self.rows(19, 4)) + Self.texmex([[Float](repeating: 1, count: 5)]) { Self.le($0.bitPattern) }
        expectInvalid(["dims.fvecs"]) { _ = try VectorFileSet.load(vectors: write("dims.fvecs", dims)) }
        expectInvalid(["q4.fvecs", "3 dimensions"]) {
            _ = try VectorFileSet.load(vectors: write("q3.fvecs", Self.fvecs(Self.rows(20, 4))), queries: write("q4.fvecs", Self.fvecs(Self.rows(2, 3))))
        }
        expectInvalid(["f8.npy", "float32"]) { _ = try VectorFileSet.load(vectors: write("f8.npy", Self.npy("<f8", rows: 2, columns: 2, body: Data(count: 32)))) }
        expectInvalid(["cut.npy", "bytes"]) { _ = try VectorFileSet.load(vectors: write("cut.npy", Self.npy("<f4", rows: 20, columns: 4, body: Data(count: 100)))) }
        expectInvalid(["x.csv", "unknown format"]) { _ = try VectorFileSet.load(vectors: write("x.csv", Data("1,2".utf8))) }
        expectInvalid(["missing.fvecs"]) { _ = try VectorFileSet.load(vectors: dir.appendingPathComponent("missing.fvecs").path) }
        expectInvalid(["junk.hdf5"]) { _ = try VectorFileSet.load(vectors: write("junk.hdf5", Data("not hdf5".utf8))) }
        var zero = Self.rows(20, 4)
        zero[3] = [0, 0, 0, 0]
        expectInvalid(["zero.fvecs row 3", "all zeros"]) { _ = try VectorFileSet.load(vectors: write("zero.fvecs", Self.fvecs(zero))) }
        // Not regular files: a directory, and a FIFO (which would block a reader forever).
        let directory = dir.appendingPathComponent("d.fvecs")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        expectInvalid(["d.fvecs", "regular file"]) { _ = try VectorFileSet.load(vectors: directory.path) }
        let fifo = dir.appendingPathComponent("f.fvecs").path
        #expect(mkfifo(fifo, 0o600) == 0)
        expectInvalid(["f.fvecs", "regular file"]) { _ = try VectorFileSet.load(vectors: fifo) }
    }

    /// An ann-benchmarks file: train/test/neighbors and a `distance` attribute. Its neighbours
    /// are ground truth for angular (cosine) data only.
    @Test func hdf5DatasetsAsAnnBenchmarksWritesThem() throws {
        func make(_ name: String, distance: String) throws -> String {
            try HDF5File.serialized { try write(name, distance: distance) }
        }
        func write(_ name: String, distance: String) throws -> String {
            let path = dir.appendingPathComponent(name).path
            let file = engram_h5_open(path, 1)
            #expect(file >= 0)
            let train = Self.rows(40, 6).flatMap { $0 }, test = Self.rows(4, 6).flatMap { $0 }
            let neighbors: [Int32] = (0..<40).map { Int32($0 % 40) }
            #expect(engram_h5_write(file, "train", 40, 6, 1, train) == 0)
            #expect(engram_h5_write(file, "test", 4, 6, 1, test) == 0)
            #expect(engram_h5_write(file, "neighbors", 4, 10, 0, neighbors) == 0)
            #expect(engram_h5_set_string_attribute(file, "distance", distance) == 0)
            engram_h5_close(file)
            return path
        }
        let angular = try VectorFileSet.load(vectors: try make("a.hdf5", distance: "angular"))
        #expect(angular.train.rows == 40 && angular.queries.rows == 4 && angular.train.row(39) == Self.rows(40, 6)[39])
        #expect(angular.neighbors?[1] == Array(10..<20) && angular.fingerprint.groundTruth == "file:neighbors")
        #expect(angular.fingerprint.parameters["distance"] == "angular")
        let euclidean = try VectorFileSet.load(vectors: try make("e.h5", distance: "euclidean"))
        #expect(euclidean.neighbors == nil && euclidean.fingerprint.groundTruth.contains("euclidean"))
    }

    @Test func sha256IsTheStandardDigest() throws {
        let (bytes, digest) = try VectorFileSet.sha256(write("abc", Data("abc".utf8)))
        #expect(bytes == 3 && digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    /// A run on a file: the manifest records its fingerprint, the dimension comes from the
    /// file, and exact search finds the true neighbours; sizes beyond the file are refused.
    @Test func aRunOnAFileRecordsItAndMeasuresOnIt() throws {
        var g = SeededGenerator(seed: 5)
        let rows = (0..<444).map { _ in g.vector(dimension: 12) }  // 44 held out as queries
        let path = write("run.fvecs", Self.fvecs(rows))
        var o = BenchOptions()
        o.scenarios = [.search, .recall]
        o.searchSizes = [400]
        o.recallSize = 400
        o.searchQueries = 20
        o.vectors = .file
        o.vectorFile = path
        let scratch = ScratchDirectory(prefix: "engram-vectors-run")
        let run = try BenchRunner(backend: BackendCatalog.entry("memory").bench!, options: o, scratch: scratch.url).run()
        let fp = try #require(run.manifest.vectors)
        let digest = try VectorFileSet.sha256(path).1
        #expect(fp.source == "file" && fp.dimension == 12 && fp.rows == 400 && fp.files.first?.sha256 == digest)
        #expect(run.measurements.allSatisfy { $0.dim == 12 })
        let recall = run.measurements.filter { $0.metric == Metric.recallAt10.name }
        #expect(!recall.isEmpty && recall.allSatisfy { $0.value == 1 })
        o.searchSizes = [401]
        #expect(throws: EngramError.self) { _ = try BenchRunner(backend: BackendCatalog.entry("memory").bench!, options: o, scratch: scratch.url) }
    }
}
