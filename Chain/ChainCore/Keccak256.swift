// Keccak-256 as Ethereum uses it: Keccak-f[1600], rate 136 bytes, the original 0x01 padding (not SHA3's 0x06).
//
// OpenSSL 3.0 offers only SHA3, so this is ours, and it must keep pace with OpenSSL's assembly SHA3-256 (the same
// permutation); `swift run -c release delong-bench` measures both side by side. What makes it fast:
// - all 25 lanes live in locals across every block of a message, so the compiler keeps most in registers;
// - rounds are unrolled in pairs that alternate between two lane sets (a → e → a), so each output plane is
//   written as soon as its five inputs are read, which shortens live ranges and spills;
// - the lane-complementing transform (Keccak team, "Keccak implementation overview" §2.2; XKCP's
//   "Bebigokimisa"): six lanes are held complemented inside `absorb`, which turns most of chi's NOT-AND into
//   AND/OR and removes about 20 NOTs per round. The lanes are complemented on entry and exit, so the stored
//   state is always the plain one.

/// Ethereum's Keccak-256 hash function.
public struct Keccak256: Sendable {
    /// Bytes absorbed per permutation.
    public static let rate = 136

    private var state: [UInt64] = Array(repeating: 0, count: 25)
    private var buffer: [UInt8] = []

    /// An empty hasher.
    public init() { buffer.reserveCapacity(Self.rate) }

    /// The Keccak-256 digest of `bytes`.
    @inlinable
    public static func hash(_ bytes: [UInt8]) -> Hash32 {
        bytes.withUnsafeBytes { hash(UnsafeRawBufferPointer($0)) }
    }

    /// The Keccak-256 digest of the bytes in `bytes`.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> Hash32 {
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 25) { s in
            let s = s.baseAddress!
            s.initialize(repeating: 0, count: 25)
            var offset = 0
            let count = bytes.count
            if count >= rate, let base = bytes.baseAddress {
                let blocks = count / rate
                absorb(s, base, blocks: blocks)
                offset = blocks * rate
            }
            // Final block: the remainder, then 0x01 … 0x80 padding.
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: rate / 8) { block in
                let raw = UnsafeMutableRawBufferPointer(block)
                raw.initializeMemory(as: UInt8.self, repeating: 0)
                let tail = count - offset
                if tail > 0 {
                    raw.baseAddress!.copyMemory(from: bytes.baseAddress! + offset, byteCount: tail)
                }
                raw[tail] ^= 0x01
                raw[rate - 1] ^= 0x80
                absorbBlock(s, UnsafeRawPointer(raw.baseAddress!))
            }
            return Hash32(lanes: s[0], s[1], s[2], s[3])
        }
    }

    /// Absorbs more input.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update(UnsafeRawBufferPointer($0)) }
    }

    /// Absorbs more input.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var input = bytes[...]
        if !buffer.isEmpty {
            let take = min(Self.rate - buffer.count, input.count)
            buffer.append(contentsOf: input.prefix(take))
            input = input.dropFirst(take)
            if buffer.count == Self.rate {
                absorbBuffered()
            }
        }
        while input.count >= Self.rate {
            let base = input.base.baseAddress! + input.startIndex
            state.withUnsafeMutableBufferPointer { Self.absorbBlock($0.baseAddress!, base) }
            input = input.dropFirst(Self.rate)
        }
        buffer.append(contentsOf: input)
    }

    /// The digest of everything absorbed so far.
    public func finalize() -> Hash32 {
        var copy = self
        var block = copy.buffer
        block.append(contentsOf: repeatElement(0, count: Self.rate - block.count))
        block[copy.buffer.count] ^= 0x01
        block[Self.rate - 1] ^= 0x80
        copy.buffer = block
        copy.absorbBuffered()
        return Hash32(lanes: copy.state[0], copy.state[1], copy.state[2], copy.state[3])
    }

    private mutating func absorbBuffered() {
        buffer.withUnsafeBytes { block in
            state.withUnsafeMutableBufferPointer { Self.absorbBlock($0.baseAddress!, block.baseAddress!) }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    @inline(__always)
    private static func absorbBlock(_ s: UnsafeMutablePointer<UInt64>, _ block: UnsafeRawPointer) {
        absorb(s, block, blocks: 1)
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ n: UInt64) -> UInt64 { (x &<< n) | (x &>> (64 &- n)) }

    /// XORs `blocks` consecutive rate-sized blocks from `input` into the state at `s` (lane x + 5y at index
    /// x + 5y), running Keccak-f[1600] after each. The state stays in locals across blocks.
    static func absorb(_ s: UnsafeMutablePointer<UInt64>, _ input: UnsafeRawPointer, blocks: Int) {
        // Lanes 1, 2, 8, 12, 17 and 20 are held complemented (see the header comment).
        var a00 = s[0]
        var a10 = ~s[1]
        var a20 = ~s[2]
        var a30 = s[3]
        var a40 = s[4]
        var a01 = s[5]
        var a11 = s[6]
        var a21 = s[7]
        var a31 = ~s[8]
        var a41 = s[9]
        var a02 = s[10]
        var a12 = s[11]
        var a22 = ~s[12]
        var a32 = s[13]
        var a42 = s[14]
        var a03 = s[15]
        var a13 = s[16]
        var a23 = ~s[17]
        var a33 = s[18]
        var a43 = s[19]
        var a04 = ~s[20]
        var a14 = s[21]
        var a24 = s[22]
        var a34 = s[23]
        var a44 = s[24]
        // Rounds alternate between the a and e lane sets so each output plane can be written as soon as
        // its five inputs are read; that keeps fewer values live than transforming in place.
        var e00: UInt64
        var e10: UInt64
        var e20: UInt64
        var e30: UInt64
        var e40: UInt64
        var e01: UInt64
        var e11: UInt64
        var e21: UInt64
        var e31: UInt64
        var e41: UInt64
        var e02: UInt64
        var e12: UInt64
        var e22: UInt64
        var e32: UInt64
        var e42: UInt64
        var e03: UInt64
        var e13: UInt64
        var e23: UInt64
        var e33: UInt64
        var e43: UInt64
        var e04: UInt64
        var e14: UInt64
        var e24: UInt64
        var e34: UInt64
        var e44: UInt64
        let constants = roundConstantTable
        for blockIndex in 0..<blocks {
            let block = input + blockIndex &* rate
            a00 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
            a10 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            a20 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
            a30 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
            a40 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
            a01 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 40, as: UInt64.self))
            a11 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 48, as: UInt64.self))
            a21 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 56, as: UInt64.self))
            a31 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 64, as: UInt64.self))
            a41 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 72, as: UInt64.self))
            a02 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 80, as: UInt64.self))
            a12 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 88, as: UInt64.self))
            a22 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 96, as: UInt64.self))
            a32 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 104, as: UInt64.self))
            a42 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 112, as: UInt64.self))
            a03 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 120, as: UInt64.self))
            a13 ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 128, as: UInt64.self))
            for round in stride(from: 0, to: 24, by: 2) {
                do {  // round 2i: a -> e
                    let c0 = a00 ^ a01 ^ a02 ^ a03 ^ a04
                    let c1 = a10 ^ a11 ^ a12 ^ a13 ^ a14
                    let c2 = a20 ^ a21 ^ a22 ^ a23 ^ a24
                    let c3 = a30 ^ a31 ^ a32 ^ a33 ^ a34
                    let c4 = a40 ^ a41 ^ a42 ^ a43 ^ a44
                    let d0 = c4 ^ rotl(c1, 1)
                    let d1 = c0 ^ rotl(c2, 1)
                    let d2 = c1 ^ rotl(c3, 1)
                    let d3 = c2 ^ rotl(c4, 1)
                    let d4 = c3 ^ rotl(c0, 1)
                    do {
                        let b0 = a00 ^ d0
                        let b1 = rotl(a11 ^ d1, 44)
                        let b2 = rotl(a22 ^ d2, 43)
                        let b3 = rotl(a33 ^ d3, 21)
                        let b4 = rotl(a44 ^ d4, 14)
                        e00 = b0 ^ (b1 | b2) ^ constants[round]
                        e10 = b1 ^ (~b2 | b3)
                        e20 = b2 ^ (b3 & b4)
                        e30 = b3 ^ (b4 | b0)
                        e40 = b4 ^ (b0 & b1)
                    }
                    do {
                        let b0 = rotl(a30 ^ d3, 28)
                        let b1 = rotl(a41 ^ d4, 20)
                        let b2 = rotl(a02 ^ d0, 3)
                        let b3 = rotl(a13 ^ d1, 45)
                        let b4 = rotl(a24 ^ d2, 61)
                        e01 = b0 ^ (b1 | b2)
                        e11 = b1 ^ (b2 & b3)
                        e21 = b2 ^ (b3 | ~b4)
                        e31 = b3 ^ (b4 | b0)
                        e41 = b4 ^ (b0 & b1)
                    }
                    do {
                        let b0 = rotl(a10 ^ d1, 1)
                        let b1 = rotl(a21 ^ d2, 6)
                        let b2 = rotl(a32 ^ d3, 25)
                        let b3 = rotl(a43 ^ d4, 8)
                        let b4 = rotl(a04 ^ d0, 18)
                        e02 = b0 ^ (b1 | b2)
                        e12 = b1 ^ (b2 & b3)
                        e22 = b2 ^ (~b3 & b4)
                        e32 = ~b3 ^ (b4 | b0)
                        e42 = b4 ^ (b0 & b1)
                    }
                    do {
                        let b0 = rotl(a40 ^ d4, 27)
                        let b1 = rotl(a01 ^ d0, 36)
                        let b2 = rotl(a12 ^ d1, 10)
                        let b3 = rotl(a23 ^ d2, 15)
                        let b4 = rotl(a34 ^ d3, 56)
                        e03 = b0 ^ (b1 & b2)
                        e13 = b1 ^ (b2 | b3)
                        e23 = b2 ^ (~b3 | b4)
                        e33 = ~b3 ^ (b4 & b0)
                        e43 = b4 ^ (b0 | b1)
                    }
                    do {
                        let b0 = rotl(a20 ^ d2, 62)
                        let b1 = rotl(a31 ^ d3, 55)
                        let b2 = rotl(a42 ^ d4, 39)
                        let b3 = rotl(a03 ^ d0, 41)
                        let b4 = rotl(a14 ^ d1, 2)
                        e04 = b0 ^ (~b1 & b2)
                        e14 = ~b1 ^ (b2 | b3)
                        e24 = b2 ^ (b3 & b4)
                        e34 = b3 ^ (b4 | b0)
                        e44 = b4 ^ (b0 & b1)
                    }
                }
                do {  // round 2i+1: e -> a
                    let c0 = e00 ^ e01 ^ e02 ^ e03 ^ e04
                    let c1 = e10 ^ e11 ^ e12 ^ e13 ^ e14
                    let c2 = e20 ^ e21 ^ e22 ^ e23 ^ e24
                    let c3 = e30 ^ e31 ^ e32 ^ e33 ^ e34
                    let c4 = e40 ^ e41 ^ e42 ^ e43 ^ e44
                    let d0 = c4 ^ rotl(c1, 1)
                    let d1 = c0 ^ rotl(c2, 1)
                    let d2 = c1 ^ rotl(c3, 1)
                    let d3 = c2 ^ rotl(c4, 1)
                    let d4 = c3 ^ rotl(c0, 1)
                    do {
                        let b0 = e00 ^ d0
                        let b1 = rotl(e11 ^ d1, 44)
                        let b2 = rotl(e22 ^ d2, 43)
                        let b3 = rotl(e33 ^ d3, 21)
                        let b4 = rotl(e44 ^ d4, 14)
                        a00 = b0 ^ (b1 | b2) ^ constants[round + 1]
                        a10 = b1 ^ (~b2 | b3)
                        a20 = b2 ^ (b3 & b4)
                        a30 = b3 ^ (b4 | b0)
                        a40 = b4 ^ (b0 & b1)
                    }
                    do {
                        let b0 = rotl(e30 ^ d3, 28)
                        let b1 = rotl(e41 ^ d4, 20)
                        let b2 = rotl(e02 ^ d0, 3)
                        let b3 = rotl(e13 ^ d1, 45)
                        let b4 = rotl(e24 ^ d2, 61)
                        a01 = b0 ^ (b1 | b2)
                        a11 = b1 ^ (b2 & b3)
                        a21 = b2 ^ (b3 | ~b4)
                        a31 = b3 ^ (b4 | b0)
                        a41 = b4 ^ (b0 & b1)
                    }
                    do {
                        let b0 = rotl(e10 ^ d1, 1)
                        let b1 = rotl(e21 ^ d2, 6)
                        let b2 = rotl(e32 ^ d3, 25)
                        let b3 = rotl(e43 ^ d4, 8)
                        let b4 = rotl(e04 ^ d0, 18)
                        a02 = b0 ^ (b1 | b2)
                        a12 = b1 ^ (b2 & b3)
                        a22 = b2 ^ (~b3 & b4)
                        a32 = ~b3 ^ (b4 | b0)
                        a42 = b4 ^ (b0 & b1)
                    }
                    do {
                        let b0 = rotl(e40 ^ d4, 27)
                        let b1 = rotl(e01 ^ d0, 36)
                        let b2 = rotl(e12 ^ d1, 10)
                        let b3 = rotl(e23 ^ d2, 15)
                        let b4 = rotl(e34 ^ d3, 56)
                        a03 = b0 ^ (b1 & b2)
                        a13 = b1 ^ (b2 | b3)
                        a23 = b2 ^ (~b3 | b4)
                        a33 = ~b3 ^ (b4 & b0)
                        a43 = b4 ^ (b0 | b1)
                    }
                    do {
                        let b0 = rotl(e20 ^ d2, 62)
                        let b1 = rotl(e31 ^ d3, 55)
                        let b2 = rotl(e42 ^ d4, 39)
                        let b3 = rotl(e03 ^ d0, 41)
                        let b4 = rotl(e14 ^ d1, 2)
                        a04 = b0 ^ (~b1 & b2)
                        a14 = ~b1 ^ (b2 | b3)
                        a24 = b2 ^ (b3 & b4)
                        a34 = b3 ^ (b4 | b0)
                        a44 = b4 ^ (b0 & b1)
                    }
                }
            }
        }
        s[0] = a00
        s[1] = ~a10
        s[2] = ~a20
        s[3] = a30
        s[4] = a40
        s[5] = a01
        s[6] = a11
        s[7] = a21
        s[8] = ~a31
        s[9] = a41
        s[10] = a02
        s[11] = a12
        s[12] = ~a22
        s[13] = a32
        s[14] = a42
        s[15] = a03
        s[16] = a13
        s[17] = ~a23
        s[18] = a33
        s[19] = a43
        s[20] = ~a04
        s[21] = a14
        s[22] = a24
        s[23] = a34
        s[24] = a44
    }

    private static let roundConstantTable: [UInt64] = [
        0x0000_0000_0000_0001, 0x0000_0000_0000_8082, 0x8000_0000_0000_808A, 0x8000_0000_8000_8000,
        0x0000_0000_0000_808B, 0x0000_0000_8000_0001, 0x8000_0000_8000_8081, 0x8000_0000_0000_8009,
        0x0000_0000_0000_008A, 0x0000_0000_0000_0088, 0x0000_0000_8000_8009, 0x0000_0000_8000_000A,
        0x0000_0000_8000_808B, 0x8000_0000_0000_008B, 0x8000_0000_0000_8089, 0x8000_0000_0000_8003,
        0x8000_0000_0000_8002, 0x8000_0000_0000_0080, 0x0000_0000_0000_800A, 0x8000_0000_8000_000A,
        0x8000_0000_8000_8081, 0x8000_0000_0000_8080, 0x0000_0000_8000_0001, 0x8000_0000_8000_8008,
    ]
}

extension Keccak256 {
    /// The Keccak-256 digest of a UTF-8 string.
    public static func hash(utf8 string: String) -> Hash32 { hash(Array(string.utf8)) }
}
