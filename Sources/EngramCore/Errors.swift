/// The one error type every Engram store throws.
///
/// `code` is extensible (new codes can be added without breaking callers), `field`
/// names the input at fault for `invalidInput`, and `nativeCode`/`nativeMessage`
/// carry the backend's own diagnosis (an SQLite result code, a PostgreSQL SQLSTATE,
/// an HTTP status) where there is one.
public struct EngramError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, as a stable machine-readable string.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The caller's input breaks the contract; nothing was changed.
        public static let invalidInput = Code(rawValue: "invalid_input")
        /// The backend does not implement this operation or capability.
        public static let notSupported = Code(rawValue: "not_supported")
        /// A concurrent writer or an existing state prevented the operation.
        public static let conflict = Code(rawValue: "conflict")
        /// The backend cannot be reached or is not ready (network, lock, missing server).
        public static let unavailable = Code(rawValue: "unavailable")
        /// The device or quota is full (ENOSPC, EDQUOT, SQLITE_FULL): nothing of the call was
        /// written, reads still work, and writes work again once space is freed.
        public static let storageFull = Code(rawValue: "storage_full")
        /// Stored data cannot be read back (a corrupt file, an unexpected column).
        public static let corrupt = Code(rawValue: "corrupt")
        /// A bug or an unexpected failure inside the backend.
        public static let `internal` = Code(rawValue: "internal")
    }

    public var code: Code
    /// The input field at fault (snake_case, as in the adapter protocol), if any.
    public var field: String?
    public var message: String
    /// The backend's native error code (e.g. `SQLITE_BUSY`, SQLSTATE `23505`, HTTP `412`).
    public var nativeCode: String?
    /// The backend's native error message, verbatim.
    public var nativeMessage: String?

    public init(_ code: Code, field: String? = nil, _ message: String, nativeCode: String? = nil, nativeMessage: String? = nil) {
        self.code = code
        self.field = field
        self.message = message
        self.nativeCode = nativeCode
        self.nativeMessage = nativeMessage
    }

    /// Shorthand for an `invalidInput` error naming `field`.
    public static func invalid(_ field: String, _ message: String) -> EngramError {
        EngramError(.invalidInput, field: field, message)
    }

    public var description: String {
        var text = "\(code)"
        if let field { text += " [\(field)]" }
        text += ": \(message)"
        if let nativeCode { text += " (native \(nativeCode)" + (nativeMessage.map { ": \($0)" } ?? "") + ")" }
        else if let nativeMessage { text += " (native: \(nativeMessage))" }
        return text
    }
}
