/// An eth_getProof (EIP-1186) response as received: claims about an account and some of its storage,
/// with the Merkle proofs that should back them. Nothing in it is trusted until `verify` says so.
public struct UnverifiedAccountProof: Sendable, Hashable {
    /// A claimed storage value with its proof.
    public struct StorageSlot: Sendable, Hashable {
        /// The slot as given, left-padded to 32 bytes.
        public var key: [UInt8]
        public var value: U256
        public var proof: [[UInt8]]
    }

    public var address: Address
    public var nonce: UInt64
    public var balance: U256
    public var storageHash: Hash32
    public var codeHash: Hash32
    public var accountProof: [[UInt8]]
    public var storage: [StorageSlot]

    /// Parses an eth_getProof result object.
    public init(json o: RPCJSON.Object) throws(ChainError) {
        address = try RPCJSON.address(o, "address")
        nonce = try RPCJSON.u64(o, "nonce")
        balance = try RPCJSON.u256(o, "balance")
        storageHash = try RPCJSON.hash(o, "storageHash")
        codeHash = try RPCJSON.hash(o, "codeHash")
        accountProof = try Self.nodes(RPCJSON.array(o, "accountProof"), "accountProof")
        storage = try RPCJSON.array(o, "storageProof").enumerated().map { (i, s) throws(ChainError) -> StorageSlot in
            let slot = try RPCJSON.object(s, "storageProof[\(i)]")
            // Clients echo the slot as requested, sometimes as a quantity ("0x0"), sometimes as 32 bytes.
            let keyString = try RPCJSON.string(slot, "key")
            let key: [UInt8]
            do throws(ChainError) {
                key = keyString.count % 2 == 1 ? try Hex.decodeQuantity(keyString) : try Hex.decode(keyString)
            } catch { throw error.within("storageProof[\(i)].key") }
            let keyBytes = Array(key.drop(while: { $0 == 0 }))
            guard keyBytes.count <= 32 else {
                throw ChainError(.invalidJSON, "storageProof[\(i)].key: expected at most 32 bytes, found \(key.count)")
            }
            return StorageSlot(
                key: [UInt8](repeating: 0, count: 32 - keyBytes.count) + keyBytes,
                value: try RPCJSON.u256(slot, "value"),
                proof: try Self.nodes(RPCJSON.array(slot, "proof"), "storageProof[\(i)].proof")
            )
        }
    }

    private static func nodes(_ array: [Any], _ field: String) throws(ChainError) -> [[UInt8]] {
        try array.enumerated().map { (i, n) throws(ChainError) -> [UInt8] in
            guard let s = n as? String else { throw ChainError(.invalidJSON, "\(field)[\(i)]: expected a hex string") }
            do throws(ChainError) { return try Hex.decode(s) } catch { throw error.within("\(field)[\(i)]") }
        }
    }
}

/// What a proof established, field by field.
public struct AccountProofVerdict: Sendable {
    /// The outcome for one storage slot.
    public struct Slot: Sendable {
        public let key: [UInt8]
        public let claimedValue: U256
        /// The value the proof shows (zero for a proven-absent slot), when the proof is sound.
        public let provenValue: U256?
        public let valid: Bool
        public let reason: String?
    }

    public let address: Address
    /// True when the account proof connects to the state root and proves exactly the claimed fields.
    public let accountValid: Bool
    public let accountReason: String?
    /// Whether the account exists in the state (false for a valid proof of absence).
    public let accountExists: Bool
    public let slots: [Slot]

    /// True when the account and every slot verified.
    public var valid: Bool { accountValid && slots.allSatisfy(\.valid) }
}

extension UnverifiedAccountProof {
    /// Checks the account proof against a trusted `stateRoot`, then each storage proof against the proven
    /// storage root. A missing account must be claimed as empty (nonce 0, balance 0, empty storage and code).
    public func verify(stateRoot: Hash32) -> AccountProofVerdict {
        var accountValid = true
        var reason: String? = nil
        var exists = false
        var provenStorageRoot: Hash32? = nil
        do {
            let value = try Trie.verifyProof(
                root: stateRoot,
                key: Keccak256.hash(address.bytes).bytes,
                proof: accountProof
            )
            if let value {
                exists = true
                let f = try RLPItem.decode(value).list("account")
                guard f.count == 4 else {
                    throw ChainError(.invalidProof, "account: expected 4 fields, found \(f.count)")
                }
                let proven = (
                    try f[0].uint64("nonce"), try f[1].u256("balance"), try f[2].hash32("storageRoot"),
                    try f[3].hash32("codeHash")
                )
                provenStorageRoot = proven.2
                var mismatches: [String] = []
                if proven.0 != nonce { mismatches.append("nonce: proof has \(proven.0), response claims \(nonce)") }
                if proven.1 != balance {
                    mismatches.append("balance: proof has \(proven.1), response claims \(balance)")
                }
                if proven.2 != storageHash {
                    mismatches.append("storageHash: proof has \(proven.2), response claims \(storageHash)")
                }
                if proven.3 != codeHash {
                    mismatches.append("codeHash: proof has \(proven.3), response claims \(codeHash)")
                }
                if !mismatches.isEmpty { throw ChainError(.invalidProof, mismatches.joined(separator: "; ")) }
            } else {
                provenStorageRoot = .emptyTrieRoot
                // Clients report an absent account either with zero hashes or with the empty-trie/empty-code hashes.
                let emptyClaim =
                    nonce == 0 && balance.isZero
                    && (storageHash == .emptyTrieRoot || storageHash == .zero)
                    && (codeHash == .emptyCodeHash || codeHash == .zero)
                if !emptyClaim {
                    throw ChainError(
                        .invalidProof,
                        "the proof shows the account is absent, but the response claims a non-empty account"
                    )
                }
            }
        } catch {
            accountValid = false
            reason = (error as? ChainError)?.reason ?? "\(error)"
        }
        let slots = storage.map { slot -> AccountProofVerdict.Slot in
            guard let root = provenStorageRoot else {
                return .init(
                    key: slot.key,
                    claimedValue: slot.value,
                    provenValue: nil,
                    valid: false,
                    reason: "account proof is invalid, so no storage root is trusted"
                )
            }
            do throws(ChainError) {
                let value = try Trie.verifyProof(root: root, key: Keccak256.hash(slot.key).bytes, proof: slot.proof)
                let proven =
                    try value.map { (v: [UInt8]) throws(ChainError) -> U256 in
                        try RLPItem.decode(v).u256("storage value")
                    } ?? .zero
                guard proven == slot.value else {
                    return .init(
                        key: slot.key,
                        claimedValue: slot.value,
                        provenValue: proven,
                        valid: false,
                        reason: "proof has \(proven.quantity), response claims \(slot.value.quantity)"
                    )
                }
                return .init(key: slot.key, claimedValue: slot.value, provenValue: proven, valid: true, reason: nil)
            } catch {
                return .init(
                    key: slot.key,
                    claimedValue: slot.value,
                    provenValue: nil,
                    valid: false,
                    reason: error.reason
                )
            }
        }
        return AccountProofVerdict(
            address: address,
            accountValid: accountValid,
            accountReason: reason,
            accountExists: exists,
            slots: slots
        )
    }
}
