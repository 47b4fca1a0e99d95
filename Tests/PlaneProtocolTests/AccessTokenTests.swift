import ChainCore
import Foundation
import PlaneProtocol
import TestSupport
import Testing

@Suite struct AccessTokenTests {
    static let planeKey = Keccak256.hash(utf8: "delong privacy plane test key").bytes
    static let domain = TokenDomain(
        chainID: 31337,
        verifyingContract: try! Address(hex: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")
    )
    static let token = AccessToken(
        consumer: try! Address(hex: "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"),
        dataset: Keccak256.hash(utf8: "admissions"),
        mode: .secure,
        imageDigest: Keccak256.hash(utf8: "image"),
        jobID: Keccak256.hash(utf8: "job"),
        audience: try! Address(hex: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
        notBefore: 1_800_000_000,
        expiry: 1_800_003_600,
        nonce: Keccak256.hash(utf8: "nonce")
    )

    /// eth-account signs the same EIP-712 document: the digest and the (RFC 6979) signature are identical.
    @Test func signaturesEqualEthAccountsForTheSameTypedData() throws {
        let signed = try SignedAccessToken(signing: Self.token, domain: Self.domain, privateKey: Self.planeKey)
        let t = Self.token
        let document: [String: Any] = [
            "types": [
                "EIP712Domain": [
                    ["name": "name", "type": "string"], ["name": "version", "type": "string"],
                    ["name": "chainId", "type": "uint256"], ["name": "verifyingContract", "type": "address"],
                ],
                "DeLongAccess": [
                    ["name": "consumer", "type": "address"], ["name": "dataset", "type": "bytes32"],
                    ["name": "rental", "type": "bytes32"],
                    ["name": "mode", "type": "uint8"], ["name": "imageDigest", "type": "bytes32"],
                    ["name": "jobId", "type": "bytes32"], ["name": "audience", "type": "address"],
                    ["name": "notBefore", "type": "uint64"], ["name": "expiry", "type": "uint64"],
                    ["name": "nonce", "type": "bytes32"],
                ],
            ],
            "primaryType": "DeLongAccess",
            "domain": [
                "name": TokenDomain.name, "version": TokenDomain.version, "chainId": 31337,
                "verifyingContract": Self.domain.verifyingContract.checksummed,
            ],
            "message": [
                "consumer": t.consumer.checksummed, "dataset": t.dataset.hex, "rental": t.rental.hex, "mode": 1,
                "imageDigest": t.imageDigest.hex,
                "jobId": t.jobID.hex, "audience": t.audience.checksummed, "notBefore": Int(t.notBefore),
                "expiry": Int(t.expiry), "nonce": t.nonce.hex,
            ],
        ]
        let script = """
            import json, sys
            from eth_account import Account
            from eth_account.messages import encode_typed_data
            doc = json.loads(sys.argv[1])
            msg = encode_typed_data(full_message=doc)
            signed = Account.sign_message(msg, private_key=sys.argv[2])
            print(json.dumps({"signature": "0x" + bytes(signed.signature).hex().removeprefix("0x"),
                              "digest": "0x" + bytes(signed.message_hash).hex().removeprefix("0x")}))
            """
        let json = String(decoding: try JSONSerialization.data(withJSONObject: document), as: UTF8.self)
        let out = try ContribTool.python(script, [json, Self.planeKey.hex])
        let reference = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: String])
        #expect(try Self.token.signingHash(Self.domain).hex == reference["digest"])
        #expect(signed.signature.rsv.hex == reference["signature"])
    }

    @Test func verifierAcceptsTheSignerWithinTheWindowOnly() throws {
        let signer = try Secp256k1.shared.address(privateKey: Self.planeKey)
        let verifier = TokenVerifier(domain: Self.domain, signer: signer)
        let signed = try SignedAccessToken(signing: Self.token, domain: Self.domain, privateKey: Self.planeKey)
        guard case .verified(let v) = verifier.verify(signed, now: 1_800_000_000) else {
            Issue.record("rejected")
            return
        }
        #expect(v.token == Self.token)
        #expect(
            verifier.verify(signed, now: 1_799_999_999)
                == .rejected(.notYetValid(notBefore: 1_800_000_000, now: 1_799_999_999))
        )
        #expect(
            verifier.verify(signed, now: 1_800_003_600)
                == .rejected(.expired(expiry: 1_800_003_600, now: 1_800_003_600))
        )

        // Another chain, another registry, another key, or an edited field: the signer no longer recovers.
        let elsewhere = TokenVerifier(
            domain: TokenDomain(chainID: 1, verifyingContract: Self.domain.verifyingContract),
            signer: signer
        )
        guard case .rejected(.wrongSigner) = elsewhere.verify(signed, now: 1_800_000_000) else {
            Issue.record("cross-chain replay accepted")
            return
        }
        let impostor = try SignedAccessToken(
            signing: Self.token,
            domain: Self.domain,
            privateKey: Keccak256.hash(utf8: "impostor").bytes
        )
        guard case .rejected(.wrongSigner) = verifier.verify(impostor, now: 1_800_000_000) else {
            Issue.record("impostor accepted")
            return
        }
        var edited = signed
        edited.token.expiry += 86_400
        guard case .rejected(.wrongSigner) = verifier.verify(edited, now: 1_800_000_000) else {
            Issue.record("edited token accepted")
            return
        }
        var explore = signed
        explore.token.mode = .explore
        guard case .rejected(.wrongSigner) = verifier.verify(explore, now: 1_800_000_000) else {
            Issue.record("mode change accepted")
            return
        }
    }
}
