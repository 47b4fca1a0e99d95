import Foundation

/// Optical character recognition of output images with tesseract, run as an external decoder inside a
/// bubblewrap sandbox: no network (`--unshare-all`), no capabilities, a clean environment, only /usr (and the
/// /lib, /lib64, /bin links into it) and /etc/alternatives read-only, the image on a read-only bind, a private
/// /tmp, no /home, and a wall-clock timeout after which the sandbox is killed.
public struct GateOCR: Sendable, Hashable {
    /// The tesseract executable (under /usr, the only tree the sandbox sees), or nil when it is not installed.
    public var tesseract: String?
    /// The bubblewrap executable, or nil when it is not installed (then OCR does not run at all).
    public var bubblewrap: String?
    /// Seconds one image may take.
    public var timeoutSeconds: Double = 30
    /// Largest image handed to tesseract, in pixels (a JPEG's frame size is read from its header).
    public var maxPixels = 25_000_000
    /// Most bytes of recognized text kept per image.
    public var maxTextBytes = 1 << 20

    /// An explicit configuration (tests force a missing tesseract with `tesseract: nil`).
    public init(tesseract: String?, bubblewrap: String?) {
        self.tesseract = tesseract
        self.bubblewrap = bubblewrap
    }

    /// tesseract and bwrap found in /usr/bin or /usr/local/bin.
    public static let system: GateOCR = {
        let fm = FileManager.default
        func find(_ name: String) -> String? {
            ["/usr/bin/", "/usr/local/bin/"].map { $0 + name }.first { fm.isExecutableFile(atPath: $0) }
        }
        return GateOCR(tesseract: find("tesseract"), bubblewrap: find("bwrap"))
    }()

    /// The tool a gate report names as unavailable, if any.
    var missingTool: String? {
        if tesseract == nil { return "tesseract" }
        if bubblewrap == nil { return "bubblewrap" }
        return nil
    }

    /// bubblewrap's arguments for reading `image` (a host path) with tesseract, text on stdout.
    func arguments(image: String) -> [String] {
        [
            "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL", "--clearenv",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
            "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
            "--ro-bind", image, "/in/image",
            "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp", "--setenv", "LANG", "C.UTF-8",
            "--setenv", "OMP_THREAD_LIMIT", "1",
            "--chdir", "/tmp",
            "--", tesseract ?? "/usr/bin/tesseract", "/in/image", "stdout", "--psm", "11",
        ]
    }

    /// Why OCR of one image produced no text.
    enum Failure: Error, Equatable {
        case unavailable(String)
        case timedOut
        case failed(String)
    }

    /// Reads the text in `imageBytes` (a PNG or JPEG file): the bytes go to a private temporary file that the
    /// sandbox sees read-only.
    func read(_ imageBytes: [UInt8]) -> Result<String, Failure> {
        if let missing = missingTool { return .failure(.unavailable(missing)) }
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("delong-ocr-\(UUID().uuidString)").path
        do {
            try fm.createDirectory(
                atPath: dir,
                withIntermediateDirectories: false,
                attributes: [.posixPermissions: 0o700]
            )
        } catch {
            return .failure(.failed("cannot create a temporary directory"))
        }
        defer { try? fm.removeItem(atPath: dir) }
        let path = dir + "/image"
        guard fm.createFile(atPath: path, contents: Data(imageBytes), attributes: [.posixPermissions: 0o600]) else {
            return .failure(.failed("cannot write the temporary image"))
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: bubblewrap!)
        process.arguments = arguments(image: path)
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        do { try process.run() } catch { return .failure(.failed("cannot start bubblewrap")) }
        let cap = maxTextBytes
        let collected = Collected()
        let reader = DispatchSemaphore(value: 0)
        let handle = out.fileHandleForReading
        DispatchQueue.global().async {
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                collected.append(chunk, cap: cap)
            }
            reader.signal()
        }
        if done.wait(timeout: .now() + timeoutSeconds) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            done.wait()
            reader.wait()
            return .failure(.timedOut)
        }
        reader.wait()
        guard process.terminationStatus == 0 else {
            return .failure(.failed("tesseract exited with status \(process.terminationStatus)"))
        }
        return .success(String(decoding: collected.bytes, as: UTF8.self))
    }

    /// Output collected from the reader thread.
    final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private var data: [UInt8] = []
        func append(_ chunk: Data, cap: Int) {
            lock.lock()
            defer { lock.unlock() }
            if data.count < cap { data += chunk.prefix(cap - data.count) }
        }
        var bytes: [UInt8] {
            lock.lock()
            defer { lock.unlock() }
            return data
        }
    }
}
