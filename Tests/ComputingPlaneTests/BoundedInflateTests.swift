import Foundation
import TestSupport
import Testing

@testable import ComputingPlane

/// The gate's decompressors against Python's zlib, gzip and bz2 (independent encoders), and their caps
/// against bombs and truncation.
@Suite struct BoundedInflateTests {
    /// `text` compressed by Python in each format, hex-decoded.
    static func pythonCompressed(_ text: String) throws -> [String: [UInt8]] {
        let out = try ContribTool.systemPython(
            """
            import sys, zlib, gzip, bz2
            data = sys.argv[1].encode()
            raw = zlib.compressobj(9, zlib.DEFLATED, -15)
            print(zlib.compress(data).hex())
            print((gzip.compress(data[:len(data)//2]) + gzip.compress(data[len(data)//2:])).hex())
            print((raw.compress(data) + raw.flush()).hex())
            print(bz2.compress(data).hex())
            print(zlib.compress(bytes(8 << 20)).hex())
            """,
            [text]
        )
        let lines = out.split(separator: "\n").map { line in
            stride(from: 0, to: line.count, by: 2).map { i in
                UInt8(line.dropFirst(i).prefix(2), radix: 16)!
            }
        }
        return ["zlib": lines[0], "gzip": lines[1], "raw": lines[2], "bz2": lines[3], "bomb": lines[4]]
    }

    @Test func pythonsStreamsDecodeToTheSameBytes() throws {
        let text = String(repeating: "id,name\n17,Ada Lovelace\n", count: 300)
        let streams = try Self.pythonCompressed(text)
        let want = Array(text.utf8)
        #expect(try BoundedInflate.inflate(streams["zlib"]!, framing: .zlib, limit: 1 << 20).get() == want)
        // Two gzip members back to back, as `cat a.gz b.gz` makes.
        #expect(try BoundedInflate.inflate(streams["gzip"]!, framing: .gzip, limit: 1 << 20).get() == want)
        #expect(try BoundedInflate.inflate(streams["raw"]!, framing: .raw, limit: 1 << 20).get() == want)
        #expect(try BoundedInflate.bunzip2(streams["bz2"]!, limit: 1 << 20).get() == want)
        // Our deflate is read back by our inflate.
        #expect(try BoundedInflate.inflate(BoundedInflate.deflate(want), framing: .zlib, limit: 1 << 20).get() == want)
    }

    @Test func aBombStopsAtTheLimitAndTruncationIsNamed() throws {
        let streams = try Self.pythonCompressed("x")
        // 8 MiB of zeros in about 8 KiB: stopped at 1 MiB, never allocated in full.
        #expect(
            BoundedInflate.inflate(streams["bomb"]!, framing: .zlib, limit: 1 << 20) == .failure(.overLimit(1 << 20))
        )
        let zlib = try Self.pythonCompressed(String(repeating: "abcdefgh", count: 500))["zlib"]!
        #expect(
            BoundedInflate.inflate(Array(zlib.prefix(zlib.count / 2)), framing: .zlib, limit: 1 << 20)
                == .failure(.truncated)
        )
        let bz2 = try Self.pythonCompressed(String(repeating: "abcdefgh", count: 500))["bz2"]!
        #expect(BoundedInflate.bunzip2(Array(bz2.prefix(bz2.count / 2)), limit: 1 << 20) == .failure(.truncated))
        guard
            case .failure(.corrupt) = BoundedInflate.inflate(
                Array("not a zlib stream".utf8),
                framing: .zlib,
                limit: 1 << 20
            )
        else {
            Issue.record("garbage decoded")
            return
        }
    }
}
