import ChainCore
import Foundation
import TestSupport
import Testing

@Suite struct TypedDataTests {
    /// ethers.js typed-data.json: 130 documents (nested structs, arrays, bytes, strings, ints of every width).
    @Test func ethersVectorsEncodeAndHashIdentically() throws {
        let tests = try #require(try TestData.json("chain/ethers-testcases/typed-data.json.gz") as? [[String: Any]])
        #expect(tests.count == 130)
        for t in tests {
            let doc = try TypedData(json: t)
            #expect(
                try doc.encodeData(doc.primaryType, doc.message).hex == t["encoded"] as? String,
                "\(t["name"] ?? "")"
            )
            #expect(try doc.signingHash().hex == t["digest"] as? String, "\(t["name"] ?? "")")
        }
    }

    /// The EIP-712 specification's Ether Mail example, step by step, and its signature.
    @Test func etherMailIntermediateValuesAndSignature() throws {
        let d = try #require(try TestData.json("chain/derived/eip712-mail-example.json") as? [String: Any])
        let doc = try TypedData(json: d)
        #expect(try doc.encodeType("Mail") == d["encodeType_Mail"] as? String)
        for type in ["EIP712Domain", "Person", "Mail"] {
            #expect(try doc.typeHash(type).hex == d["typeHash_\(type)"] as? String, "\(type)")
        }
        if let separator = d["domainSeparator"] as? String { #expect(try doc.domainSeparator().hex == separator) }
        if let hash = d["hashStruct_message"] as? String {
            #expect(try doc.hashStruct("Mail", doc.message).hex == hash)
        }
        let digest = try doc.signingHash()
        #expect(digest.hex == d["digest"] as? String)
        let signature = try Signature(rsv: Hex.decode(try #require(d["signature"] as? String)))
        let signer = try Secp256k1.shared.recoverAddress(digest, signature)
        #expect(signer.hex == (d["signer"] as? String)?.lowercased())
        let key = Keccak256.hash(utf8: "cow").bytes  // Cow's key, as in the EIP's example
        #expect(try Secp256k1.shared.sign(digest, privateKey: key).rsv.hex == d["signature"] as? String)
    }

    @Test func malformedDocumentsAreRejected() throws {
        #expect(throws: ChainError(.invalidTypedData, "")) {
            try TypedData(json: ["types": [:], "primaryType": "Mail"])
        }
        let doc = try TypedData(json: [
            "types": ["T": [["name": "a", "type": "uint8"]]], "primaryType": "T", "domain": [:], "message": ["a": 256],
        ])
        #expect(throws: ChainError.self) { try doc.signingHash() }
        let missing = try TypedData(json: [
            "types": ["T": [["name": "a", "type": "string"]]], "primaryType": "T", "domain": [:], "message": [:],
        ])
        #expect(throws: ChainError(.invalidTypedData, "")) { try missing.signingHash() }
    }
}

@Suite struct PersonalMessageTests {
    /// EIP-191: personal_sign of "Hello World" by the well-known Hardhat account #0 key, as eth-account computes.
    @Test func personalSignHashMatchesTheKnownDigest() throws {
        #expect(
            PersonalMessage.hash(Array("Hello World".utf8)).hex
                == "0xa1de988600a42c4b4ab089b619297c17d53cffae5d5120d82d8a92d0bb3b78f2"
        )
    }
}
