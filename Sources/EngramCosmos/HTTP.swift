import CCurl
import EngramCore
import Foundation

/// One HTTP exchange over libcurl. A new easy handle per request keeps it thread-safe
/// (libcurl handles are not); `curl_global_init` runs once, before any thread uses curl.
struct HTTPResponse {
    var status: Int
    var headers: [String: String]
    var body: Data
}

enum CurlHTTP {
    static let initialised: Bool = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK }()

    private final class Sink {
        var body = Data()
        var headers: [String: String] = [:]
    }

    static func perform(method: String, url: String, headers: [(String, String)], body: Data?, timeout: Int) throws -> HTTPResponse {
        guard initialised, let h = curl_easy_init() else { throw EngramError(.unavailable, "libcurl could not be initialised") }
        defer { curl_easy_cleanup(h) }
        var list: UnsafeMutablePointer<curl_slist>?
        for (k, v) in headers { list = curl_slist_append(list, "\(k): \(v)") }
        list = curl_slist_append(list, "Expect:")  // no 100-continue round trip
        defer { curl_slist_free_all(list) }
        let sink = Sink()
        let ctx = Unmanaged.passUnretained(sink).toOpaque()
        _ = engram_curl_set_string(h, CURLOPT_URL, url)
        _ = engram_curl_set_string(h, CURLOPT_CUSTOMREQUEST, method)
        _ = engram_curl_set_long(h, CURLOPT_NOSIGNAL, 1)
        _ = engram_curl_set_long(h, CURLOPT_TIMEOUT, timeout)
        _ = engram_curl_set_long(h, CURLOPT_CONNECTTIMEOUT, min(timeout, 10))
        _ = engram_curl_set_headers(h, list)
        _ = engram_curl_set_callback(h, CURLOPT_WRITEFUNCTION) { ptr, size, n, ctx in
            let sink = Unmanaged<Sink>.fromOpaque(ctx!).takeUnretainedValue()
            sink.body.append(UnsafeRawPointer(ptr!).assumingMemoryBound(to: UInt8.self), count: size * n)
            return size * n
        }
        _ = engram_curl_set_pointer(h, CURLOPT_WRITEDATA, ctx)
        _ = engram_curl_set_callback(h, CURLOPT_HEADERFUNCTION) { ptr, size, n, ctx in
            let sink = Unmanaged<Sink>.fromOpaque(ctx!).takeUnretainedValue()
            let line = String(decoding: UnsafeRawBufferPointer(start: ptr, count: size * n), as: UTF8.self)
            if let colon = line.firstIndex(of: ":") {
                sink.headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
            }
            return size * n
        }
        _ = engram_curl_set_pointer(h, CURLOPT_HEADERDATA, ctx)
        let rc: CURLcode = withExtendedLifetime(sink) {
            if let body {
                return body.withUnsafeBytes { buf -> CURLcode in
                    _ = engram_curl_set_long(h, CURLOPT_POSTFIELDSIZE, buf.count)
                    _ = engram_curl_set_pointer(h, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: buf.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
                    return curl_easy_perform(h)
                }
            }
            return curl_easy_perform(h)
        }
        guard rc == CURLE_OK else {
            let redact = Redactor(connectionString: url)
            throw EngramError(.unavailable, "HTTP \(method) \(redact(url)) failed: \(redact(String(cString: curl_easy_strerror(rc))))", nativeCode: "curl \(rc.rawValue)")
        }
        return HTTPResponse(status: Int(engram_curl_status(h)), headers: sink.headers, body: sink.body)
    }
}

/// Cosmos DB master-key authorisation: base64(HMAC-SHA256(key, "verb\ntype\nlink\ndate\n\n")),
/// URL-encoded as `type=master&ver=1.0&sig=...`.
public enum CosmosAuth {
    public static func authorization(verb: String, resourceType: String, resourceLink: String, date: String, key: String) throws -> String {
        guard let keyData = Data(base64Encoded: key) else { throw EngramError.invalid("key", "the Cosmos DB key is not base64") }
        let text = Array("\(verb.lowercased())\n\(resourceType.lowercased())\n\(resourceLink)\n\(date.lowercased())\n\n".utf8)
        var mac = [UInt8](repeating: 0, count: 32)
        let ok = keyData.withUnsafeBytes { k in engram_hmac_sha256(k.baseAddress, Int32(k.count), text, text.count, &mac) }
        guard ok == 1 else { throw EngramError(.internal, "HMAC-SHA256 failed") }
        let token = "type=master&ver=1.0&sig=" + Data(mac).base64EncodedString()
        return percentEncode(token, lowercase: true)
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters.
    static func percentEncode(_ s: String, lowercase: Bool = false) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = String(b, radix: 16, uppercase: !lowercase)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }

    /// `x-ms-date`: RFC 1123 in GMT.
    static func date(_ now: Date = Date()) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return f.string(from: now)
    }

    /// A document id that Cosmos accepts for any record id: the SHA-256 of the id, in hex
    /// (record ids may hold `/`, `?`, `#` and up to 256 bytes; Cosmos ids may not).
    static func documentId(_ recordId: String) -> String {
        let bytes = Array(recordId.utf8)
        var digest = [UInt8](repeating: 0, count: 32)
        engram_sha256(bytes, bytes.count, &digest)
        return digest.map { String(format: "%02x", $0) }.joined()
    }
}
