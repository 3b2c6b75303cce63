/// The contract's string equality (docs/contract.md, "Strings"): keys, scopes and filter
/// values are equal when their Unicode scalar sequences are — what SQL compares — and not
/// merely canonically equivalent, as Swift's `==` has it ("é" U+00E9 and "e" + U+0301 are
/// two ids, two projects, two agents). Every backend answers by this rule.
extension String {
    /// Equal scalar for scalar (byte for byte in UTF-8).
    @inlinable public func isExactly(_ other: String) -> Bool { utf8.elementsEqual(other.utf8) }
}

extension Optional where Wrapped == String {
    /// Both nil, or both present and equal scalar for scalar.
    @inlinable public func isExactly(_ other: String?) -> Bool {
        switch (self, other) {
        case (nil, nil): true
        case let (a?, b?): a.isExactly(b)
        default: false
        }
    }
}

/// A string compared and hashed by its Unicode scalars (`String.isExactly`): the key type of
/// in-memory maps that must keep canonically equivalent spellings apart.
public struct ExactText: Hashable, Sendable {
    public let text: String
    public init(_ text: String) { self.text = text }
    public static func == (a: ExactText, b: ExactText) -> Bool { a.text.isExactly(b.text) }
    public func hash(into h: inout Hasher) {
        for byte in text.utf8 { h.combine(byte) }
        h.combine(0xFF as UInt8)  // never a UTF-8 byte: ends the string
    }
}
