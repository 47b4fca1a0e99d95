import ChainCore
import Foundation
import PlaneProtocol
import TestSupport
import Testing

/// Algorithm bundles: the entry script, delong.json, the bundle digest and the image digest.
@Suite struct AlgorithmBundleTests {
    static func file(_ path: String, _ text: String, executable: Bool = false) throws -> BundleEntry {
        try BundleEntry(path: Array(path.utf8), kind: .file(contents: Array(text.utf8), executable: executable))
    }

    @Test func aBundleWithMainPyPacksVerifiesAndKeepsItsDigest() throws {
        let packed = try AlgorithmBundle.packed(entries: [try Self.file("main.py", "print('hi')\n")])
        let verified = try AlgorithmBundle.verified(archive: packed.archive)
        #expect(verified.digest == packed.digest)
        #expect(verified.manifest == BundleManifest())
        #expect(verified.manifest.entry == "main.py")
        // The digest is sha256 of the archive bytes, checked against Python's hashlib.
        let hex = try ContribTool.systemPython(
            "import hashlib,sys; print(hashlib.sha256(bytes.fromhex(sys.argv[1])).hexdigest())",
            [Hex.encode(packed.archive, prefix: false)]
        ).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(BundleDigest.text(packed.digest) == "sha256:" + hex)
    }

    @Test func aBundleWithoutItsEntryScriptIsRefused() throws {
        #expect(throws: PlaneProtocolError(.malformed, "")) {
            _ = try AlgorithmBundle.packed(entries: [try Self.file("run.py", "1")])
        }
        let manifest = #"{"entry": "src/run.py"}"#
        #expect(throws: PlaneProtocolError(.malformed, "")) {
            _ = try AlgorithmBundle.packed(entries: [
                try Self.file("delong.json", manifest), try Self.file("main.py", "1"),
            ])
        }
        let ok = try AlgorithmBundle.packed(entries: [
            try Self.file("delong.json", manifest),
            try BundleEntry(path: Array("src".utf8), kind: .directory),
            try Self.file("src/run.py", "1"),
        ])
        #expect(ok.manifest.entry == "src/run.py")
    }

    @Test func delongJsonIsParsedStrictly() throws {
        let runtime = String(repeating: "ab", count: 32)
        let full = try BundleManifest(
            json: Array(
                #"{"entry":"main.py","runtime":"sha256:\#(runtime)","resources":{"memory":"2GiB","cpus":1.5,"pids":64,"timeout":600}}"#
                    .utf8
            )
        )
        #expect(full.runtime.map(BundleDigest.text) == "sha256:" + runtime)
        #expect(full.resources.memoryBytes == 2 << 30)
        #expect(full.resources.cpus == 1.5)
        #expect(full.resources.pids == 64)
        #expect(full.resources.timeoutSeconds == 600)
        #expect(try BundleManifest(json: Array(#"{"resources":{"memory":1000}}"#.utf8)).resources.memoryBytes == 1000)

        let refused = [
            #"{"entrypoint":"main.py"}"#,  // unknown field (a typo must not silently run the default)
            #"{"resources":{"memroy":"1G"}}"#,
            #"{"entry":"../main.py"}"#,
            #"{"entry":"/main.py"}"#,
            #"{"entry":5}"#,
            #"{"runtime":"sha256:1234"}"#,
            #"{"resources":{"cpus":0}}"#,
            #"{"resources":{"pids":1.5}}"#,
            #"{"resources":{"memory":"lots"}}"#,
            #"{"resources":{"timeout":true}}"#,
            #"["main.py"]"#,
            "not json",
        ]
        for text in refused {
            #expect(throws: PlaneProtocolError(.malformed, ""), "\(text)") {
                _ = try BundleManifest(json: Array(text.utf8))
            }
        }
    }

    @Test func sizesUseDecimalAndBinaryUnits() throws {
        #expect(try ByteSize.parse("1000") == 1000)
        #expect(try ByteSize.parse("2K") == 2000)
        #expect(try ByteSize.parse("2KiB") == 2048)
        #expect(try ByteSize.parse("3M") == 3_000_000)
        #expect(try ByteSize.parse("3MiB") == 3 << 20)
        #expect(try ByteSize.parse("2GiB") == 2 << 30)
        #expect(try ByteSize.parse("1G") == 1_000_000_000)
        for bad in ["", "0", "-1", "1.5G", "G", "1 GB", "99999999999999999999", "16777216TiB"] {
            #expect(throws: PlaneProtocolError(.malformed, ""), "\(bad)") { _ = try ByteSize.parse(bad) }
        }
    }

    @Test func theImageDigestBindsTheRuntimeAndTheBundleUnderItsDomain() throws {
        let runtime = try Hash32(Array(repeating: 0x11, count: 32))
        let bundle = try Hash32(Array(repeating: 0x22, count: 32))
        let image = ImageDigest.of(runtime: runtime, bundle: bundle)
        let reference = try ContribTool.systemPython(
            "import hashlib; print(hashlib.sha256(b'delong/image/v1' + bytes([0x11])*32 + bytes([0x22])*32).hexdigest())"
        ).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Hex.encode(image.bytes, prefix: false) == reference)
        #expect(ImageDigest.of(runtime: bundle, bundle: runtime) != image)
    }

    @Test func digestsParseFromBothTextForms() throws {
        let hex = String(repeating: "0f", count: 32)
        #expect(try BundleDigest.parse("sha256:" + hex) == (try BundleDigest.parse("0x" + hex)))
        for bad in ["sha256:", "sha256:" + hex + "00", "md5:" + hex, "sha256:" + String(repeating: "zz", count: 32)] {
            #expect(throws: PlaneProtocolError(.malformed, "")) { _ = try BundleDigest.parse(bad) }
        }
    }
}
