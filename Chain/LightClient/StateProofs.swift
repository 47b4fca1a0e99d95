public import ChainCore
import ChainIndex
public import ChainRecords
import Logging

/// A rental read straight from DataMarket's storage and proven against a verified state root.
public struct ProvenRental: Sendable, Hashable {
    public var datasetID: Hash32
    public var consumer: Address
    public var startedAt: U256
    public var expiresAt: U256
    public var escrow: U256
    public var settledAt: U256
    /// The verified block whose state root the proof was checked against.
    public var block: IndexHead
}

extension Syncer {
    /// Proves `rentals[dataset][consumer]` with eth_getProof at the index head, whose hash the index verified:
    /// the endpoint's header for that number must hash to it, and its state root anchors the proof.
    public func proveRental(dataset: Hash32, consumer: Address) async throws -> ProvenRental {
        let head = try index.head()
        guard
            let object = try await rpc.call(.blockByNumber(head.number, fullTransactions: false), logger: logger)
                as? [String: Any]
        else {
            throw SyncFailure(
                blockNumber: head.number,
                field: "block",
                expected: "a block object",
                found: "none",
                endpoint: rpc.endpoint
            )
        }
        let header = try RPCJSON.header(object)
        guard header.hash == head.hash else {
            throw SyncFailure(
                blockNumber: head.number,
                field: "hash",
                expected: "the indexed head \(head.hash.hex)",
                found: "\(header.hash.hex): the endpoint is on another chain or the index is behind a reorg",
                endpoint: rpc.endpoint
            )
        }
        let base = DeLongContracts.rentalSlot(dataset: dataset, consumer: consumer)
        let slots = (0..<4).map { (base.addingReportingOverflow(U256(UInt64($0))).partialValue).bigEndianBytes.hex }
        guard
            let json = try await rpc.call(
                .proof(index.config.contracts.dataMarket.hex, slots: slots, block: head.number),
                logger: logger
            ) as? [String: Any]
        else {
            throw SyncFailure(
                blockNumber: head.number,
                field: "eth_getProof",
                expected: "a proof object",
                found: "none",
                endpoint: rpc.endpoint
            )
        }
        let proof = try UnverifiedAccountProof(json: json)
        guard proof.address == index.config.contracts.dataMarket else {
            throw SyncFailure(
                blockNumber: head.number,
                field: "eth_getProof address",
                expected: index.config.contracts.dataMarket.hex,
                found: proof.address.hex,
                endpoint: rpc.endpoint
            )
        }
        let verdict = proof.verify(stateRoot: header.stateRoot)
        guard verdict.valid, verdict.slots.count == 4 else {
            let reason =
                verdict.accountReason ?? verdict.slots.compactMap(\.reason).first ?? "expected 4 storage proofs"
            throw SyncFailure(
                blockNumber: head.number,
                field: "eth_getProof (DataMarket rentals)",
                expected: "a proof valid against stateRoot \(header.stateRoot.hex)",
                found: reason,
                endpoint: rpc.endpoint
            )
        }
        var values: [U256] = []
        for slot in slots {
            let key = try Hex.decode(slot)
            guard let proven = verdict.slots.first(where: { $0.key == key }) else {
                throw SyncFailure(
                    blockNumber: head.number,
                    field: "eth_getProof storageProof",
                    expected: "a proof for slot \(slot)",
                    found: "none",
                    endpoint: rpc.endpoint
                )
            }
            values.append(proven.provenValue ?? .zero)
        }
        return ProvenRental(
            datasetID: dataset,
            consumer: consumer,
            startedAt: values[0],
            expiresAt: values[1],
            escrow: values[2],
            settledAt: values[3],
            block: head
        )
    }
}
