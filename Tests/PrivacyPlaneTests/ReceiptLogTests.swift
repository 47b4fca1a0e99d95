import ChainCore
import ChainRecords
import Foundation
import PlaneCrypto
import PlaneProtocol
import PrivacyPlane
import Synchronization
import Testing

/// M8 and L1: provider releases are limited per dataset and not logged again; the receipt log rotates,
/// replays segment by segment, forgets expired tokens without reopening them, and refuses to start when it
/// ends before its anchor.
extension KeyReleaseTests {
    func plane(log: ReceiptLog, providerLimits: KeyRelease.ProviderLimits = .init()) throws -> KeyRelease {
        KeyRelease(
            reader: index,
            tokens: TokenVerifier(domain: Self.domain, signer: try issuer().signer),
            evidence: FaceValueEvidence(),
            receipts: log,
            keys: keys,
            providerLimits: providerLimits,
            logger: nil
        )
    }

    func log(_ name: String, segmentBytes: Int = 8 << 20) throws -> ReceiptLog {
        try ReceiptLog(
            path: dir.appendingPathComponent(name).path,
            domain: Self.domain,
            signingKey: SecretBytes(copying: Self.planeKey),
            tokenLifetime: 3600,
            segmentBytes: segmentBytes
        )
    }

    func providerRelease(
        _ plane: KeyRelease,
        dataset: Hash32 = dataset,
        keyVersion: UInt32 = 1,
        now: UInt64 = now
    ) async throws -> (KeyReleaseResponse, X25519PrivateKey) {
        let recipient = try X25519PrivateKey()
        let response = try await plane.providerKey(
            for: Self.provider,
            dataset: dataset,
            keyVersion: keyVersion,
            recipientKey: recipient.publicKey,
            now: now
        )
        return (response, recipient)
    }

    @Test func providerReleasesAreLimitedPerDatasetAndRepeatsAreNotLoggedAgain() async throws {
        let other = Keccak256.hash(utf8: "second dataset")
        index.content.withLock { c in
            var d = c.datasets[Self.dataset]!
            d.id = other
            c.datasets[other] = d
        }
        let plane = try plane(log: try log("provider.log"), providerLimits: .init(perWindow: 3, window: 3600))
        let dek = try keys.dek(datasetID: Self.dataset, keyVersion: 1)
        var sequences: [UInt64] = []
        for i in 0..<3 {
            let (response, recipient) = try await providerRelease(plane, now: Self.now + UInt64(i))
            #expect(
                try #require(try KeyWrap.unwrap(response.wrapped, recipient: recipient, chainID: 31337))
                    .constantTimeEquals(dek)
            )
            sequences.append(response.receipt.receipt.sequence)
        }
        #expect(sequences == [0, 0, 0], "repeats return the first receipt")
        #expect(plane.receipts.count == 1, "one receipt per (provider, dataset, key version) per window")
        // Another key version is a new receipt; the dataset's allowance is spent after three releases.
        await expectRefusal(.rateLimited) { _ = try await providerRelease(plane, keyVersion: 2) }
        // Another dataset has its own allowance.
        let (elsewhere, _) = try await providerRelease(plane, dataset: other)
        #expect(elsewhere.receipt.receipt.sequence == 1)
        // The next window: allowed again, and recorded again.
        let (later, _) = try await providerRelease(plane, now: Self.now + 3600)
        #expect(later.receipt.receipt.sequence == 2)
        #expect(plane.receipts.count == 3)
    }

    /// L11: key versions are bounded (1…16), for sandboxes and providers alike; the receipt records the version.
    @Test func keyVersionsOutsideTheBoundAreRefused() async throws {
        let plane = try plane(log: try log("versions.log"))
        for version: UInt32 in [0, 17, .max] {
            var r = try request(try secureToken(), sandbox: X25519PrivateKey())
            r.keyVersion = version
            await expectRefusal(.badRequest) { _ = try await plane.release(r, now: Self.now) }
            await expectRefusal(.badRequest) { _ = try await providerRelease(plane, keyVersion: version) }
        }
        var r = try request(try secureToken(), sandbox: X25519PrivateKey())
        r.keyVersion = 16
        #expect(try await plane.release(r, now: Self.now).receipt.receipt.keyVersion == 16)
        #expect(plane.receipts.count == 1)
    }

    @Test func theReceiptLogRotatesIntoSegmentsAndReplaysThemInOrder() async throws {
        do {
            let plane = try plane(log: try log("rotating.log", segmentBytes: 4096))
            for _ in 0..<12 {
                _ = try await plane.release(try request(try secureToken(), sandbox: X25519PrivateKey()), now: Self.now)
            }
            #expect(plane.receipts.sealedSegmentPaths.count >= 2, "\(plane.receipts.sealedSegmentPaths)")
            #expect(try plane.receipts.lines(from: 0, limit: 100).map(\.sequence) == Array(0..<12))
            #expect(try plane.receipts.lines(from: 7, limit: 3).map(\.sequence) == [7, 8, 9])
        }
        let reopened = try log("rotating.log", segmentBytes: 4096)
        #expect(reopened.count == 12)
        let lines = try reopened.lines(from: 0, limit: 100)
        #expect(lines.map(\.sequence) == Array(0..<12))
        for (sequence, line) in lines {
            #expect(try ReceiptLog.decode(line, domain: Self.domain, at: "test").receipt.sequence == sequence)
        }
        let segments = reopened.sealedSegmentPaths
        // A sealed segment removed from the middle breaks the chain.
        let copy = dir.appendingPathComponent("copy")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        for path in segments + [dir.appendingPathComponent("rotating.log").path] {
            try FileManager.default.copyItem(
                atPath: path,
                toPath: copy.appendingPathComponent(URL(fileURLWithPath: path).lastPathComponent).path
            )
        }
        try FileManager.default.removeItem(
            at: copy.appendingPathComponent(URL(fileURLWithPath: segments[0]).lastPathComponent)
        )
        #expect(throws: PrivacyPlaneError(.corruptStore, "")) {
            _ = try ReceiptLog(
                path: copy.appendingPathComponent("rotating.log").path,
                domain: Self.domain,
                signingKey: SecretBytes(copying: Self.planeKey)
            )
        }
    }

    @Test func usedTokensAreForgottenAfterTheirExpiryAndNeverAcceptedAgain() async throws {
        let first = try secureToken()
        let later = try issuer().issue(
            for: Self.consumer,
            TokenRequest(
                dataset: Self.dataset,
                mode: .secure,
                imageDigest: Self.image,
                jobID: Self.job,
                audience: Self.computingOperator
            ),
            now: Self.now + 3700
        )
        do {
            let plane = try plane(log: try log("forget.log"))
            _ = try await plane.release(try request(first, sandbox: X25519PrivateKey()), now: Self.now)
            #expect(plane.receipts.rememberedTokens == 1)
            // An hour and more later, another release moves the plane's time past the first token's expiry.
            _ = try await plane.release(try request(later, sandbox: X25519PrivateKey()), now: Self.now + 3700)
            #expect(plane.receipts.rememberedTokens == 1, "the first token was forgotten")
            #expect(!plane.receipts.isUsed(token: try first.token.signingHash(Self.domain)))
            // A clock set back into the first token's window does not reopen it.
            await expectRefusal(.tokenRefused) {
                _ = try await plane.release(try request(first, sandbox: X25519PrivateKey()), now: Self.now + 10)
            }
        }
        // Replay forgets it too, and still refuses it.
        let reopened = try plane(log: try log("forget.log"))
        #expect(reopened.receipts.count == 2 && reopened.receipts.rememberedTokens == 1)
        await expectRefusal(.tokenRefused) {
            _ = try await reopened.release(try request(first, sandbox: X25519PrivateKey()), now: Self.now + 10)
        }
        await expectRefusal(.tokenAlreadyUsed) {
            _ = try await reopened.release(try request(later, sandbox: X25519PrivateKey()), now: Self.now + 3700)
        }
    }

    @Test func aCutTailOrADeletedReceiptLogIsRefusedAtStart() async throws {
        let path = dir.appendingPathComponent("anchored.log")
        do {
            let plane = try plane(log: try log("anchored.log"))
            for _ in 0..<3 {
                _ = try await plane.release(try request(try secureToken(), sandbox: X25519PrivateKey()), now: Self.now)
            }
        }
        let original = try Data(contentsOf: path)
        let text = String(decoding: original, as: UTF8.self)
        var lines = text.split(separator: "\n").map(String.init)
        // The last receipt cut at a line boundary: behind the anchor.
        lines.removeLast()
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: path)
        #expect(throws: PrivacyPlaneError(.corruptStore, "")) { _ = try log("anchored.log") }
        // The log deleted (a fresh one would be created): refused.
        try FileManager.default.removeItem(at: path)
        #expect(throws: PrivacyPlaneError(.corruptStore, "")) { _ = try log("anchored.log") }
        #expect(!FileManager.default.fileExists(atPath: path.path), "nothing was created in its place")
        // Restored, with a torn half line after it (a crash mid-write): accepted, the torn line cut.
        try (original + Data("{\"receipt\":".utf8)).write(to: path)
        #expect(try log("anchored.log").count == 3)
        // A log ahead of its anchor (a crash between the log's fsync and the anchor's) is accepted, and the
        // anchor catches up; an anchor whose hash is not the log's receipt is refused.
        let anchor = dir.appendingPathComponent("anchored.log.anchor")
        let anchorText = try String(contentsOf: anchor, encoding: .utf8)
        #expect(anchorText.contains("00000000000000000003 "), "\(anchorText)")
        let second = try ReceiptLog.decode(Array(lines[2].utf8), domain: Self.domain, at: "test")
        #expect(second.receipt.sequence == 1)
        try "delong-key-receipts-anchor v1\n00000000000000000002 \(second.hash.hex)\n"
            .write(to: anchor, atomically: false, encoding: .utf8)
        #expect(try log("anchored.log").count == 3)
        #expect(try String(contentsOf: anchor, encoding: .utf8) == anchorText)
        try anchorText.replacingOccurrences(of: "00000000000000000003 ", with: "00000000000000000002 ")
            .write(to: anchor, atomically: false, encoding: .utf8)
        #expect(throws: PrivacyPlaneError(.corruptStore, "")) { _ = try log("anchored.log") }
    }
}
