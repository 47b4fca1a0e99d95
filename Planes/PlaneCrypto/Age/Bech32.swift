/// Bech32 (BIP-173) as age uses it: the original checksum constant (not Bech32m), no 90-character limit,
/// all-lowercase or all-uppercase strings only. Encodes to lowercase; callers uppercase identities.
public enum Bech32 {
    private static let alphabet = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)
    private static let generator: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]

    /// The checksum over the concatenation of `parts` (iterated in place: no combined copy of secret values).
    private static func polymod(_ parts: [UInt8]...) -> UInt32 {
        var chk: UInt32 = 1
        for part in parts {
            for v in part {
                let top = chk >> 25
                chk = (chk & 0x1ff_ffff) << 5 ^ UInt32(v)
                for i in 0..<5 where (top >> UInt32(i)) & 1 == 1 { chk ^= generator[i] }
            }
        }
        return chk
    }

    private static func expand(_ hrp: [UInt8]) -> [UInt8] {
        hrp.map { $0 >> 5 } + [0] + hrp.map { $0 & 31 }
    }

    /// `hrp` (lowercase ASCII) and `data` (bytes) as a lowercase Bech32 string.
    public static func encode(hrp: String, data: [UInt8]) -> String {
        String(decoding: encodeBytes(hrp: hrp, data: data), as: UTF8.self)
    }

    /// The same as ASCII bytes, for secrets the caller wipes (intermediate copies are wiped here).
    public static func encodeBytes(hrp: String, data: [UInt8]) -> [UInt8] {
        let h = Array(hrp.utf8)
        var values = convertBits(data, from: 8, to: 5, pad: true)!
        defer { SecretBytes.wipe(&values) }
        let check = polymod(expand(h), values, [0, 0, 0, 0, 0, 0]) ^ 1
        var out = [UInt8]()
        out.reserveCapacity(h.count + 1 + values.count + 6)
        out += h
        out.append(UInt8(ascii: "1"))
        for v in values { out.append(alphabet[Int(v)]) }
        for i in 0..<6 { out.append(alphabet[Int((check >> UInt32(5 * (5 - i))) & 31)]) }
        return out
    }

    /// The human-readable part (in the string's own case, so callers can insist on one) and the data bytes of
    /// `string`, or a reason it is not Bech32. Intermediate copies are wiped: identities are secret.
    public static func decode(
        _ string: some Collection<UInt8>
    ) throws(PlaneCryptoError) -> (hrp: String, data: [UInt8]) {
        var bytes = Array(string)
        defer { SecretBytes.wipe(&bytes) }
        var lower = false
        var upper = false
        for c in bytes {
            guard c >= 33, c <= 126 else {
                throw PlaneCryptoError(.invalidEncoding, "Bech32: character outside printable ASCII")
            }
            if c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z") { lower = true }
            if c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") { upper = true }
        }
        guard !(lower && upper) else { throw PlaneCryptoError(.invalidEncoding, "Bech32: mixed case") }
        var folded = bytes.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 | 0x20 : $0 }
        guard let separator = folded.lastIndex(of: UInt8(ascii: "1")), separator >= 1,
            folded.count - separator - 1 >= 6
        else {
            throw PlaneCryptoError(
                .invalidEncoding,
                "Bech32: expected a human-readable part, '1' and at least 6 checksum characters"
            )
        }
        defer { SecretBytes.wipe(&folded) }
        let hrp = Array(folded[..<separator])
        var values: [UInt8] = []
        defer { SecretBytes.wipe(&values) }
        values.reserveCapacity(folded.count - separator - 1)
        for c in folded[(separator + 1)...] {
            guard let v = alphabet.firstIndex(of: c) else {
                throw PlaneCryptoError(
                    .invalidEncoding,
                    "Bech32: '\(Character(Unicode.Scalar(c)))' is not in the alphabet"
                )
            }
            values.append(UInt8(v))
        }
        guard polymod(expand(hrp), values) == 1 else {
            throw PlaneCryptoError(.invalidEncoding, "Bech32: checksum mismatch")
        }
        guard let data = convertBits(values.dropLast(6), from: 5, to: 8, pad: false) else {
            throw PlaneCryptoError(.invalidEncoding, "Bech32: non-zero or excess padding bits")
        }
        return (String(decoding: bytes[..<separator], as: UTF8.self), data)
    }

    /// Regroups bits; without `pad`, refuses leftover bits that are non-zero or a whole group.
    static func convertBits(_ input: some Collection<UInt8>, from: Int, to: Int, pad: Bool) -> [UInt8]? {
        var acc = 0
        var bits = 0
        var out: [UInt8] = []
        let maxValue = (1 << to) - 1
        let maxAcc = (1 << (from + to - 1)) - 1
        for value in input {
            acc = ((acc << from) | Int(value)) & maxAcc
            bits += from
            while bits >= to {
                bits -= to
                out.append(UInt8((acc >> bits) & maxValue))
            }
        }
        if pad {
            if bits > 0 { out.append(UInt8((acc << (to - bits)) & maxValue)) }
        } else if bits >= from || (acc << (to - bits)) & maxValue != 0 {
            return nil
        }
        return out
    }
}
