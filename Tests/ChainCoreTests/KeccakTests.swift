import ChainCore
import Foundation
import TestSupport
import Testing

@Suite struct KeccakTests {
    @Test func matchesEveryEthersHashVector() throws {
        let vectors = try #require(try TestData.json("chain/ethers-testcases/hashes.json.gz") as? [[String: Any]])
        #expect(vectors.count == 257)
        for v in vectors {
            let data = try Hex.decode(try #require(v["data"] as? String))
            let expected = try #require(v["keccak256"] as? String)
            #expect(Keccak256.hash(data).hex == expected, "\(v["name"] ?? "?")")
        }
    }

    @Test func knownDigestsOfEmptyAndShortInput() {
        #expect(Keccak256.hash([UInt8]()).hex == "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
        #expect(Keccak256.hash(utf8: "abc").hex == "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45")
    }

    @Test func incrementalHashingEqualsOneShotAtEveryBlockBoundary() {
        let data = (0..<700).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        for length in [0, 1, 135, 136, 137, 271, 272, 273, 500, 700] {
            let input = Array(data.prefix(length))
            for split in Set([0, 1, length / 3, length / 2, max(0, length - 1), length]) where split <= length {
                var hasher = Keccak256()
                hasher.update(Array(input[..<split]))
                hasher.update(Array(input[split...]))
                #expect(hasher.finalize() == Keccak256.hash(input), "length \(length) split \(split)")
            }
        }
    }
}
