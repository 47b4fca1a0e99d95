// Decoding of JSON-RPC objects (eth_getBlockByNumber, eth_getBlockReceipts, eth_getProof) into consensus types.
//
// Input is the `[String: Any]` that JSONSerialization produces, so ChainCore needs no JSON library; the
// caller reads and parses. ethereumjs' BlockData names (uncleHash, coinbase, transactionsTrie, receiptTrie)
// are accepted as aliases. Every error names the field it is about.

/// Decoders from JSON-RPC objects.
public enum RPCJSON {
    public typealias Object = [String: Any]

    // MARK: Fields

    static func field(_ o: Object, _ keys: String...) -> Any? {
        for k in keys { if let v = o[k] { return v } }
        return nil
    }

    static func string(_ o: Object, _ keys: String...) throws(ChainError) -> String {
        for k in keys { if let v = o[k] as? String { return v } }
        throw ChainError(
            .invalidJSON,
            "expected a string field \"\(keys[0])\", found \(describe(keys.lazy.compactMap { o[$0] }.first))"
        )
    }

    static func optionalString(_ o: Object, _ keys: String...) -> String? {
        for k in keys { if let v = o[k] as? String { return v } }
        return nil
    }

    static func describe(_ v: Any?) -> String {
        guard let v else { return "nothing" }
        return "\(type(of: v)) \(String(describing: v).prefix(40))"
    }

    static func hash(_ o: Object, _ keys: String...) throws(ChainError) -> Hash32 {
        let s = try string(o, keys[0], keys.count > 1 ? keys[1] : keys[0])
        do { return try Hash32(hex: s) } catch { throw error.within(keys[0]) }
    }

    static func u64(_ o: Object, _ key: String, _ alias: String? = nil) throws(ChainError) -> UInt64 {
        let s = try string(o, key, alias ?? key)
        do { return try Hex.decodeUInt64(s) } catch { throw error.within(key) }
    }

    static func u256(_ o: Object, _ key: String, _ alias: String? = nil) throws(ChainError) -> U256 {
        let s = try string(o, key, alias ?? key)
        do { return try U256(quantity: s) } catch { throw error.within(key) }
    }

    static func data(_ o: Object, _ key: String, _ alias: String? = nil) throws(ChainError) -> [UInt8] {
        let s = try string(o, key, alias ?? key)
        do { return try Hex.decode(s) } catch { throw error.within(key) }
    }

    static func address(_ o: Object, _ key: String, _ alias: String? = nil) throws(ChainError) -> Address {
        let s = try string(o, key, alias ?? key)
        do { return try Address(hex: s) } catch { throw error.within(key) }
    }

    static func array(_ o: Object, _ key: String) throws(ChainError) -> [Any] {
        guard let a = o[key] as? [Any] else {
            throw ChainError(.invalidJSON, "expected an array field \"\(key)\", found \(describe(o[key]))")
        }
        return a
    }

    static func object(_ v: Any, _ what: String) throws(ChainError) -> Object {
        guard let o = v as? Object else {
            throw ChainError(.invalidJSON, "expected \(what) as a JSON object, found \(describe(v))")
        }
        return o
    }

    // MARK: Header

    /// A header from a block object (eth_getBlockByNumber/ByHash, or ethereumjs BlockData names).
    public static func header(_ o: Object) throws(ChainError) -> Header {
        let nonce = try data(o, "nonce")
        guard nonce.count == 8 else { throw ChainError(.invalidJSON, "nonce: expected 8 bytes, found \(nonce.count)") }
        var h = Header(
            parentHash: try hash(o, "parentHash"),
            ommersHash: try hash(o, "sha3Uncles", "uncleHash"),
            beneficiary: try address(o, "miner", "coinbase"),
            stateRoot: try hash(o, "stateRoot"),
            transactionsRoot: try hash(o, "transactionsRoot", "transactionsTrie"),
            receiptsRoot: try hash(o, "receiptsRoot", "receiptTrie"),
            logsBloom: try Bloom(data(o, "logsBloom", "bloom")),
            difficulty: try u256(o, "difficulty"),
            number: try u64(o, "number"),
            gasLimit: try u64(o, "gasLimit"),
            gasUsed: try u64(o, "gasUsed"),
            timestamp: try u64(o, "timestamp"),
            extraData: try data(o, "extraData"),
            mixHash: try hash(o, "mixHash"),
            nonce: nonce
        )
        // Trailing fork fields: take them in order and stop at the first absent one, as RLP requires.
        guard o["baseFeePerGas"] is String else { return h }
        h.baseFeePerGas = try u256(o, "baseFeePerGas")
        guard o["withdrawalsRoot"] is String else { return h }
        h.withdrawalsRoot = try hash(o, "withdrawalsRoot")
        guard o["blobGasUsed"] is String else { return h }
        h.blobGasUsed = try u64(o, "blobGasUsed")
        h.excessBlobGas = try u64(o, "excessBlobGas")
        h.parentBeaconBlockRoot = try hash(o, "parentBeaconBlockRoot")
        guard o["requestsHash"] is String else { return h }
        h.requestsHash = try hash(o, "requestsHash")
        return h
    }

    // MARK: Transaction

    /// A signed transaction from a full transaction object.
    public static func transaction(_ o: Object) throws(ChainError) -> Transaction {
        let typeValue = optionalString(o, "type").map { (s: String) -> UInt64? in try? Hex.decodeUInt64(s) } ?? 0
        guard let type = typeValue, type <= 4 else {
            throw ChainError(.invalidTransaction, "expected transaction type 0x0–0x4, found \(describe(o["type"]))")
        }
        var tx = Transaction(type: UInt8(type))
        tx.nonce = try u64(o, "nonce")
        tx.gasLimit = try u64(o, "gas", "gasLimit")
        if let to = optionalString(o, "to") {
            do { tx.to = try Address(hex: to) } catch { throw error.within("to") }
        }
        tx.value = try u256(o, "value")
        tx.data = try data(o, "input", "data")
        if type <= 1 { tx.gasPrice = try u256(o, "gasPrice") }
        if type >= 2 {
            tx.maxPriorityFeePerGas = try u256(o, "maxPriorityFeePerGas")
            tx.maxFeePerGas = try u256(o, "maxFeePerGas")
        }
        if type >= 1 {
            tx.chainID = try u256(o, "chainId")
            tx.accessList = try (o["accessList"] as? [Any] ?? []).map {
                (e: Any) throws(ChainError) -> AccessListEntry in
                let entry = try object(e, "access list entry")
                let keys = try array(entry, "storageKeys").map { (k: Any) throws(ChainError) -> Hash32 in
                    guard let s = k as? String else { throw ChainError(.invalidJSON, "storage key: expected a string") }
                    return try Hash32(hex: s)
                }
                return AccessListEntry(address: try address(entry, "address"), storageKeys: keys)
            }
        }
        if type == 3 {
            tx.maxFeePerBlobGas = try u256(o, "maxFeePerBlobGas")
            tx.blobVersionedHashes = try array(o, "blobVersionedHashes").map { (h: Any) throws(ChainError) -> Hash32 in
                guard let s = h as? String else {
                    throw ChainError(.invalidJSON, "blob versioned hash: expected a string")
                }
                return try Hash32(hex: s)
            }
        }
        if type == 4 {
            tx.authorizationList = try array(o, "authorizationList").map {
                (a: Any) throws(ChainError) -> Authorization in
                let auth = try object(a, "authorization")
                let parity = try u64(auth, "yParity", "v")
                guard parity <= 1 else {
                    throw ChainError(.invalidJSON, "authorization yParity: expected 0 or 1, found \(parity)")
                }
                return Authorization(
                    chainID: try u256(auth, "chainId"),
                    address: try address(auth, "address"),
                    nonce: try u64(auth, "nonce"),
                    yParity: UInt8(parity),
                    r: try u256(auth, "r"),
                    s: try u256(auth, "s")
                )
            }
        }
        tx.v = type == 0 ? try u256(o, "v") : try u256(o, "yParity", "v")
        tx.r = try u256(o, "r")
        tx.s = try u256(o, "s")
        if type == 0 {
            if tx.v.uint64 == 27 || tx.v.uint64 == 28 {
                tx.chainID = nil
            } else if tx.v >= U256(35) {
                tx.chainID = (tx.v - U256(35)) / U256(2)
            } else {
                throw ChainError(.invalidTransaction, "legacy transaction: expected v of 27, 28 or ≥ 35, found \(tx.v)")
            }
        }
        return tx
    }

    // MARK: Receipt and withdrawal

    /// A consensus receipt from a receipt object (eth_getBlockReceipts, eth_getTransactionReceipt).
    public static func receipt(_ o: Object) throws(ChainError) -> Receipt {
        let typeValue = optionalString(o, "type").map { (s: String) -> UInt64? in try? Hex.decodeUInt64(s) } ?? 0
        guard let type = typeValue, type <= 4 else {
            throw ChainError(.invalidReceipt, "expected receipt type 0x0–0x4, found \(describe(o["type"]))")
        }
        let outcome: Receipt.Outcome
        if let status = optionalString(o, "status") {
            let s = try Hex.decodeUInt64(status)
            guard s <= 1 else { throw ChainError(.invalidReceipt, "status: expected 0x0 or 0x1, found \(status)") }
            outcome = .status(s == 1)
        } else {
            outcome = .stateRoot(try hash(o, "root"))
        }
        let logs = try array(o, "logs").map { (l: Any) throws(ChainError) -> Log in
            let log = try object(l, "log")
            let topics = try array(log, "topics").map { (t: Any) throws(ChainError) -> Hash32 in
                guard let s = t as? String else { throw ChainError(.invalidJSON, "log topic: expected a string") }
                return try Hash32(hex: s)
            }
            return Log(address: try address(log, "address"), topics: topics, data: try data(log, "data"))
        }
        return Receipt(
            type: UInt8(type),
            outcome: outcome,
            cumulativeGasUsed: try u64(o, "cumulativeGasUsed"),
            logsBloom: try Bloom(data(o, "logsBloom")),
            logs: logs
        )
    }

    /// A withdrawal object.
    public static func withdrawal(_ o: Object) throws(ChainError) -> Withdrawal {
        Withdrawal(
            index: try u64(o, "index"),
            validatorIndex: try u64(o, "validatorIndex"),
            address: try address(o, "address"),
            amount: try u64(o, "amount")
        )
    }
}
