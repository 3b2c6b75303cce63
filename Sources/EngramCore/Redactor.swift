import Foundation

/// Removes credentials from text before Engram prints it, writes it to a report or puts it
/// in an error: the password of a connection URL or key=value string, secret parameters
/// (`password`, `sig`, `key`, `token`, …) and any extra secret such as an account key.
///
/// It finds the secrets in the connection string once, then replaces every occurrence of
/// each (also percent-decoded) in whatever text it is given, so a secret repeated inside a
/// driver's message (libpq quotes a malformed URL) is caught as well as the URL itself.
public struct Redactor: Sendable {
    /// The secrets removed, longest first.
    public let secrets: [String]

    /// Parameter names whose values are secrets (compared case-insensitively).
    static let secretKeys: Set<String> = ["password", "pass", "pwd", "passwd", "sslpassword", "sig", "signature", "key",
                                          "accountkey", "sharedaccesskey", "token", "access_token", "secret", "apikey", "api_key"]

    public init(connectionStrings: [String], secrets extra: [String] = []) {
        var found = extra
        for s in connectionStrings { found += Self.secrets(in: s) }
        var unique = Set<String>()
        for s in found where !s.isEmpty {
            unique.insert(s)
            if let decoded = s.removingPercentEncoding, !decoded.isEmpty { unique.insert(decoded) }
        }
        secrets = unique.sorted { $0.count > $1.count }
    }

    public init(connectionString: String, secrets extra: [String] = []) {
        self.init(connectionStrings: [connectionString], secrets: extra)
    }

    /// `text` with every secret replaced by `***`.
    public func callAsFunction(_ text: String) -> String {
        var out = text
        for s in secrets where out.contains(s) { out = out.replacingOccurrences(of: s, with: "***") }
        return out
    }

    /// An error with its message and native message redacted.
    public func callAsFunction(_ error: EngramError) -> EngramError {
        var e = error
        e.message = self(e.message)
        e.nativeMessage = e.nativeMessage.map { self($0) }
        return e
    }

    /// The secrets of one connection string: a URL's userinfo password, and the values of
    /// secret parameters in a query string or in libpq's `key=value` form (quoted or not).
    static func secrets(in s: String) -> [String] {
        var out: [String] = []
        if let scheme = s.range(of: "://") {
            // The userinfo runs to the last '@': a password may hold an unencoded '/', '?' or
            // '#' (libpq takes it so), and cutting at those would miss it. Over-redacting is safe.
            let rest = s[scheme.upperBound...]
            if let at = rest.lastIndex(of: "@") {
                let userinfo = rest[..<at]
                if let colon = userinfo.firstIndex(of: ":") { out.append(String(userinfo[userinfo.index(after: colon)...])) }
            }
        }
        // key=value pairs, separated by whitespace, '&', '?', ';' (URL queries, conninfo, Azure strings).
        let chars = Array(s)
        var i = 0
        while i < chars.count {
            guard chars[i] == "=" else { i += 1; continue }
            var k = i - 1
            while k >= 0, chars[k] == " " { k -= 1 }
            var start = k
            while start >= 0, !" \t\n&?;".contains(chars[start]) { start -= 1 }
            let key = String(chars[(start + 1)..<(k + 1)]).lowercased()
            var j = i + 1
            while j < chars.count, chars[j] == " " { j += 1 }
            var value = ""
            var raw = ""
            if j < chars.count, chars[j] == "'" {
                j += 1
                while j < chars.count, chars[j] != "'" {
                    if chars[j] == "\\", j + 1 < chars.count { raw.append(chars[j]); j += 1 }
                    value.append(chars[j])
                    raw.append(chars[j])
                    j += 1
                }
            } else {
                while j < chars.count, !" \t\n&;".contains(chars[j]) { value.append(chars[j]); j += 1 }
            }
            if secretKeys.contains(key) { out += [value, raw] }
            i = max(j, i + 1)
        }
        return out
    }
}
