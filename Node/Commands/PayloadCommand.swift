import ArgumentParser
import ChainCore
import ComputingPlane
import Foundation
import PlaneProtocol

/// `delong payload …`: the runner payload a Confidential VM boot image carries (docs/payload.md).
struct PayloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "payload",
        abstract: "Build or verify the runner payload: delong, the job runtime and pinned .debs as one canonical tar.",
        subcommands: [PayloadBuildCommand.self, PayloadVerifyCommand.self]
    )

    /// The manifest and the payload's numbers as one JSON object with sorted keys.
    static func printJSON(
        payload: Hash32,
        bytes: Int,
        entries: Int,
        manifest: PayloadManifest,
        extra: [String: Any]
    )
        throws
    {
        let manifestObject = try JSONSerialization.jsonObject(with: Data(manifest.encoded()))
        var object: [String: Any] = [
            "payload": BundleDigest.text(payload), "bytes": bytes, "entries": entries, "manifest": manifestObject,
        ]
        object.merge(extra) { $1 }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: data, as: UTF8.self))
    }
}

/// `delong payload build --delong BIN --runtime DIR --debs DIR --lock FILE --out FILE [--json]`
struct PayloadBuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Write the runner payload (one canonical tar) and print its sha256 (sha256:<hex>).",
        discussion: """
            The tar holds delong, the runtime venv under runtime/ (modes normalized to 0755/0644, symlinks kept; \
            a link out of the tree is refused, except the venv's link to its interpreter), the .debs the lock pins \
            under debs/ and payload.json (delong's sha256, the runtime digest, each .deb's name, version and \
            sha256). Entries sorted, mtime/uid/gid 0, no owner names: the same inputs give the same bytes in any \
            folder. The output appears only when complete. Exit 0 built; 2 a .deb missing, extra or not matching \
            the lock, a bad lock, a runtime that is not a venv or links out of itself; 3 I/O error.
            """
    )

    @Option(help: "The delong binary to carry.") var delong: String
    @Option(help: "The job runtime venv.") var runtime: String
    @Option(help: "A directory holding exactly the .debs the lock pins (as apt-get download names them).")
    var debs: String
    @Option(help: "The .deb lock: `name version sha256` lines (contrib/payload/debs.lock).") var lock: String
    @Option(help: "The payload file to write.") var out: String
    @Flag(help: "Print {payload, bytes, entries, out, manifest} as JSON.") var json = false

    func run() throws {
        let builder = PayloadBuilder(delong: delong, runtime: runtime, debs: debs, lock: lock, output: out)
        let outcome: PayloadBuilder.Outcome
        do { outcome = try builder.build() } catch { throw ExitCodes.report(error) }
        if json {
            try PayloadCommand.printJSON(
                payload: outcome.sha256,
                bytes: outcome.bytes,
                entries: outcome.entries,
                manifest: outcome.manifest,
                extra: ["out": out]
            )
        } else {
            print(BundleDigest.text(outcome.sha256))
            FileHandle.standardError.write(
                Data(
                    ("payload: \(outcome.entries) entries, \(outcome.bytes) bytes, runtime "
                        + "\(outcome.manifest.runtime.digest), \(outcome.manifest.debs.count) debs\n").utf8
                )
            )
        }
    }
}

/// `delong payload verify FILE [--json]`
struct PayloadVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a runner payload is canonical and its manifest matches its contents; print its sha256.",
        discussion: """
            Reads the tar strictly without holding it in memory: every header must be the canonical one, entries \
            sorted with their directories first, zero padding, the record-padded end. Then payload.json must be \
            canonical JSON and true: delong's sha256, exactly the listed .debs with their sha256, the runtime \
            digest recomputed from runtime/, every runtime link inside the tree (or the interpreter).
            Exit 0 ok; 1 not canonical or the manifest does not match; 2 malformed (damaged, truncated, a \
            device or hard link, no manifest); 3 I/O error.
            """
    )

    @Argument(help: "The payload file.") var file: String
    @Flag(help: "Print {payload, bytes, entries, manifest} as JSON.") var json = false

    func run() throws {
        let payload: VerifiedPayload
        do { payload = try PayloadVerifier.verify(path: file) } catch { throw ExitCodes.report(error) }
        if json {
            try PayloadCommand.printJSON(
                payload: payload.sha256,
                bytes: payload.count,
                entries: payload.entries,
                manifest: payload.manifest,
                extra: [:]
            )
        } else {
            print(BundleDigest.text(payload.sha256))
            FileHandle.standardError.write(
                Data(
                    ("payload: canonical, \(payload.entries) entries, \(payload.count) bytes, runtime "
                        + "\(payload.manifest.runtime.digest), \(payload.manifest.debs.count) debs\n").utf8
                )
            )
        }
    }
}
