// Keccak-256 as Ethereum uses it: Keccak-f[1600], rate 136 bytes, the original 0x01 padding (not SHA3's 0x06).
//
// OpenSSL 3.0 offers only SHA3, so this is ours. The permutation keeps all 25 lanes in locals and unrolls one
// round, which lets the compiler hold the state in registers; that is what makes it competitive with OpenSSL's
// assembly SHA3-256 (same permutation). `contrib/benchmarks` measures both side by side.

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
                while offset + rate <= count {
                    absorbBlock(s, base + offset)
                    offset += rate
                }
            }
            // Final block: the remainder, then 0x01 … 0x80 padding.
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: rate / 8) { block in
                let raw = UnsafeMutableRawBufferPointer(block)
                raw.initializeMemory(as: UInt8.self, repeating: 0)
                let tail = count - offset
                if tail > 0 { raw.baseAddress!.copyMemory(from: bytes.baseAddress! + offset, byteCount: tail) }
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
        for i in 0..<(rate / 8) {
            s[i] ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
        }
        permute(s)
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ n: UInt64) -> UInt64 { (x << n) | (x >> (64 - n)) }

    /// Keccak-f[1600]: 24 rounds over the state at `s` (lane x + 5y at index x + 5y).
    static func permute(_ s: UnsafeMutablePointer<UInt64>) {
        var a00 = s[0]
        var a10 = s[1]
        var a20 = s[2]
        var a30 = s[3]
        var a40 = s[4]
        var a01 = s[5]
        var a11 = s[6]
        var a21 = s[7]
        var a31 = s[8]
        var a41 = s[9]
        var a02 = s[10]
        var a12 = s[11]
        var a22 = s[12]
        var a32 = s[13]
        var a42 = s[14]
        var a03 = s[15]
        var a13 = s[16]
        var a23 = s[17]
        var a33 = s[18]
        var a43 = s[19]
        var a04 = s[20]
        var a14 = s[21]
        var a24 = s[22]
        var a34 = s[23]
        var a44 = s[24]
        for round in 0..<24 {
        // theta
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
        // rho and pi: b[y][2x+3y] = rotl(a[x][y] ^ d[x], r[x][y])
        let b00 = (a00 ^ d0)
        let b13 = rotl(a01 ^ d0, 36)
        let b21 = rotl(a02 ^ d0, 3)
        let b34 = rotl(a03 ^ d0, 41)
        let b42 = rotl(a04 ^ d0, 18)
        let b02 = rotl(a10 ^ d1, 1)
        let b10 = rotl(a11 ^ d1, 44)
        let b23 = rotl(a12 ^ d1, 10)
        let b31 = rotl(a13 ^ d1, 45)
        let b44 = rotl(a14 ^ d1, 2)
        let b04 = rotl(a20 ^ d2, 62)
        let b12 = rotl(a21 ^ d2, 6)
        let b20 = rotl(a22 ^ d2, 43)
        let b33 = rotl(a23 ^ d2, 15)
        let b41 = rotl(a24 ^ d2, 61)
        let b01 = rotl(a30 ^ d3, 28)
        let b14 = rotl(a31 ^ d3, 55)
        let b22 = rotl(a32 ^ d3, 25)
        let b30 = rotl(a33 ^ d3, 21)
        let b43 = rotl(a34 ^ d3, 56)
        let b03 = rotl(a40 ^ d4, 27)
        let b11 = rotl(a41 ^ d4, 20)
        let b24 = rotl(a42 ^ d4, 39)
        let b32 = rotl(a43 ^ d4, 8)
        let b40 = rotl(a44 ^ d4, 14)
        // chi
        a00 = b00 ^ (~b10 & b20)
        a01 = b01 ^ (~b11 & b21)
        a02 = b02 ^ (~b12 & b22)
        a03 = b03 ^ (~b13 & b23)
        a04 = b04 ^ (~b14 & b24)
        a10 = b10 ^ (~b20 & b30)
        a11 = b11 ^ (~b21 & b31)
        a12 = b12 ^ (~b22 & b32)
        a13 = b13 ^ (~b23 & b33)
        a14 = b14 ^ (~b24 & b34)
        a20 = b20 ^ (~b30 & b40)
        a21 = b21 ^ (~b31 & b41)
        a22 = b22 ^ (~b32 & b42)
        a23 = b23 ^ (~b33 & b43)
        a24 = b24 ^ (~b34 & b44)
        a30 = b30 ^ (~b40 & b00)
        a31 = b31 ^ (~b41 & b01)
        a32 = b32 ^ (~b42 & b02)
        a33 = b33 ^ (~b43 & b03)
        a34 = b34 ^ (~b44 & b04)
        a40 = b40 ^ (~b00 & b10)
        a41 = b41 ^ (~b01 & b11)
        a42 = b42 ^ (~b02 & b12)
        a43 = b43 ^ (~b03 & b13)
        a44 = b44 ^ (~b04 & b14)

        // iota
        a00 ^= roundConstant(round)
        }
        s[0] = a00
        s[1] = a10
        s[2] = a20
        s[3] = a30
        s[4] = a40
        s[5] = a01
        s[6] = a11
        s[7] = a21
        s[8] = a31
        s[9] = a41
        s[10] = a02
        s[11] = a12
        s[12] = a22
        s[13] = a32
        s[14] = a42
        s[15] = a03
        s[16] = a13
        s[17] = a23
        s[18] = a33
        s[19] = a43
        s[20] = a04
        s[21] = a14
        s[22] = a24
        s[23] = a34
        s[24] = a44
    }

    @inline(__always)
    private static func roundConstant(_ round: Int) -> UInt64 {
        withUnsafeBytes(of: roundConstants) { $0.load(fromByteOffset: round &* 8, as: UInt64.self) }
    }

    private static let roundConstants: (
        UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
        UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64
    ) = (
        0x0000_0000_0000_0001, 0x0000_0000_0000_8082, 0x8000_0000_0000_808A, 0x8000_0000_8000_8000,
        0x0000_0000_0000_808B, 0x0000_0000_8000_0001, 0x8000_0000_8000_8081, 0x8000_0000_0000_8009,
        0x0000_0000_0000_008A, 0x0000_0000_0000_0088, 0x0000_0000_8000_8009, 0x0000_0000_8000_000A,
        0x0000_0000_8000_808B, 0x8000_0000_0000_008B, 0x8000_0000_0000_8089, 0x8000_0000_0000_8003,
        0x8000_0000_0000_8002, 0x8000_0000_0000_0080, 0x0000_0000_0000_800A, 0x8000_0000_8000_000A,
        0x8000_0000_8000_8081, 0x8000_0000_0000_8080, 0x0000_0000_8000_0001, 0x8000_0000_8000_8008
    )
}

extension Keccak256 {
    /// The Keccak-256 digest of a UTF-8 string.
    public static func hash(utf8 string: String) -> Hash32 { hash(Array(string.utf8)) }
}
