/// A JSON value: the type of record metadata.
///
/// Integers and doubles are kept apart so that 64-bit integers round-trip exactly;
/// `==` still treats `1` and `1.0` as equal, as JSON itself does.
public enum JSONValue: Sendable, Equatable, Codable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// An empty JSON object: the default metadata.
    public static let emptyObject = JSONValue.object([:])

    public var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.double(let a), .double(let b)): return a == b
        case (.int(let a), .double(let b)), (.double(let b), .int(let a)): return Double(exactly: a) == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)): return a == b
        default: return false
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// Compact JSON text with sorted keys (deterministic, so equal values give equal text).
    /// Non-finite numbers, which JSON cannot represent, are written as `null`.
    public var jsonText: String {
        var out = ""
        write(to: &out, nonFiniteTokens: false)
        return out
    }

    /// Like `jsonText`, but non-finite numbers as the tokens `NaN`, `Infinity` and `-Infinity`
    /// (as Python's json and JSON5 read them): for sending bad input on to be rejected.
    public var jsonTextWithNonFiniteTokens: String {
        var out = ""
        write(to: &out, nonFiniteTokens: true)
        return out
    }

    public var description: String { jsonText }

    public func write(to out: inout String, nonFiniteTokens: Bool) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            // Non-finite numbers have no JSON form; validation rejects them before storage.
            out += d.isFinite ? "\(d)" : !nonFiniteTokens ? "null" : d.isNaN ? "NaN" : d < 0 ? "-Infinity" : "Infinity"
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let a):
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                v.write(to: &out, nonFiniteTokens: nonFiniteTokens)
            }
            out += "]"
        case .object(let o):
            out += "{"
            for (i, key) in o.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                JSONValue.writeString(key, to: &out)
                out += ":"
                o[key]!.write(to: &out, nonFiniteTokens: nonFiniteTokens)
            }
            out += "}"
        }
    }

    public static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    /// Parses JSON text. Throws `EngramError.corrupt` with the byte offset on malformed input.
    public static func parse(_ text: String) throws -> JSONValue {
        var parser = JSONParser(bytes: Array(text.utf8))
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.pos == parser.bytes.count else { throw parser.error("trailing characters") }
        return value
    }
}

/// A small strict JSON parser (RFC 8259), used for stored metadata.
struct JSONParser {
    let bytes: [UInt8]
    var pos = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    func error(_ what: String) -> EngramError {
        EngramError(.corrupt, "invalid JSON at byte \(pos): \(what)")
    }

    mutating func skipWhitespace() {
        while pos < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[pos]) { pos += 1 }
    }

    /// The members of an object or an array, after its opening bracket: `member` parses one,
    /// then a comma goes on and `close` ends it (an empty one closes at once).
    mutating func parseMembers(close: Unicode.Scalar, _ member: (inout JSONParser) throws -> Void) throws {
        pos += 1
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: close) { pos += 1; return }
        while true {
            try member(&self)
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: close) { pos += 1; return }
            throw error("expected ',' or '\(close)'")
        }
    }

    mutating func parseValue(depth: Int) throws -> JSONValue {
        guard depth < 512 else { throw error("nesting too deep") }
        skipWhitespace()
        guard pos < bytes.count else { throw error("unexpected end") }
        switch bytes[pos] {
        case UInt8(ascii: "{"):
            var object: [String: JSONValue] = [:]
            try parseMembers(close: "}") { p in
                p.skipWhitespace()
                guard p.pos < p.bytes.count, p.bytes[p.pos] == UInt8(ascii: "\"") else { throw p.error("expected a key") }
                let key = try p.parseString()
                p.skipWhitespace()
                guard p.pos < p.bytes.count, p.bytes[p.pos] == UInt8(ascii: ":") else { throw p.error("expected ':'") }
                p.pos += 1
                object[key] = try p.parseValue(depth: depth + 1)
            }
            return .object(object)
        case UInt8(ascii: "["):
            var array: [JSONValue] = []
            try parseMembers(close: "]") { p in array.append(try p.parseValue(depth: depth + 1)) }
            return .array(array)
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default:
            return try parseNumber()
        }
    }

    mutating func literal(_ word: String) throws {
        let w = Array(word.utf8)
        guard pos + w.count <= bytes.count, Array(bytes[pos..<(pos + w.count)]) == w else { throw error("bad literal") }
        pos += w.count
    }

    /// RFC 8259's number grammar exactly: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    /// (so `+1`, `01`, `1.` and `.5` are refused, as strict JSON requires).
    mutating func parseNumber() throws -> JSONValue {
        let start = pos
        var isInteger = true
        func digits() -> Int {
            let from = pos
            while pos < bytes.count, bytes[pos] >= 48, bytes[pos] <= 57 { pos += 1 }
            return pos - from
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        let intStart = pos
        let intDigits = digits()
        guard intDigits > 0, intDigits == 1 || bytes[intStart] != 48 else { pos = start; throw error("bad number") }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            pos += 1
            isInteger = false
            guard digits() > 0 else { pos = start; throw error("bad number") }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            pos += 1
            isInteger = false
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard digits() > 0 else { pos = start; throw error("bad number") }
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        // `-0` is the double -0.0 (no integer has a sign of zero; JSONEncoder writes Float -0.0 so).
        if isInteger, text != "-0", let i = Int64(text) { return .int(i) }
        guard !text.isEmpty, let d = Double(text), d.isFinite else { pos = start; throw error("bad number") }
        return .double(d)
    }

    mutating func parseString() throws -> String {
        pos += 1  // opening quote
        var scalars = String.UnicodeScalarView()
        var runStart = pos
        func flush(_ p: Int) { scalars.append(contentsOf: String(decoding: bytes[runStart..<p], as: UTF8.self).unicodeScalars) }
        while pos < bytes.count {
            let c = bytes[pos]
            if c == UInt8(ascii: "\"") {
                flush(pos)
                pos += 1
                return String(scalars)
            }
            if c < 0x20 { throw error("control character in string") }
            if c == UInt8(ascii: "\\") {
                flush(pos)
                pos += 1
                guard pos < bytes.count else { break }
                let e = bytes[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{08}")
                case UInt8(ascii: "f"): scalars.append("\u{0C}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code) {
                        guard pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u")
                        else { throw error("lone surrogate") }
                        pos += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("bad surrogate pair") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw error("bad \\u escape") }
                    scalars.append(scalar)
                default: throw error("bad escape")
                }
                runStart = pos
                continue
            }
            pos += 1
        }
        throw error("unterminated string")
    }

    mutating func hex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[pos..<(pos + 4)], as: UTF8.self), radix: 16)
        else { throw error("bad \\u escape") }
        pos += 4
        return v
    }
}
