import EngramCore

/// PostgreSQL's binary wire formats for the types Engram uses. Every value is sent as a
/// binary parameter (never pasted into SQL), and results are read in binary, so doubles,
/// timestamps and vectors cross the wire bit-exactly.
enum PGValue {
    case null
    case text(String)
    case float8(Double)
    case int4(Int32)
    case int8(Int64)
    case bool(Bool)
    case timestamp(Timestamp)
    case jsonb(JSONValue)
    case vector([Float])
    /// A one-dimensional `text[]` without NULLs.
    case textArray([String])


    /// Microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
    static let epochOffset: Int64 = 946_684_800_000_000

    /// The binary encoding, or nil for NULL.
    var bytes: [UInt8]? {
        var out: [UInt8] = []
        switch self {
        case .null: return nil
        case .text(let s): return Array(s.utf8)
        case .float8(let d): out.appendBE(d.bitPattern)
        case .int4(let i): out.appendBE(UInt32(bitPattern: i))
        case .int8(let i): out.appendBE(UInt64(bitPattern: i))
        case .bool(let b): out.append(b ? 1 : 0)
        case .timestamp(let t): out.appendBE(UInt64(bitPattern: t.microsecondsSinceEpoch - Self.epochOffset))
        case .jsonb(let j):
            out.append(1)  // jsonb binary format version
            out += Array(j.jsonText.utf8)
        case .vector(let v):
            out.reserveCapacity(4 + 4 * v.count)
            out.appendBE(UInt16(v.count))
            out.appendBE(UInt16(0))
            for x in v { out.appendBE(x.bitPattern) }
        case .textArray(let items):
            // Binary array: dimensions, has-nulls flag, element type (text = 25), then the
            // dimension's length and lower bound, then each element as length + bytes.
            out.appendBE(Int32(1))
            out.appendBE(Int32(0))
            out.appendBE(Int32(25))
            out.appendBE(Int32(items.count))
            out.appendBE(Int32(1))
            for item in items {
                let b = Array(item.utf8)
                out.appendBE(Int32(b.count))
                out += b
            }
        }
        return out
    }
}

extension [UInt8] {
    mutating func appendBE<T: FixedWidthInteger>(_ v: T) {
        var be = v.bigEndian
        Swift.withUnsafeBytes(of: &be) { append(contentsOf: $0) }
    }
}

/// Reads binary result values.
struct PGBytes {
    let base: UnsafePointer<UInt8>
    let count: Int

    func be<T: FixedWidthInteger>(_: T.Type, at offset: Int = 0) -> T {
        var v: T = 0
        withUnsafeMutableBytes(of: &v) { $0.copyMemory(from: UnsafeRawBufferPointer(start: base + offset, count: MemoryLayout<T>.size)) }
        return T(bigEndian: v)
    }

    var text: String { String(decoding: UnsafeBufferPointer(start: base, count: count), as: UTF8.self) }
    var float8: Double { Double(bitPattern: be(UInt64.self)) }
    var int4: Int32 { Int32(bitPattern: be(UInt32.self)) }
    var int8: Int64 { Int64(bitPattern: be(UInt64.self)) }
    var bool: Bool { base[0] != 0 }
    var timestamp: Timestamp { Timestamp(microsecondsSinceEpoch: int8 + PGValue.epochOffset) }

    func jsonb() throws -> JSONValue {
        guard count >= 1, base[0] == 1 else { throw EngramError(.corrupt, "unexpected jsonb binary version") }
        return try JSONValue.parse(String(decoding: UnsafeBufferPointer(start: base + 1, count: count - 1), as: UTF8.self))
    }

    func vector() throws -> [Float] {
        guard count >= 4 else { throw EngramError(.corrupt, "vector value too short") }
        let dim = Int(be(UInt16.self))
        guard count == 4 + 4 * dim else { throw EngramError(.corrupt, "vector value of \(count) bytes for dimension \(dim)") }
        return (0..<dim).map { Float(bitPattern: be(UInt32.self, at: 4 + 4 * $0)) }
    }
}
