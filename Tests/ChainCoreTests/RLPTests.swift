import ChainCore
import Foundation
import TestSupport
import Testing

@Suite struct RLPTests {
    /// ethereum/tests RLPTests/rlptest.json: encode `in`, compare with `out`; decode `out` back.
    @Test func ethereumTestsValidVectorsRoundTrip() throws {
        let tests = try #require(try TestData.json("chain/ethereum-tests/rlptest.json") as? [String: [String: Any]])
        #expect(tests.count > 20)
        for (name, test) in tests {
            let item = try Self.item(fromTestValue: try #require(test["in"]))
            let out = try #require(test["out"] as? String)
            #expect(item.encoded.hex == out.lowercased(), "\(name)")
            #expect(try RLPItem.decode(Hex.decode(out)) == item, "\(name)")
        }
    }

    /// ethereum/tests RLPTests/invalidRLPTest.json: every case must be rejected.
    @Test func ethereumTestsInvalidVectorsAreRejected() throws {
        let tests = try #require(
            try TestData.json("chain/ethereum-tests/invalidRLPTest.json") as? [String: [String: Any]]
        )
        #expect(tests.count == 26)
        for (name, test) in tests {
            let bytes = try Hex.decode(try #require(test["out"] as? String))
            #expect(throws: ChainError(.invalidRLP, ""), "\(name)") { try RLPItem.decode(bytes) }
        }
    }

    @Test func randomRLPExampleDecodesAndReencodesIdentically() throws {
        let tests = try #require(try TestData.json("chain/ethereum-tests/example.json") as? [String: [String: Any]])
        for (name, test) in tests {
            let bytes = try Hex.decode(try #require(test["out"] as? String))
            #expect(try RLPItem.decode(bytes).encoded == bytes, "\(name)")
        }
    }

    /// ethers.js testcases/rlp.json: a second, independent vector set.
    @Test func ethersVectorsRoundTrip() throws {
        let tests = try #require(try TestData.json("chain/ethers-testcases/rlp.json.gz") as? [[String: Any]])
        #expect(tests.count == 61)
        for test in tests {
            let item = try Self.item(fromEthers: try #require(test["decoded"]))
            let encoded = try #require(test["encoded"] as? String)
            #expect(item.encoded.hex == encoded, "\(test["name"] ?? "?")")
            #expect(try RLPItem.decode(Hex.decode(encoded)) == item)
        }
    }

    @Test func errorsNameTheOffsetAndTheProblem() throws {
        do {
            _ = try RLPItem.decode([0xC3, 0x80, 0x80])
            Issue.record("truncated list was accepted")
        } catch {
            #expect(error.code == .invalidRLP)
            #expect(error.reason.contains("byte 0"))
        }
        #expect(throws: ChainError(.invalidRLP, "")) { try RLPItem.decode([0x81, 0x05]) }
        #expect(throws: ChainError(.invalidRLP, "")) { try RLPItem.decode([0x80, 0x80]) }
        #expect(throws: ChainError(.invalidRLP, "")) { try RLPItem.decode([]) }
    }

    @Test func hostileNestingIsRefusedWithoutCrashing() {
        // 200 nested lists: canonical RLP, but deeper than any Ethereum structure.
        var item = RLPItem.list([])
        for _ in 0..<200 { item = .list([item]) }
        let bytes = item.encoded
        #expect(throws: ChainError(.invalidRLP, "")) { try RLPItem.decode(bytes) }
    }

    @Test func scalarsMustBeCanonical() throws {
        #expect(try RLPItem.bytes([0x01, 0x00]).uint64() == 256)
        #expect(throws: ChainError(.invalidRLP, "")) { try RLPItem.bytes([0x00, 0x01]).uint64() }
        #expect(throws: ChainError(.overflow, "")) { try RLPItem.bytes([UInt8](repeating: 1, count: 9)).uint64() }
    }

    static func item(fromTestValue value: Any) throws -> RLPItem {
        if let s = value as? String {
            if s.hasPrefix("#") { return .bytes(bigEndian(decimal: s.dropFirst())) }
            return .bytes(Array(s.utf8))
        }
        if let n = value as? Int { return .uint(UInt64(n)) }
        if let list = value as? [Any] { return .list(try list.map(item(fromTestValue:))) }
        throw ChainError(.invalidJSON, "unexpected RLP test value \(value)")
    }

    /// Arbitrary-size decimal to minimal big-endian bytes (the vectors include 2^256, beyond U256).
    static func bigEndian(decimal: Substring) -> [UInt8] {
        var bytes: [UInt8] = []  // little-endian while building
        for digit in decimal.utf8 {
            var carry = Int(digit - 48)
            for i in bytes.indices {
                let v = Int(bytes[i]) * 10 + carry
                bytes[i] = UInt8(v & 0xFF)
                carry = v >> 8
            }
            while carry > 0 {
                bytes.append(UInt8(carry & 0xFF))
                carry >>= 8
            }
        }
        return bytes.reversed()
    }

    static func item(fromEthers value: Any) throws -> RLPItem {
        if let s = value as? String { return .bytes(try Hex.decode(s)) }
        if let list = value as? [Any] { return .list(try list.map(item(fromEthers:))) }
        throw ChainError(.invalidJSON, "unexpected ethers RLP value \(value)")
    }
}
