import Foundation
import TestSupport
import Testing

@testable import ChainCore

/// The direct RLP writer and the span reader (the hot paths of header hashing and receipts roots) produce and
/// accept exactly what the item-tree encoder and decoder do.
@Suite struct DirectEncodingTests {
    static func header(extra: [UInt8], difficulty: U256, fields: Int) -> Header {
        var h = Header(
            parentHash: Keccak256.hash(utf8: "p"),
            ommersHash: .emptyListHash,
            beneficiary: try! Address(hex: "0x5FbDB2315678afecb367f032d93F642f64180aa3"),
            stateRoot: Keccak256.hash(utf8: "s"),
            transactionsRoot: .emptyTrieRoot,
            receiptsRoot: .emptyTrieRoot,
            logsBloom: Bloom(),
            difficulty: difficulty,
            number: 0x1234_5678,
            gasLimit: 30_000_000,
            gasUsed: 0,
            timestamp: 0x7F,
            extraData: extra,
            mixHash: .zero,
            nonce: [0, 0, 0, 0, 0, 0, 0, 0x42]
        )
        if fields > 15 { h.baseFeePerGas = U256(limbs: (1, 2, 0, 0)) }
        if fields > 16 { h.withdrawalsRoot = .emptyTrieRoot }
        if fields > 17 {
            h.blobGasUsed = 0x80
            h.excessBlobGas = 0
            h.parentBeaconBlockRoot = Keccak256.hash(utf8: "b")
        }
        if fields > 20 { h.requestsHash = Keccak256.hash(utf8: "r") }
        return h
    }

    static let extras: [[UInt8]] = [[], [0x01], [0x80], Array(repeating: 7, count: 55), Array(repeating: 9, count: 97)]
    static let difficulties: [U256] = [U256(0), U256(1), U256(0x80), U256(limbs: (0, 0, 0, 1 << 63))]

    @Test(arguments: [15, 16, 17, 20, 21])
    func headersEncodeAndDecodeAsTheItemTreeDoes(fields: Int) throws {
        for extra in Self.extras {
            for difficulty in Self.difficulties {
                let h = Self.header(extra: extra, difficulty: difficulty, fields: fields)
                let reference = h.rlp.encoded
                #expect(h.encoded == reference)
                #expect(try Header(encoded: reference) == h)
                #expect(try Header(encoded: reference) == Header(rlp: RLPItem.decode(reference)))
            }
        }
    }

    @Test func everyHiveHeaderRoundTripsThroughTheDirectPaths() throws {
        for block in try ChainFixtures.hiveBlocks() {
            let reference = block.header.rlp.encoded
            #expect(block.header.encoded == reference)
            #expect(try Header(encoded: reference) == block.header)
        }
    }

    @Test func theSpanReaderRefusesWhatTheItemDecoderRefuses() throws {
        let good = Self.header(extra: [1, 2, 3], difficulty: U256(1), fields: 16).encoded
        // Trailing byte.
        #expect(throws: ChainError.self) { try Header(encoded: good + [0]) }
        // A list where a field belongs.
        var items = try RLPItem.decode(good).list()
        items[12] = .list([])
        #expect(throws: ChainError.self) { try Header(encoded: RLPItem.list(items).encoded) }
        // A non-canonical scalar (leading zero) and a single byte below 0x80 wrapped as a string.
        items = try RLPItem.decode(good).list()
        items[9] = .bytes([0, 1])
        let leadingZero = RLPItem.list(items).encoded
        #expect(throws: ChainError.self) { try Header(encoded: leadingZero) }
        #expect(throws: ChainError.self) { try Header(rlp: RLPItem.decode(leadingZero)) }
        // The span reader's own canonical rules, on bare items.
        for bad: [UInt8] in [[0x81, 0x05], [0xB8, 0x01, 0x00], [0x82, 0x01], [0xB9, 0x00, 0x40], [0xC2, 0x01]] {
            var reader = RLPReader(bad)
            #expect(throws: ChainError.self, "\(bad)") { _ = try reader.readSpan() }
            #expect(throws: ChainError.self, "\(bad)") { try RLPItem.decode(bad) }
        }
        // A hash of 31 bytes.
        items = try RLPItem.decode(good).list()
        items[0] = .bytes(Array(repeating: 1, count: 31))
        let error = #expect(throws: ChainError.self) { try Header(encoded: RLPItem.list(items).encoded) }
        #expect(error?.reason.contains("parentHash") == true)
    }

    @Test func receiptsEncodeAsTheItemTreeDoes() throws {
        let big = Log(
            address: .zero,
            topics: [Keccak256.hash(utf8: "t"), .zero],
            data: Array(repeating: 0xAB, count: 300)
        )
        let small = Log(address: .zero, topics: [], data: [0x01])
        let receipts = [
            Receipt(type: 0, outcome: .status(true), cumulativeGasUsed: 21_000, logsBloom: Bloom(), logs: []),
            Receipt(type: 2, outcome: .status(false), cumulativeGasUsed: 0, logsBloom: Bloom(), logs: [small]),
            Receipt(
                type: 0,
                outcome: .stateRoot(Keccak256.hash(utf8: "root")),
                cumulativeGasUsed: 0x80,
                logsBloom: Bloom(logs: [big]),
                logs: [big, small, big]
            ),
            Receipt(type: 3, outcome: .status(true), cumulativeGasUsed: .max, logsBloom: Bloom(), logs: [big]),
        ]
        for r in receipts {
            #expect(r.encoded == r.itemEncoding)
            #expect(try Receipt(encoded: r.encoded) == r)
        }
    }

    @Test func fastHexPathsKeepTheStrictRules() throws {
        #expect(try Hex.decodeUInt64("0x0") == 0)
        #expect(try Hex.decodeUInt64("0X00ff") == 255)
        #expect(try Hex.decodeUInt64("0xffffffffffffffff") == .max)
        #expect(throws: ChainError.self) { try Hex.decodeUInt64("0x") }
        #expect(throws: ChainError.self) { try Hex.decodeUInt64("ff") }
        #expect(throws: ChainError.self) { try Hex.decodeUInt64("0x1ffffffffffffffff") }
        #expect(throws: ChainError.self) { try Hex.decodeUInt64("0xg") }
        #expect(try U256(quantity: "0x1ffffffffffffffff") == U256(limbs: (.max, 1, 0, 0)))
        #expect(try Hex.decode("0xABcd") == [0xAB, 0xCD])
        #expect(try Hex.decode("abcd") == [0xAB, 0xCD])
        #expect(throws: ChainError.self) { try Hex.decode("0xabc") }
        #expect(throws: ChainError.self) { try Hex.decode("0xzz") }
        #expect(try Hash32(hex: Keccak256.hash(utf8: "x").hex) == Keccak256.hash(utf8: "x"))
        // EIP-55: mixed case must be the checksum; one case only is accepted as is.
        #expect(throws: ChainError.self) { try Address(hex: "0x5fbDB2315678afecb367f032d93F642f64180aa3") }
        #expect(
            try Address(hex: "0x5FBDB2315678AFECB367F032D93F642F64180AA3")
                == Address(hex: "0x5fbdb2315678afecb367f032d93f642f64180aa3")
        )
    }

    /// The verifier's precomputed bloom bits say exactly what `Bloom.mayContain` says.
    @Test func theVerifiersBloomTestAgreesWithMayContain() throws {
        let a = try Address(hex: "0x5FbDB2315678afecb367f032d93F642f64180aa3")
        let b = try Address(hex: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")
        let verifier = ChainVerifier(spec: nil, watched: [a, b])
        var bloom = Bloom()
        #expect(!verifier.mayHaveLogs(bloom))
        bloom.insert(b.bytes)
        #expect(verifier.mayHaveLogs(bloom))
        var hits = 0
        for round in 0..<300 {
            var random = Bloom()
            for i in 0..<(round * 3) { random.insert(Keccak256.hash(utf8: "\(round)/\(i)").bytes) }
            let expected = random.mayContain(a.bytes) || random.mayContain(b.bytes)
            #expect(verifier.mayHaveLogs(random) == expected, "round \(round)")
            if expected { hits += 1 }
        }
        #expect(hits > 0 && hits < 300, "both answers occur")
    }
}
