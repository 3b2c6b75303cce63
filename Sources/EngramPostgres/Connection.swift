import CLibPQ
import EngramCore

/// A query result in binary format; freed on deinit.
final class PGResult {
    let handle: OpaquePointer
    init(_ handle: OpaquePointer) { self.handle = handle }
    deinit { PQclear(handle) }

    var rows: Int { Int(PQntuples(handle)) }
    /// Rows affected by an INSERT/UPDATE/DELETE.
    var affected: Int { Int(String(cString: PQcmdTuples(handle))) ?? 0 }

    func isNull(_ row: Int, _ col: Int) -> Bool { PQgetisnull(handle, Int32(row), Int32(col)) == 1 }

    func value(_ row: Int, _ col: Int) -> PGBytes? {
        guard !isNull(row, col), let p = PQgetvalue(handle, Int32(row), Int32(col)) else { return nil }
        return PGBytes(base: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: Int(PQgetlength(handle, Int32(row), Int32(col))))
    }

    /// Column `col` of every row, as text.
    func strings(_ col: Int) -> [String] { (0..<rows).compactMap { string($0, col) } }

    /// A text-format value (results of simple queries such as EXPLAIN).
    func string(_ row: Int, _ col: Int) -> String? {
        guard !isNull(row, col), let p = PQgetvalue(handle, Int32(row), Int32(col)) else { return nil }
        return String(cString: p)
    }
}

/// One libpq connection with its prepared statements. Not thread-safe: the pool lends
/// it to one caller at a time.
final class PGConnection {
    let conn: OpaquePointer
    private var prepared: [String: String] = [:]
    /// Statements kept prepared per connection; past this the cache starts over.
    static let maxPrepared = 256
    /// Session settings made with `set`, so each is sent only when it changes.
    private var settings: [String: String] = [:]

    init(url: String, connectTimeout: Int, applicationName: String, lockTimeoutMs: Int = 0, statementTimeoutMs: Int = 0) throws {
        // Engram's defaults come before the URL, so that whatever the URL sets (options,
        // application_name, connect_timeout) wins: libpq lets later keywords override earlier.
        let keys = ["connect_timeout", "application_name", "dbname"]
        let values = [String(connectTimeout), applicationName, url]
        let conn = withCStrings(keys) { k in withCStrings(values) { v in PQconnectdbParams(k, v, 1) } }
        guard let conn else { throw EngramError(.unavailable, "libpq could not allocate a connection") }
        guard PQstatus(conn) == CONNECTION_OK else {
            let redact = Redactor(connectionString: url)
            let message = redact(String(cString: PQerrorMessage(conn)).trimmingTrailingNewlines)
            PQfinish(conn)
            throw EngramError(.unavailable, "cannot connect to PostgreSQL at \(redact(url)): \(message)", nativeMessage: message)
        }
        self.conn = conn
        engram_pq_silence(conn)
        // lock_timeout and statement_timeout bound every wait on the server (0 = no bound);
        // set after connecting, so a URL's own `options` stay as they are.
        try simple("SET lock_timeout = \(lockTimeoutMs); SET statement_timeout = \(statementTimeoutMs)")
    }

    deinit { PQfinish(conn) }

    /// False once the server or network dropped the connection.
    var isHealthy: Bool { PQstatus(conn) == CONNECTION_OK }

    /// Runs SQL without parameters (may hold several statements); results in text format.
    @discardableResult
    func simple(_ sql: String) throws -> PGResult {
        try check(PQexec(conn, sql), sql)
    }

    /// Runs `body` once per connection for `key` (connection-scoped setup such as a temp table).
    func once(_ key: String, _ body: () throws -> Void) throws {
        guard settings["once:" + key] == nil else { return }
        try body()
        settings["once:" + key] = "done"
    }

    /// Sets a session parameter, only when it differs from what this connection has.
    func set(_ name: String, _ value: String) throws {
        guard settings[name] != value else { return }
        try simple("SET \(name) = \(value)")
        settings[name] = value
    }

    /// Runs a statement with binary parameters and binary results, prepared once per connection.
    @discardableResult
    func run(_ sql: String, _ params: [PGValue] = []) throws -> PGResult {
        let name: String
        if let n = prepared[sql] {
            name = n
        } else {
            if prepared.count >= Self.maxPrepared {
                // A bounded cache: each prepared statement holds memory in the server backend.
                try simple("DEALLOCATE ALL")
                prepared.removeAll()
            }
            name = "e\(prepared.count)"
            _ = try check(PQprepare(conn, name, sql, Int32(params.count), nil), sql)
            prepared[sql] = name
        }
        let encoded = params.map(\.bytes)
        let lengths = encoded.map { Int32($0?.count ?? 0) }
        let formats = [Int32](repeating: 1, count: params.count)
        return try withBuffers(encoded) { pointers in
            try check(PQexecPrepared(conn, name, Int32(params.count), pointers, lengths, formats, 1), sql)
        }
    }

    /// `COPY table (columns) FROM STDIN (FORMAT binary)` with the given rows.
    func copyIn(_ sql: String, rows: [[PGValue]]) throws {
        let start = try PGResult(nonNull(PQexec(conn, sql)))
        guard PQresultStatus(start.handle) == PGRES_COPY_IN else { throw error(start, sql) }
        var data: [UInt8] = [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00]  // "PGCOPY\n\xff\r\n\0"
        data.appendBE(UInt32(0))  // flags
        data.appendBE(UInt32(0))  // header extension length
        for row in rows {
            data.appendBE(UInt16(row.count))
            for v in row {
                if let b = v.bytes {
                    data.appendBE(UInt32(b.count))
                    data += b
                } else {
                    data.appendBE(UInt32(bitPattern: -1))
                }
            }
            if data.count > 1 << 20 { try flush(&data, sql) }
        }
        data.appendBE(UInt16(bitPattern: -1))  // trailer
        try flush(&data, sql)
        guard PQputCopyEnd(conn, nil) == 1 else { throw connectionError(sql) }
        var last: PGResult?
        while let r = PQgetResult(conn) { last = PGResult(r) }
        if let last, PQresultStatus(last.handle) != PGRES_COMMAND_OK { throw error(last, sql) }
    }

    private func flush(_ data: inout [UInt8], _ sql: String) throws {
        let ok = data.withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { PQputCopyData(conn, $0.baseAddress, Int32($0.count)) }
        }
        guard ok == 1 else { throw connectionError(sql) }
        data.removeAll(keepingCapacity: true)
    }

    private func nonNull(_ r: OpaquePointer?) throws -> OpaquePointer {
        guard let r else { throw connectionError("") }
        return r
    }

    private func check(_ r: OpaquePointer?, _ sql: String) throws -> PGResult {
        let result = PGResult(try nonNull(r))
        switch PQresultStatus(result.handle) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY: return result
        default: throw error(result, sql)
        }
    }

    private func connectionError(_ sql: String) -> EngramError {
        let message = String(cString: PQerrorMessage(conn)).trimmingTrailingNewlines
        return EngramError(.unavailable, "PostgreSQL connection failed during \(sql.prefix(120)): \(message)", nativeMessage: message)
    }

    /// Maps a failed result to EngramError with the SQLSTATE and the server's message.
    private func error(_ result: PGResult, _ sql: String) -> EngramError {
        let state = PQresultErrorField(result.handle, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        let message = String(cString: PQresultErrorMessage(result.handle)).trimmingTrailingNewlines
        guard let state else {
            return EngramError(.unavailable, "PostgreSQL connection lost during \(sql.prefix(120)): \(message)", nativeMessage: message)
        }
        let code: EngramError.Code
        switch state.prefix(2) {
        case "08", "57", "53", "55": code = .unavailable  // connection, operator intervention (57014: statement timeout), resources, lock not available (55P03)
        case "40": code = .conflict                   // serialization failure, deadlock
        case "23": code = .conflict
        case "22": code = .invalidInput
        default: code = .internal
        }
        return EngramError(code, "PostgreSQL error \(state) in \(sql.prefix(160)): \(message)", nativeCode: state, nativeMessage: message)
    }

}

extension String {
    var trimmingTrailingNewlines: String {
        var s = self
        while s.last == "\n" || s.last == " " { s.removeLast() }
        return s
    }

    func range(of needle: String) -> Range<String.Index>? {
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(needle) { return i..<index(i, offsetBy: needle.count) }
            i = index(after: i)
        }
        return nil
    }
}

/// Calls `body` with NUL-terminated C strings for `strings` plus a terminating NULL.
func withCStrings<T>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> T) -> T {
    withBuffers(strings.map { Array($0.utf8CString).map { UInt8(bitPattern: $0) } } + [nil], body)
}

/// Calls `body` with pointers to each buffer (NULL for nil; an empty buffer still gets a
/// non-NULL pointer, or the server would read SQL NULL). The buffers are laid end to end in
/// one allocation: no recursion or nesting per parameter, whatever their number.
func withBuffers<T>(_ buffers: [[UInt8]?], _ body: ([UnsafePointer<CChar>?]) throws -> T) rethrows -> T {
    var joined: [UInt8] = []
    joined.reserveCapacity(buffers.reduce(1) { $0 + ($1?.count ?? 0) })
    var offsets: [Int?] = []
    offsets.reserveCapacity(buffers.count)
    for b in buffers {
        if let b {
            offsets.append(joined.count)
            joined += b
        } else {
            offsets.append(nil)
        }
    }
    joined.append(0)  // so that an empty last buffer still points inside the allocation
    return try joined.withUnsafeBufferPointer { all in
        try all.withMemoryRebound(to: CChar.self) { c in
            try body(offsets.map { $0.map { c.baseAddress! + $0 } })
        }
    }
}
