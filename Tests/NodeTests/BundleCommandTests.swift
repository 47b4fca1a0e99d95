import Foundation
import TestSupport
import Testing

/// `delong bundle pack|digest|verify`, run as a process: digests equal GNU tar's, exit codes 0/1/2/3.
@Suite struct BundleCommandTests {
    let dir: URL
    init() throws { dir = try DelongProcess.temporaryDirectory() }

    func tree(_ files: [String: String]) throws -> URL {
        let root = dir.appendingPathComponent("src-\(UUID().uuidString)")
        for (path, text) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            try Data(text.utf8).write(to: url)
        }
        return root
    }

    func gnuTarDigest(_ root: URL) throws -> String {
        let out = try ContribTool.run([
            "/bin/sh", "-c",
            "cd \"$1\" && find . -mindepth 1 -printf '%P\\0' | LC_ALL=C sort -z | LC_ALL=C tar --null --no-recursion -T - "
                + "--format=ustar --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=u=rwX,go=rX -cf - | sha256sum",
            "sh", root.path,
        ])
        return "sha256:" + String(out.prefix(64))
    }

    @Test func packDigestAndVerifyAgreeWithGNUTar() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let root = try tree([
            "main.py": "print('hello')\n", "lib/util.py": "X = 1\n", "delong.json": #"{"entry":"main.py"}"#,
        ])
        let expected = try gnuTarDigest(root)
        let out = dir.appendingPathComponent("bundle.tar").path

        let pack = try DelongProcess.run(["bundle", "pack", root.path, "-o", out])
        #expect(pack.status == 0, "\(pack.stderr)")
        #expect(pack.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == expected)

        let fromDir = try DelongProcess.run(["bundle", "digest", root.path])
        #expect(fromDir.status == 0)
        #expect(fromDir.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == expected)
        let fromFile = try DelongProcess.run(["bundle", "digest", out])
        #expect(fromFile.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == expected)

        let verify = try DelongProcess.run(["bundle", "verify", out, "--json"])
        #expect(verify.status == 0, "\(verify.stderr)")
        let json = try #require(verify.json)
        #expect(json["digest"] as? String == expected)
        #expect(json["entry"] as? String == "main.py")
        #expect(json["files"] as? Int == 3)
    }

    @Test func aNonCanonicalArchiveExitsOneAndBadInputTwoAndMissingFilesThree() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let root = try tree(["main.py": "print(1)\n"])
        let plain = dir.appendingPathComponent("plain.tar").path
        // An ordinary tar of the same tree: real mtime and owner names, so not canonical.
        try ContribTool.run([
            "/bin/sh", "-c", "cd \"$1\" && tar --format=ustar -cf \"$2\" main.py", "sh", root.path, plain,
        ])
        let r = try DelongProcess.run(["bundle", "verify", plain])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("canonical"))
        #expect(try DelongProcess.run(["bundle", "digest", plain]).status == 1)

        let garbage = dir.appendingPathComponent("garbage.tar")
        try Data(repeating: 0x41, count: 1000).write(to: garbage)
        #expect(try DelongProcess.run(["bundle", "verify", garbage.path]).status == 2)

        let noEntry = try tree(["run.py": "1"])
        let refused = try DelongProcess.run([
            "bundle", "pack", noEntry.path, "-o", dir.appendingPathComponent("x.tar").path,
        ])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("main.py"))
        #expect(
            !FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.tar").path),
            "nothing half-written"
        )

        let link = try tree(["main.py": "1"])
        try FileManager.default.createSymbolicLink(
            atPath: link.appendingPathComponent("secret").path,
            withDestinationPath: "/etc/shadow"
        )
        let symlink = try DelongProcess.run(["bundle", "digest", link.path])
        #expect(symlink.status == 2)
        #expect(symlink.stderr.contains("secret: a symlink"))

        #expect(
            try DelongProcess.run(["bundle", "verify", dir.appendingPathComponent("missing.tar").path]).status == 3
        )
        #expect(try DelongProcess.run(["bundle", "digest", dir.appendingPathComponent("missing").path]).status == 3)
    }
}
