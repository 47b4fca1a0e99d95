import ChainCore
import Foundation
import Glibc
import PlaneProtocol
import TestSupport
import Testing

/// The runtime digest's canonical listing: its exact bytes, its order, and what the tree walk lists.
@Suite struct RuntimeDigestTests {
    static let interpreter = RuntimeInterpreter(
        path: "/usr/bin/python3.11",
        sha256: try! Hash32(hex: String(repeating: "ab", count: 32)),
        debianPackage: "python3.11-minimal",
        debianVersion: "3.11.2-6+deb12u6"
    )

    static func entries() throws -> [RuntimeEntry] {
        [
            RuntimeEntry(path: Array("lib64".utf8), kind: .symlink(target: Array("lib".utf8)), mode: 0o777, size: 3),
            RuntimeEntry(
                path: Array("bin/python3".utf8),
                kind: .file(sha256: try Hash32(hex: String(repeating: "01", count: 32))),
                mode: 0o755,
                size: 7
            ),
            RuntimeEntry(path: Array("bin".utf8), kind: .directory, mode: 0o755, size: 0),
        ]
    }

    @Test func theListingIsTheDocumentedBytesSortedByPath() throws {
        let listing = RuntimeDigest.listing(entries: try Self.entries(), interpreter: Self.interpreter)
        let expected =
            "delong/runtime/v1\0interpreter\0" + String(repeating: "ab", count: 32)
            + "\0python3.11-minimal\03.11.2-6+deb12u6\0"
            + "bin\0d\00755\00\0\0"
            + "bin/python3\0f\00755\07\0" + String(repeating: "01", count: 32) + "\0"
            + "lib64\0l\00777\03\0lib\0"
        #expect(listing == Array(expected.utf8))
        #expect(
            RuntimeDigest.of(entries: try Self.entries(), interpreter: Self.interpreter)
                == BundleDigest.of(listing)
        )
    }

    @Test func theDigestDoesNotDependOnTheOrderEntriesComeIn() throws {
        let forward = RuntimeDigest.of(entries: try Self.entries(), interpreter: Self.interpreter)
        let backward = RuntimeDigest.of(entries: try Self.entries().reversed(), interpreter: Self.interpreter)
        #expect(forward == backward)
    }

    @Test func everyFieldChangesTheDigest() throws {
        let base = RuntimeDigest.of(entries: try Self.entries(), interpreter: Self.interpreter)
        var variants: [[RuntimeEntry]] = []
        var mode = try Self.entries()
        mode[1].mode = 0o644
        variants.append(mode)
        var link = try Self.entries()
        link[0].kind = .symlink(target: Array("lic".utf8))
        variants.append(link)
        var bytes = try Self.entries()
        bytes[1].kind = .file(sha256: try Hash32(hex: String(repeating: "02", count: 32)))
        variants.append(bytes)
        var size = try Self.entries()
        size[1].size = 8
        variants.append(size)
        var renamed = try Self.entries()
        renamed[2].path = Array("bim".utf8)
        variants.append(renamed)
        variants.append(Array(try Self.entries().dropLast()))
        var digests = Set(variants.map { RuntimeDigest.of(entries: $0, interpreter: Self.interpreter) })
        var other = Self.interpreter
        other.debianVersion = "3.11.2-6+deb12u7"
        digests.insert(RuntimeDigest.of(entries: try Self.entries(), interpreter: other))
        other = Self.interpreter
        other.sha256 = try Hash32(hex: String(repeating: "cd", count: 32))
        digests.insert(RuntimeDigest.of(entries: try Self.entries(), interpreter: other))
        #expect(digests.count == variants.count + 2)
        #expect(!digests.contains(base))
    }

    @Test func theTreeWalkListsLinksWithoutFollowingThemAndHashesFiles() throws {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("d"), withIntermediateDirectories: true)
        chmod(dir.appendingPathComponent("d").path, 0o750)
        try Data("hello".utf8).write(to: dir.appendingPathComponent("d/f"))
        chmod(dir.appendingPathComponent("d/f").path, 0o640)
        symlink("/", dir.appendingPathComponent("root").path)
        symlink("loop", dir.appendingPathComponent("loop").path)
        let entries = try RuntimeTree.entries(under: dir.path)
        let byPath = Dictionary(uniqueKeysWithValues: entries.map { (String(decoding: $0.path, as: UTF8.self), $0) })
        #expect(byPath.keys.sorted() == ["d", "d/f", "loop", "root"])
        #expect(byPath["d"]?.mode == 0o750 && byPath["d"]?.kind == .directory)
        #expect(byPath["d/f"]?.mode == 0o640 && byPath["d/f"]?.size == 5)
        #expect(byPath["d/f"]?.kind == .file(sha256: BundleDigest.of(Array("hello".utf8))))
        #expect(byPath["root"]?.kind == .symlink(target: [UInt8(ascii: "/")]))
        #expect(byPath["loop"]?.kind == .symlink(target: Array("loop".utf8)))
    }

    @Test func aFIFOInTheTreeIsRefusedByName() throws {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(mkfifo(dir.appendingPathComponent("pipe").path, 0o600) == 0)
        #expect {
            _ = try RuntimeTree.entries(under: dir.path)
        } throws: { error in
            (error as? PlaneProtocolError)?.code == .unsupportedEntry
                && (error as? PlaneProtocolError)?.reason.contains("pipe") == true
        }
    }
}
