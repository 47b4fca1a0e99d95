import ChainCore
import Foundation
import TestSupport
import Testing

@Suite struct SignatureTests {
    /// ethereum/tests TransactionTests/ttSignature, latest fork's expectation, mainnet chain id 1.
    @Test func ttSignatureVectorsGiveTheExpectedSenderOrAreRejected() throws {
        var accepted = 0
        var rejected = 0
        for file in try TestData.files(in: "chain/ethereum-tests/ttSignature") {
            let doc = try #require(
                try TestData.json("chain/ethereum-tests/ttSignature/\(file)") as? [String: [String: Any]]
            )
            let test = try #require(doc.values.first)
            let results = try #require(test["result"] as? [String: [String: Any]])
            let expected = try #require(results["Prague"] ?? results["Shanghai"] ?? results["London"])
            let bytes = try Hex.decode(try #require(test["txbytes"] as? String))
            let outcome = Result { () throws(ChainError) -> (Transaction, Address) in
                let tx = try Transaction(encoded: bytes)
                return (tx, try tx.sender(chainID: U256(1)))
            }
            if let sender = expected["sender"] as? String {
                let (tx, recovered) = try outcome.get()
                #expect(recovered.hex == sender, "\(file)")
                #expect(tx.hash.hex == expected["hash"] as? String, "\(file)")
                accepted += 1
            } else {
                #expect(throws: ChainError.self, "\(file) should fail: \(expected["exception"] ?? "")") {
                    try outcome.get()
                }
                rejected += 1
            }
        }
        #expect(accepted == 17 && rejected == 17)
    }

    /// ethereum/tests BasicTests/keyaddrtest.json: key = keccak(seed) → address.
    @Test func keyAddressVectors() throws {
        let tests = try #require(try TestData.json("chain/ethereum-tests/keyaddrtest.json") as? [[String: Any]])
        for t in tests {
            let seed = try #require(t["seed"] as? String)
            let key = Keccak256.hash(utf8: seed).bytes
            #expect(Hex.encode(key, prefix: false) == t["key"] as? String)
            let address = try Secp256k1.shared.address(privateKey: key)
            #expect(Hex.encode(address.bytes, prefix: false) == t["addr"] as? String)
            // `sig_of_emptystring` is not checked: neither we nor eth-keys recover `addr` from it over
            // keccak(""), SHA3-256("") or SHA-256("") with either recovery id, so its message is unknown.
        }
    }

    /// ethers.js accounts.json: private key → EIP-55 checksummed address.
    @Test func ethersAccountsDeriveChecksummedAddresses() throws {
        let tests = try #require(try TestData.json("chain/ethers-testcases/accounts.json.gz") as? [[String: Any]])
        #expect(tests.count == 259)
        for t in tests {
            let key = try Hex.decode(try #require(t["privateKey"] as? String))
            let expected = try #require(t["address"] as? String)
            #expect(try Secp256k1.shared.address(privateKey: key).checksummed == expected)
            #expect(try Address(hex: expected).checksummed == expected)
        }
    }

    @Test func checksumErrorsAreCaught() throws {
        #expect(throws: ChainError(.invalidValue, "")) {
            try Address(hex: "0x7E5F4552091A69125d5DfCb7b8C2659029395BDF")
        }
        #expect(
            try Address(hex: "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf").checksummed
                == "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
        )
    }

    /// ethers.js transactions.json: 3,200 random transactions of five kinds; our unsigned encoding, signing
    /// (RFC 6979, so byte-identical) and signed encoding equal ethers'.
    @Test func ethersTransactionsEncodeAndSignIdentically() throws {
        let tests = try #require(try TestData.json("chain/ethers-testcases/transactions.json.gz") as? [[String: Any]])
        #expect(tests.count == 3200)
        let kinds: [(suffix: String, type: UInt8, chain: Bool)] = [
            ("Legacy", 0, false), ("Eip155", 0, true), ("Berlin", 1, true), ("London", 2, true), ("Cancun", 3, true),
        ]
        var checked = 0
        for t in tests {
            let json = try #require(t["transaction"] as? [String: Any])
            let key = try Hex.decode(try #require(t["privateKey"] as? String))
            let from = try Secp256k1.shared.address(privateKey: key)
            for kind in kinds {
                guard let unsigned = t["unsigned\(kind.suffix)"] as? String,
                    let signed = t["signed\(kind.suffix)"] as? String,
                    !unsigned.isEmpty, !signed.isEmpty
                else { continue }
                if kind.type == 3 && json["to"] == nil { continue }
                var tx = try Self.transaction(json, type: kind.type, withChainID: kind.chain)
                #expect(tx.signingPayload.hex == unsigned, "\(t["name"] ?? "") \(kind.suffix) unsigned")
                try tx.sign(privateKey: key)
                #expect(tx.encoded.hex == signed, "\(t["name"] ?? "") \(kind.suffix) signed")
                let decoded = try Transaction(encoded: Hex.decode(signed))
                #expect(decoded.encoded == tx.encoded)
                #expect(try decoded.sender() == from)
                checked += 1
            }
        }
        #expect(checked == 12_928)
    }

    @Test func highSAndOutOfRangeSignaturesAreRejected() throws {
        let key = Keccak256.hash(utf8: "delong").bytes
        let digest = Keccak256.hash(utf8: "message")
        let sig = try Secp256k1.shared.sign(digest, privateKey: key)
        // s' = n - s is the same signature's malleable twin.
        let n = try U256(bigEndian: Hex.decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"))
        let highS = (n - (try U256(bigEndian: sig.s))).bigEndianBytes
        #expect(throws: ChainError(.invalidSignature, "")) {
            try Signature(r: sig.r, s: highS, recoveryID: sig.recoveryID ^ 1)
        }
        #expect(throws: ChainError(.invalidSignature, "")) { try Signature(r: [], s: sig.s, recoveryID: 0) }
        #expect(throws: ChainError(.invalidSignature, "")) {
            try Signature(r: n.bigEndianBytes, s: sig.s, recoveryID: 0)
        }
        #expect(throws: ChainError(.invalidSignature, "")) { try Signature(rsv: sig.rsv.dropLast() + [29]) }
        #expect(throws: ChainError(.invalidSignature, "")) { try Signature(rsv: Array(sig.rsv.prefix(64))) }
        #expect(
            try Secp256k1.shared.recoverAddress(digest, Signature(rsv: sig.rsv))
                == Secp256k1.shared.address(privateKey: key)
        )
    }

    static let order = try! U256(
        bigEndian: Hex.decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
    )
    static let halfOrder = try! U256(
        bigEndian: Hex.decode("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0")
    )

    static func transaction(_ j: [String: Any], type: UInt8, withChainID: Bool) throws -> Transaction {
        func u(_ k: String) throws -> U256 { try U256(quantity: j[k] as? String ?? "0x0") }
        var tx = Transaction(type: type)
        tx.nonce = UInt64(j["nonce"] as? Int ?? 0)
        tx.gasLimit = try Hex.decodeUInt64(j["gasLimit"] as? String ?? "0x0")
        tx.to = try (j["to"] as? String).map { try Address(hex: $0) }
        tx.value = try u("value")
        tx.data = try Hex.decode(j["data"] as? String ?? "0x")
        tx.gasPrice = try u("gasPrice")
        tx.maxFeePerGas = try u("maxFeePerGas")
        tx.maxPriorityFeePerGas = try u("maxPriorityFeePerGas")
        tx.maxFeePerBlobGas = try u("maxFeePerBlobGas")
        tx.blobVersionedHashes = try (j["blobVersionedHashes"] as? [String] ?? []).map { try Hash32(hex: $0) }
        tx.accessList = try (j["accessList"] as? [[String: Any]] ?? []).map {
            AccessListEntry(
                address: try Address(hex: $0["address"] as! String),
                storageKeys: try ($0["storageKeys"] as? [String] ?? []).map { try Hash32(hex: $0) }
            )
        }
        tx.chainID = withChainID ? try u("chainId") : nil
        return tx
    }
}
