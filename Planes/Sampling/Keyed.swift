import Foundation
import PlaneCrypto

/// HMAC-SHA-256 (RFC 2104) under a per-sample secret drawn from the OS. The secret lives only in this object;
/// its padded key blocks are wiped when it is released. It is never written anywhere.
final class PseudonymKey {
    private var inner: [UInt8]
    private var outer: [UInt8]

    /// A fresh 32-byte secret from the OS random source.
    init() throws(SamplingError) {
        var secret: [UInt8]
        do {
            secret = try SecureRandom.bytes(count: 32)
        } catch {
            throw SamplingError(.crypto, "the OS random source failed: \(error)")
        }
        inner = [UInt8](repeating: 0x36, count: 64)
        outer = [UInt8](repeating: 0x5c, count: 64)
        for i in 0..<secret.count {
            inner[i] ^= secret[i]
            outer[i] ^= secret[i]
        }
        SecretBytes.wipe(&secret)
    }

    deinit {
        SecretBytes.wipe(&inner)
        SecretBytes.wipe(&outer)
    }

    /// One reused digest context (this object is used from one thread).
    private let context = DigestContext(.sha256)
    private var pseudonyms: [String: String] = [:]
    private var shifts: [String: Int] = [:]

    /// HMAC-SHA-256 of `domain` ‖ 0x00 ‖ `message`.
    func mac(domain: String, _ message: String) -> [UInt8] {
        context.reset()
        context.update(inner)
        var tail = Array(domain.utf8)
        tail.append(0)
        tail.append(contentsOf: message.utf8)
        context.update(tail)
        let innerHash = context.finalize()
        context.reset()
        context.update(outer)
        context.update(innerHash)
        return context.finalize()
    }

    /// The pseudonym of a key value: the first 16 bytes of its HMAC, as 32 lowercase hex digits.
    func pseudonym(_ value: String) -> String {
        if let known = pseudonyms[value] { return known }
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for byte in mac(domain: "delong-sample-key", value).prefix(16) {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        let pseudonym = String(decoding: out, as: UTF8.self)
        pseudonyms[value] = pseudonym
        return pseudonym
    }

    /// The per-entity date shift in days, in -maxDays…maxDays.
    func shiftDays(entity: String, maxDays: Int) -> Int {
        if let known = shifts[entity] { return known }
        let bytes = mac(domain: "delong-sample-date-shift", entity)
        var value: UInt64 = 0
        for byte in bytes.prefix(8) { value = value << 8 | UInt64(byte) }
        let shift = Int(value % UInt64(2 * maxDays + 1)) - maxDays
        shifts[entity] = shift
        return shift
    }
}

/// SplitMix64: a small, seedable PRNG for the row draw and the noise (not for secrets).
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    mutating func unit() -> Double {
        (Double(next() >> 11) + 0.5) / Double(1 << 53)
    }

    /// Laplace(0, scale).
    mutating func laplace(scale: Double) -> Double {
        let u = unit() - 0.5
        return -scale * (u < 0 ? -1.0 : 1.0) * log(1 - 2 * abs(u))
    }
}
