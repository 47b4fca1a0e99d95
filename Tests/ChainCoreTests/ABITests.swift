import ChainCore
import Foundation
import TestSupport
import Testing

@Suite struct ABITests {
    /// ethers.js abi.json: 1,024 random values of nested static and dynamic types, encoded by solc's output.
    @Test func ethersVectorsEncodeAndDecodeIdentically() throws {
        let tests = try #require(try TestData.json("chain/ethers-testcases/abi.json.gz") as? [[String: Any]])
        #expect(tests.count == 1024)
        for t in tests {
            let type = try ABIType(parsing: try #require(t["type"] as? String))
            let value = try Self.value(type, verbose: try #require(t["verbose"] as? [String: Any]))
            let encoded = try #require(t["encoded"] as? String)
            #expect(try ABI.encode([type], [value]).hex == encoded, "\(t["name"] ?? "")")
            #expect(try ABI.decode([type], from: Hex.decode(encoded)) == [value], "\(t["name"] ?? "")")
        }
    }

    /// ethereum/tests ABITests/basic_abi_tests.json.
    @Test func ethereumTestsBasicVectors() throws {
        let tests = try #require(
            try TestData.json("chain/ethereum-tests/basic_abi_tests.json") as? [String: [String: Any]]
        )
        for (name, t) in tests {
            let types = try (try #require(t["types"] as? [String])).map { try ABIType(parsing: $0) }
            let args = try #require(t["args"] as? [Any])
            let values = try zip(types, args).map { try Self.value($0, plain: $1) }
            let expected = try #require(t["result"] as? String)
            #expect(Hex.encode(try ABI.encode(types, values), prefix: false) == expected, "\(name)")
            #expect(try ABI.decode(types, from: Hex.decode(expected)) == values, "\(name)")
        }
    }

    @Test func hostileEncodingsAreRejected() throws {
        let types = [try ABIType(parsing: "string")]
        let good = try ABI.encode(types, [.string("delong")])
        var offsetPastEnd = good
        offsetPastEnd[31] = 0xFF
        #expect(throws: ChainError(.invalidABI, "")) { try ABI.decode(types, from: offsetPastEnd) }
        var hugeLength = good
        for i in 32..<64 { hugeLength[i] = 0xFF }
        #expect(throws: ChainError(.invalidABI, "")) { try ABI.decode(types, from: hugeLength) }
        #expect(throws: ChainError(.invalidABI, "")) { try ABI.decode(types, from: Array(good.prefix(70))) }
        var dirtyPadding = good
        dirtyPadding[good.count - 1] = 1
        #expect(throws: ChainError(.invalidABI, "")) { try ABI.decode(types, from: dirtyPadding) }
        let bool = try ABI.encode([.bool], [.bool(true)])
        #expect(throws: ChainError(.invalidABI, "")) { try ABI.decode([.bool], from: bool.dropLast() + [2]) }
        #expect(throws: ChainError(.invalidABI, "")) {
            try ABI.decode([.uint(8)], from: ABI.encode([.uint(256)], [.uint(U256(256))]))
        }
        // An array claiming 2^32 elements must fail before allocating anything.
        var bigArray = try ABI.encode([.array(.uint(256))], [.array([])])
        bigArray[60] = 0x01
        #expect(throws: ChainError(.invalidABI, "")) { try ABI.decode([.array(.uint(256))], from: bigArray) }
        #expect(throws: ChainError(.invalidABI, "")) { try ABIType(parsing: "uint7") }
        #expect(throws: ChainError(.invalidABI, "")) { try ABIType(parsing: "(uint256,bytes33)") }
    }

    @Test func eventLogsDecodeWithIndexedTopics() throws {
        // Transfer(address indexed from, address indexed to, uint256 value)
        let event = ABIEvent(
            name: "Transfer",
            parameters: [
                .init("from", .address, indexed: true), .init("to", .address, indexed: true),
                .init("value", .uint(256)),
            ]
        )
        #expect(event.topic.hex == "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")
        let from = try Address(hex: "0x00000000219ab540356cbb839cbe05303d7705fa")
        let to = try Address(hex: "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf")
        let log = Log(
            address: to,
            topics: [
                event.topic, try Hash32(ABI.encode([.address], [.address(from)])),
                try Hash32(ABI.encode([.address], [.address(to)])),
            ],
            data: try ABI.encode([.uint(256)], [.uint(U256(42))])
        )
        let decoded = try event.decode(log)
        #expect(decoded.map(\.name) == ["from", "to", "value"])
        #expect(decoded.map(\.value) == [.address(from), .address(to), .uint(U256(42))])
        var wrong = log
        wrong.topics.removeLast()
        #expect(throws: ChainError(.invalidABI, "")) { try event.decode(wrong) }
    }

    /// The mainnet deposit contract's DepositEvent in helios' receipt (5 dynamic bytes values).
    @Test func mainnetDepositEventDecodes() throws {
        let doc = try #require(try TestData.json("chain/helios/rpc/receipt.json") as? [String: Any])
        let log = try #require(try RPCJSON.receipt(doc).logs.first)
        let event = ABIEvent(
            name: "DepositEvent",
            parameters: ["pubkey", "withdrawal_credentials", "amount", "signature", "index"].map { .init($0, .bytes) }
        )
        let values = try event.decode(log).map(\.value)
        guard case .bytes(let pubkey) = values[0], case .bytes(let signature) = values[3] else {
            Issue.record("not bytes")
            return
        }
        #expect(pubkey.count == 48 && signature.count == 96)
    }

    static func value(_ type: ABIType, verbose v: [String: Any]) throws -> ABIValue {
        switch type {
        case .uint: return .uint(try U256(decimal: try #require(v["value"] as? String)))
        case .int: return try signed(try #require(v["value"] as? String))
        case .address: return .address(try Address(hex: try #require(v["value"] as? String)))
        case .bool: return .bool(try #require(v["value"] as? Bool))
        case .fixedBytes: return .fixedBytes(try Hex.decode(try #require(v["value"] as? String)))
        case .bytes: return .bytes(try Hex.decode(try #require(v["value"] as? String)))
        case .string: return .string(try #require(v["value"] as? String))
        case .array(let t), .fixedArray(let t, _):
            return .array(try (try #require(v["value"] as? [[String: Any]])).map { try value(t, verbose: $0) })
        case .tuple(let ts):
            let items = try #require(v["value"] as? [[String: Any]])
            return .tuple(try zip(ts, items).map { try value($0, verbose: $1) })
        }
    }

    static func signed(_ decimal: String) throws -> ABIValue {
        guard decimal.hasPrefix("-") else { return .int(try U256(decimal: decimal)) }
        let magnitude = try U256(decimal: decimal.dropFirst())
        return .int(U256.max - magnitude + U256(1))
    }

    static func value(_ type: ABIType, plain v: Any) throws -> ABIValue {
        switch type {
        case .uint: return .uint(U256(UInt64(try #require(v as? Int))))
        case .address: return .address(try Address(hex: try #require(v as? String)))
        case .fixedBytes(let n): return .fixedBytes(Array((try #require(v as? String)).utf8.prefix(n)))
        case .bytes: return .bytes(Array((try #require(v as? String)).utf8))
        case .string: return .string(try #require(v as? String))
        case .array(let t): return .array(try (try #require(v as? [Any])).map { try value(t, plain: $0) })
        default: throw ChainError(.invalidABI, "test helper does not cover \(type)")
        }
    }
}
