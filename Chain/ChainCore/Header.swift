/// An execution-layer block header, every fork from Frontier to Prague/Osaka.
///
/// Later forks append fields; a header carries exactly the fields of its fork, so the optional trailing
/// fields must be present as a prefix (a later one only with all earlier ones). The hash is
/// keccak256(rlp(header)).
public struct Header: Hashable, Sendable {
    public var parentHash: Hash32
    public var ommersHash: Hash32
    public var beneficiary: Address
    public var stateRoot: Hash32
    public var transactionsRoot: Hash32
    public var receiptsRoot: Hash32
    public var logsBloom: Bloom
    public var difficulty: U256
    public var number: UInt64
    public var gasLimit: UInt64
    public var gasUsed: UInt64
    public var timestamp: UInt64
    public var extraData: [UInt8]
    public var mixHash: Hash32
    public var nonce: [UInt8]
    /// London (EIP-1559).
    public var baseFeePerGas: U256?
    /// Shanghai (EIP-4895).
    public var withdrawalsRoot: Hash32?
    /// Cancun (EIP-4844).
    public var blobGasUsed: UInt64?
    /// Cancun (EIP-4844).
    public var excessBlobGas: UInt64?
    /// Cancun (EIP-4788).
    public var parentBeaconBlockRoot: Hash32?
    /// Prague (EIP-7685).
    public var requestsHash: Hash32?

    /// Field counts by fork: 15 Frontier, 16 London, 17 Shanghai, 20 Cancun, 21 Prague and Osaka.
    public static let validFieldCounts: Set<Int> = [15, 16, 17, 20, 21]

    public init(
        parentHash: Hash32,
        ommersHash: Hash32,
        beneficiary: Address,
        stateRoot: Hash32,
        transactionsRoot: Hash32,
        receiptsRoot: Hash32,
        logsBloom: Bloom,
        difficulty: U256,
        number: UInt64,
        gasLimit: UInt64,
        gasUsed: UInt64,
        timestamp: UInt64,
        extraData: [UInt8],
        mixHash: Hash32,
        nonce: [UInt8],
        baseFeePerGas: U256? = nil,
        withdrawalsRoot: Hash32? = nil,
        blobGasUsed: UInt64? = nil,
        excessBlobGas: UInt64? = nil,
        parentBeaconBlockRoot: Hash32? = nil,
        requestsHash: Hash32? = nil
    ) {
        self.parentHash = parentHash
        self.ommersHash = ommersHash
        self.beneficiary = beneficiary
        self.stateRoot = stateRoot
        self.transactionsRoot = transactionsRoot
        self.receiptsRoot = receiptsRoot
        self.logsBloom = logsBloom
        self.difficulty = difficulty
        self.number = number
        self.gasLimit = gasLimit
        self.gasUsed = gasUsed
        self.timestamp = timestamp
        self.extraData = extraData
        self.mixHash = mixHash
        self.nonce = nonce
        self.baseFeePerGas = baseFeePerGas
        self.withdrawalsRoot = withdrawalsRoot
        self.blobGasUsed = blobGasUsed
        self.excessBlobGas = excessBlobGas
        self.parentBeaconBlockRoot = parentBeaconBlockRoot
        self.requestsHash = requestsHash
    }

    /// The RLP list of the header's fields.
    public var rlp: RLPItem {
        var f: [RLPItem] = [
            .hash(parentHash), .hash(ommersHash), .address(beneficiary), .hash(stateRoot), .hash(transactionsRoot),
            .hash(receiptsRoot), .bytes(logsBloom.bytes), .uint(difficulty), .uint(number), .uint(gasLimit),
            .uint(gasUsed), .uint(timestamp), .bytes(extraData), .hash(mixHash), .bytes(nonce),
        ]
        // Trailing optional fields: each present only with all earlier ones (checked on decode).
        if let v = baseFeePerGas { f.append(.uint(v)) } else { return .list(f) }
        if let v = withdrawalsRoot { f.append(.hash(v)) } else { return .list(f) }
        if let v = blobGasUsed { f.append(.uint(v)) } else { return .list(f) }
        if let v = excessBlobGas { f.append(.uint(v)) } else { return .list(f) }
        if let v = parentBeaconBlockRoot { f.append(.hash(v)) } else { return .list(f) }
        if let v = requestsHash { f.append(.hash(v)) }
        return .list(f)
    }

    /// The canonical encoding (written directly; the same bytes as `rlp.encoded`).
    public var encoded: [UInt8] { writeEncoding() }

    /// keccak256(rlp(header)).
    public var hash: Hash32 { Keccak256.hash(encoded) }

    /// Decodes a header from its RLP list.
    public init(rlp: RLPItem) throws(ChainError) {
        let f = try rlp.list("header")
        guard Self.validFieldCounts.contains(f.count) else {
            throw ChainError(
                .invalidHeader,
                "expected 15, 16, 17, 20 or 21 header fields (Frontier…Prague), found \(f.count)"
            )
        }
        let bloom = try f[6].bytes("logsBloom")
        let nonce = try f[14].bytes("nonce")
        guard nonce.count == 8 else {
            throw ChainError(.invalidHeader, "nonce: expected 8 bytes, found \(nonce.count)")
        }
        do throws(ChainError) {
            self.init(
                parentHash: try f[0].hash32("parentHash"),
                ommersHash: try f[1].hash32("ommersHash"),
                beneficiary: try f[2].address("beneficiary"),
                stateRoot: try f[3].hash32("stateRoot"),
                transactionsRoot: try f[4].hash32("transactionsRoot"),
                receiptsRoot: try f[5].hash32("receiptsRoot"),
                logsBloom: try Bloom(bloom),
                difficulty: try f[7].u256("difficulty"),
                number: try f[8].uint64("number"),
                gasLimit: try f[9].uint64("gasLimit"),
                gasUsed: try f[10].uint64("gasUsed"),
                timestamp: try f[11].uint64("timestamp"),
                extraData: try f[12].bytes("extraData"),
                mixHash: try f[13].hash32("mixHash"),
                nonce: nonce,
                baseFeePerGas: f.count > 15 ? try f[15].u256("baseFeePerGas") : nil,
                withdrawalsRoot: f.count > 16 ? try f[16].hash32("withdrawalsRoot") : nil,
                blobGasUsed: f.count > 17 ? try f[17].uint64("blobGasUsed") : nil,
                excessBlobGas: f.count > 18 ? try f[18].uint64("excessBlobGas") : nil,
                parentBeaconBlockRoot: f.count > 19 ? try f[19].hash32("parentBeaconBlockRoot") : nil,
                requestsHash: f.count > 20 ? try f[20].hash32("requestsHash") : nil
            )
        } catch {
            throw ChainError(.invalidHeader, error.reason)
        }
    }

    /// Decodes a header from raw RLP bytes (debug_getRawHeader), reading each field straight from the input
    /// (the rules and messages of `init(rlp:)`, without an item tree).
    public init(encoded: [UInt8]) throws(ChainError) {
        var r = RLPReader(encoded)
        let outer = try r.readSpan()
        guard r.offset == encoded.count else {
            throw ChainError(
                .invalidRLP,
                "expected the item to end the input at byte \(r.offset), found \(encoded.count - r.offset) trailing bytes"
            )
        }
        guard outer.isList else { throw ChainError(.invalidRLP, "header: expected a list, found a byte string") }
        var f: [RLPSpan] = []
        f.reserveCapacity(21)
        r.offset = outer.start
        while r.offset < outer.end {
            let item = try r.readSpan()
            guard r.offset <= outer.end else {
                throw ChainError(.invalidRLP, "byte \(outer.start): an element runs past the end of its list")
            }
            f.append(item)
        }
        guard Self.validFieldCounts.contains(f.count) else {
            throw ChainError(
                .invalidHeader,
                "expected 15, 16, 17, 20 or 21 header fields (Frontier…Prague), found \(f.count)"
            )
        }
        let bloom = try r.bytes(f[6], "logsBloom")
        let nonce = try r.bytes(f[14], "nonce")
        guard nonce.count == 8 else {
            throw ChainError(.invalidHeader, "nonce: expected 8 bytes, found \(nonce.count)")
        }
        do throws(ChainError) {
            self.init(
                parentHash: try r.hash32(f[0], "parentHash"),
                ommersHash: try r.hash32(f[1], "ommersHash"),
                beneficiary: try r.address(f[2], "beneficiary"),
                stateRoot: try r.hash32(f[3], "stateRoot"),
                transactionsRoot: try r.hash32(f[4], "transactionsRoot"),
                receiptsRoot: try r.hash32(f[5], "receiptsRoot"),
                logsBloom: try Bloom(bloom),
                difficulty: try r.u256(f[7], "difficulty"),
                number: try r.uint64(f[8], "number"),
                gasLimit: try r.uint64(f[9], "gasLimit"),
                gasUsed: try r.uint64(f[10], "gasUsed"),
                timestamp: try r.uint64(f[11], "timestamp"),
                extraData: try r.bytes(f[12], "extraData"),
                mixHash: try r.hash32(f[13], "mixHash"),
                nonce: nonce,
                baseFeePerGas: f.count > 15 ? try r.u256(f[15], "baseFeePerGas") : nil,
                withdrawalsRoot: f.count > 16 ? try r.hash32(f[16], "withdrawalsRoot") : nil,
                blobGasUsed: f.count > 17 ? try r.uint64(f[17], "blobGasUsed") : nil,
                excessBlobGas: f.count > 18 ? try r.uint64(f[18], "excessBlobGas") : nil,
                parentBeaconBlockRoot: f.count > 19 ? try r.hash32(f[19], "parentBeaconBlockRoot") : nil,
                requestsHash: f.count > 20 ? try r.hash32(f[20], "requestsHash") : nil
            )
        } catch {
            throw ChainError(.invalidHeader, error.reason)
        }
    }
}
