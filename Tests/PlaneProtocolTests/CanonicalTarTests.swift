import Foundation
import PlaneProtocol
import TestSupport
import Testing

/// Bundle v1 against stock GNU tar: for trees of files and directories, our bytes are GNU tar's bytes.
@Suite struct CanonicalTarTests {
    /// The reference command (docs/bundles.md), run by /bin/sh in `dir`.
    static let gnuTar =
        "find . -mindepth 1 -printf '%P\\0' | LC_ALL=C sort -z | LC_ALL=C tar --null --no-recursion -T - "
        + "--format=ustar --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=u=rwX,go=rX -cf -"

    static func gnuTarBytes(of dir: URL) throws -> [UInt8] {
        let (bytes, status) = try shell(gnuTar, in: dir)
        #expect(status == 0, "GNU tar failed in \(dir.path)")
        return bytes
    }

    /// What `command` prints, run by /bin/sh in `dir`, and its exit status.
    static func shell(_ command: String, in dir: URL) throws -> (bytes: [UInt8], status: Int32) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.currentDirectoryURL = dir
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ([UInt8](data), process.terminationStatus)
    }

    /// Writes `files` (path → (contents, mode)) and `directories` under a fresh directory.
    static func makeTree(files: [String: ([UInt8], Int)], directories: [String] = []) throws -> URL {
        let root = try DelongProcess.temporaryDirectory()
        for d in directories {
            try FileManager.default.createDirectory(
                at: root.appendingPathComponent(d),
                withIntermediateDirectories: true
            )
        }
        for (path, (contents, mode)) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            try Data(contents).write(to: url)
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
        }
        return root
    }

    @Test func generatedTreesGiveExactlyGNUTarsBytes() throws {
        var random = DeterministicBytes(seed: 7)
        let names = ["a", "A", "a-b", "a.b", "a_b", "b", "main.py", "z z", "é", "数据", "x=y", "~"]
        for round in 0..<12 {
            var files: [String: ([UInt8], Int)] = [:]
            var directories: [String] = ["empty\(round)"]
            for _ in 0..<(4 + round * 3) {
                let depth = random.index(4)
                var components: [String] = []
                for _ in 0...depth { components.append(names[random.index(names.count)]) }
                let path = components.joined(separator: "/")
                // A path is a file or a directory, never both: skip collisions with an existing prefix.
                if files.keys.contains(where: { $0.hasPrefix(path + "/") || path.hasPrefix($0 + "/") }) { continue }
                if directories.contains(where: { path.hasPrefix($0 + "/") || $0 == path }) { continue }
                let sizes = [0, 1, 511, 512, 513, 1024, 4099, 70_000]
                let size = sizes[random.index(sizes.count)]
                let modes = [0o644, 0o600, 0o755, 0o700, 0o640, 0o711]
                files[path] = (random.bytes(size), modes[random.index(modes.count)])
            }
            if round % 3 == 0 {
                directories.append("d/" + String(repeating: "n", count: 60) + "/" + String(repeating: "m", count: 60))
            }
            let root = try Self.makeTree(files: files, directories: directories)
            defer { try? FileManager.default.removeItem(at: root) }
            let ours = try CanonicalTar.encode(try BundleTree.entries(under: root.path))
            let theirs = try Self.gnuTarBytes(of: root)
            #expect(ours.count == theirs.count, "round \(round): \(ours.count) bytes, GNU tar \(theirs.count)")
            #expect(
                ours == theirs,
                "round \(round): first difference at \((0..<min(ours.count, theirs.count)).first { ours[$0] != theirs[$0] } ?? -1)"
            )
            // And the archive verifies as canonical, giving back the same tree.
            let entries = try CanonicalTar.verify(theirs)
            #expect(try CanonicalTar.encode(entries) == theirs)
        }
    }

    @Test func longPathsSplitWhereGNUTarSplitsThem() throws {
        // Names around the 100-byte name field and the 155-byte prefix, including a directory whose name with
        // its trailing slash is exactly 101 bytes.
        let long = String(repeating: "p", count: 99)
        let files: [String: ([UInt8], Int)] = [
            String(repeating: "a", count: 100): ([1], 0o644),
            "d/" + String(repeating: "b", count: 98): ([2], 0o644),
            "d/" + String(repeating: "c", count: 99): ([3], 0o644),
            String(repeating: "q", count: 70) + "/" + String(repeating: "u", count: 79) + "/"
                + String(repeating: "r", count: 100): ([4], 0o755),
            long + "/" + String(repeating: "t", count: 50) + "/f": ([5], 0o644),
        ]
        let root = try Self.makeTree(
            files: files,
            directories: [String(repeating: "s", count: 99), "x/" + String(repeating: "w", count: 99)]
        )
        defer { try? FileManager.default.removeItem(at: root) }
        let ours = try CanonicalTar.encode(try BundleTree.entries(under: root.path))
        #expect(ours == (try Self.gnuTarBytes(of: root)))
    }

    @Test func pathsUstarCannotHoldAreRefusedNamingThem() throws {
        let long = String(repeating: "p", count: 99)
        for path in [
            String(repeating: "x", count: 101), String(repeating: "y", count: 160) + "/z", long + "/" + long + "/f",
        ] {
            let root = try Self.makeTree(files: [path: ([1], 0o644)])
            defer { try? FileManager.default.removeItem(at: root) }
            // GNU tar refuses it too ("file name is too long"), so the two never disagree on a digest.
            #expect(try Self.shell(Self.gnuTar, in: root).status != 0, "GNU tar archived \(path.prefix(20))…")
            #expect {
                _ = try CanonicalTar.encode(try BundleTree.entries(under: root.path))
            } throws: { error in
                (error as? PlaneProtocolError)?.code == .tooLarge
                    && "\(error)".contains(String(path.prefix(20)))
            }
        }
    }

    @Test func linksSpecialFilesAndNonUTF8NamesAreRefusedNamingThePath() throws {
        let root = try Self.makeTree(files: ["main.py": (Array("print(1)\n".utf8), 0o644)])
        defer { try? FileManager.default.removeItem(at: root) }
        func refused(_ setUp: () throws -> Void, _ cleanUp: () throws -> Void, _ mention: String) throws {
            try setUp()
            defer { try? cleanUp() }
            #expect {
                _ = try BundleTree.entries(under: root.path)
            } throws: { error in
                (error as? PlaneProtocolError)?.code == .unsupportedEntry && "\(error)".contains(mention)
            }
        }
        let link = root.appendingPathComponent("link")
        try refused(
            { try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: "main.py") },
            { try FileManager.default.removeItem(at: link) },
            "link: a symlink"
        )
        let fifo = root.appendingPathComponent("pipe")
        try refused(
            { #expect(mkfifo(fifo.path, 0o644) == 0) },
            { try FileManager.default.removeItem(at: fifo) },
            "pipe: a FIFO"
        )
        let hard = root.appendingPathComponent("again.py")
        try refused(
            { try FileManager.default.linkItem(at: root.appendingPathComponent("main.py"), to: hard) },
            { try FileManager.default.removeItem(at: hard) },
            "2 hard links"
        )
        // A Latin-1 name: bytes that are not UTF-8, shown escaped.
        let bad = root.path + "/caf\u{FFFD}"
        let badBytes = Array(root.path.utf8) + Array("/caf".utf8) + [0xE9, 0]
        try refused(
            {
                #expect(
                    badBytes.withUnsafeBytes {
                        open($0.baseAddress!.assumingMemoryBound(to: CChar.self), O_CREAT | O_WRONLY, 0o644)
                    } >= 0
                )
            },
            { _ = badBytes.withUnsafeBytes { unlink($0.baseAddress!.assumingMemoryBound(to: CChar.self)) } },
            "caf\\xe9"
        )
        _ = bad
    }

    @Test func archivesThatAreNotCanonicalAreRefusedWithWhereTheyDiffer() throws {
        let root = try Self.makeTree(files: ["main.py": (Array("print(1)\n".utf8), 0o644), "lib/x.py": ([7], 0o600)])
        defer { try? FileManager.default.removeItem(at: root) }
        let canonical = try Self.gnuTarBytes(of: root)
        _ = try CanonicalTar.verify(canonical)

        func tar(_ arguments: String) throws -> [UInt8] {
            try Self.shell("tar \(arguments) -cf - main.py lib lib/x.py", in: root).bytes
        }
        let variants: [(String, [UInt8])] = [
            ("real mtimes and owners", try tar("--format=ustar --no-recursion")),
            ("GNU format", try tar("--format=gnu --no-recursion --mtime=@0 --owner=0 --group=0 --numeric-owner")),
            (
                "unsorted",
                try tar(
                    "--format=ustar --no-recursion --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=u=rwX,go=rX"
                )
            ),
            ("no record padding", Array(canonical.prefix(7 * 512))),
        ]
        for (what, bytes) in variants {
            #expect(bytes != canonical, "\(what) should differ from the canonical bytes")
            #expect(throws: PlaneProtocolError(.notCanonical, "")) { _ = try CanonicalTar.verify(bytes) }
        }
        // A file without its directory entry decodes, but is not the one encoding of its tree.
        let orphan = try CanonicalTar.encode([
            try BundleEntry(path: Array("lib/x.py".utf8), kind: .file(contents: [7], executable: false))
        ])
        #expect(throws: PlaneProtocolError(.notCanonical, "")) { _ = try CanonicalTar.verify(orphan) }
    }

    @Test func hostileArchivesAreRefusedAsBadInput() throws {
        let good = try CanonicalTar.encode([
            try BundleEntry(
                path: Array("main.py".utf8),
                kind: .file(contents: Array("print(1)\n".utf8), executable: false)
            )
        ])
        /// `good` with its first header's name replaced and the checksum fixed.
        func renamed(_ name: [UInt8], type: UInt8? = nil) -> [UInt8] {
            var bytes = good
            for i in 0..<100 { bytes[i] = i < name.count ? name[i] : 0 }
            if let type { bytes[156] = type }
            for i in 148..<156 { bytes[i] = 0x20 }
            let sum = bytes[0..<512].reduce(0) { $0 + Int($1) }
            let digits = Array(String(sum, radix: 8).utf8)
            let field = [UInt8](repeating: UInt8(ascii: "0"), count: 6 - digits.count) + digits + [0, 0x20]
            for (i, b) in field.enumerated() { bytes[148 + i] = b }
            return bytes
        }
        let cases: [(String, [UInt8], PlaneProtocolError.Code)] = [
            ("dot-dot", renamed(Array("../evil.py".utf8)), .malformed),
            ("inner dot-dot", renamed(Array("a/../../evil".utf8)), .malformed),
            ("absolute", renamed(Array("/etc/passwd".utf8)), .malformed),
            ("symlink", renamed(Array("main.py".utf8), type: UInt8(ascii: "2")), .unsupportedEntry),
            ("hard link", renamed(Array("main.py".utf8), type: UInt8(ascii: "1")), .unsupportedEntry),
            ("device", renamed(Array("main.py".utf8), type: UInt8(ascii: "3")), .unsupportedEntry),
            ("pax header", renamed(Array("main.py".utf8), type: UInt8(ascii: "x")), .unsupportedEntry),
            ("non-UTF-8 name", renamed([0x66, 0xFF, 0xFE]), .malformed),
            ("truncated", Array(good.prefix(700)), .malformed),
            ("cut before the end blocks", Array(good.prefix(1024)), .malformed),
            ("empty", [], .malformed),
            (
                "bad checksum",
                {
                    var b = good
                    b[0] ^= 1
                    return b
                }(), .malformed
            ),
            (
                "data after the end",
                {
                    var b = good
                    b[b.count - 1] = 1
                    return b
                }(), .malformed
            ),
        ]
        for (what, bytes, code) in cases {
            #expect(throws: PlaneProtocolError(code, ""), "\(what)") { _ = try CanonicalTar.verify(bytes) }
        }
        // Duplicate paths.
        var twice = Array(good.prefix(1024))
        twice += twice
        twice += [UInt8](repeating: 0, count: CanonicalTar.recordSize - twice.count)
        #expect(throws: PlaneProtocolError(.malformed, "")) { _ = try CanonicalTar.verify(twice) }
    }

    @Test func limitsOnEntriesAndSizeAreEnforcedBothWays() throws {
        let entries = try (0..<5).map { i in
            try BundleEntry(path: Array("f\(i)".utf8), kind: .file(contents: [UInt8(i)], executable: false))
        }
        let small = CanonicalTar.Limits(maxArchiveBytes: 64 << 20, maxEntries: 4)
        #expect(throws: PlaneProtocolError(.tooLarge, "")) { _ = try CanonicalTar.encode(entries, limits: small) }
        let archive = try CanonicalTar.encode(entries)
        #expect(throws: PlaneProtocolError(.tooLarge, "")) { _ = try CanonicalTar.verify(archive, limits: small) }
        let tiny = CanonicalTar.Limits(maxArchiveBytes: 10_240, maxEntries: 100)
        let big = [
            try BundleEntry(
                path: Array("big".utf8),
                kind: .file(contents: [UInt8](repeating: 1, count: 20_000), executable: false)
            )
        ]
        #expect(throws: PlaneProtocolError(.tooLarge, "")) { _ = try CanonicalTar.encode(big, limits: tiny) }
        #expect(throws: PlaneProtocolError(.tooLarge, "")) {
            _ = try CanonicalTar.verify(try CanonicalTar.encode(big), limits: tiny)
        }
    }
}

extension DeterministicBytes {
    /// A value in 0..<count.
    mutating func index(_ count: Int) -> Int { Int(next() % UInt64(count)) }
}
