import ChainCore
import Foundation
import PlaneCrypto
import PlaneProtocol
import PrivacyPlane
import Testing

/// Receipt-log heads published to the DA store (issue #17): signed by the plane's receipt key, chained to the
/// head before, carrying the receipts they cover; a restarted publisher continues the chain.
extension KeyReleaseTests {
    @Test func receiptHeadsArePublishedEveryNReceiptsSignedAndChained() async throws {
        let receipts = try log("heads.log")
        let plane = try plane(log: receipts)
        let store = DAStore(root: dir.appendingPathComponent("da").path)
        let publisher = ReceiptHeadPublisher(log: receipts, store: store, every: 2)
        let signer = try Secp256k1.shared.address(privateKey: [UInt8](Self.planeKey))

        _ = try await providerRelease(plane, keyVersion: 1)
        #expect(try publisher.publishIfDue() == nil, "one receipt is not yet due")
        _ = try await providerRelease(plane, keyVersion: 2)
        let first = try #require(try publisher.publishIfDue())
        #expect(first.head.count == 2 && first.head.from == 0 && first.head.previous == .zero)
        #expect(first.head.head == receipts.durableHead.last)
        #expect(try first.signer(Self.domain) == signer)
        #expect(try first.verifiedReceipts(Self.domain).map(\.receipt.sequence) == [0, 1])
        let pointer = store.root + "/" + ReceiptHead.latestPointer
        let firstDigest = try Hash32(
            hex: String(contentsOfFile: pointer, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        )
        let stored = try SignedReceiptHead(document: store.get(firstDigest))
        #expect(stored.head == first.head && stored.receipts == first.receipts)

        // A restarted publisher reads where the chain stands; a forced publish covers what is left.
        _ = try await providerRelease(plane, keyVersion: 3)
        let restarted = ReceiptHeadPublisher(log: receipts, store: store, every: 2)
        #expect(try restarted.publishIfDue() == nil)
        let last = try #require(try restarted.publishIfDue(force: true))
        #expect(last.head.count == 3 && last.head.from == 2 && last.head.previous == firstDigest)
        #expect(try last.verifiedReceipts(Self.domain).map(\.receipt.sequence) == [2])

        // An edited receipt line no longer chains to the signed head; another key's head names its signer.
        var edited = first
        edited.receipts[1] = edited.receipts[1].replacingOccurrences(
            of: "\"keyVersion\":\"2\"",
            with: "\"keyVersion\":\"9\""
        )
        #expect(edited.receipts[1] != first.receipts[1])
        #expect(throws: PlaneProtocolError.self) { try edited.verifiedReceipts(Self.domain) }
        let other = try SignedReceiptHead(
            signing: first.head,
            receipts: first.receipts,
            domain: Self.domain,
            privateKey: Keccak256.hash(utf8: "not the plane").bytes
        )
        #expect(try other.signer(Self.domain) != signer)
    }
}
