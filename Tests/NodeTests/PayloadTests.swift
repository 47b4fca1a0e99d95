import ChainCore
import Foundation
import Glibc
import PlaneCrypto
import TestSupport
import Testing

/// `delong payload build|verify` as an operator runs them, on a small synthetic venv (files, an executable,
/// nested directories, relative symlinks and the venv's absolute link to its interpreter) and synthetic .debs.
@Suite struct PayloadTests {
    let dir: URL
    /// The interpreter the synthetic venvs link to (outside every copy, like /usr/bin/python3.11).
    let interpreter: String

    init() throws {
        let made = try DelongProcess.temporaryDirectory()
        // The venv's absolute link must name the interpreter's real path, as a real venv's does.
        dir = URL(fileURLWithPath: try #require(realpath(made.path, nil).map { String(cString: $0) }))
        let bin = dir.appendingPathComponent("usr-bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        interpreter = bin.appendingPathComponent("python3.11").path
        try Data("#!/bin/false\nnot really python\n".utf8).write(to: URL(fileURLWithPath: interpreter))
        chmod(interpreter, 0o755)
    }

    /// The inputs of one build, placed under `root`: `delong`, `venv/`, `debs/`, `debs.lock`.
    struct Inputs {
        let root: URL
        var delong: String { root.appendingPathComponent("delong").path }
        var venv: String { root.appendingPathComponent("venv").path }
        var debs: String { root.appendingPathComponent("debs").path }
        var lock: String { root.appendingPathComponent("debs.lock").path }

        func arguments(out: String, json: Bool = false) -> [String] {
            ["payload", "build", "--delong", delong, "--runtime", venv, "--debs", debs, "--lock", lock, "--out", out]
                + (json ? ["--json"] : [])
        }
    }

    /// What each input holds: path → (bytes, executable) for files, path → target for links, and directories.
    var files: [(String, String, Bool)] {
        [
            ("delong", "\u{7F}ELF a stand-in for the delong binary\n", true),
            ("venv/pyvenv.cfg", "home = /usr/bin\nversion = 3.11.2\n", false),
            ("venv/bin/tool", "#!/bin/sh\necho tool\n", true),
            ("venv/lib/python3.11/site-packages/pkg/__init__.py", "X = 1\n", false),
            ("venv/lib/python3.11/site-packages/pkg/data.bin", String(repeating: "\u{1}\u{2}", count: 700), false),
            ("venv/share/a/b/c/deep.txt", "deep\n", false),
            ("debs/fakea_1.0-1_amd64.deb", "!<arch>\nfake a\n", false),
            ("debs/fakeb_1%3a2.0-3+b1_all.deb", "!<arch>\nfake b, a longer one\n", false),
        ]
    }
    var links: [(String, String)] {
        [
            ("venv/bin/python3", "python3.11"), ("venv/bin/python", "python3"),
            ("venv/bin/python3.11", interpreter), ("venv/lib64", "lib"),
            ("venv/share/a/b/up", "../../../lib/python3.11"),
        ]
    }
    let directories = ["venv/include"]

    /// Writes the inputs under `name`, in `reversed` creation order, with modes as umask 022 or 077 gives
    /// (`tight`) and every mtime set to `mtime`.
    func place(_ name: String, reversed: Bool, tight: Bool, mtime: Int) throws -> Inputs {
        let root = dir.appendingPathComponent(name)
        var steps: [() throws -> Void] = []
        for (path, text, executable) in files {
            steps.append {
                let url = root.appendingPathComponent(path)
                try FileManager.default.createDirectory(
                    at: url.deletingLastPathComponent(),
                    withIntermediateDirectories: true
                )
                try Data(text.utf8).write(to: url)
                chmod(url.path, executable ? (tight ? 0o700 : 0o755) : (tight ? 0o600 : 0o644))
            }
        }
        for (path, target) in links {
            steps.append {
                let url = root.appendingPathComponent(path)
                try FileManager.default.createDirectory(
                    at: url.deletingLastPathComponent(),
                    withIntermediateDirectories: true
                )
                try FileManager.default.createSymbolicLink(atPath: url.path, withDestinationPath: target)
            }
        }
        for path in directories {
            steps.append {
                try FileManager.default.createDirectory(
                    at: root.appendingPathComponent(path),
                    withIntermediateDirectories: true
                )
            }
        }
        for step in reversed ? steps.reversed() : steps { try step() }
        var lock = "# synthetic\n"
        for (path, text, _) in files where path.hasPrefix("debs/") {
            let file = String(path.dropFirst(5))
            let parts = file.dropLast(4).split(separator: "_")
            let version = parts[1].replacingOccurrences(of: "%3a", with: ":")
            lock += "\(parts[0]) \(version) \(Self.sha256(Data(text.utf8)))\n"
        }
        try Data(lock.utf8).write(to: root.appendingPathComponent("debs.lock"))
        // Directories and files get the same odd mtime; directories last, as writing into them moves theirs.
        _ = try ContribTool.run(
            [
                "/bin/sh", "-c",
                "find \"$1\" -type d -exec chmod \"$2\" {} + && find \"$1\" -depth -exec touch -h -d \"@$3.000000456\" {} +",
                "sh", root.path, tight ? "700" : "755", "\(mtime)",
            ]
        )
        return Inputs(root: root)
    }

    static func sha256(_ data: Data) -> String { Hex.encode(Digest.sha256([UInt8](data)), prefix: false) }

    func sh(_ script: String, _ args: String...) throws -> String {
        try ContribTool.run(["/bin/sh", "-c", script, "sh"] + args)
    }

    /// Files the directory holds whose names start with `prefix` (left-over temporaries).
    func leftovers(in directory: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.contains(".tmp-") }
    }

    @Test func twoBuildsFromDifferentFoldersAreIdenticalAndGNUTarAgrees() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = try place("first", reversed: false, tight: false, mtime: 1_600_000_000)
        let b = try place("second-folder/deeper", reversed: true, tight: true, mtime: 1_700_000_123)
        let outA = dir.appendingPathComponent("a.tar").path
        let outB = dir.appendingPathComponent("b.tar").path

        let buildA = try DelongProcess.run(a.arguments(out: outA, json: true))
        #expect(buildA.status == 0, "\(buildA.stderr)")
        let buildB = try DelongProcess.run(b.arguments(out: outB))
        #expect(buildB.status == 0, "\(buildB.stderr)")
        let bytesA = try Data(contentsOf: URL(fileURLWithPath: outA))
        let bytesB = try Data(contentsOf: URL(fileURLWithPath: outB))
        #expect(bytesA == bytesB)
        let json = try #require(buildA.json, "\(buildA.stdout)")
        let payload = try #require(json["payload"] as? String)
        #expect(payload == "sha256:" + Self.sha256(bytesA))
        #expect(buildB.stdout == payload + "\n")
        #expect(json["bytes"] as? Int == bytesA.count && bytesA.count % 10_240 == 0)
        let manifest = try #require(json["manifest"] as? [String: Any])
        #expect(manifest["format"] as? String == "delong/payload/v1")
        let delong = try #require(manifest["delong"] as? [String: String])
        #expect(delong["sha256"] == Self.sha256(Data(files[0].1.utf8)))
        let debs = try #require(manifest["debs"] as? [[String: String]])
        #expect(debs.map { $0["name"] ?? "" } == ["fakea", "fakeb"])
        #expect(debs.map { $0["version"] ?? "" } == ["1.0-1", "1:2.0-3+b1"])
        #expect(debs[1]["file"] == "debs/fakeb_1%3a2.0-3+b1_all.deb")
        let runtime = try #require(manifest["runtime"] as? [String: Any])
        let interpreter = try #require(runtime["interpreter"] as? [String: String])
        #expect(interpreter["path"] == self.interpreter && interpreter["debianPackage"] == "-")

        // GNU tar lists it with owner 0/0, mtime 1970 and the normalized modes, and extracts the same tree.
        let listing = try sh("LC_ALL=C TZ=UTC tar -tvf \"$1\"", outA)
        var seen: [String: String] = [:]
        for line in listing.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            #expect(fields[1] == "0/0", "\(line)")
            #expect(fields[3] == "1970-01-01" && fields[4] == "00:00", "\(line)")
            seen[String(fields[5])] = String(fields[0])
        }
        #expect(seen["delong"] == "-rwxr-xr-x")
        #expect(seen["payload.json"] == "-rw-r--r--")
        #expect(seen["runtime/"] == "drwxr-xr-x" && seen["runtime/include/"] == "drwxr-xr-x")
        #expect(seen["runtime/bin/tool"] == "-rwxr-xr-x")
        #expect(seen["runtime/pyvenv.cfg"] == "-rw-r--r--")
        #expect(seen["runtime/bin/python3.11"] == "lrwxr-xr-x")
        #expect(seen["debs/fakea_1.0-1_amd64.deb"] == "-rw-r--r--")
        #expect(listing.contains("runtime/lib64 -> lib"))
        #expect(listing.contains("runtime/bin/python3.11 -> \(self.interpreter)"))

        let extracted = dir.appendingPathComponent("extracted")
        try FileManager.default.createDirectory(at: extracted, withIntermediateDirectories: true)
        _ = try sh("tar -xf \"$1\" -C \"$2\"", outA, extracted.path)
        for (path, text, _) in files {
            let inPayload = path.hasPrefix("venv/") ? "runtime/" + path.dropFirst(5) : path
            let data = try Data(contentsOf: extracted.appendingPathComponent(inPayload))
            #expect(data == Data(text.utf8), "\(inPayload)")
        }
        for (path, target) in links {
            let inPayload = "runtime/" + path.dropFirst(5)
            let found = try FileManager.default.destinationOfSymbolicLink(
                atPath: extracted.appendingPathComponent(inPayload).path
            )
            #expect(found == target, "\(inPayload)")
        }
        // The manifest's runtime digest is the digest of the extracted runtime.
        let digest = try DelongProcess.run(["runtime", "digest", extracted.appendingPathComponent("runtime").path])
        #expect(digest.status == 0, "\(digest.stderr)")
        #expect(digest.stdout == (runtime["digest"] as? String ?? "?") + "\n")
        // And stock GNU tar, given the extracted tree, writes these very bytes (docs/bundles.md's command).
        let gnu = try sh(
            "cd \"$1\" && find . -mindepth 1 -printf '%P\\0' | LC_ALL=C sort -z | LC_ALL=C tar --null --no-recursion "
                + "-T - --format=ustar --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=u=rwX,go=rX -cf - "
                + "| sha256sum",
            extracted.path
        )
        #expect("sha256:" + gnu.prefix(64) == payload)

        let verify = try DelongProcess.run(["payload", "verify", outB, "--json"])
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.json?["payload"] as? String == payload)
        #expect(verify.json?["entries"] as? Int == seen.count)
        #expect(leftovers(in: dir).isEmpty)
    }

    @Test func aBadDebALinkOutOfTheTreeOrABadLockIsRefusedAndNothingIsWritten() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("payload.tar")
        try Data("an earlier payload".utf8).write(to: out)

        func refused(_ inputs: Inputs, _ expected: [String], status: Int32 = 2) throws {
            let r = try DelongProcess.run(inputs.arguments(out: out.path))
            #expect(r.status == status, "\(r.stderr)")
            for text in expected { #expect(r.stderr.contains(text), "expected \(text) in: \(r.stderr)") }
            #expect(r.stdout.isEmpty)
            #expect(try Data(contentsOf: out) == Data("an earlier payload".utf8))
            #expect(leftovers(in: dir).isEmpty)
            try FileManager.default.removeItem(at: inputs.root)
        }

        var inputs = try place("wrong-sha", reversed: false, tight: false, mtime: 0)
        try Data("!<arch>\nswapped\n".utf8).write(to: URL(fileURLWithPath: inputs.debs + "/fakea_1.0-1_amd64.deb"))
        try refused(
            inputs,
            [
                "fakea 1.0-1: the lock pins sha256 \(Self.sha256(Data(files[6].1.utf8)))",
                "found \(Self.sha256(Data("!<arch>\nswapped\n".utf8)))",
            ]
        )

        inputs = try place("missing", reversed: false, tight: false, mtime: 0)
        try FileManager.default.removeItem(atPath: inputs.debs + "/fakeb_1%3a2.0-3+b1_all.deb")
        try refused(inputs, ["fakeb 1:2.0-3+b1: pinned by the lock", "found none"])

        inputs = try place("extra", reversed: false, tight: false, mtime: 0)
        try Data("x".utf8).write(to: URL(fileURLWithPath: inputs.debs + "/fakec_9_amd64.deb"))
        try refused(inputs, ["fakec_9_amd64.deb: an extra package", "does not pin fakec"])

        inputs = try place("other-version", reversed: false, tight: false, mtime: 0)
        try FileManager.default.moveItem(
            atPath: inputs.debs + "/fakea_1.0-1_amd64.deb",
            toPath: inputs.debs + "/fakea_1.0-2_amd64.deb"
        )
        try refused(inputs, ["fakea: the lock pins version 1.0-1, found fakea_1.0-2_amd64.deb"])

        inputs = try place("escape", reversed: false, tight: false, mtime: 0)
        try FileManager.default.createSymbolicLink(atPath: inputs.venv + "/lib/evil", withDestinationPath: "../../etc")
        try refused(inputs, ["runtime/lib/evil -> ../../etc: a link that leads out of the runtime"])

        inputs = try place("escape-later", reversed: false, tight: false, mtime: 0)
        try FileManager.default.createSymbolicLink(atPath: inputs.venv + "/lib/sneaky", withDestinationPath: "x/../..")
        try refused(inputs, ["runtime/lib/sneaky -> x/../..: a link that climbs after a name"])

        inputs = try place("absolute", reversed: false, tight: false, mtime: 0)
        try FileManager.default.createSymbolicLink(
            atPath: inputs.venv + "/etc-passwd",
            withDestinationPath: "/etc/passwd"
        )
        try refused(inputs, ["runtime/etc-passwd -> /etc/passwd: an absolute link out of the runtime"])

        inputs = try place("fifo", reversed: false, tight: false, mtime: 0)
        mkfifo(inputs.venv + "/pipe", 0o644)
        try refused(inputs, ["pipe: a device, FIFO or socket"])

        inputs = try place("bad-lock", reversed: false, tight: false, mtime: 0)
        try Data("fakea 1.0-1 nothex\n".utf8).write(to: URL(fileURLWithPath: inputs.lock))
        try refused(inputs, ["line 1: expected a sha256 of 64 hex digits"])

        inputs = try place("no-venv", reversed: false, tight: false, mtime: 0)
        try FileManager.default.removeItem(atPath: inputs.venv + "/pyvenv.cfg")
        try refused(inputs, ["not a venv"])

        // Output into a directory that does not exist: I/O (3), nothing left.
        inputs = try place("no-out-dir", reversed: false, tight: false, mtime: 0)
        let r = try DelongProcess.run(inputs.arguments(out: dir.appendingPathComponent("nope/p.tar").path))
        #expect(r.status == 3, "\(r.stderr)")
        #expect(r.stderr.contains("cannot create"))
    }

    @Test func verifyRefusesTruncatedTamperedAndNonCanonicalPayloads() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let inputs = try place("good", reversed: false, tight: false, mtime: 5)
        let out = dir.appendingPathComponent("good.tar")
        let build = try DelongProcess.run(inputs.arguments(out: out.path))
        #expect(build.status == 0, "\(build.stderr)")
        let good = [UInt8](try Data(contentsOf: out))

        func verify(_ bytes: [UInt8], _ name: String) throws -> DelongProcess.Result {
            let path = dir.appendingPathComponent(name)
            try Data(bytes).write(to: path)
            return try DelongProcess.run(["payload", "verify", path.path])
        }
        /// Where `path`'s header starts, found by walking the archive.
        func headerOffset(_ path: String) throws -> Int {
            var offset = 0
            while offset + 512 <= good.count {
                let name = String(decoding: good[offset..<(offset + 100)].prefix { $0 != 0 }, as: UTF8.self)
                let sizeText = String(decoding: good[(offset + 124)..<(offset + 135)], as: UTF8.self)
                if name == path { return offset }
                let size = Int(sizeText, radix: 8) ?? 0
                offset += 512 + (size + 511) / 512 * 512
            }
            throw CocoaError(.fileNoSuchFile)
        }
        func resum(_ bytes: inout [UInt8], at offset: Int) {
            for i in 148..<156 { bytes[offset + i] = 0x20 }
            let sum = bytes[offset..<(offset + 512)].reduce(0) { $0 + Int($1) }
            let text = Array(String(sum, radix: 8).utf8)
            let field = [UInt8](repeating: UInt8(ascii: "0"), count: 6 - text.count) + text + [0, 0x20]
            for (i, b) in field.enumerated() { bytes[offset + 148 + i] = b }
        }

        let ok = try verify(good, "copy.tar")
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout == build.stdout)

        let truncated = try verify(Array(good.prefix(good.count / 2 / 512 * 512 + 100)), "truncated.tar")
        #expect(truncated.status == 2, "\(truncated.stderr)")
        #expect(truncated.stderr.contains("truncated?"))

        var tampered = good
        let deb = try headerOffset("debs/fakea_1.0-1_amd64.deb")
        tampered[deb + 512 + 3] ^= 1
        let mismatch = try verify(tampered, "tampered.tar")
        #expect(mismatch.status == 1, "\(mismatch.stderr)")
        #expect(mismatch.stderr.contains("debs/fakea_1.0-1_amd64.deb: the manifest says sha256"))

        var tool = good
        let toolHeader = try headerOffset("runtime/bin/tool")
        tool[toolHeader + 512] ^= 1
        let runtime = try verify(tool, "runtime.tar")
        #expect(runtime.status == 1, "\(runtime.stderr)")
        #expect(runtime.stderr.contains("runtime/: the manifest says sha256:"))

        var stamped = good
        let first = try headerOffset("debs/")
        for (i, b) in Array("14712345670\0".utf8).enumerated() { stamped[first + 136 + i] = b }
        resum(&stamped, at: first)
        let notCanonical = try verify(stamped, "stamped.tar")
        #expect(notCanonical.status == 1, "\(notCanonical.stderr)")
        #expect(
            notCanonical.stderr.contains("debs: expected the canonical header; the first difference is in its mtime")
        )

        var device = good
        device[first + 156] = UInt8(ascii: "3")
        resum(&device, at: first)
        let special = try verify(device, "device.tar")
        #expect(special.status == 2, "\(special.stderr)")
        #expect(special.stderr.contains("a device, FIFO or extension header"))

        let missing = try DelongProcess.run(["payload", "verify", dir.appendingPathComponent("none.tar").path])
        #expect(missing.status == 3, "\(missing.stderr)")
    }
}
