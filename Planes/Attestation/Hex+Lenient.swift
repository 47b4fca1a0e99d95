public import ChainCore

extension Hex {
    /// The bytes of hex `text` as attestation inputs come (quotes and collateral as wrapped text files):
    /// ChainCore's codec after dropping ASCII whitespace anywhere, with an optional `0x`/`0X` prefix and an even
    /// number of digits of either case; nil otherwise.
    public static func decode(lenient text: some Sequence<UInt8>) -> [UInt8]? {
        let digits = text.filter { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D) }
        return try? decode(String(decoding: digits, as: UTF8.self))
    }

    /// The same for a String.
    public static func decode(lenient text: String) -> [UInt8]? { decode(lenient: Array(text.utf8)) }
}
