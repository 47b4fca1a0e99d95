public import ChainCore
import Foundation
public import PlaneCrypto
public import PlaneProtocol

/// What a finished job hands to the gate and, once released, to its consumer: one canonical tar (the bundle
/// encoding of docs/bundles.md, so GNU tar reads it and one tree has one archive) holding `out/…` (the job's
/// /out as collected) and `log.txt` (its stdout and stderr, capped; logs are outputs and pass the gate too).
public struct OutputPackage: Sendable {
    public let archive: [UInt8]
    /// sha256 of `archive`: what reviewers sign and the result record names.
    public let digest: Hash32
    /// The files, for the gate and the reviewers (path, size, sha256).
    public let files: [(path: String, size: Int, sha256: Hash32)]
    /// The files' bytes, in the same order (what the gate checks and reviewers read).
    public let contents: [(path: String, bytes: [UInt8])]

    /// At most 256 MiB and 1,002 entries (the sandbox's /out caps plus the log).
    public static let limits = CanonicalTar.Limits(maxArchiveBytes: 300 << 20, maxEntries: 2_100)

    /// Packs the collected outputs under `directory` and the job's log.
    public init(outputs directory: String, log: [UInt8]) throws(PlaneProtocolError) {
        var entries = [try BundleEntry(path: Array("out".utf8), kind: .directory)]
        for entry in try BundleTree.entries(under: directory, limits: Self.limits) {
            entries.append(try BundleEntry(path: Array("out/".utf8) + entry.path, kind: entry.kind))
        }
        entries.append(try BundleEntry(path: Array("log.txt".utf8), kind: .file(contents: log, executable: false)))
        archive = try CanonicalTar.encode(entries, limits: Self.limits)
        digest = BundleDigest.of(archive)
        contents = entries.compactMap { entry in entry.contents.map { (entry.displayPath, $0) } }
        files = contents.map { ($0.path, $0.bytes.count, BundleDigest.of($0.bytes)) }
    }

    /// A package from its archive (an agent out of process hands it to the plane's desk): the canonical tar is
    /// read back strictly, so its digest and files are the ones the agent's gate saw.
    public init(archive: [UInt8]) throws(PlaneProtocolError) {
        let entries = try CanonicalTar.verify(archive, limits: Self.limits)
        self.archive = archive
        digest = BundleDigest.of(archive)
        contents = entries.compactMap { entry in entry.contents.map { (entry.displayPath, $0) } }
        files = contents.map { ($0.path, $0.bytes.count, BundleDigest.of($0.bytes)) }
    }

    /// The archive sealed to `recipient` (age v1, X25519).
    public func seal(to recipient: AgeRecipient) throws(PlaneCryptoError) -> [UInt8] {
        try Age.encrypt(archive, to: [recipient])
    }

    /// Writes a released archive's files under `directory` (which must not exist): the consumer's side.
    /// Returns how many files it wrote.
    @discardableResult
    public static func unpack(_ archive: [UInt8], into directory: String) throws(PlaneProtocolError) -> Int {
        let entries = try CanonicalTar.verify(archive, limits: limits)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
            for entry in entries {
                let path = directory + "/" + String(decoding: entry.path, as: UTF8.self)
                switch entry.kind {
                case .directory:
                    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                case .file(let contents, let executable):
                    guard FileManager.default.createFile(atPath: path, contents: Data(contents)) else {
                        throw PlaneProtocolError(.io, "cannot write \(path)")
                    }
                    chmod(path, executable ? 0o755 : 0o644)
                }
            }
            return entries.filter { $0.contents != nil }.count
        } catch let error as PlaneProtocolError {
            throw error
        } catch {
            throw PlaneProtocolError(.io, "cannot unpack into \(directory): \(error.localizedDescription)")
        }
    }
}
