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
