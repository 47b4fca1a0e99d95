/// An access-list entry (EIP-2930).
public struct AccessListEntry: Hashable, Sendable {
    public var address: Address
    public var storageKeys: [Hash32]
    public init(address: Address, storageKeys: [Hash32]) {
        self.address = address
        self.storageKeys = storageKeys
    }
}

/// A set-code authorization (EIP-7702).
public struct Authorization: Hashable, Sendable {
    public var chainID: U256
    public var address: Address
    public var nonce: UInt64
    public var yParity: UInt8
    public var r: U256
    public var s: U256
    public init(chainID: U256, address: Address, nonce: UInt64, yParity: UInt8, r: U256, s: U256) {
        self.chainID = chainID
        self.address = address
        self.nonce = nonce
        self.yParity = yParity
        self.r = r
        self.s = s
    }
}

/// A signed transaction of any envelope type: 0 legacy (with or without EIP-155), 1 access list (EIP-2930),
/// 2 dynamic fee (EIP-1559), 3 blob (EIP-4844), 4 set code (EIP-7702).
public struct Transaction: Hashable, Sendable {
    public var type: UInt8
    /// Absent only for legacy transactions signed before EIP-155.
    public var chainID: U256?
    public var nonce: UInt64
    /// Legacy and type 1.
    public var gasPrice: U256
    /// Types 2–4.
    public var maxPriorityFeePerGas: U256
    /// Types 2–4.
    public var maxFeePerGas: U256
    public var gasLimit: UInt64
    /// `nil` creates a contract (not allowed for types 3 and 4).
    public var to: Address?
    public var value: U256
    public var data: [UInt8]
    public var accessList: [AccessListEntry]
    /// Type 3.
    public var maxFeePerBlobGas: U256
    /// Type 3.
    public var blobVersionedHashes: [Hash32]
    /// Type 4.
    public var authorizationList: [Authorization]
    /// The signature's v as encoded: the legacy v (27/28 or chainId·2+35/36), or the y parity for typed ones.
    public var v: U256
    public var r: U256
    public var s: U256

    public init(type: UInt8) {
        self.type = type
        chainID = nil
        nonce = 0
        gasPrice = .zero
        maxPriorityFeePerGas = .zero
        maxFeePerGas = .zero
        gasLimit = 0
        to = nil
        value = .zero
        data = []
        accessList = []
        maxFeePerBlobGas = .zero
        blobVersionedHashes = []
        authorizationList = []
        v = .zero
        r = .zero
        s = .zero
    }

    // MARK: Encoding

    /// The consensus encoding: rlp(fields) for legacy, type ‖ rlp(fields) for typed transactions.
    public var encoded: [UInt8] {
        let body = RLPItem.list(fields(signed: true)).encoded
        return type == 0 ? body : [type] + body
    }

    /// keccak256 of the consensus encoding: the transaction hash.
    public var hash: Hash32 { Keccak256.hash(encoded) }

    /// The bytes the sender signs: the unsigned fields (plus chainId, 0, 0 for EIP-155 legacy transactions),
    /// prefixed by the type for typed transactions.
    public var signingPayload: [UInt8] {
        var unsigned = fields(signed: false)
        if type == 0 {
            if let chainID { unsigned += [.uint(chainID), .bytes([]), .bytes([])] }
            return RLPItem.list(unsigned).encoded
        }
        return [type] + RLPItem.list(unsigned).encoded
    }

    /// The digest the sender signs.
    public var signingHash: Hash32 { Keccak256.hash(signingPayload) }

    /// Signs with `privateKey`, setting v, r and s (legacy v per EIP-155 when a chain id is set).
    public mutating func sign(privateKey: [UInt8]) throws(ChainError) {
        let sig = try Secp256k1.shared.sign(signingHash, privateKey: privateKey)
        if type == 0 {
            v = chainID.map { $0 * U256(2) + U256(35 + UInt64(sig.recoveryID)) } ?? U256(27 + UInt64(sig.recoveryID))
        } else {
            v = U256(UInt64(sig.recoveryID))
        }
        r = try U256(bigEndian: sig.r)
        s = try U256(bigEndian: sig.s)
    }

    private func fields(signed: Bool) -> [RLPItem] {
        let access = RLPItem.list(
            accessList.map { .list([.address($0.address), .list($0.storageKeys.map(RLPItem.hash))]) }
        )
        var f: [RLPItem]
        switch type {
        case 0:
            f = [.uint(nonce), .uint(gasPrice), .uint(gasLimit), .address(to), .uint(value), .bytes(data)]
        case 1:
            f = [
                .uint(chainID ?? .zero), .uint(nonce), .uint(gasPrice), .uint(gasLimit), .address(to), .uint(value),
                .bytes(data), access,
            ]
        case 2:
            f = [
                .uint(chainID ?? .zero), .uint(nonce), .uint(maxPriorityFeePerGas), .uint(maxFeePerGas),
                .uint(gasLimit), .address(to), .uint(value), .bytes(data), access,
            ]
        case 3:
            f = [
                .uint(chainID ?? .zero), .uint(nonce), .uint(maxPriorityFeePerGas), .uint(maxFeePerGas),
                .uint(gasLimit), .address(to), .uint(value), .bytes(data), access, .uint(maxFeePerBlobGas),
                .list(blobVersionedHashes.map(RLPItem.hash)),
            ]
        default:
            let auths = RLPItem.list(
                authorizationList.map {
                    .list([
                        .uint($0.chainID), .address($0.address), .uint($0.nonce), .uint(UInt64($0.yParity)),
                        .uint($0.r), .uint($0.s),
                    ])
                }
            )
            f = [
                .uint(chainID ?? .zero), .uint(nonce), .uint(maxPriorityFeePerGas), .uint(maxFeePerGas),
                .uint(gasLimit), .address(to), .uint(value), .bytes(data), access, auths,
            ]
        }
        if signed { f += [.uint(v), .uint(r), .uint(s)] }
        return f
    }

    // MARK: Decoding

    /// Decodes the consensus encoding (as in a block body or eth_getRawTransaction).
    public init(encoded: [UInt8]) throws(ChainError) {
        guard let first = encoded.first else { throw ChainError(.invalidTransaction, "empty transaction encoding") }
        if first >= 0xC0 {
            try self.init(type: 0, fields: RLPItem.decode(encoded).list("transaction"))
        } else if first <= 0x7F {
            guard (1...4).contains(first) else {
                throw ChainError(
                    .invalidTransaction,
                    "expected transaction type 1–4 or a legacy list, found type 0x\(String(first, radix: 16))"
                )
            }
            try self.init(type: first, fields: RLPItem.decode(Array(encoded.dropFirst())).list("transaction"))
        } else {
            throw ChainError(
                .invalidTransaction,
                "expected a transaction type byte or an RLP list, found 0x\(String(first, radix: 16))"
            )
        }
    }

    /// Decodes a transaction as it appears in a block's transaction list: a list (legacy) or a byte string
    /// holding type ‖ rlp(fields).
    public init(blockItem: RLPItem) throws(ChainError) {
        switch blockItem {
        case .list(let fields): try self.init(type: 0, fields: fields)
        case .bytes(let b):
            guard let t = b.first, t <= 0x7F else {
                throw ChainError(.invalidTransaction, "typed transaction without a type byte")
            }
            try self.init(encoded: b)
        }
    }

    private init(type: UInt8, fields f: [RLPItem]) throws(ChainError) {
        self.init(type: type)
        let expected: Int = [0: 9, 1: 11, 2: 12, 3: 14, 4: 13][Int(type)]!
        guard f.count == expected else {
            throw ChainError(
                .invalidTransaction,
                "type \(type) transaction: expected \(expected) fields, found \(f.count)"
            )
        }
        do throws(ChainError) {
            var i = 0
            func next() -> RLPItem {
                defer { i += 1 }
                return f[i]
            }
            if type != 0 { chainID = try next().u256("chainId") }
            nonce = try next().uint64("nonce")
            if type <= 1 {
                gasPrice = try next().u256("gasPrice")
            } else {
                maxPriorityFeePerGas = try next().u256("maxPriorityFeePerGas")
                maxFeePerGas = try next().u256("maxFeePerGas")
            }
            gasLimit = try next().uint64("gasLimit")
            to = try next().optionalAddress("to")
            value = try next().u256("value")
            data = try next().bytes("data")
            if type != 0 { accessList = try Self.decodeAccessList(next()) }
            if type == 3 {
                maxFeePerBlobGas = try next().u256("maxFeePerBlobGas")
                blobVersionedHashes = try next().list("blobVersionedHashes").map {
                    (h: RLPItem) throws(ChainError) -> Hash32 in try h.hash32("blob hash")
                }
            }
            if type == 4 { authorizationList = try Self.decodeAuthorizations(next()) }
            v = try next().u256("v")
            r = try next().u256("r")
            s = try next().u256("s")
        } catch {
            throw ChainError(.invalidTransaction, "type \(type) transaction: \(error.reason)")
        }
        if (type == 3 || type == 4) && to == nil {
            throw ChainError(
                .invalidTransaction,
                "type \(type) transaction: expected a `to` address, found contract creation"
            )
        }
        if type == 0 {
            // v = 27/28 before EIP-155; chainId·2 + 35/36 after.
            if v.uint64 == 27 || v.uint64 == 28 {
                chainID = nil
            } else if v >= U256(35) {
                chainID = (v - U256(35)) / U256(2)
            } else {
                throw ChainError(
                    .invalidTransaction,
                    "legacy transaction: expected v of 27, 28 or ≥ 35 (EIP-155), found \(v)"
                )
            }
        }
    }

    private static func decodeAccessList(_ item: RLPItem) throws(ChainError) -> [AccessListEntry] {
        try item.list("accessList").map { (e: RLPItem) throws(ChainError) -> AccessListEntry in
            let pair = try e.list("access list entry")
            guard pair.count == 2 else {
                throw ChainError(.invalidTransaction, "access list entry: expected 2 fields, found \(pair.count)")
            }
            return AccessListEntry(
                address: try pair[0].address("access list address"),
                storageKeys: try pair[1].list("storage keys").map { (k: RLPItem) throws(ChainError) -> Hash32 in
                    try k.hash32("storage key")
                }
            )
        }
    }

    private static func decodeAuthorizations(_ item: RLPItem) throws(ChainError) -> [Authorization] {
        try item.list("authorizationList").map { (e: RLPItem) throws(ChainError) -> Authorization in
            let a = try e.list("authorization")
            guard a.count == 6 else {
                throw ChainError(.invalidTransaction, "authorization: expected 6 fields, found \(a.count)")
            }
            let parity = try a[3].uint64("yParity")
            guard parity <= 1 else {
                throw ChainError(.invalidTransaction, "authorization yParity: expected 0 or 1, found \(parity)")
            }
            return Authorization(
                chainID: try a[0].u256("chainId"),
                address: try a[1].address("address"),
                nonce: try a[2].uint64("nonce"),
                yParity: UInt8(parity),
                r: try a[4].u256("r"),
                s: try a[5].u256("s")
            )
        }
    }

    // MARK: Sender

    /// The signature, validated: recovery id from v, r and s in range, low s (EIP-2).
    public var signature: Signature {
        get throws(ChainError) {
            let recovery: U256
            if type == 0 {
                if let chainID { recovery = v - (chainID * U256(2) + U256(35)) } else { recovery = v - U256(27) }
            } else {
                recovery = v
            }
            guard let id = recovery.uint64, id <= 1 else {
                throw ChainError(.invalidSignature, "expected a y parity of 0 or 1, found v = \(v)")
            }
            return try Signature(r: r.minimalBytes, s: s.minimalBytes, recoveryID: UInt8(id))
        }
    }

    /// The sender, recovered from the signature over the signing hash. With `chainID`, a transaction
    /// signed for another chain (or, if legacy, for no chain) is refused, as a node of that chain would.
    public func sender(chainID expected: U256? = nil) throws(ChainError) -> Address {
        if let expected, let chainID, chainID != expected {
            throw ChainError(.invalidSignature, "expected chain id \(expected), found \(chainID)")
        }
        return try Secp256k1.shared.recoverAddress(signingHash, signature)
    }
}
