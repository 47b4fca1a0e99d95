/// Canonical standard base64 without padding, as age's header uses it: decoding refuses `=`, characters
/// outside the alphabet (CR and LF included), a length of 1 mod 4 and non-zero trailing bits, so every byte
/// string has exactly one accepted encoding.
enum AgeBase64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let values: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = Int8(i) }
        return table
    }()

    static func encode(_ data: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((data.count * 4 + 2) / 3)
        var acc = 0
        var bits = 0
        for byte in data {
            acc = (acc << 8 | Int(byte)) & 0xffff
            bits += 8
            while bits >= 6 {
                bits -= 6
                out.append(alphabet[(acc >> bits) & 63])
            }
        }
        if bits > 0 { out.append(alphabet[(acc << (6 - bits)) & 63]) }
        return out
    }

    static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        guard text.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count * 3 / 4)
        var acc = 0
        var bits = 0
        for c in text {
            let v = values[Int(c)]
            guard v >= 0 else { return nil }
            acc = (acc << 6 | Int(v)) & 0xffff
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((acc >> bits) & 0xff))
            }
        }
        // Canonical: the bits left over after the last whole byte must be zero.
        guard acc & ((1 << bits) - 1) == 0 else { return nil }
        return out
    }
}

/// One recipient stanza of an age header: `-> TYPE ARG…` and a base64 body.
public struct AgeStanza: Sendable, Equatable {
    /// The first argument: the recipient type (`X25519`).
    public let type: String
    /// The remaining arguments.
    public let arguments: [String]
    /// The decoded body.
    public let body: [UInt8]

    /// The stanza as the header carries it: arguments joined by single spaces, the body in base64 lines of
    /// 64 columns ending with a shorter (possibly empty) line.
    func encoded() -> [UInt8] {
        var out = Array("->".utf8)
        for argument in [type] + arguments {
            out.append(UInt8(ascii: " "))
            out += argument.utf8
        }
        out.append(UInt8(ascii: "\n"))
        let text = AgeBase64.encode(body)
        var start = 0
        while text.count - start >= AgeHeader.columns {
            out += text[start..<(start + AgeHeader.columns)]
            out.append(UInt8(ascii: "\n"))
            start += AgeHeader.columns
        }
        out += text[start...]
        out.append(UInt8(ascii: "\n"))
        return out
    }
}

/// An age v1 header: the stanzas and the header MAC.
public struct AgeHeader: Sendable {
    static let versionLine = Array("age-encryption.org/v1\n".utf8)
    static let columns = 64
    static let bytesPerLine = columns / 4 * 3
    /// Headers longer than this are refused rather than buffered.
    public static let maxLength = 1 << 20

    /// The recipient stanzas in file order.
    public let stanzas: [AgeStanza]
    /// The 32-byte HMAC-SHA-256 from the `---` line.
    public let mac: [UInt8]

    /// The bytes the MAC covers: the version line, every stanza and `---` (without the space and MAC).
    func bytesWithoutMAC() -> [UInt8] {
        var out = Self.versionLine
        for stanza in stanzas { out += stanza.encoded() }
        out += Array("---".utf8)
        return out
    }

    /// The whole header, MAC line included.
    func encoded() -> [UInt8] {
        bytesWithoutMAC() + [UInt8(ascii: " ")] + AgeBase64.encode(mac) + [UInt8(ascii: "\n")]
    }

    /// Parses the header from `input`, leaving it at the first payload byte. Every malformation is an
    /// ``PlaneCryptoError/Code/ageHeader`` error naming what was expected.
    static func parse(_ input: AgeBufferedInput) throws(PlaneCryptoError) -> AgeHeader {
        var consumed = 0
        func line() throws(PlaneCryptoError) -> [UInt8] {
            guard let line = try input.readLine(limit: maxLength - consumed) else {
                throw PlaneCryptoError(
                    .ageHeader,
                    "age header: expected a line ending in LF, found the end of the file"
                )
            }
            consumed += line.count
            return Array(line.dropLast())
        }
        let version = try line()
        guard version + [UInt8(ascii: "\n")] == versionLine else {
            throw PlaneCryptoError(
                .ageHeader,
                "age header: expected the version line age-encryption.org/v1, found \(printable(version))"
            )
        }
        var stanzas: [AgeStanza] = []
        while true {
            let text = try line()
            let parts = text.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            if text.starts(with: "---".utf8) {
                guard parts.count == 2, parts[0].elementsEqual("---".utf8), let mac = AgeBase64.decode(parts[1]),
                    mac.count == HMAC.sha256Length
                else {
                    throw PlaneCryptoError(
                        .ageHeader,
                        "age header: expected '--- ' and a canonical base64 32-byte MAC, found \(printable(text))"
                    )
                }
                return AgeHeader(stanzas: stanzas, mac: mac)
            }
            guard parts.count >= 2, parts[0].elementsEqual("->".utf8),
                parts.dropFirst().allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0 >= 33 && $0 <= 126 } })
            else {
                throw PlaneCryptoError(
                    .ageHeader,
                    "age header: expected a stanza line '-> TYPE [ARG…]' of printable ASCII arguments separated by single spaces, or the '---' line, found \(printable(text))"
                )
            }
            var body: [UInt8] = []
            while true {
                let bodyLine = try line()
                guard let chunk = AgeBase64.decode(bodyLine), chunk.count <= bytesPerLine else {
                    throw PlaneCryptoError(
                        .ageHeader,
                        "age header: expected a stanza body line of at most 64 columns of canonical unpadded base64, found \(printable(bodyLine))"
                    )
                }
                body += chunk
                if chunk.count < bytesPerLine { break }
            }
            let arguments = parts.dropFirst().map { String(decoding: $0, as: UTF8.self) }
            stanzas.append(AgeStanza(type: arguments[0], arguments: Array(arguments.dropFirst()), body: body))
        }
    }

    /// At most 80 characters of `bytes`, non-printable bytes as `\xNN`, for error messages.
    static func printable(_ bytes: some Collection<UInt8>) -> String {
        var out = ""
        for b in bytes.prefix(80) {
            if b >= 32 && b <= 126 {
                out.append(Character(Unicode.Scalar(b)))
            } else {
                out += "\\x" + String(b, radix: 16).leftPadded(to: 2)
            }
        }
        return "'" + out + (bytes.count > 80 ? "…'" : "'")
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
