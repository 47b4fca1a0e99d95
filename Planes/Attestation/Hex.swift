import ChainCore

/// Hex as attestation inputs need it: ChainCore's codec, with ASCII whitespace allowed anywhere (quotes and
/// collateral come as wrapped text files) and a nil answer instead of an error.
enum Hex {
    /// `bytes` as lower-case hex without a prefix.
    static func encode(_ bytes: some Sequence<UInt8>) -> String { ChainCore.Hex.encode(bytes, prefix: false) }

    /// The bytes of hex `text`: an optional `0x`/`0X` prefix, any ASCII whitespace anywhere, an even number of
    /// digits of either case. Nil otherwise.
    static func decode(_ text: some Sequence<UInt8>) -> [UInt8]? {
        let digits = text.filter { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D) }
        return try? ChainCore.Hex.decode(String(decoding: digits, as: UTF8.self))
    }

    /// The bytes of hex `text` (String form of ``decode(_:)-(Sequence)``).
    static func decode(_ text: String) -> [UInt8]? { decode(Array(text.utf8)) }
}
