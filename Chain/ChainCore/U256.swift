/// An unsigned 256-bit integer: balances, fees, difficulty, ABI uint256.
///
/// Arithmetic traps on overflow (as Swift's integers do) unless a `…ReportingOverflow` form is used;
/// the fee rules of EIP-1559 and EIP-4844 need add, subtract, multiply, divide and compare.
public struct U256: Hashable, Sendable, Comparable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    /// Limbs, least significant first.
    public var limbs: (UInt64, UInt64, UInt64, UInt64)

    public static let zero = U256(0)
    public static let max = U256(limbs: (.max, .max, .max, .max))

    public init(limbs: (UInt64, UInt64, UInt64, UInt64)) { self.limbs = limbs }
    public init(_ value: UInt64) { limbs = (value, 0, 0, 0) }
    public init(integerLiteral value: UInt64) { self.init(value) }

    /// From big-endian bytes (at most 32; leading zeros allowed).
    public init(bigEndian bytes: some Collection<UInt8>) throws(ChainError) {
        guard bytes.count <= 32 else {
            throw ChainError(.overflow, "expected at most 32 bytes for a 256-bit integer, found \(bytes.count)")
        }
        var l: [UInt64] = [0, 0, 0, 0]
        for (i, b) in bytes.reversed().enumerated() { l[i / 8] |= UInt64(b) << (8 * UInt64(i % 8)) }
        limbs = (l[0], l[1], l[2], l[3])
    }

    /// From a JSON-RPC quantity ("0x…").
    public init(quantity: some StringProtocol) throws(ChainError) {
        if let fast = quantity.utf8.withContiguousStorageIfAvailable({ Hex.fastUInt64($0) }), let v = fast {
            self.init(v)
            return
        }
        try self.init(bigEndian: Hex.decodeQuantity(quantity))
    }

    /// From a decimal string.
    public init(decimal: some StringProtocol) throws(ChainError) {
        guard !decimal.isEmpty else {
            throw ChainError(.invalidValue, "expected decimal digits, found an empty string")
        }
        var v = U256.zero
        for c in decimal.utf8 {
            guard c >= 0x30 && c <= 0x39 else {
                throw ChainError(.invalidValue, "expected decimal digits, found \"\(decimal)\"")
            }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(U256(UInt64(c - 0x30)))
            guard !o1 && !o2 else { throw ChainError(.overflow, "decimal \(decimal) does not fit in 256 bits") }
            v = a
        }
        self = v
    }

    var words: [UInt64] { [limbs.0, limbs.1, limbs.2, limbs.3] }
    init(words w: [UInt64]) { limbs = (w[0], w[1], w[2], w[3]) }

    /// 32 big-endian bytes.
    public var bigEndianBytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let w = words
        for i in 0..<32 { out[31 - i] = UInt8(truncatingIfNeeded: w[i / 8] >> (8 * UInt64(i % 8))) }
        return out
    }

    /// Big-endian bytes without leading zeros (RLP's scalar form; zero is empty).
    public var minimalBytes: [UInt8] { Array(bigEndianBytes.drop(while: { $0 == 0 })) }

    public var isZero: Bool { limbs == (0, 0, 0, 0) }

    /// The value as UInt64 when it fits.
    public var uint64: UInt64? { limbs.1 == 0 && limbs.2 == 0 && limbs.3 == 0 ? limbs.0 : nil }

    /// Number of significant bits.
    public var bitWidth: Int {
        let w = words
        for i in stride(from: 3, through: 0, by: -1) where w[i] != 0 { return i * 64 + 64 - w[i].leadingZeroBitCount }
        return 0
    }

    /// "0x…" JSON-RPC quantity.
    public var quantity: String {
        let b = minimalBytes
        guard !b.isEmpty else { return "0x0" }
        var s = Hex.encode(b, prefix: false)
        if s.hasPrefix("0") { s.removeFirst() }
        return "0x" + s
    }

    public var description: String {
        if isZero { return "0" }
        var digits: [UInt8] = []
        var v = self
        while !v.isZero {
            let (q, r) = v.quotientAndRemainder(dividingBy: 10)
            digits.append(UInt8(r.limbs.0) + 0x30)
            v = q
        }
        return String(decoding: digits.reversed(), as: UTF8.self)
    }

    public static func == (a: U256, b: U256) -> Bool { a.limbs == b.limbs }
    public func hash(into h: inout Hasher) {
        h.combine(limbs.0)
        h.combine(limbs.1)
        h.combine(limbs.2)
        h.combine(limbs.3)
    }

    public static func < (a: U256, b: U256) -> Bool {
        if a.limbs.3 != b.limbs.3 { return a.limbs.3 < b.limbs.3 }
        if a.limbs.2 != b.limbs.2 { return a.limbs.2 < b.limbs.2 }
        if a.limbs.1 != b.limbs.1 { return a.limbs.1 < b.limbs.1 }
        return a.limbs.0 < b.limbs.0
    }

    public func addingReportingOverflow(_ o: U256) -> (partialValue: U256, overflow: Bool) {
        let a = words
        let b = o.words
        var r = [UInt64](repeating: 0, count: 4)
        var carry: UInt64 = 0
        for i in 0..<4 {
            let (s1, c1) = a[i].addingReportingOverflow(b[i])
            let (s2, c2) = s1.addingReportingOverflow(carry)
            r[i] = s2
            carry = (c1 ? 1 : 0) + (c2 ? 1 : 0)
        }
        return (U256(words: r), carry != 0)
    }

    public func subtractingReportingOverflow(_ o: U256) -> (partialValue: U256, overflow: Bool) {
        let a = words
        let b = o.words
        var r = [UInt64](repeating: 0, count: 4)
        var borrow: UInt64 = 0
        for i in 0..<4 {
            let (d1, b1) = a[i].subtractingReportingOverflow(b[i])
            let (d2, b2) = d1.subtractingReportingOverflow(borrow)
            r[i] = d2
            borrow = (b1 ? 1 : 0) + (b2 ? 1 : 0)
        }
        return (U256(words: r), borrow != 0)
    }

    public func multipliedReportingOverflow(by o: U256) -> (partialValue: U256, overflow: Bool) {
        let a = words
        let b = o.words
        var r = [UInt64](repeating: 0, count: 8)
        for i in 0..<4 {
            var carry: UInt64 = 0
            for j in 0..<4 {
                let (hi, lo) = a[i].multipliedFullWidth(by: b[j])
                let (s1, c1) = r[i + j].addingReportingOverflow(lo)
                let (s2, c2) = s1.addingReportingOverflow(carry)
                r[i + j] = s2
                carry = hi &+ (c1 ? 1 : 0) &+ (c2 ? 1 : 0)
            }
            r[i + 4] = carry
        }
        return (U256(words: Array(r[0..<4])), r[4...].contains { $0 != 0 })
    }

    /// Quotient and remainder; division by zero traps.
    public func quotientAndRemainder(dividingBy d: U256) -> (quotient: U256, remainder: U256) {
        precondition(!d.isZero, "U256 division by zero")
        if let a = uint64, let b = d.uint64 { return (U256(a / b), U256(a % b)) }
        if self < d { return (.zero, self) }
        var q = U256.zero
        var r = U256.zero
        for i in stride(from: bitWidth - 1, through: 0, by: -1) {
            r = r << 1
            if bit(i) { r.limbs.0 |= 1 }
            if r >= d {
                r = r.subtractingReportingOverflow(d).partialValue
                q.setBit(i)
            }
        }
        return (q, r)
    }

    func bit(_ i: Int) -> Bool { (words[i / 64] >> UInt64(i % 64)) & 1 == 1 }
    mutating func setBit(_ i: Int) {
        var w = words
        w[i / 64] |= 1 << UInt64(i % 64)
        self = U256(words: w)
    }

    public static func << (a: U256, n: Int) -> U256 {
        guard n > 0 else { return a }
        guard n < 256 else { return .zero }
        let w = a.words
        var r = [UInt64](repeating: 0, count: 4)
        let limb = n / 64
        let shift = UInt64(n % 64)
        for i in stride(from: 3, through: limb, by: -1) {
            r[i] = w[i - limb] << shift
            if shift > 0 && i - limb - 1 >= 0 { r[i] |= w[i - limb - 1] >> (64 - shift) }
        }
        return U256(words: r)
    }

    public static func + (a: U256, b: U256) -> U256 {
        let (r, o) = a.addingReportingOverflow(b)
        precondition(!o, "U256 addition overflow")
        return r
    }
    public static func - (a: U256, b: U256) -> U256 {
        let (r, o) = a.subtractingReportingOverflow(b)
        precondition(!o, "U256 subtraction underflow")
        return r
    }
    public static func * (a: U256, b: U256) -> U256 {
        let (r, o) = a.multipliedReportingOverflow(by: b)
        precondition(!o, "U256 multiplication overflow")
        return r
    }
    public static func / (a: U256, b: U256) -> U256 { a.quotientAndRemainder(dividingBy: b).quotient }
    public static func % (a: U256, b: U256) -> U256 { a.quotientAndRemainder(dividingBy: b).remainder }
}
