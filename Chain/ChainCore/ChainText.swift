/// A string a contract emitted, kept exactly as its bytes.
///
/// The ABI's `string` is a byte string: a contract (Vyper's `String[N]` included) may emit bytes that are not
/// UTF-8, and any length its bound allows. The bytes are the record; `description` is a display form that
/// shows invalid sequences as U+FFFD, so two different byte strings can display alike. Compare `bytes`.
public struct ChainText: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// Exactly what the contract emitted.
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(_ string: String) { bytes = Array(string.utf8) }
    public init(stringLiteral value: String) { self.init(value) }

    /// The text when the bytes are valid UTF-8, else nil.
    public var string: String? { String(validating: bytes, as: UTF8.self) }

    /// Whether the bytes are valid UTF-8 (then `description` is exact).
    public var isUTF8: Bool { string != nil }

    /// The display form: the text, with each invalid UTF-8 sequence replaced by U+FFFD.
    public var description: String { String(decoding: bytes, as: UTF8.self) }
}
