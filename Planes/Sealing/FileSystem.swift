import Glibc

/// Directory walking and tree operations through POSIX calls (no Foundation), errno mapped in PosixFile.
enum FileSystem {
    static func parent(of path: String) -> String {
        let trimmed = path.trimmingTrailingSlashes
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }

    /// Names in `path` (without "." and ".."), sorted by bytes.
    static func list(_ path: String) throws(SealingError) -> [String] {
        guard let dir = opendir(path) else { throw PosixFile.errnoError("open directory", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw -> [UInt8] in
                Array(raw.prefix { $0 != 0 })
            }
            if name == [46] || name == [46, 46] { continue }
            guard let text = String(validating: name, as: UTF8.self) else {
                throw SealingError(.malformed, "\(path) holds a name that is not valid UTF-8; rename it first")
            }
            names.append(text)
        }
        return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    static func isEmptyDirectory(_ path: String) -> Bool {
        (try? list(path).isEmpty) ?? false
    }

    static func removeIfEmptyDirectory(_ path: String) throws(SealingError) {
        if isEmptyDirectory(path), rmdir(path) != 0 { throw PosixFile.errnoError("remove", path) }
    }

    /// Best-effort recursive removal of a tree we created (staging directories after a failure).
    static func removeTree(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if st.st_mode & S_IFMT == S_IFDIR {
            for name in (try? list(path)) ?? [] { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws(SealingError) {
        guard mkdir(path, mode) == 0 else { throw PosixFile.errnoError("create directory", path) }
    }
}

/// Lists a plaintext tree for sealing: regular files and directories only, sorted, paths relative.
enum TreeWalker {
    struct Item {
        let path: String
        let isDirectory: Bool
        let size: UInt64
    }

    static func walk(_ root: String) throws(SealingError) -> [Item] {
        var st = stat()
        guard stat(root, &st) == 0 else { throw PosixFile.errnoError("read", root) }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw SealingError(.io, "source \(root) is not a directory")
        }
        var items: [Item] = []
        try walk(root, prefix: "", into: &items)
        return items
    }

    private static func walk(_ root: String, prefix: String, into items: inout [Item]) throws(SealingError) {
        let directory = prefix.isEmpty ? root : root + "/" + prefix
        for name in try FileSystem.list(directory) {
            let relative = prefix.isEmpty ? name : prefix + "/" + name
            var st = stat()
            guard lstat(root + "/" + relative, &st) == 0 else { throw PosixFile.errnoError("stat", relative) }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                items.append(Item(path: relative, isDirectory: true, size: 0))
                try walk(root, prefix: relative, into: &items)
            case S_IFREG:
                items.append(Item(path: relative, isDirectory: false, size: UInt64(st.st_size)))
            default:
                throw SealingError(
                    .malformed,
                    "\(relative) is not a regular file or directory (symlinks, devices and sockets cannot be sealed)"
                )
            }
        }
    }
}
