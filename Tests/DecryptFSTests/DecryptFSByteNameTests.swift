import DecryptFS
import Foundation
import Glibc
import PlaneCrypto
import Sealing
import TestSupport
import Testing

/// Names are bytes in the FUSE: "café" in NFC and in NFD are canonically equivalent Unicode (equal as Swift
/// strings) but different names on Linux, and each must read its own file.
@Suite struct DecryptFSByteNameTests {
    static let nfc = "caf\u{e9}"  // 63 61 66 c3 a9
    static let nfd = "cafe\u{301}"  // 63 61 66 65 cc 81

    /// Writes through POSIX calls, so no layer can normalise the name.
    static func write(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw CocoaError(.fileWriteUnknown) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw CocoaError(.fileWriteUnknown)
        }
    }

    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        return n < 0 ? nil : String(decoding: buffer[0..<n], as: UTF8.self)
    }

    /// The names in a directory as raw bytes.
    static func names(_ path: String) -> Set<[UInt8]> {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: Set<[UInt8]> = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name != [46] && name != [46, 46] { names.insert(name) }
        }
        return names
    }

    @Test func canonicallyEquivalentTwinsEachReadTheirOwnBytes() throws {
        let dir = try MountHarness.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let plain = dir.path + "/plain"
        #expect(mkdir(plain, 0o755) == 0)
        try Self.write(plain + "/" + Self.nfc, "NFC-content")
        try Self.write(plain + "/" + Self.nfd, "NFD-content")
        #expect(mkdir(plain + "/d", 0o755) == 0)
        for (name, text) in [(Self.nfc, "in the NFC directory"), (Self.nfd, "in the NFD directory")] {
            #expect(mkdir(plain + "/d/" + name, 0o755) == 0)
            try Self.write(plain + "/d/" + name + "/x", text)
        }
        let sealer = try Sealer(options: .init(datasetID: MountHarness.datasetID, chunkSize: 4096, durable: false))
        let result = try sealer.seal(
            source: plain,
            output: dir.path + "/sealed",
            keySource: InMemoryKeySource(key: MountHarness.key())
        )
        #expect(result.manifest.entries.count == 7)
        try MountHarness.withMount(dir) { (mnt: URL) throws in
            #expect(Self.read(mnt.path + "/" + Self.nfc) == "NFC-content")
            #expect(Self.read(mnt.path + "/" + Self.nfd) == "NFD-content")
            #expect(Self.read(mnt.path + "/d/" + Self.nfc + "/x") == "in the NFC directory")
            #expect(Self.read(mnt.path + "/d/" + Self.nfd + "/x") == "in the NFD directory")
            #expect(Self.names(mnt.path) == [Array(Self.nfc.utf8), Array(Self.nfd.utf8), Array("d".utf8)])
            #expect(Self.names(mnt.path + "/d") == [Array(Self.nfc.utf8), Array(Self.nfd.utf8)])
            // A third spelling that is neither twin's bytes does not resolve to either.
            #expect(Self.read(mnt.path + "/CAF\u{c9}") == nil)
        }
    }
}
