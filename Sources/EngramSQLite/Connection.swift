import CSQLite
import EngramCore
import Glibc

/// SQLite's "copy the bytes now" destructor; the macro does not import into Swift.
let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// One SQLite connection with a cache of prepared statements, opened in SQLite's
/// multi-thread mode (NOMUTEX): it may move from thread to thread, but only one may use it at a
/// time. `@unchecked Sendable` for that hand-off: a store's writer connection is reached only
/// inside its `Mutex`, and a reader connection belongs to one `ReaderPool.with` call at a time.
final class Connection: @unchecked Sendable {
    let db: OpaquePointer
    private var cache: [String: Statement] = [:]

    init(path: String, readOnly: Bool = false) throws {
        var handle: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            let systemErrno = handle.map { sqlite3_system_errno($0) } ?? 0
            if let handle { sqlite3_close_v2(handle) }
            throw Connection.error(rc, message, context: "opening \(path)", systemErrno: systemErrno)
        }
        db = handle
        sqlite3_extended_result_codes(db, 1)
    }

    func close() {
        for s in cache.values { s.finalize() }
        cache.removeAll()
        sqlite3_close_v2(db)
    }

    /// Resets every statement still mid-way, ending the read transaction it holds open.
    func resetAll() {
        for s in cache.values where sqlite3_stmt_busy(s.handle) != 0 { sqlite3_reset(s.handle) }
    }

    /// Runs SQL without results (several statements allowed).
    func execute(_ sql: String) throws {
        var errmsg: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &errmsg)
        if rc != SQLITE_OK {
            let message = errmsg.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(db))
            sqlite3_free(errmsg)
            throw Connection.error(rc, message, context: sql, systemErrno: sqlite3_system_errno(db))
        }
    }

    /// A cached prepared statement for `sql`, reset and with bindings cleared.
    func statement(_ sql: String) throws -> Statement {
        if let s = cache[sql] {
            s.reset()
            return s
        }
        var handle: OpaquePointer?
        let rc = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &handle, nil)
        guard rc == SQLITE_OK, let handle else {
            throw error(rc, context: sql)
        }
        let s = Statement(handle: handle, connection: self)
        cache[sql] = s
        return s
    }

    /// Runs `body` in an IMMEDIATE transaction: committed if it returns, rolled back if it throws.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    var changes: Int { Int(sqlite3_changes(db)) }
    var lastInsertRowid: Int64 {
        get { sqlite3_last_insert_rowid(db) }
        set { sqlite3_set_last_insert_rowid(db, newValue) }
    }

    func error(_ rc: Int32, context: String) -> EngramError {
        Connection.error(rc, String(cString: sqlite3_errmsg(db)), context: context, systemErrno: sqlite3_system_errno(db))
    }

    /// The contract's error for an SQLite result code. A full device is `storage_full` whichever
    /// file SQLite was writing (the database, the WAL, the `-shm` file at open, a temporary
    /// file): the OS error beneath its I/O error says so (ENOSPC, EDQUOT).
    static func error(_ rc: Int32, _ message: String, context: String, systemErrno: Int32 = 0) -> EngramError {
        let name = String(cString: sqlite3_errstr(rc))
        let code: EngramError.Code
        let full = (rc & 0xFF == SQLITE_IOERR || rc & 0xFF == SQLITE_CANTOPEN) && (systemErrno == ENOSPC || systemErrno == EDQUOT)
        switch rc & 0xFF {
        case _ where full, SQLITE_FULL: code = .storageFull
        case SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_IOERR: code = .unavailable
        case SQLITE_CORRUPT, SQLITE_NOTADB: code = .corrupt
        case SQLITE_CONSTRAINT: code = .conflict
        default: code = .internal
        }
        let device = full ? ": the device is full (\(String(cString: strerror(systemErrno))))" : ""
        return EngramError(code, "SQLite failed (\(name)) while \(context.prefix(200))\(device)", nativeCode: systemErrno == 0 ? "\(rc)" : "\(rc) errno \(systemErrno)", nativeMessage: message)
    }
}

/// A prepared statement with 1-based binds and 0-based column reads.
final class Statement {
    let handle: OpaquePointer
    unowned let connection: Connection

    init(handle: OpaquePointer, connection: Connection) {
        self.handle = handle
        self.connection = connection
    }

    func finalize() { sqlite3_finalize(handle) }

    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    @discardableResult
    func bind(_ values: [SQLValue]) -> Statement {
        for (i, v) in values.enumerated() { bind(Int32(i + 1), v) }
        return self
    }

    /// Binds a record's fields in schema order (`RecordSchema`): booleans as 0/1, timestamps as
    /// INTEGER microseconds, embeddings as Float32 blobs, metadata as JSON text.
    func bind(record: MemoryRecord) -> Statement {
        for (i, field) in record.kind.schema.values(of: record).enumerated() {
            let index = Int32(i + 1)
            switch field {
            case .null: bind(index, .null)
            case .text(let text): bind(index, .text(text))
            case .double(let x): bind(index, .double(x))
            case .int(let n): bind(index, .int(Int64(n)))
            case .bool(let flag): bind(index, .int(flag ? 1 : 0))
            case .timestamp(let t): bind(index, .int(t.microsecondsSinceEpoch))
            case .embedding(let e): bind(index, .floats(e))
            case .metadata(let m): bind(index, .text(m.jsonText))
            }
        }
        return self
    }

    func bind(_ index: Int32, _ value: SQLValue) {
        switch value {
        case .null: sqlite3_bind_null(handle, index)
        case .int(let v): sqlite3_bind_int64(handle, index, v)
        case .double(let v): sqlite3_bind_double(handle, index, v)
        case .text(let s):
            var s = s
            s.withUTF8 { utf8 in
                utf8.withMemoryRebound(to: CChar.self) { buf in
                    if let base = buf.baseAddress, buf.count > 0 {
                        _ = sqlite3_bind_text(handle, index, base, Int32(buf.count), sqliteTransient)
                    } else {
                        _ = sqlite3_bind_text(handle, index, "", 0, sqliteTransient)  // a NULL pointer would bind SQL NULL
                    }
                }
            }
        case .floats(let v):
            v.withUnsafeBytes { buf in
                _ = sqlite3_bind_blob(handle, index, buf.baseAddress, Int32(buf.count), sqliteTransient)
            }
        }
    }

    /// Steps once: true when a row is ready, false when done.
    func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        let sql = sqlite3_sql(handle).map { String(cString: $0) } ?? "a statement"
        throw connection.error(rc, context: sql)
    }

    /// Steps to completion, then resets (a statement left mid-way would block COMMIT).
    func run() throws {
        defer { sqlite3_reset(handle) }
        while try step() {}
    }

    /// Every row, mapped; the statement is reset afterwards.
    func rows<T>(_ map: (Statement) throws -> T) throws -> [T] {
        defer { sqlite3_reset(handle) }
        var out: [T] = []
        while try step() { out.append(try map(self)) }
        return out
    }

    /// The first row mapped, or nil; the statement is reset afterwards.
    func first<T>(_ map: (Statement) throws -> T) throws -> T? {
        defer { sqlite3_reset(handle) }
        return try step() ? try map(self) : nil
    }

    func isNull(_ col: Int32) -> Bool { sqlite3_column_type(handle, col) == SQLITE_NULL }
    func int(_ col: Int32) -> Int64 { sqlite3_column_int64(handle, col) }
    func double(_ col: Int32) -> Double { sqlite3_column_double(handle, col) }

    func text(_ col: Int32) -> String {
        guard let p = sqlite3_column_text(handle, col) else { return "" }
        let n = Int(sqlite3_column_bytes(handle, col))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }

    func optionalText(_ col: Int32) -> String? { isNull(col) ? nil : text(col) }
    func optionalInt(_ col: Int32) -> Int64? { isNull(col) ? nil : int(col) }

    /// A Float32 blob (native little-endian), or nil for NULL.
    func floats(_ col: Int32) -> [Float]? {
        guard !isNull(col) else { return nil }
        let n = Int(sqlite3_column_bytes(handle, col))
        guard n > 0, let p = sqlite3_column_blob(handle, col) else { return [] }
        return [Float](unsafeUninitializedCapacity: n / 4) { buf, count in
            UnsafeMutableRawBufferPointer(buf).copyMemory(from: UnsafeRawBufferPointer(start: p, count: n / 4 * 4))
            count = n / 4
        }
    }
}

/// A value bound to a statement parameter: never pasted into SQL text.
enum SQLValue {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case floats([Float])

}
