import ChainCore
import ChainRecords
import Foundation
import TestSupport
import Testing

@testable import ChainIndex

@Suite struct ChainIndexTests {
    let dir: URL
    let contracts: DeLongContracts
    let genesis = IndexHead(number: 0, hash: Keccak256.hash(utf8: "genesis"))

    init() throws {
        dir = try DelongProcess.temporaryDirectory()
        contracts = DeLongContracts(
            dataMarket: try Address(hex: "0x5FbDB2315678afecb367f032d93F642f64180aa3"),
            algorithmRegistry: try Address(hex: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")
        )
    }

    func open(_ name: String = "index", finality: UInt64 = 4, chainID: UInt64 = 31337) throws -> ChainIndex {
        try ChainIndex(
            path: dir.appendingPathComponent(name).path,
            config: IndexConfig(chainID: chainID, contracts: contracts, checkpoint: genesis, finalityDepth: finality)
        )
    }

    static let provider = try! Address(hex: "0x90F79bf6EB2c4f870365E785982E1f101E93b906")
    static let consumer = try! Address(hex: "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc")
    static let dataset = Keccak256.hash(utf8: "dataset")

    /// A chain of blocks on a branch named `branch`, each carrying the given events.
    func blocks(_ events: [[DeLongEvent]], from parent: IndexHead? = nil, branch: String = "a") -> [IndexedBlock] {
        var parent = parent ?? genesis
        return events.map { evs in
            let n = parent.number + 1
            let block = IndexedBlock(
                number: n,
                hash: Keccak256.hash(utf8: "\(branch)/\(n)"),
                parentHash: parent.hash,
                timestamp: 1000 + n,
                events: evs.enumerated().map { (UInt64($0.offset), $0.element) }
            )
            parent = IndexHead(number: n, hash: block.hash)
            return block
        }
    }

    static var registered: DeLongEvent {
        .datasetRegistered(
            .init(
                datasetID: dataset,
                provider: provider,
                manifestDigest: Keccak256.hash(utf8: "m1"),
                pricePerSecond: U256(7),
                sampleLocator: "s",
                metadataURI: "u"
            )
        )
    }
    static var rented: DeLongEvent {
        .rentalStarted(
            .init(datasetID: dataset, consumer: consumer),
            provider: provider,
            startedAt: 1000,
            expiresAt: 4600,
            paid: U256(25_200)
        )
    }
    static var extended: DeLongEvent {
        .rentalExtended(
            .init(datasetID: dataset, consumer: consumer),
            provider: provider,
            addedSeconds: 600,
            expiresAt: 5200,
            paid: U256(4200)
        )
    }
    static var revoked: DeLongEvent {
        .rentalRevoked(
            .init(datasetID: dataset, consumer: consumer),
            provider: provider,
            expiresAt: 2000,
            refund: U256(100)
        )
    }

    @Test func eventsBecomeRecordsWithTheirOrigin() throws {
        let index = try open()
        let chain = blocks([[Self.registered], [Self.rented], [], [Self.extended]])
        try index.apply(indexed: chain)
        #expect(try index.head() == IndexHead(number: 4, hash: chain[3].hash))
        let rental = try #require(try index.rental(dataset: Self.dataset, consumer: Self.consumer))
        #expect(rental.expiresAt == 5200 && rental.paid == U256(29_400) && rental.status == .active)
        #expect(rental.updated.blockNumber == 4)
        #expect(rental.isActive(at: 5199) && !rental.isActive(at: 5200))
        #expect(try index.rentals(consumer: Self.consumer).map(\.datasetID) == [Self.dataset])
        #expect(try index.datasets(provider: Self.provider).map(\.id) == [Self.dataset])
        #expect(try index.dataset(Self.dataset)?.registered.blockNumber == 1)
    }

    @Test func unwindRestoresExactlyTheEarlierIndex() throws {
        let index = try open()
        let base = blocks([[Self.registered], [Self.rented]])
        try index.apply(indexed: base)
        let before = try index.digest()
        let branch = blocks([[Self.extended], [Self.revoked], []], from: IndexHead(number: 2, hash: base[1].hash))
        try index.apply(indexed: branch)
        #expect(try index.rental(dataset: Self.dataset, consumer: Self.consumer)?.status == .revoked)
        try index.unwind(to: 2)
        #expect(try index.digest() == before)
        #expect(try index.rental(dataset: Self.dataset, consumer: Self.consumer)?.expiresAt == 4600)
        // The other branch can now be applied on the same parent.
        try index.apply(indexed: blocks([[Self.revoked]], from: IndexHead(number: 2, hash: base[1].hash), branch: "b"))
        #expect(try index.head().hash == Keccak256.hash(utf8: "b/3"))
    }

    /// Values beyond today's types are indexed exactly and read back: a uint256 expiry past 2^64 (saturated
    /// for access checks, exact in the record), strings that are not UTF-8 and long ones, through unwind too.
    @Test func valuesBeyondSixtyFourBitsAndNonUTF8StringsRoundTrip() throws {
        let index = try open()
        let past64 = U256(UInt64.max).addingReportingOverflow(U256(1_000_000)).partialValue
        let notUTF8 = ChainText(bytes: [0xFF, 0xFE, 0x41, 0xC3])
        let long = ChainText(bytes: [UInt8](repeating: 0x62, count: 1024))
        let image = Keccak256.hash(utf8: "image")
        let events: [DeLongEvent] = [
            .datasetRegistered(
                .init(
                    datasetID: Self.dataset,
                    provider: Self.provider,
                    manifestDigest: Keccak256.hash(utf8: "m1"),
                    pricePerSecond: .zero,
                    sampleLocator: notUTF8,
                    metadataURI: long
                )
            ),
            .rentalStarted(
                .init(datasetID: Self.dataset, consumer: Self.consumer),
                provider: Self.provider,
                startedAt: 1000,
                expiresAt: past64,
                paid: .zero
            ),
            .algorithmPublished(imageDigest: image, publisher: Self.consumer, bundleDigest: image, daLocator: notUTF8),
            .measurementTrusted(digest: image, measurements: [1, 2], label: notUTF8),
        ]
        let chain = blocks([[], events])
        try index.apply(indexed: chain)
        let rental = try #require(try index.rental(dataset: Self.dataset, consumer: Self.consumer))
        #expect(rental.expiresAtExact == past64 && rental.expiresAt == .max)
        #expect(rental.isActive(at: UInt64.max - 1))
        let dataset = try #require(try index.dataset(Self.dataset))
        #expect(dataset.sampleLocatorText == notUTF8 && dataset.metadataURIText == long)
        #expect(dataset.sampleLocator == "\u{FFFD}\u{FFFD}A\u{FFFD}")
        #expect(try index.algorithm(image)?.daLocatorText == notUTF8)
        #expect(try index.measurement(image)?.labelText == notUTF8)
        // An extension past 2^64 too, then unwound: the exact earlier value comes back.
        let further = past64.addingReportingOverflow(U256(600)).partialValue
        try index.apply(
            indexed:
                blocks(
                    [
                        [
                            .rentalExtended(
                                .init(datasetID: Self.dataset, consumer: Self.consumer),
                                provider: Self.provider,
                                addedSeconds: U256(600),
                                expiresAt: further,
                                paid: .zero
                            )
                        ]
                    ],
                    from: IndexHead(number: 2, hash: chain[1].hash)
                )
        )
        #expect(try index.rental(dataset: Self.dataset, consumer: Self.consumer)?.expiresAtExact == further)
        try index.unwind(to: 2)
        #expect(try index.rental(dataset: Self.dataset, consumer: Self.consumer)?.expiresAtExact == past64)
    }

    /// The seal checker's state (the Clique signer set) is kept with the head, survives a reopen, and a reorg
    /// unwinds it with its blocks; a block without a new state leaves the stored one.
    @Test func consensusStateIsKeptWithTheHeadAndUnwound() throws {
        var chain = blocks([[], [], []])
        for i in chain.indices where i != 1 { chain[i].consensusState = [UInt8(i + 1)] }
        do {
            let index = try open()
            #expect(try index.consensusState() == nil)
            try index.apply(indexed: chain)
            #expect(try index.consensusState() == [3])
        }
        let index = try open()
        #expect(try index.consensusState() == [3], "a reopened index resumes the stored state")
        try index.unwind(to: 2)
        #expect(try index.consensusState() == [1], "block 2 carried no state; block 1's is back")
        try index.unwind(to: 0)
        #expect(try index.consensusState() == nil)
    }

    @Test func oneBatchOfManyBlocksEqualsOneBatchPerBlock() throws {
        let a = try open("a")
        let b = try open("b")
        let chain = blocks([[Self.registered], [Self.rented, Self.extended], [], [Self.revoked]])
        try a.apply(indexed: chain)
        for block in chain { try b.apply(indexed: [block]) }
        #expect(try a.digest() == b.digest())
    }

    @Test func blocksThatDoNotContinueTheHeadAreRefused() throws {
        let index = try open()
        try index.apply(indexed: blocks([[Self.registered]]))
        let stranger = blocks([[]], from: IndexHead(number: 1, hash: Keccak256.hash(utf8: "elsewhere")))
        #expect(throws: IndexError.self) { try index.apply(indexed: stranger) }
        let gap = blocks([[]], from: IndexHead(number: 5, hash: Keccak256.hash(utf8: "a/5")))
        #expect(throws: IndexError.self) { try index.apply(indexed: gap) }
        #expect(try index.head().number == 1)
    }

    @Test func finalBlocksCannotBeUnwoundAndTheirUndoDataIsPruned() throws {
        let index = try open(finality: 2)
        try index.apply(indexed: blocks(Array(repeating: [], count: 8)))
        #expect(try index.finalNumber() == 6)
        #expect(throws: IndexError.self) { try index.unwind(to: 5) }
        try index.unwind(to: 6)
        #expect(try index.head().number == 6)
        #expect(try index.blockHash(3) == nil)
        #expect(try index.blockHash(6) == Keccak256.hash(utf8: "a/6"))
    }

    @Test func reopeningResumesAndAnotherConfigurationIsRefused() throws {
        do {
            let index = try open()
            try index.apply(indexed: blocks([[Self.registered], [Self.rented]]))
        }
        let reopened = try open()
        #expect(try reopened.head().number == 2)
        #expect(try reopened.rental(dataset: Self.dataset, consumer: Self.consumer) != nil)
        _ = consume reopened
        #expect(throws: IndexError.self) { try open(chainID: 1) }
    }
}

extension ChainIndexTests {
    @Test func subscribersSeeAddsRollbacksAndHeadAdvances() async throws {
        let index = try open("subscribed")
        let stream = index.subscribe()
        let base = blocks([[Self.registered], [Self.rented]])
        try index.apply(indexed: base)
        try index.apply(indexed: blocks([[Self.revoked]], from: IndexHead(number: 2, hash: base[1].hash)))
        try index.unwind(to: 2)
        var seen: [IndexEvent] = []
        for await event in stream {
            seen.append(event)
            if case .headAdvanced(let head, _) = event, head.number == 2, seen.count > 4 { break }
        }
        let families = seen.compactMap { e -> String? in
            switch e {
            case .recordAdded(let c): return "+\(c.family.rawValue)@\(c.blockNumber)"
            case .recordRemoved(let c): return "-\(c.family.rawValue)@\(c.blockNumber)"
            case .headAdvanced(let h, _): return "head \(h.number)"
            }
        }
        #expect(families == ["+dataset@1", "+rental@2", "head 2", "+rental@3", "head 3", "-rental@3", "head 2"])
    }
}
