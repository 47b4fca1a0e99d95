import ChainCore
import Foundation
import PlaneCrypto
import PlaneProtocol
import TestSupport
import Testing

/// What crosses between parties survives the wire, and what is damaged on it is refused by name.
@Suite struct WireAndReceiptTests {
    // The same plane key, domain and token the EIP-712 tests check against eth-account.
    static let planeKey = AccessTokenTests.planeKey
    static let domain = AccessTokenTests.domain
    static let token = AccessTokenTests.token
    static let receipt = KeyReleaseReceipt(
        sequence: 7,
        previous: Keccak256.hash(utf8: "previous"),
        kind: .sandbox,
        rental: token.rental,
        dataset: token.dataset,
        recipient: token.consumer,
        blockNumber: 123,
        blockHash: Keccak256.hash(utf8: "block"),
        token: Keccak256.hash(utf8: "token"),
        evidence: Keccak256.hash(utf8: "evidence"),
        evidenceKind: .tdx,
        imageDigest: token.imageDigest,
        jobID: token.jobID,
        keyVersion: 2,
        releasedAt: 1_800_000_100
    )

    /// The JSON of `value` through JSONSerialization and back, as it travels.
    static func roundTrip(_ value: [String: Any]) throws -> [String: Any] {
        try #require(
            JSONSerialization.jsonObject(with: JSONSerialization.data(withJSONObject: value)) as? [String: Any]
        )
    }

    @Test func aSignedReceiptVerifiesAgainstItsSignerOnlyAndSurvivesTheWire() throws {
        let signed = try SignedReceipt(signing: Self.receipt, domain: Self.domain, privateKey: Self.planeKey)
        let signer = try Secp256k1.shared.address(privateKey: Self.planeKey)
        #expect(signed.verify(domain: Self.domain, signer: signer))
        #expect(!signed.verify(domain: Self.domain, signer: Self.token.consumer), "another signer")
        #expect(
            !signed.verify(
                domain: TokenDomain(chainID: 1, verifyingContract: Self.domain.verifyingContract),
                signer: signer
            ),
            "another chain's domain"
        )
        var edited = signed
        edited.receipt.keyVersion = 3
        #expect(!edited.verify(domain: Self.domain, signer: signer), "an edited receipt")

        let parsed = try SignedReceipt(json: try Self.roundTrip(signed.json))
        #expect(parsed == signed)
        #expect(parsed.verify(domain: Self.domain, signer: signer))
    }

    @Test func keyReleaseMessagesSurviveTheWire() throws {
        let signedToken = try SignedAccessToken(signing: Self.token, domain: Self.domain, privateKey: Self.planeKey)
        let request = KeyReleaseRequest(
            token: signedToken,
            evidence: Array("evidence".utf8),
            sandboxKey: [UInt8](repeating: 9, count: 32),
            agentSigner: try Address(hex: "0x00000000000000000000000000000000000000a9"),
            keyVersion: 3
        )
        let parsed = try KeyReleaseRequest(json: try Self.roundTrip(request.json))
        #expect(parsed.token == signedToken && parsed.evidence == request.evidence)
        #expect(parsed.sandboxKey == request.sandboxKey && parsed.keyVersion == 3)
        #expect(parsed.agentSigner == request.agentSigner)

        var noVersion = request.json
        noVersion["keyVersion"] = nil
        #expect(try KeyReleaseRequest(json: noVersion).keyVersion == 1, "an absent key version is 1")

        let tokenRequest = TokenRequest(
            dataset: Self.token.dataset,
            mode: .secure,
            imageDigest: Self.token.imageDigest,
            jobID: Self.token.jobID,
            audience: Self.token.audience
        )
        #expect(try TokenRequest(json: try Self.roundTrip(tokenRequest.json)) == tokenRequest)
        let explore = TokenRequest(dataset: Self.token.dataset, mode: .explore)
        #expect(explore.json["imageDigest"] == nil && explore.json["audience"] == nil)
        #expect(try TokenRequest(json: try Self.roundTrip(explore.json)) == explore)

        let provider = ProviderKeyRequest(
            dataset: Self.token.dataset,
            recipientKey: [UInt8](repeating: 1, count: 32),
            keyVersion: 4
        )
        #expect(try ProviderKeyRequest(json: try Self.roundTrip(provider.json)) == provider)

        let response = KeyReleaseResponse(
            wrapped: KeyWrap.Wrapped(
                dataset: Self.token.dataset,
                keyVersion: 2,
                tokenHash: Self.receipt.token,
                evidenceHash: Self.receipt.evidence,
                planeKey: [UInt8](repeating: 2, count: 32),
                nonce: [UInt8](repeating: 3, count: 12),
                sealed: [UInt8](repeating: 4, count: 48)
            ),
            receipt: try SignedReceipt(signing: Self.receipt, domain: Self.domain, privateKey: Self.planeKey),
            lease: KeyLease(id: Self.receipt.token, expiresAt: 1_800_000_130, renewEvery: 10)
        )
        let back = try KeyReleaseResponse(json: try Self.roundTrip(response.json))
        #expect(back.wrapped == response.wrapped && back.receipt == response.receipt)
        #expect(back.lease == response.lease)
        var noLease = response
        noLease.lease = .none
        #expect(noLease.json["lease"] == nil, "a provider's key carries no lease")
        #expect(try KeyReleaseResponse(json: try Self.roundTrip(noLease.json)).lease == .none)

        let agentKey = Keccak256.hash(utf8: "agent key").bytes
        let renewal = try LeaseRenewal(signing: Self.receipt.token, at: 1_800_000_110, privateKey: agentKey)
        let renewalBack = try LeaseRenewal(json: try Self.roundTrip(renewal.json))
        #expect(renewalBack == renewal)
        #expect(try renewalBack.signer() == (try Secp256k1.shared.address(privateKey: agentKey)))
        #expect(renewal.json["at"] as? String == "1800000110", "numbers travel as decimal strings")
    }

    /// The renewal digest and REPORTDATA v2 are what an independent implementation computes: eth-utils'
    /// keccak over the documented concatenation (and eth-account recovers the agent from the signature),
    /// hashlib's SHA-512 over the REPORTDATA transcript.
    @Test func renewalDigestAndReportDataEqualIndependentReferences() throws {
        let lease = Keccak256.hash(utf8: "lease")
        let at: UInt64 = 0x0102_0304_0506_0708
        let agentKey = Keccak256.hash(utf8: "agent key").bytes
        let agent = try Secp256k1.shared.address(privateKey: agentKey)
        let signed = try LeaseRenewal(signing: lease, at: at, privateKey: agentKey)
        let recipient = [UInt8](repeating: 7, count: 32)
        let script = """
            import hashlib, sys
            from eth_utils import keccak
            from eth_account import Account
            lease, at, sig = bytes.fromhex(sys.argv[1][2:]), int(sys.argv[2]), bytes.fromhex(sys.argv[3][2:])
            digest = keccak(b"delong/lease-renewal/v1" + lease + at.to_bytes(8, "big"))
            print("0x" + digest.hex())
            print(Account._recover_hash(digest, signature=sig))
            rd = hashlib.sha512(b"delong/report-data/v2" + bytes([7]) * 32 + bytes.fromhex(sys.argv[4][2:])
                                + bytes.fromhex(sys.argv[5][2:]) + bytes.fromhex(sys.argv[6][2:])).hexdigest()
            print(rd)
            """
        let out = try ContribTool.python(
            script,
            [
                lease.hex, "\(at)", Hex.encode(signed.signature.rsv), agent.hex, Self.token.rental.hex,
                Self.token.imageDigest.hex,
            ]
        ).split(separator: "\n").map(String.init)
        #expect(out.count == 3, "\(out)")
        #expect(KeyLease.renewalHash(id: lease, at: at).hex == out.first)
        #expect(out.dropFirst().first?.lowercased() == agent.hex, "eth-account recovers the agent signer")
        let reportData = KeyWrap.reportData(
            recipientKey: recipient,
            agentSigner: agent,
            tokenHash: Self.token.rental,
            imageDigest: Self.token.imageDigest
        )
        #expect(Hex.encode(reportData, prefix: false) == out.last)
    }

    @Test func damagedFieldsAreMalformedAndNamed() throws {
        let signedToken = try SignedAccessToken(signing: Self.token, domain: Self.domain, privateKey: Self.planeKey)
        var body: [String: Any] = [
            "token": signedToken.json, "evidence": "0x00", "sandboxKey": "0x" + String(repeating: "11", count: 32),
            "agentSigner": "0x" + String(repeating: "ab", count: 20),
        ]

        body["keyVersion"] = "two"
        #expect { _ = try KeyReleaseRequest(json: body) } throws: { error in
            (error as? PlaneProtocolError)?.code == .malformed && "\(error)".contains("request.keyVersion")
        }
        body["keyVersion"] = nil
        body["agentSigner"] = nil
        #expect { _ = try KeyReleaseRequest(json: body) } throws: { error in
            (error as? PlaneProtocolError)?.code == .malformed && "\(error)".contains("request.agentSigner")
        }
        body["agentSigner"] = "0x" + String(repeating: "ab", count: 20)
        body["evidence"] = "not hex"
        #expect { _ = try KeyReleaseRequest(json: body) } throws: { error in
            (error as? PlaneProtocolError)?.code == .malformed && "\(error)".contains("request.evidence")
        }
        #expect { _ = try TokenRequest(json: ["mode": "audit", "dataset": Self.token.dataset.hex]) } throws: { error in
            (error as? PlaneProtocolError)?.code == .malformed && "\(error)".contains("request.mode")
        }
        var receipt = try SignedReceipt(signing: Self.receipt, domain: Self.domain, privateKey: Self.planeKey).json
        var inner = try #require(receipt["receipt"] as? [String: Any])
        inner["sequence"] = 7
        receipt["receipt"] = inner
        #expect { _ = try SignedReceipt(json: receipt) } throws: { error in
            (error as? PlaneProtocolError)?.code == .malformed && "\(error)".contains("receipt.receipt.sequence")
        }
    }

    @Test func errorEnvelopesParseAndCodesAreSnakeCase() {
        let envelope = ErrorEnvelope(code: "rental_inactive", message: "no rental")
        #expect(ErrorEnvelope(json: envelope.json) == envelope)
        #expect(ErrorEnvelope(json: ["result": 1]) == nil)
        #expect(ErrorEnvelope.snakeCase("tokenAlreadyUsed") == "token_already_used")
        let refused = PlaneProtocolError(refusedWith: 409, envelope)
        #expect(refused.code == .refused && refused.refusal?.status == 409 && refused.refusal?.envelope == envelope)
        #expect(refused.reason == "the plane refused (HTTP 409 rental_inactive): no rental")
    }

    /// Both ends share one definition of the wrap: what the plane wraps for a key opens with that key on the
    /// chain it was wrapped for, and nowhere else.
    @Test func aWrappedKeyOpensForItsRecipientOnItsChainOnly() throws {
        let dek = SecretBytes(copying: [UInt8](repeating: 0x5A, count: 32))
        let recipient = try X25519PrivateKey()
        let wrapped = try KeyWrap.wrap(
            dek,
            chainID: 31337,
            dataset: Self.token.dataset,
            keyVersion: 2,
            tokenHash: Self.receipt.token,
            evidenceHash: Self.receipt.evidence,
            recipientKey: recipient.publicKey
        )
        let opened = try #require(try KeyWrap.unwrap(wrapped, recipient: recipient, chainID: 31337))
        #expect(opened.constantTimeEquals(dek))
        #expect(try KeyWrap.unwrap(wrapped, recipient: recipient, chainID: 1) == nil)
        #expect(try KeyWrap.unwrap(wrapped, recipient: try X25519PrivateKey(), chainID: 31337) == nil)
        var edited = wrapped
        edited.keyVersion = 3
        #expect(try KeyWrap.unwrap(edited, recipient: recipient, chainID: 31337) == nil)
    }
}

@Suite struct StaticTypedDataTests {
    /// The direct EIP-712 hashing of tokens and receipts equals the generic TypedData walk (which the
    /// eth-account tests pin down) for many random values.
    @Test func staticHashesEqualTheGenericTypedData() throws {
        var rng = DeterministicBytes(seed: 7)
        for _ in 0..<50 {
            let h = { try! Hash32(rng.bytes(32)) }
            let token = AccessToken(
                consumer: try Address(rng.bytes(20)),
                dataset: h(),
                mode: rng.bytes(1)[0] & 1 == 0 ? .explore : .secure,
                imageDigest: h(),
                jobID: h(),
                audience: try Address(rng.bytes(20)),
                notBefore: UInt64(rng.bytes(1)[0]),
                expiry: .max,
                nonce: h()
            )
            let domain = TokenDomain(
                chainID: UInt64(rng.bytes(1)[0]) << 40,
                verifyingContract: try Address(rng.bytes(20))
            )
            #expect(try token.signingHash(domain) == (try token.typedData(domain).signingHash()))
            let receipt = KeyReleaseReceipt(
                sequence: .max,
                previous: h(),
                kind: .provider,
                rental: h(),
                dataset: h(),
                recipient: try Address(rng.bytes(20)),
                blockNumber: 12_345_678,
                blockHash: h(),
                token: h(),
                evidence: h(),
                evidenceKind: .developmentInsecure,
                imageDigest: h(),
                jobID: h(),
                keyVersion: .max,
                releasedAt: 1
            )
            #expect(try receipt.signingHash(domain) == (try receipt.typedData(domain).signingHash()))
        }
    }
}
