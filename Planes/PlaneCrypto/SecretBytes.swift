import COpenSSL

/// Key material that is wiped (`OPENSSL_cleanse`) when the last reference goes away.
///
/// The bytes live in one heap allocation owned by this object and are never copied into Swift arrays by
/// PlaneCrypto; read them only inside ``withUnsafeBytes(_:)``. Immutable after initialisation, so sharing
/// between threads is safe (`@unchecked Sendable`). `description` never shows the bytes.
public final class SecretBytes: @unchecked Sendable, CustomStringConvertible {
    private let storage: UnsafeMutableRawBufferPointer

    /// Number of secret bytes.
    public var count: Int { storage.count }

    /// Allocates `count` bytes and lets `initialize` fill them. If it throws, the memory is wiped and freed.
    public init<E: Error>(
        count: Int,
        initializingWith initialize: (UnsafeMutableRawBufferPointer) throws(E) -> Void
    ) throws(E) {
        precondition(count >= 0, "SecretBytes: negative count")
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 16)
        let slice = UnsafeMutableRawBufferPointer(rebasing: storage[0..<count])
        slice.initializeMemory(as: UInt8.self, repeating: 0)
        do {
            try initialize(slice)
        } catch {
            OPENSSL_cleanse(storage.baseAddress, storage.count)
            storage.deallocate()
            throw error
        }
        self.storage = storage
        self.byteCount = count
    }

    private let byteCount: Int

    /// Copies `bytes`. The caller should wipe its own copy (see ``wipe(_:)``).
    public convenience init(copying bytes: some Collection<UInt8>) {
        self.init(count: bytes.count) { (buffer: UnsafeMutableRawBufferPointer) in
            _ = buffer.initializeMemory(as: UInt8.self, from: bytes)
        }
    }

    /// `count` bytes from the operating system's CSPRNG.
    public static func random(count: Int) throws(PlaneCryptoError) -> SecretBytes {
        try SecretBytes(count: count) { (buffer: UnsafeMutableRawBufferPointer) throws(PlaneCryptoError) in
            try SecureRandom.fill(buffer)
        }
    }

    deinit {
        OPENSSL_cleanse(storage.baseAddress, storage.count)
        storage.deallocate()
    }

    /// Calls `body` with the secret bytes; the pointer must not escape.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(rebasing: storage[0..<byteCount]))
    }

    /// Constant-time equality of two secrets.
    public func constantTimeEquals(_ other: SecretBytes) -> Bool {
        withUnsafeBytes { a in other.withUnsafeBytes { b in ConstantTime.equals(a, b) } }
    }

    /// Wipes a Swift array in place (for example a key read from a file before it became a `SecretBytes`).
    public static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
    }

    public var description: String { "SecretBytes(\(byteCount) bytes, redacted)" }
}

/// Comparisons whose running time does not depend on where the inputs differ.
public enum ConstantTime {
    /// True when `a` and `b` have the same length and contents (`CRYPTO_memcmp`; the length is not secret).
    public static func equals(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        if a.count == 0 { return true }
        return CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) == 0
    }

    /// True when `a` and `b` have the same length and contents.
    public static func equals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBytes { x in b.withUnsafeBytes { y in equals(x, y) } }
    }
}

/// The operating system's CSPRNG through OpenSSL (`RAND_bytes`).
public enum SecureRandom {
    /// `count` random bytes.
    public static func bytes(count: Int) throws(PlaneCryptoError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var result: Result<Void, PlaneCryptoError> = .success(())
        out.withUnsafeMutableBytes { b in result = Result { () throws(PlaneCryptoError) in try fill(b) } }
        try result.get()
        return out
    }

    /// Fills `buffer` with random bytes.
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) throws(PlaneCryptoError) {
        guard buffer.count > 0 else { return }
        guard RAND_bytes(buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(buffer.count)) == 1 else {
            throw PlaneCryptoError(.randomFailure, "RAND_bytes failed: \(OpenSSLErrorQueue.drain())")
        }
    }
}
