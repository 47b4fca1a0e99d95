import Glibc

/// The age v1 file format (age-encryption.org/v1), X25519 recipients only.
///
/// A file is a textual header (one `X25519` stanza per recipient wrapping a random 16-byte file key, and an
/// HMAC-SHA-256 over the header), a 16-byte nonce, and the payload: ChaCha20-Poly1305 STREAM in 64 KiB
/// chunks, each nonce an 11-byte big-endian counter and a last-chunk flag byte. Encryption and decryption
/// stream through ``AgeInput`` / ``AgeOutput`` callbacks, one chunk at a time. File keys and stream keys are
/// ``SecretBytes`` (wiped when released); plaintext buffers are wiped after use.
public enum Age {
    /// Plaintext bytes per payload chunk.
    public static let chunkSize = 64 * 1024
    /// Ciphertext bytes per full payload chunk (chunk and tag).
    public static let encryptedChunkSize = chunkSize + ChaCha20Poly1305.tagLength
    static let fileKeyLength = 16
    static let payloadNonceLength = 16
    static let x25519Label = Array("age-encryption.org/v1/X25519".utf8)

    // MARK: decryption

    /// Decrypts the age file read from `input` with the first of `identities` that opens a stanza, handing
    /// each authenticated chunk to `output`.
    ///
    /// A chunk's plaintext reaches `output` only after its tag verified; a chunk that fails is wiped and never
    /// released. A stream that fails (a later bad chunk, truncation, trailing data) has released the chunks
    /// before it: the caller must discard what `output` received whenever this throws (``decryptFile(atPath:toPath:identities:)``
    /// does). Errors: ``PlaneCryptoError/Code/ageHeader``, ``PlaneCryptoError/Code/ageNoMatch``,
    /// ``PlaneCryptoError/Code/ageHeaderMAC``, ``PlaneCryptoError/Code/agePayload`` and the callbacks' own.
    public static func decrypt(
        identities: [AgeIdentity],
        input: @escaping AgeInput,
        output: AgeOutput
    ) throws(PlaneCryptoError) {
        let reader = AgeBufferedInput(input)
        let header = try AgeHeader.parse(reader)
        if header.stanzas.contains(where: { $0.type == "scrypt" }) && header.stanzas.count != 1 {
            throw PlaneCryptoError(.ageHeader, "age header: an scrypt stanza must be the only stanza")
        }
        let fileKey = try unwrapFileKey(header.stanzas, identities: identities)
        let hmacKey = try HKDF.sha256(key: fileKey, salt: [], info: Array("header".utf8))
        let mac = try HMAC.sha256(key: hmacKey, data: header.bytesWithoutMAC())
        guard ConstantTime.equals(mac, header.mac) else {
            throw PlaneCryptoError(.ageHeaderMAC, "age header: the header MAC does not verify under the file key")
        }
        var nonce = [UInt8](repeating: 0, count: payloadNonceLength)
        let got = try nonce.withMutableBytes { (n) throws(PlaneCryptoError) in try reader.read(into: n) }
        guard got == payloadNonceLength else {
            throw PlaneCryptoError(
                .ageHeader,
                "age payload: expected a 16-byte nonce after the header, found \(got) bytes"
            )
        }
        let streamKey = try HKDF.sha256(key: fileKey, salt: nonce, info: Array("payload".utf8))
        try openStream(ChaCha20Poly1305(key: streamKey), reader: reader, output: output)
    }

    /// The file key from the first X25519 stanza one of `identities` opens. A malformed X25519 stanza (argument
    /// count, share encoding or length, body length, a low-order share) is a header failure, as in age;
    /// stanzas of other types are skipped.
    static func unwrapFileKey(_ stanzas: [AgeStanza], identities: [AgeIdentity]) throws(PlaneCryptoError) -> SecretBytes
    {
        for stanza in stanzas where stanza.type == "X25519" {
            guard stanza.arguments.count == 1, let share = AgeBase64.decode(stanza.arguments[0].utf8),
                share.count == X25519PrivateKey.length
            else {
                throw PlaneCryptoError(
                    .ageHeader,
                    "age X25519 stanza: expected one argument, the canonical base64 of a 32-byte share"
                )
            }
            guard stanza.body.count == fileKeyLength + ChaCha20Poly1305.tagLength else {
                throw PlaneCryptoError(
                    .ageHeader,
                    "age X25519 stanza: expected a 32-byte body (wrapped 16-byte file key), found \(stanza.body.count) bytes"
                )
            }
            for identity in identities {
                let shared: SecretBytes
                do throws(PlaneCryptoError) { shared = try identity.key.sharedSecret(with: share) } catch {
                    throw PlaneCryptoError(.ageHeader, "age X25519 stanza: \(error.reason)")
                }
                let wrapKey = try HKDF.sha256(
                    key: shared,
                    salt: share + identity.recipient.publicKey,
                    info: x25519Label
                )
                let aead = try ChaCha20Poly1305(key: wrapKey)
                var opened = false
                let fileKey = try SecretBytes(count: fileKeyLength) { (out) throws(PlaneCryptoError) in
                    opened = try stanza.body.withBytes { (body) throws(PlaneCryptoError) -> Bool in
                        try zeroNonce.withBytes { (n) throws(PlaneCryptoError) -> Bool in
                            try aead.open(
                                nonce: n,
                                ciphertext: UnsafeRawBufferPointer(rebasing: body[0..<fileKeyLength]),
                                tag: UnsafeRawBufferPointer(rebasing: body[fileKeyLength...]),
                                plaintext: out
                            )
                        }
                    }
                }
                if opened { return fileKey }
            }
        }
        throw PlaneCryptoError(.ageNoMatch, "age: no identity matches any recipient stanza of the file")
    }

    static let zeroNonce = [UInt8](repeating: 0, count: ChaCha20Poly1305.nonceLength)

    /// The chunk nonce: `counter` as 11 big-endian bytes, then the last-chunk flag.
    static func chunkNonce(_ counter: UInt64, last: Bool) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: ChaCha20Poly1305.nonceLength)
        for i in 0..<8 { nonce[10 - i] = UInt8(truncatingIfNeeded: counter >> UInt64(8 * i)) }
        nonce[11] = last ? 1 : 0
        return nonce
    }

    private static func openStream(
        _ aead: ChaCha20Poly1305,
        reader: AgeBufferedInput,
        output: AgeOutput
    ) throws(PlaneCryptoError) {
        var sealed = [UInt8](repeating: 0, count: encryptedChunkSize)
        var plain = [UInt8](repeating: 0, count: chunkSize)
        defer { SecretBytes.wipe(&plain) }
        var counter: UInt64 = 0
        while true {
            let n = try sealed.withMutableBytes { (s) throws(PlaneCryptoError) in try reader.read(into: s) }
            guard n > 0 else {
                throw PlaneCryptoError(
                    .agePayload,
                    "age payload: the file ends after chunk \(counter) without a final chunk (truncated)"
                )
            }
            guard n >= ChaCha20Poly1305.tagLength else {
                throw PlaneCryptoError(
                    .agePayload,
                    "age payload: chunk \(counter) is shorter than its tag (\(n) bytes)"
                )
            }
            var last = n < encryptedChunkSize
            if last && counter > 0 && n == ChaCha20Poly1305.tagLength {
                throw PlaneCryptoError(
                    .agePayload,
                    "age payload: the final chunk \(counter) is empty; only an empty file may end with an empty chunk"
                )
            }
            let length = n - ChaCha20Poly1305.tagLength
            var ok = try open(aead, sealed, length: length, counter: counter, last: last, into: &plain)
            if !ok && !last {
                // A full-length chunk may be the final one.
                last = true
                ok = try open(aead, sealed, length: length, counter: counter, last: true, into: &plain)
            }
            guard ok else {
                throw PlaneCryptoError(.agePayload, "age payload: chunk \(counter) failed authentication")
            }
            if last && n == encryptedChunkSize {
                var probe: UInt8 = 0
                let more = try withUnsafeMutableBytes(of: &probe) { (p) throws(PlaneCryptoError) in
                    try reader.read(into: p)
                }
                guard more == 0 else {
                    SecretBytes.wipe(&plain)
                    throw PlaneCryptoError(.agePayload, "age payload: data follows the final chunk \(counter)")
                }
            }
            try plain.withBytes { (p) throws(PlaneCryptoError) in
                try output(UnsafeRawBufferPointer(rebasing: p[0..<length]))
            }
            if last { return }
            guard counter < UInt64.max else {
                throw PlaneCryptoError(.agePayload, "age payload: chunk counter overflow")
            }
            counter += 1
        }
    }

    private static func open(
        _ aead: ChaCha20Poly1305,
        _ sealed: [UInt8],
        length: Int,
        counter: UInt64,
        last: Bool,
        into plain: inout [UInt8]
    ) throws(PlaneCryptoError) -> Bool {
        let nonce = chunkNonce(counter, last: last)
        return try plain.withMutableBytes { (p) throws(PlaneCryptoError) -> Bool in
            try sealed.withBytes { (s) throws(PlaneCryptoError) -> Bool in
                try nonce.withBytes { (n) throws(PlaneCryptoError) -> Bool in
                    try aead.open(
                        nonce: n,
                        ciphertext: UnsafeRawBufferPointer(rebasing: s[0..<length]),
                        tag: UnsafeRawBufferPointer(rebasing: s[length..<(length + ChaCha20Poly1305.tagLength)]),
                        plaintext: UnsafeMutableRawBufferPointer(rebasing: p[0..<length])
                    )
                }
            }
        }
    }

    // MARK: convenience

    /// Encrypts `plaintext` to `recipients` in memory.
    public static func encrypt(_ plaintext: [UInt8], to recipients: [AgeRecipient]) throws(PlaneCryptoError) -> [UInt8]
    {
        var out: [UInt8] = []
        let encryptor = try AgeEncryptor(recipients: recipients) { (b) throws(PlaneCryptoError) in out += b }
        try plaintext.withBytes { (p) throws(PlaneCryptoError) in try encryptor.write(p) }
        try encryptor.finish()
        return out
    }

    /// Decrypts an age file in memory; nothing is returned unless the whole file authenticated.
    public static func decrypt(_ file: [UInt8], identities: [AgeIdentity]) throws(PlaneCryptoError) -> [UInt8] {
        var offset = 0
        var out: [UInt8] = []
        do throws(PlaneCryptoError) {
            try decrypt(
                identities: identities,
                input: { (buffer) throws(PlaneCryptoError) -> Int in
                    let n = min(buffer.count, file.count - offset)
                    file.withUnsafeBytes { f in
                        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: f[offset..<(offset + n)]))
                    }
                    offset += n
                    return n
                },
                output: { (b) throws(PlaneCryptoError) in out += b }
            )
        } catch {
            SecretBytes.wipe(&out)
            throw error
        }
        return out
    }

    /// Encrypts the file at `source` to `recipients` into a new file `destination` (created exclusively,
    /// mode 0600), streaming; on failure the partial destination is removed.
    public static func encryptFile(
        atPath source: String,
        toPath destination: String,
        recipients: [AgeRecipient]
    ) throws(PlaneCryptoError) {
        let input = try FileIO.openRead(source)
        defer { close(input) }
        let outputFD = try FileIO.createExclusive(destination)
        do throws(PlaneCryptoError) {
            let encryptor = try AgeEncryptor(recipients: recipients) { (b) throws(PlaneCryptoError) in
                try FileIO.writeAll(outputFD, b, path: destination)
            }
            var buffer = [UInt8](repeating: 0, count: chunkSize)
            defer { SecretBytes.wipe(&buffer) }
            while true {
                let n = try buffer.withMutableBytes { (b) throws(PlaneCryptoError) in
                    try FileIO.read(input, into: b, path: source)
                }
                if n == 0 { break }
                try buffer.withBytes { (b) throws(PlaneCryptoError) in
                    try encryptor.write(UnsafeRawBufferPointer(rebasing: b[0..<n]))
                }
            }
            try encryptor.finish()
            try FileIO.syncAndClose(outputFD, path: destination)
        } catch {
            close(outputFD)
            unlink(destination)
            throw error
        }
    }

    /// Decrypts the age file at `source` into a new file `destination` (mode 0600), streaming. The output is
    /// written under a temporary name and renamed into place only when the whole file authenticated, so a
    /// failed, tampered or truncated input leaves no plaintext at `destination`.
    public static func decryptFile(
        atPath source: String,
        toPath destination: String,
        identities: [AgeIdentity]
    ) throws(PlaneCryptoError) {
        let input = try FileIO.openRead(source)
        defer { close(input) }
        let partial = destination + ".partial-\(getpid())"
        let outputFD = try FileIO.createExclusive(partial)
        do throws(PlaneCryptoError) {
            try decrypt(
                identities: identities,
                input: { (b) throws(PlaneCryptoError) -> Int in try FileIO.read(input, into: b, path: source) },
                output: { (b) throws(PlaneCryptoError) in try FileIO.writeAll(outputFD, b, path: partial) }
            )
            try FileIO.syncAndClose(outputFD, path: partial)
        } catch {
            close(outputFD)
            unlink(partial)
            throw error
        }
        guard link(partial, destination) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(partial)
            throw PlaneCryptoError(.ageIO, "cannot create \(destination): \(reason)")
        }
        unlink(partial)
    }
}

/// Push-style age encryption: ``write(_:)`` plaintext in any pieces, then ``finish()``. Output goes to the
/// callback a header and then one chunk at a time; at most one chunk of plaintext is held.
public final class AgeEncryptor {
    private let output: AgeOutput
    private let aead: ChaCha20Poly1305
    private var pending: [UInt8]
    private var pendingCount = 0
    private var sealed: [UInt8]
    private var counter: UInt64 = 0
    private var finished = false

    /// Writes the header (one X25519 stanza per recipient) and the payload nonce to `output`.
    public init(recipients: [AgeRecipient], output: @escaping AgeOutput) throws(PlaneCryptoError) {
        guard !recipients.isEmpty else {
            throw PlaneCryptoError(.invalidKey, "age: at least one recipient is required")
        }
        self.output = output
        let fileKey = try SecretBytes.random(count: Age.fileKeyLength)
        var stanzas: [AgeStanza] = []
        for recipient in recipients {
            let ephemeral = try X25519PrivateKey()
            let shared = try ephemeral.sharedSecret(with: recipient.publicKey)
            let wrapKey = try HKDF.sha256(
                key: shared,
                salt: ephemeral.publicKey + recipient.publicKey,
                info: Age.x25519Label
            )
            var body = [UInt8](repeating: 0, count: Age.fileKeyLength + ChaCha20Poly1305.tagLength)
            let aead = try ChaCha20Poly1305(key: wrapKey)
            try fileKey.withUnsafeBytes { (k) throws(PlaneCryptoError) in
                try body.withMutableBytes { (b) throws(PlaneCryptoError) in
                    try Age.zeroNonce.withBytes { (n) throws(PlaneCryptoError) in
                        try aead.seal(
                            nonce: n,
                            plaintext: k,
                            ciphertext: UnsafeMutableRawBufferPointer(rebasing: b[0..<Age.fileKeyLength]),
                            tag: UnsafeMutableRawBufferPointer(rebasing: b[Age.fileKeyLength...])
                        )
                    }
                }
            }
            stanzas.append(
                AgeStanza(
                    type: "X25519",
                    arguments: [String(decoding: AgeBase64.encode(ephemeral.publicKey), as: UTF8.self)],
                    body: body
                )
            )
        }
        let unsigned = AgeHeader(stanzas: stanzas, mac: [])
        let hmacKey = try HKDF.sha256(key: fileKey, salt: [], info: Array("header".utf8))
        let mac = try HMAC.sha256(key: hmacKey, data: unsigned.bytesWithoutMAC())
        let nonce = try SecureRandom.bytes(count: Age.payloadNonceLength)
        let streamKey = try HKDF.sha256(key: fileKey, salt: nonce, info: Array("payload".utf8))
        aead = try ChaCha20Poly1305(key: streamKey)
        pending = [UInt8](repeating: 0, count: Age.chunkSize)
        sealed = [UInt8](repeating: 0, count: Age.encryptedChunkSize)
        let head = AgeHeader(stanzas: stanzas, mac: mac).encoded() + nonce
        try head.withBytes { (h) throws(PlaneCryptoError) in try output(h) }
    }

    deinit { SecretBytes.wipe(&pending) }

    /// Encrypts `plaintext`, emitting every chunk that is full and known not to be the last.
    public func write(_ plaintext: UnsafeRawBufferPointer) throws(PlaneCryptoError) {
        precondition(!finished, "AgeEncryptor: write after finish")
        var offset = 0
        while offset < plaintext.count {
            if pendingCount == Age.chunkSize {
                // More data follows, so the full pending chunk is not the last.
                try emit(last: false)
            }
            let n = min(Age.chunkSize - pendingCount, plaintext.count - offset)
            pending.withUnsafeMutableBytes { p in
                UnsafeMutableRawBufferPointer(rebasing: p[pendingCount..<(pendingCount + n)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: plaintext[offset..<(offset + n)]))
            }
            pendingCount += n
            offset += n
        }
    }

    /// Encrypts the final chunk (empty only when the whole plaintext is empty).
    public func finish() throws(PlaneCryptoError) {
        precondition(!finished, "AgeEncryptor: finish called twice")
        try emit(last: true)
        finished = true
        SecretBytes.wipe(&pending)
    }

    private func emit(last: Bool) throws(PlaneCryptoError) {
        let nonce = Age.chunkNonce(counter, last: last)
        let length = pendingCount
        try pending.withBytes { (p) throws(PlaneCryptoError) in
            try sealed.withMutableBytes { (s) throws(PlaneCryptoError) in
                try nonce.withBytes { (n) throws(PlaneCryptoError) in
                    try aead.seal(
                        nonce: n,
                        plaintext: UnsafeRawBufferPointer(rebasing: p[0..<length]),
                        ciphertext: UnsafeMutableRawBufferPointer(rebasing: s[0..<length]),
                        tag: UnsafeMutableRawBufferPointer(rebasing: s[length..<(length + ChaCha20Poly1305.tagLength)])
                    )
                }
            }
        }
        try sealed.withBytes { (s) throws(PlaneCryptoError) in
            try output(UnsafeRawBufferPointer(rebasing: s[0..<(length + ChaCha20Poly1305.tagLength)]))
        }
        pendingCount = 0
        counter += 1
    }
}

/// The POSIX file calls of the age file helpers, errors as ``PlaneCryptoError/Code/ageIO``.
enum FileIO {
    static func failure(_ what: String, _ path: String) -> PlaneCryptoError {
        PlaneCryptoError(.ageIO, "cannot \(what) \(path): \(String(cString: strerror(errno)))")
    }

    static func openRead(_ path: String) throws(PlaneCryptoError) -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("open", path) }
        return fd
    }

    static func createExclusive(_ path: String) throws(PlaneCryptoError) -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("create", path) }
        return fd
    }

    static func read(
        _ fd: Int32,
        into buffer: UnsafeMutableRawBufferPointer,
        path: String
    ) throws(PlaneCryptoError) -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw failure("read", path) }
            return n
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(PlaneCryptoError) {
        var written = 0
        while written < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw failure("write", path) }
            written += n
        }
    }

    static func syncAndClose(_ fd: Int32, path: String) throws(PlaneCryptoError) {
        guard fsync(fd) == 0 else { throw failure("sync", path) }
        guard close(fd) == 0 else { throw failure("close", path) }
    }
}
