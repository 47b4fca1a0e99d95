// Direct RLP encoding of the hot structures (headers, receipts, logs, trie nodes): lengths are computed first,
// then every byte is written once into one buffer. Same output as `RLPItem.encoded`, without building the
// item tree (one array per field) first.

/// Appends canonical RLP to a byte buffer.
struct RLPWriter {
    var out: [UInt8]

    init(capacity: Int) {
        out = []
        out.reserveCapacity(capacity)
    }

    // MARK: Lengths

    /// Bytes of the length prefix of a payload of `length` bytes.
    @inline(__always)
    static func prefixLength(_ length: Int) -> Int {
        length < 56 ? 1 : 1 + (8 - (UInt64(length).leadingZeroBitCount / 8))
    }

    /// Encoded length of a byte string of `count` bytes whose first byte is `first`.
    @inline(__always)
    static func stringLength(count: Int, first: UInt8) -> Int {
        count == 1 && first < 0x80 ? 1 : prefixLength(count) + count
    }

    @inline(__always)
    static func stringLength(_ bytes: [UInt8]) -> Int {
        stringLength(count: bytes.count, first: bytes.first ?? 0)
    }

    /// Encoded length of a scalar.
    @inline(__always)
    static func uintLength(_ v: UInt64) -> Int {
        v < 0x80 ? 1 : 1 + (8 - v.leadingZeroBitCount / 8)
    }

    static func uintLength(_ v: U256) -> Int {
        if let small = v.uint64 { return uintLength(small) }
        return 1 + (v.bitWidth + 7) / 8
    }

    /// Encoded length of a list with a payload of `payload` bytes.
    @inline(__always)
    static func listLength(payload: Int) -> Int { prefixLength(payload) + payload }

    // MARK: Writing

    @inline(__always)
    mutating func prefix(_ length: Int, base: UInt8) {
        if length < 56 {
            out.append(base + UInt8(length))
        } else {
            let n = 8 - UInt64(length).leadingZeroBitCount / 8
            out.append(base + 55 + UInt8(n))
            for i in stride(from: n - 1, through: 0, by: -1) {
                out.append(UInt8(truncatingIfNeeded: length >> (8 * i)))
            }
        }
    }

    @inline(__always)
    mutating func list(payload: Int) { prefix(payload, base: 0xC0) }

    @inline(__always)
    mutating func string(_ bytes: [UInt8]) {
        if bytes.count == 1 && bytes[0] < 0x80 {
            out.append(bytes[0])
        } else {
            prefix(bytes.count, base: 0x80)
            out.append(contentsOf: bytes)
        }
    }

    /// Raw bytes already encoded (an inline trie node).
    @inline(__always)
    mutating func raw(_ bytes: [UInt8]) { out.append(contentsOf: bytes) }

    @inline(__always)
    mutating func hash(_ h: Hash32) {
        out.append(0xA0)
        withUnsafeBytes(of: h) { out.append(contentsOf: $0) }
    }

    @inline(__always)
    mutating func uint(_ v: UInt64) {
        if v == 0 {
            out.append(0x80)
        } else if v < 0x80 {
            out.append(UInt8(v))
        } else {
            let n = 8 - v.leadingZeroBitCount / 8
            out.append(0x80 + UInt8(n))
            for i in stride(from: n - 1, through: 0, by: -1) { out.append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
        }
    }

    mutating func uint(_ v: U256) {
        if let small = v.uint64 {
            uint(small)
        } else {
            let bytes = v.minimalBytes
            out.append(0x80 + UInt8(bytes.count))
            out.append(contentsOf: bytes)
        }
    }
}

// MARK: Header

extension Header {
    /// Payload length of the header's RLP list.
    var rlpPayloadLength: Int {
        var n = 33 * 6 + 21 + 259 + 9  // 6 hashes (parent, ommers, state, tx, receipts, mix), address, bloom, nonce
        n += RLPWriter.uintLength(difficulty) + RLPWriter.uintLength(number) + RLPWriter.uintLength(gasLimit)
        n += RLPWriter.uintLength(gasUsed) + RLPWriter.uintLength(timestamp) + RLPWriter.stringLength(extraData)
        if nonce.count != 8 { n += RLPWriter.stringLength(nonce) - 9 }
        guard let baseFee = baseFeePerGas else { return n }
        n += RLPWriter.uintLength(baseFee)
        guard withdrawalsRoot != nil else { return n }
        n += 33
        guard let blobGasUsed else { return n }
        n += RLPWriter.uintLength(blobGasUsed)
        guard let excessBlobGas else { return n }
        n += RLPWriter.uintLength(excessBlobGas)
        guard parentBeaconBlockRoot != nil else { return n }
        n += 33
        if requestsHash != nil { n += 33 }
        return n
    }

    /// The canonical encoding, written directly (see `rlp` for the same list as items).
    func writeEncoding() -> [UInt8] {
        let payload = rlpPayloadLength
        var w = RLPWriter(capacity: RLPWriter.listLength(payload: payload))
        w.list(payload: payload)
        w.hash(parentHash)
        w.hash(ommersHash)
        w.string(beneficiary.bytes)
        w.hash(stateRoot)
        w.hash(transactionsRoot)
        w.hash(receiptsRoot)
        w.string(logsBloom.bytes)
        w.uint(difficulty)
        w.uint(number)
        w.uint(gasLimit)
        w.uint(gasUsed)
        w.uint(timestamp)
        w.string(extraData)
        w.hash(mixHash)
        w.string(nonce)
        guard let baseFee = baseFeePerGas else { return w.out }
        w.uint(baseFee)
        guard let withdrawalsRoot else { return w.out }
        w.hash(withdrawalsRoot)
        guard let blobGasUsed else { return w.out }
        w.uint(blobGasUsed)
        guard let excessBlobGas else { return w.out }
        w.uint(excessBlobGas)
        guard let parentBeaconBlockRoot else { return w.out }
        w.hash(parentBeaconBlockRoot)
        if let requestsHash { w.hash(requestsHash) }
        return w.out
    }
}

// MARK: Receipt and log

extension Log {
    var topicsPayloadLength: Int { 33 * topics.count }
    var rlpPayloadLength: Int {
        21 + RLPWriter.listLength(payload: topicsPayloadLength) + RLPWriter.stringLength(data)
    }

    func write(to w: inout RLPWriter) {
        w.list(payload: rlpPayloadLength)
        w.string(address.bytes)
        w.list(payload: topicsPayloadLength)
        for t in topics { w.hash(t) }
        w.string(data)
    }
}

extension Receipt {
    /// The consensus encoding, written directly.
    func writeEncoding() -> [UInt8] {
        var logsPayload = 0
        for log in logs { logsPayload += RLPWriter.listLength(payload: log.rlpPayloadLength) }
        let first: Int
        switch outcome {
        case .stateRoot: first = 33
        case .status: first = 1
        }
        let payload = first + RLPWriter.uintLength(cumulativeGasUsed) + 259 + RLPWriter.listLength(payload: logsPayload)
        var w = RLPWriter(capacity: 1 + RLPWriter.listLength(payload: payload))
        if type != 0 { w.out.append(type) }
        w.list(payload: payload)
        switch outcome {
        case .stateRoot(let root): w.hash(root)
        case .status(let ok): w.uint(UInt64(ok ? 1 : 0))
        }
        w.uint(cumulativeGasUsed)
        w.string(logsBloom.bytes)
        w.list(payload: logsPayload)
        for log in logs { log.write(to: &w) }
        return w.out
    }
}
