import Glibc
import PlaneProtocol

/// The canonical extraction of a bundle (or a published sample): its entries written under a new directory,
/// root-owned, directories 0755 and files 0644 or 0755 as the archive says, so the sandbox reads exactly the
/// bytes the digest covers.
enum BundleExtraction {
    static func extract(_ bundle: AlgorithmBundle, into directory: String) throws(ComputingPlaneError) {
        try extract(bundle.entries, into: directory)
    }

    static func extract(_ entries: [BundleEntry], into directory: String) throws(ComputingPlaneError) {
        guard mkdir(directory, 0o755) == 0 else {
            throw ComputingPlaneError(.io, "cannot create \(directory): \(ComputingPlaneError.text(errno))")
        }
        chmod(directory, 0o755)
        // Entries are sorted, so a directory comes before what it holds; paths hold no . or .. components.
        for entry in entries {
            let path = directory + "/" + String(decoding: entry.path, as: UTF8.self)
            switch entry.kind {
            case .directory:
                guard mkdir(path, 0o755) == 0, chmod(path, 0o755) == 0 else {
                    throw ComputingPlaneError(.io, "cannot create \(path): \(ComputingPlaneError.text(errno))")
                }
            case .file(let contents, let executable):
                let mode: mode_t = executable ? 0o755 : 0o644
                let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
                guard fd >= 0 else {
                    throw ComputingPlaneError(.io, "cannot create \(path): \(ComputingPlaneError.text(errno))")
                }
                defer { close(fd) }
                var written = 0
                while written < contents.count {
                    let n = contents.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
                    guard n > 0 else {
                        throw ComputingPlaneError(.io, "cannot write \(path): \(ComputingPlaneError.text(errno))")
                    }
                    written += n
                }
                fchmod(fd, mode)
            }
        }
    }
}
