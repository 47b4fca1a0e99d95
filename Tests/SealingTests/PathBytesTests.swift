import Foundation
import Glibc
import PlaneCrypto
import Sealing
import TestSupport
import Testing

/// Byte-exact file names: two names that are canonically equivalent in Unicode but differ in bytes (NFC and
/// NFD "café") are two different paths everywhere; and `dataset unseal` writes plaintext for its owner only.
@Suite struct PathBytesTests {
    static let nfc = "caf\u{e9}"  // 63 61 66 c3 a9
    static let nfd = "cafe\u{301}"  // 63 61 66 65 cc 81

    /// Writes `contents` at `path` (relative to `root`) through POSIX, so no layer can normalise the name.
    static func writeFile(_ root: URL, _ path: String, _ contents: [UInt8]) throws {
        let fd = open(root.path + "/" + path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw CocoaError(.fileWriteUnknown) }
        defer { close(fd) }
        guard contents.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == contents.count else {
            throw CocoaError(.fileWriteUnknown)
        }
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CocoaError(.fileReadNoSuchFile) }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            out += buffer[0..<n]
        }
        return out
    }

    static func mode(_ path: String) -> mode_t {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_mode & 0o777 : 0
    }

    @Test func theNamesDifferInBytesButAreEqualAsSwiftStrings() {
        #expect(Self.nfc == Self.nfd)  // why byte comparison is needed at all
        #expect(Array(Self.nfc.utf8) != Array(Self.nfd.utf8))
    }

    /// A manifest plaintext encoded by hand: (kind, path) pairs, files with distinct ids.
    static func encode(_ entries: [(UInt8, String)]) -> [UInt8] {
        var out = Array("DLMANIF1".utf8)
        out += withUnsafeBytes(of: UInt32(entries.count).bigEndian, Array.init)
        var n: UInt8 = 0
        for (kind, path) in entries {
            out.append(kind)
            out += withUnsafeBytes(of: UInt16(path.utf8.count).bigEndian, Array.init)
            out += Array(path.utf8)
            if kind == 2 {
                n += 1
                out += [UInt8](repeating: n, count: 32) + [UInt8](repeating: 0, count: 8 + 32)
            }
        }
        return out
    }

    @Test func theManifestParentCheckComparesBytes() throws {
        // Directory "cafe\u{301}" (NFD) is not the parent of "caf\u{e9}/x" (NFC), although the names are equal
        // as Swift strings (and the order is right: NFD's 0x65 sorts before NFC's 0xc3).
        let error = #expect(throws: SealingError.self) {
            try Manifest.decode(Self.encode([(1, Self.nfd), (2, Self.nfc + "/x")]))
        }
        #expect(error?.reason.contains("parent directory") == true, "\(String(describing: error))")
        // The same through the encoder's path (Manifest(entries:), as `dataset seal` builds it).
        let id = try #require(try Manifest.decode(Self.encode([(2, "a")])).entries[0].fileID)
        let digest = [UInt8](repeating: 0, count: 32)
        let fromEntries = #expect(throws: SealingError.self) {
            try Manifest(entries: [.directory(Self.nfd), .file(Self.nfc + "/x", fileID: id, size: 1, sha256: digest)])
        }
        #expect(fromEntries?.reason.contains("parent directory") == true)
        // Each twin with its own parent is fine, and all four entries stay distinct.
        let manifest = try Manifest.decode(
            Self.encode([(1, Self.nfd), (2, Self.nfd + "/x"), (1, Self.nfc), (2, Self.nfc + "/x")])
        )
        #expect(manifest.entries.count == 4)
        #expect(Set(manifest.entries.map { Array($0.path.utf8) }).count == 4)
        #expect(try Manifest.decode(manifest.encoded()) == manifest)
        // Entries compare by bytes too: the twins' entries are neither equal nor merged in a set.
        #expect(Manifest.Entry.directory(Self.nfc) != Manifest.Entry.directory(Self.nfd))
        #expect(Set([Manifest.Entry.directory(Self.nfc), .directory(Self.nfd)]).count == 2)
        #expect(Manifest.Entry.directory(Self.nfc) == Manifest.Entry.directory("caf\u{e9}"))
    }

    @Test func sealAndUnsealKeepCanonicallyEquivalentTwinsApart() throws {
        let dir = try Scratch.directory()
        defer { Scratch.remove(dir) }
        let plain = dir.appendingPathComponent("plain")
        try FileManager.default.createDirectory(at: plain, withIntermediateDirectories: true)
        try Self.writeFile(plain, Self.nfc, Array("NFC-content".utf8))
        try Self.writeFile(plain, Self.nfd, Array("NFD-content".utf8))
        let sealer = try Sealer(options: .init(datasetID: testDatasetID, chunkSize: 4096, durable: false))
        let sealed = dir.appendingPathComponent("sealed")
        let result = try sealer.seal(
            source: plain.path,
            output: sealed.path,
            keySource: InMemoryKeySource(key: testKey())
        )
        #expect(result.manifest.entries.count == 2)
        let dataset = try SealedDataset(root: sealed.path, keySource: InMemoryKeySource(key: testKey()))
        let out = dir.appendingPathComponent("unsealed")
        try dataset.unseal(to: out.path)
        #expect(try Self.readFile(out.path + "/" + Self.nfc) == Array("NFC-content".utf8))
        #expect(try Self.readFile(out.path + "/" + Self.nfd) == Array("NFD-content".utf8))
    }

    @Test func unsealWritesDirectoriesOwnerOnlyAndFiles0600() throws {
        let dir = try Scratch.directory()
        defer { Scratch.remove(dir) }
        let tree = PlainTree.boundaries(chunk: 4096)
        let (sealed, _) = try sealTree(tree, in: dir)
        let dataset = try SealedDataset(root: sealed.path, keySource: InMemoryKeySource(key: testKey()))
        let out = dir.appendingPathComponent("unsealed")
        try dataset.unseal(to: out.path)
        #expect(Self.mode(out.path) == 0o700, "destination (the renamed staging directory)")
        for directory in ["empty", "a", "a/b", "a/b/c", "sizes"] {
            #expect(Self.mode(out.path + "/" + directory) == 0o700, "\(directory)")
        }
        for path in tree.files.keys {
            #expect(Self.mode(out.path + "/" + path) == 0o600, "\(path)")
        }
    }
}
