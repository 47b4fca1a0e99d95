import ArgumentParser
import ChainCore
import Foundation
import PlaneProtocol

/// `delong bundle …`: canonical algorithm bundles (DeLong bundle v1, docs/bundles.md).
struct BundleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Pack, digest and verify canonical algorithm bundles.",
        subcommands: [
            BundlePackCommand.self, BundleDigestCommand.self, BundleVerifyCommand.self, BundlePublishCommand.self,
        ]
    )

    /// Runs `body`, turning bundle errors into a message and the exit code of their kind:
    /// 1 not canonical, 2 bad input (a tree or archive a bundle cannot be), 3 I/O.
    static func reporting(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as PlaneProtocolError {
            throw ExitCodes.report(error)
        }
    }

    /// The bytes of a bundle archive file, bounded by the bundle limit before they are read.
    static func readArchive(_ path: String) throws -> [UInt8] {
        let limit = CanonicalTar.Limits.standard.maxArchiveBytes
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw PlaneProtocolError(.io, "cannot read bundle \(path): no such file or not accessible")
        }
        defer { try? handle.close() }
        do {
            let data = try handle.read(upToCount: limit + 1) ?? Data()
            guard data.count <= limit else {
                throw PlaneProtocolError(.tooLarge, "bundle \(path): expected at most \(limit) bytes, found more")
            }
            return [UInt8](data)
        } catch let error as PlaneProtocolError {
            throw error
        } catch {
            throw PlaneProtocolError(.io, "cannot read bundle \(path): \(error.localizedDescription)")
        }
    }
}

/// `delong bundle pack DIR -o FILE.tar`
struct BundlePackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pack",
        abstract: "Pack a directory into a canonical bundle and print its digest (sha256:<hex>).",
        discussion: """
            The tree may hold regular files and directories only; symlinks, devices, FIFOs, sockets, files with \
            several hard links, names that are not UTF-8 and paths ustar cannot hold are refused, naming the \
            path. The bundle must hold its entry script (main.py, or the entry delong.json names). At most \
            64 MiB and 10,000 entries. The output file appears only when complete.
            Exit 0 packed, 2 a tree that cannot be a bundle, 3 I/O error.
            """
    )

    @Argument(help: "Directory to pack (its contents; the directory itself is not an entry).") var directory: String
    @Option(name: [.short, .customLong("output")], help: "Bundle file to write.") var output: String

    func run() throws {
        try BundleCommand.reporting {
            let bundle = try AlgorithmBundle.packed(entries: try BundleTree.entries(under: directory))
            try DAStore.writeAtomically(bundle.archive, to: output)
            FileHandle.standardError.write(
                Data("packed \(bundle.entries.count) entries, \(bundle.archive.count) bytes into \(output)\n".utf8)
            )
            print(BundleDigest.text(bundle.digest))
        }
    }
}

/// `delong bundle digest DIR|FILE.tar`
struct BundleDigestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digest",
        abstract: "Print the bundle digest (sha256:<hex>) of a directory or of a canonical bundle file.",
        discussion: """
            For a directory: sha256 of its canonical ustar, equal to the stock GNU tar command in docs/bundles.md. \
            For a file: its canonical form is checked first (exit 1 when it is not canonical).
            Exit 0 ok, 1 not canonical, 2 bad input, 3 I/O error.
            """
    )

    @Argument(help: "A directory, or a bundle file.") var path: String

    func run() throws {
        try BundleCommand.reporting {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw PlaneProtocolError(.io, "\(path): no such file or directory")
            }
            let archive: [UInt8]
            if isDirectory.boolValue {
                archive = try CanonicalTar.encode(try BundleTree.entries(under: path))
            } else {
                archive = try BundleCommand.readArchive(path)
                _ = try CanonicalTar.verify(archive)
            }
            print(BundleDigest.text(BundleDigest.of(archive)))
        }
    }
}

/// `delong bundle verify FILE.tar`
struct BundleVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that a bundle file is canonical and holds its entry script; print its digest.",
        discussion: """
            Refused with a reason: archives that are not the canonical encoding of their entries, damaged or \
            truncated archives, links and special files, absolute, .. or duplicate paths, more than 64 MiB or \
            10,000 entries, a delong.json that does not parse, a missing entry script.
            Exit 0 ok, 1 not canonical, 2 bad input, 3 I/O error.
            """
    )

    @Argument(help: "Bundle file (.tar).") var file: String
    @Flag(help: "Print the result as JSON.") var json = false

    func run() throws {
        try BundleCommand.reporting {
            let bundle = try AlgorithmBundle.verified(archive: try BundleCommand.readArchive(file))
            let files = bundle.entries.filter { $0.contents != nil }.count
            if json {
                var object: [String: Any] = [
                    "digest": BundleDigest.text(bundle.digest),
                    "bytes": bundle.archive.count,
                    "entries": bundle.entries.count,
                    "files": files,
                    "entry": bundle.manifest.entry,
                ]
                object["runtime"] = bundle.manifest.runtime.map(BundleDigest.text) ?? NSNull()
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(BundleDigest.text(bundle.digest))
                FileHandle.standardError.write(
                    Data(
                        "canonical: \(bundle.entries.count) entries (\(files) files), \(bundle.archive.count) bytes, entry \(bundle.manifest.entry)\n"
                            .utf8
                    )
                )
            }
        }
    }
}
