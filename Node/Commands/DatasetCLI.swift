import ArgumentParser
import Glibc
import Sealing
import Synchronization

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

/// Bytes done of a total, drawn by the one ``CLIProgress`` renderer; `finish` draws the last count it was given.
final class ByteProgress: Sendable {
    private let label: String
    private let progress: CLIProgress
    private let latest = Mutex<(done: UInt64, total: UInt64)?>(nil)

    init(label: String, progress: CLIProgress = .forCommand()) {
        self.label = label
        self.progress = progress
    }

    func update(_ done: UInt64, _ total: UInt64) {
        latest.withLock { $0 = (done, total) }
        progress.update(progress.transfer(label, done: done, total: total))
    }

    func finish() {
        guard let last = latest.withLock({ $0 }) else { return progress.finish() }
        progress.finish(progress.transfer(label, done: last.done, total: last.total))
    }
}
