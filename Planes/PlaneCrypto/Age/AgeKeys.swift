/// An age X25519 recipient: a public key, written `age1…` (lowercase Bech32, human-readable part `age`).
public struct AgeRecipient: Sendable, Hashable, CustomStringConvertible {
    /// The 32-byte X25519 public key.
    public let publicKey: [UInt8]

    /// A recipient from its 32-byte public key.
    public init(publicKey: [UInt8]) throws(PlaneCryptoError) {
        guard publicKey.count == X25519PrivateKey.length else {
            throw PlaneCryptoError(.invalidLength, "age recipient key must be 32 bytes, found \(publicKey.count)")
        }
        self.publicKey = publicKey
    }

    /// Parses `age1…`; refuses other prefixes, uppercase, a bad checksum or a key that is not 32 bytes.
    public init(parsing text: String) throws(PlaneCryptoError) {
        let decoded: (hrp: String, data: [UInt8])
        do throws(PlaneCryptoError) { decoded = try Bech32.decode(text.utf8) } catch {
            throw PlaneCryptoError(.invalidEncoding, "age recipient: expected age1… (Bech32), \(error.reason)")
        }
        guard decoded.hrp == "age" else {
            throw PlaneCryptoError(
                .invalidEncoding,
                "age recipient: expected the lowercase prefix age1, found \(decoded.hrp)1"
            )
        }
        guard decoded.data.count == X25519PrivateKey.length else {
            throw PlaneCryptoError(
                .invalidEncoding,
                "age recipient: expected a 32-byte key, found \(decoded.data.count) bytes"
            )
        }
        publicKey = decoded.data
    }

    /// The `age1…` form.
    public var description: String { Bech32.encode(hrp: "age", data: publicKey) }
}

/// An age X25519 identity: a private key, written `AGE-SECRET-KEY-1…` (uppercase Bech32).
///
/// The private key lives in ``SecretBytes``; its text form is only ever produced into ``SecretBytes`` too.
public struct AgeIdentity: Sendable {
    let key: X25519PrivateKey
    private let secret: SecretBytes
    /// The matching recipient.
    public let recipient: AgeRecipient

    /// A fresh identity from the operating system's CSPRNG.
    public static func generate() throws(PlaneCryptoError) -> AgeIdentity {
        try AgeIdentity(secret: SecretBytes.random(count: X25519PrivateKey.length))
    }

    /// An identity from its 32 raw private-key bytes.
    public init(secret: SecretBytes) throws(PlaneCryptoError) {
        key = try X25519PrivateKey(secret: secret)
        self.secret = secret
        recipient = try AgeRecipient(publicKey: key.publicKey)
    }

    /// Parses one `AGE-SECRET-KEY-1…` line (no surrounding whitespace).
    public init(parsing text: some Collection<UInt8>) throws(PlaneCryptoError) {
        var decoded: (hrp: String, data: [UInt8])
        do throws(PlaneCryptoError) { decoded = try Bech32.decode(text) } catch {
            throw PlaneCryptoError(
                .invalidEncoding,
                "age identity: expected AGE-SECRET-KEY-1… (Bech32), \(error.reason)"
            )
        }
        defer { SecretBytes.wipe(&decoded.data) }
        guard decoded.hrp == "AGE-SECRET-KEY-" else {
            throw PlaneCryptoError(.invalidEncoding, "age identity: expected the uppercase prefix AGE-SECRET-KEY-1")
        }
        guard decoded.data.count == X25519PrivateKey.length else {
            throw PlaneCryptoError(
                .invalidEncoding,
                "age identity: expected a 32-byte key, found \(decoded.data.count) bytes"
            )
        }
        try self.init(secret: SecretBytes(copying: decoded.data))
    }

    /// The `AGE-SECRET-KEY-1…` form, in wiped memory.
    public func encoded() -> SecretBytes {
        var raw = secret.withUnsafeBytes { Array($0) }
        defer { SecretBytes.wipe(&raw) }
        var text = Bech32.encodeBytes(hrp: "age-secret-key-", data: raw)
        defer { SecretBytes.wipe(&text) }
        for i in text.indices where text[i] >= UInt8(ascii: "a") && text[i] <= UInt8(ascii: "z") { text[i] &= 0xdf }
        return SecretBytes(copying: text)
    }

    /// The identity file age-keygen writes: `# created: <created>`, `# public key: age1…`, the key line.
    /// `created` is an RFC 3339 time the caller reads from its clock.
    public func fileContents(created: String) -> SecretBytes {
        let head = Array("# created: \(created)\n# public key: \(recipient)\n".utf8)
        let key = encoded()
        return SecretBytes(count: head.count + key.count + 1) { out in
            out.copyBytes(from: head)
            key.withUnsafeBytes { k in UnsafeMutableRawBufferPointer(rebasing: out[head.count...]).copyBytes(from: k) }
            out[out.count - 1] = UInt8(ascii: "\n")
        }
    }

    /// Every identity in an identity file: lines that are empty or start with `#` are skipped (a CR before a
    /// line's LF is ignored, as age does); every other line must be an `AGE-SECRET-KEY-1…` key. At least one.
    public static func parseFile(_ contents: SecretBytes) throws(PlaneCryptoError) -> [AgeIdentity] {
        try contents.withUnsafeBytes { (bytes) throws(PlaneCryptoError) -> [AgeIdentity] in
            var identities: [AgeIdentity] = []
            var lineNumber = 0
            for var line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
                lineNumber += 1
                if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                if line.isEmpty || line.first == UInt8(ascii: "#") { continue }
                do throws(PlaneCryptoError) { identities.append(try AgeIdentity(parsing: line)) } catch {
                    throw PlaneCryptoError(.invalidEncoding, "identity file line \(lineNumber): \(error.reason)")
                }
            }
            guard !identities.isEmpty else {
                throw PlaneCryptoError(.invalidEncoding, "identity file holds no AGE-SECRET-KEY-1… line")
            }
            return identities
        }
    }
}
