import ArgumentParser
import Glibc
import Sealing

/// Shared plumbing of the dataset and fs commands: SealingError → message + exit code, progress, key seam.
enum DatasetCLI {
    /// Runs `body`, turning a SealingError into a message on stderr and the exit code from ExitCodes.
    static func run(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as SealingError {
            note("error: \(error.reason)")
            throw ExitCode(exitCode(for: error))
        }
    }

    static func exitCode(for error: SealingError) -> Int32 { ExitCodes.code(for: error) }

    /// The one place the CLI obtains a dataset key; later this becomes the Privacy Plane's key release.
    /// The key is read (and its file's permissions checked) once, then served from memory and wiped when the
    /// last user lets go of it.
    static func keySource(keyFile: String) throws(SealingError) -> any DatasetKeySource {
        InMemoryKeySource(key: try KeyFile(path: keyFile).load())
    }

    static func open(_ sealed: String, keyFile: String, digest: String?, datasetID: String?) throws -> SealedDataset {
        var expected: [UInt8]? = nil
        if let digest {
            guard let bytes = HexBytes.decode(digest), bytes.count == 32 else {
                throw SealingError(
                    .malformed,
                    "--manifest-digest: expected 0x + 64 hex digits, found \"\(digest.prefix(80))\""
                )
            }
            expected = bytes
        }
        let id = try datasetID.map { (hex: String) throws(SealingError) in try DatasetID(hex: hex) }
        return try SealedDataset(
            root: sealed,
            keySource: try keySource(keyFile: keyFile),
            expectedManifestDigest: expected,
            expectedDatasetID: id
        )
    }

    static func note(_ message: String) {
        writeStderr(message + "\n")
    }

    /// Writes to fd 2 directly (the C `stderr` global is not concurrency-safe in Swift 6).
    static func writeStderr(_ text: String) {
        var text = text
        text.withUTF8 { bytes in _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
    }

    static func format(_ value: Double) -> String {
        let scaled = (value * 100).rounded() / 100
        return "\(scaled)"
    }
}

/// A one-line progress bar on stderr, drawn only when stderr is a terminal.
final class ProgressBar {
    private let label: String
    private let enabled = isatty(STDERR_FILENO) == 1
    private var lastPercent = -1

    init(label: String) { self.label = label }

    func update(_ done: UInt64, _ total: UInt64) {
        guard enabled else { return }
        let percent = total == 0 ? 100 : Int(done * 100 / total)
        guard percent != lastPercent else { return }
        lastPercent = percent
        let width = 40
        let filled = width * percent / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        DatasetCLI.writeStderr("\r\(label) [\(bar)] \(percent)% \(done / 1_000_000)/\(total / 1_000_000) MB")
    }

    func finish() {
        if enabled && lastPercent >= 0 { DatasetCLI.writeStderr("\n") }
    }
}
