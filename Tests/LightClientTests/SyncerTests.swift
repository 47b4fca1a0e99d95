import ChainCore
import ChainIndex
import ChainRecords
import Foundation
import LightClient
import Logging
import TestSupport
import Testing

/// The syncer driven in process through `EndpointPool` over fake endpoints serving a synthetic chain.
@Suite struct SyncerTests {
    let dir: URL
    let dataset = Keccak256.hash(utf8: "dataset")

    init() throws { dir = try DelongProcess.temporaryDirectory() }

    /// A chain of 20 blocks with one DataMarket registration in block 5.
    func chain() -> FixtureChain {
        var c = FixtureChain()
        c.extend(20, logs: [5: [FixtureChain.registration(dataset)]])
        return c
    }

    func syncer(
        _ endpoints: [FakeEndpoint],
        quorum: Int = 1,
        finality: UInt64 = 4,
        name: String = "index",
        batch: UInt64 = 64
    ) throws -> Syncer {
        let genesis = endpoints[0].chain.headers[0]
        let index = try ChainIndex(
            path: dir.appendingPathComponent(name).path,
            config: IndexConfig(
                chainID: 31337,
                contracts: FixtureChain.contracts,
                checkpoint: IndexHead(number: 0, hash: genesis.hash),
                finalityDepth: finality
            )
        )
        let logger = Logger(label: "test.syncer")
        return Syncer(
            rpc: EndpointPool(transports: endpoints, quorum: quorum, logger: logger),
            index: index,
            spec: nil,
            batchSize: batch,
            logger: logger
        )
    }

    func refusal(_ body: () async throws -> Void) async -> SyncFailure? {
        do {
            try await body()
            return nil
        } catch let failure as SyncFailure {
            return failure
        } catch {
            Issue.record("expected a SyncFailure, got \(error)")
            return nil
        }
    }

    @Test func aVerifiedChainIsIndexedAndBlocksTheBloomExcludesAreNotFetched() async throws {
        let endpoint = FakeEndpoint("a", chain: chain())
        let syncer = try syncer([endpoint])
        let progress = try await syncer.sync()
        #expect(progress.head.number == 20 && progress.head.hash == endpoint.chain.head.hash)
        #expect(endpoint.receiptsServed == [5], "only the block whose bloom may hold a DeLong event")
        #expect(try syncer.index.dataset(dataset)?.registered.blockNumber == 5)
    }

    @Test func aHeaderWhoseHashIsNotTheClaimedOneIsRefused() async throws {
        let endpoint = FakeEndpoint("a", chain: chain())
        endpoint.tamperBlock = { n, o in
            var o = o
            if n == 7 { o["gasUsed"] = "0x1" }
            return o
        }
        let syncer = try syncer([endpoint])
        let failure = await refusal { try await syncer.sync() }
        #expect(failure?.blockNumber == 7 && failure?.field == "hash" && failure?.kind == .unverified)
        #expect(try syncer.index.head().number == 0, "nothing of the refused batch is indexed")
    }

    @Test func aHeaderThatDoesNotLinkToItsParentIsRefused() async throws {
        var forged = chain()
        var h = forged.headers[7]
        h.parentHash = Keccak256.hash(utf8: "elsewhere")
        forged.headers[7] = h
        let syncer = try syncer([FakeEndpoint("a", chain: forged)])
        let failure = await refusal { try await syncer.sync() }
        #expect(failure?.blockNumber == 7 && failure?.field == "parentHash")
    }

    @Test func receiptsThatDoNotMatchTheReceiptsRootAreRefused() async throws {
        var tampered = chain()
        tampered.receipts[5] = [FixtureChain.receipt([FixtureChain.registration(dataset, locator: "s3://other")])]
        let syncer = try syncer([FakeEndpoint("a", chain: tampered)])
        let failure = await refusal { try await syncer.sync() }
        #expect(failure?.blockNumber == 5 && failure?.field == "receiptsRoot")
        #expect(try syncer.index.dataset(dataset) == nil)
    }

    /// L5: the head's header must be served as indexed on the next pass, else the pass fails.
    @Test func aMissingParentHeaderFailsThePass() async throws {
        let endpoint = FakeEndpoint("a", chain: chain())
        let syncer = try syncer([endpoint])
        try await syncer.sync()
        var longer = endpoint.chain
        longer.extend(3)
        endpoint.chain = longer
        endpoint.tamperBlock = { n, o in n == 20 ? nil : o }
        let failure = await refusal { try await syncer.sync() }
        #expect(failure?.blockNumber == 20 && failure?.field == "parent header")
        #expect(try syncer.index.head().number == 20)
    }

    /// L4 and M7: after a reorg at block 6, a hostile primary claims another block 6, which would take the
    /// walk-back below the finality floor. The quorum outvotes it, the primary is demoted, and the walk-back
    /// stops at the true fork point.
    @Test func theReorgWalkBackIsConfirmedByTheQuorum() async throws {
        let original = chain().prefix(through: 10)
        let (a, b, c) = (
            FakeEndpoint("a", chain: original), FakeEndpoint("b", chain: original), FakeEndpoint("c", chain: original)
        )
        let syncer = try syncer([a, b, c], quorum: 2, finality: 4)
        try await syncer.sync()
        #expect(try syncer.index.head().number == 10)
        var reorged = original.prefix(through: 6)
        reorged.extend(6, salt: "b")
        for e in [a, b, c] { e.chain = reorged }
        a.tamperBlock = { n, o in
            guard n == 6 else { return o }
            var h = try! RPCJSON.header(o)
            h.stateRoot = Keccak256.hash(utf8: "lie")
            return FixtureChain.json(h)
        }
        let progress = try await syncer.sync()
        #expect(progress.reorgs == 1)
        #expect(try syncer.index.head() == IndexHead(number: 12, hash: reorged.head.hash))
        #expect(syncer.rpc.endpoint != a.endpoint, "the outvoted primary was demoted")
        #expect(try syncer.index.dataset(dataset)?.registered.blockNumber == 5, "below the fork point, kept")
    }

    /// M7: a primary whose blocks do not verify is demoted and the pass is retried on the next endpoint.
    @Test func aPrimaryServingBlocksThatDoNotVerifyIsDemotedAndTheNextOneSyncs() async throws {
        var tampered = chain()
        tampered.receipts[5] = [FixtureChain.receipt([FixtureChain.registration(dataset, locator: "s3://other")])]
        let (hostile, honest) = (FakeEndpoint("hostile", chain: tampered), FakeEndpoint("honest", chain: chain()))
        let syncer = try syncer([hostile, honest])
        let progress = try await syncer.sync()
        #expect(progress.head.number == 20)
        #expect(syncer.rpc.endpoint == honest.endpoint)
        #expect(try syncer.index.dataset(dataset)?.sampleLocator == "s3://sample")
    }

    /// A header that hashes and links but breaks a header rule against its parent (time must move forward).
    @Test func aHeaderBreakingAHeaderRuleIsRefused() async throws {
        var forged = FixtureChain()
        forged.extend(6)
        var h = FixtureChain.header(number: 7, parent: forged.head.hash, salt: "a", receipts: [])
        h.timestamp = forged.head.timestamp
        forged.headers.append(h)
        forged.extend(3)
        let syncer = try syncer([FakeEndpoint("a", chain: forged)], batch: 4)
        let failure = await refusal { try await syncer.sync() }
        #expect(failure?.blockNumber == 7 && failure?.field == "timestamp" && failure?.kind == .unverified)
        #expect(try syncer.index.head().number == 4, "the batches before the refused one are indexed")
    }

    /// The endpoint serves block 9 where block 8 was asked for.
    @Test func aHeaderWithAnotherNumberThanAskedIsRefused() async throws {
        let endpoint = FakeEndpoint("a", chain: chain())
        let ninth = endpoint.chain.headers[9]
        endpoint.tamperBlock = { n, o in n == 8 ? FixtureChain.json(ninth) : o }
        let syncer = try syncer([endpoint])
        let failure = await refusal { try await syncer.sync() }
        #expect(failure?.blockNumber == 8 && failure?.field == "number")
        #expect(try syncer.index.head().number == 0)
    }

    /// A block whose bloom names a DeLong contract must come with receipts: an endpoint that serves none for it
    /// (here: an empty list, whose root is not the header's) cannot make the syncer skip its events.
    @Test func receiptsWithheldForABlockTheBloomSelectsAreRefused() async throws {
        var withheld = chain()
        withheld.receipts[5] = nil
        let syncer = try syncer([FakeEndpoint("a", chain: withheld)])
        let failure = await refusal { try await syncer.sync() }
        #expect(failure?.blockNumber == 5 && failure?.field == "receiptsRoot")
        #expect(try syncer.index.dataset(dataset) == nil)
    }

    /// A verified log of a DeLong contract that its ABI cannot produce stops the sync with `.contractMismatch`
    /// (decoded in the apply step, from the verified receipts) and is not retried on another endpoint.
    @Test func aVerifiedLogTheABICannotProduceStopsTheSyncAsAContractMismatch() async throws {
        var c = FixtureChain()
        let unknown = Log(
            address: FixtureChain.contracts.dataMarket,
            topics: [Keccak256.hash(utf8: "NoSuchEvent()")],
            data: []
        )
        c.extend(6, logs: [3: [unknown]])
        let (a, b) = (FakeEndpoint("a", chain: c), FakeEndpoint("b", chain: c))
        let syncer = try syncer([a, b])
        let failure = await refusal { try await syncer.sync() }
        #expect(failure?.kind == .contractMismatch && failure?.blockNumber == 3 && failure?.field == "log 0")
        #expect(a.receiptsServed == [3] && b.receiptsServed.isEmpty, "no retry on another endpoint")
        #expect(try syncer.index.head().number == 0)
    }
}
