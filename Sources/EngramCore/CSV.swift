import Foundation

/// The CSV form every Engram report uses (RFC 4180): one function, so that every writer
/// quotes the same way.
public enum CSV {
    /// `s` as one field: quoted (with doubled quotes) when it holds a comma, a quote or a line break.
    public static func field(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// One line of fields, without its line break.
    public static func row(_ fields: [String]) -> String { fields.map(field).joined(separator: ",") }
}

/// XML text for attributes and content (JUnit reports, SVG charts): one function, so every
/// writer escapes the same way.
public enum XML {
    /// XML's entities (line breaks and tabs as references, so attributes keep them); characters
    /// XML 1.0 does not allow (other controls, U+FFFE, U+FFFF) become `?`.
    static let entities: [Unicode.Scalar: String] = ["&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"]

    public static func escape(_ s: String) -> String {
        var out = ""
        for ch in s.unicodeScalars {
            if let entity = entities[ch] { out += entity } else if ch.value < 0x20 || ch.value == 0xFFFE || ch.value == 0xFFFF { out += "?" } else { out.unicodeScalars.append(ch) }
        }
        return out
    }
}
