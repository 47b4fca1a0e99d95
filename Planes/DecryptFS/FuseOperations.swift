import CFuse3
import Glibc
import Logging
import Sealing

/// The libfuse high-level callbacks. Each starts by recovering the `DecryptingFS` from the FUSE context
/// (`Unmanaged`, as NIO does for thread entry points) and only turns C pointers into Swift values. Every
/// callback that serves dataset content passes the filesystem's gate: once access is revoked they answer EIO.
enum FuseOperations {
    @inline(__always)
    static func filesystem() -> DecryptingFS {
        Unmanaged<DecryptingFS>.fromOpaque(fuse_get_context()!.pointee.private_data).takeUnretainedValue()
    }

    static func make() -> fuse_operations {
        var ops = fuse_operations()
        ops.`init` = { conn, cfg in
            let fs = FuseOperations.filesystem()
            // The dataset is immutable for the mount's lifetime, so the kernel may cache pages, attributes
            // and names indefinitely (until unmount). With an allowed uid, attributes and names are not cached,
            // so every stat and path walk reaches getattr and its caller check (open always does).
            if let cfg {
                let timeout: Double = fs.allowedUID == nil ? 86400 : 0
                cfg.pointee.kernel_cache = 1
                cfg.pointee.entry_timeout = timeout
                cfg.pointee.attr_timeout = timeout
                cfg.pointee.negative_timeout = timeout
            }
            // Cached pages never go stale, so no read needs a getattr round trip first.
            if let conn {
                conn.pointee.want &= ~UInt32(FUSE_CAP_AUTO_INVAL_DATA)
                // The kernel keeps min(this, the mount's sysfs readahead): see DecryptFSMount.setReadahead.
                if fs.readaheadBytes > 0 { conn.pointee.max_readahead = fs.readaheadBytes }
            }
            return fuse_get_context()!.pointee.private_data
        }
        ops.getattr = { path, st, _ in
            let fs = FuseOperations.filesystem()
            guard fs.callerAllowed() else { return -EACCES }
            guard fs.gate.enter() else { return -EIO }
            defer { fs.gate.leave() }
            guard let st, let node = fs.node(path) else { return -ENOENT }
            fs.fill(st, node)
            return 0
        }
        ops.readdir = { path, buffer, filler, _, _, _ in
            let fs = FuseOperations.filesystem()
            guard fs.callerAllowed() else { return -EACCES }
            guard fs.gate.enter() else { return -EIO }
            defer { fs.gate.leave() }
            guard let filler, let entries = fs.children(of: path) else { return -ENOENT }
            var st = stat()
            st.st_mode = S_IFDIR
            _ = filler(buffer, ".", &st, 0, fuse_fill_dir_flags(0))
            _ = filler(buffer, "..", &st, 0, fuse_fill_dir_flags(0))
            for entry in entries {
                st.st_mode = entry.mode
                if filler(buffer, entry.name, &st, 0, fuse_fill_dir_flags(0)) != 0 { return -ENOMEM }
            }
            return 0
        }
        ops.opendir = { path, _ in
            let fs = FuseOperations.filesystem()
            guard fs.callerAllowed() else { return -EACCES }
            guard fs.gate.enter() else { return -EIO }
            defer { fs.gate.leave() }
            guard let node = fs.node(path) else { return -ENOENT }
            return node.isDirectory ? 0 : -ENOTDIR
        }
        ops.open = { path, fi in
            let fs = FuseOperations.filesystem()
            guard fs.callerAllowed() else { return -EACCES }
            guard fs.gate.enter() else { return -EIO }
            defer { fs.gate.leave() }
            guard let fi else { return -EINVAL }
            guard fi.pointee.flags & O_ACCMODE == O_RDONLY else { return -EROFS }
            guard let node = fs.node(path) else { return -ENOENT }
            guard !node.isDirectory else { return -EISDIR }
            guard let reader = fs.openReader(node) else { return -EIO }
            let handle = OpenFile(reader: reader, cacheKey: UInt64(node.index), path: node.entry?.path ?? "")
            fs.remember(handle)
            fi.pointee.fh = UInt64(UInt(bitPattern: Unmanaged.passRetained(handle).toOpaque()))
            fi.pointee.keep_cache = 1
            return 0
        }
        ops.read = { _, buffer, size, offset, fi in
            guard let fi, let buffer, offset >= 0 else { return -EINVAL }
            let fs = FuseOperations.filesystem()
            guard fs.callerAllowed() else { return -EACCES }
            guard fs.gate.enter() else { return -EIO }
            defer { fs.gate.leave() }
            let handle = Unmanaged<OpenFile>.fromOpaque(UnsafeRawPointer(bitPattern: UInt(fi.pointee.fh))!)
                .takeUnretainedValue()
            guard let reader = handle.reader else { return -EIO }
            do throws(SealingError) {
                let n = try reader.read(
                    at: UInt64(offset),
                    into: UnsafeMutableRawBufferPointer(start: buffer, count: size),
                    cache: fs.cache,
                    cacheKey: handle.cacheKey
                )
                return Int32(n)
            } catch {
                fs.reportOnce(
                    key: "\(handle.path)#\(error.chunkIndex.map(String.init) ?? "?")",
                    error,
                    path: handle.path,
                    chunk: error.chunkIndex
                )
                return -EIO
            }
        }
        ops.release = { _, fi in
            guard let fi, let pointer = UnsafeRawPointer(bitPattern: UInt(fi.pointee.fh)) else { return 0 }
            FuseOperations.filesystem().forget(Unmanaged<OpenFile>.fromOpaque(pointer).takeUnretainedValue())
            Unmanaged<OpenFile>.fromOpaque(pointer).release()
            fi.pointee.fh = 0
            return 0
        }
        ops.statfs = { _, st in
            let fs = FuseOperations.filesystem()
            guard fs.callerAllowed() else { return -EACCES }
            guard fs.gate.enter() else { return -EIO }
            defer { fs.gate.leave() }
            guard let st else { return -EINVAL }
            memset(st, 0, MemoryLayout<statvfs>.size)
            st.pointee.f_bsize = 4096
            st.pointee.f_frsize = 4096
            st.pointee.f_namemax = 255
            st.pointee.f_flag = UInt(ST_RDONLY)
            return 0
        }
        ops.access = { path, mask in
            let fs = FuseOperations.filesystem()
            guard fs.callerAllowed() else { return -EACCES }
            guard fs.gate.enter() else { return -EIO }
            defer { fs.gate.leave() }
            guard fs.node(path) != nil else { return -ENOENT }
            return mask & W_OK != 0 ? -EROFS : 0
        }
        return ops
    }
}

/// One open file: its authenticated reader, kept alive by `fi->fh` until `release`.
///
/// The reader (which holds the file key) is read only inside the filesystem's gate and dropped only by
/// revocation after the gate has closed and drained, so the two never overlap.
final class OpenFile {
    private(set) var reader: SealedFileReader?
    let cacheKey: UInt64
    let path: String
    init(reader: SealedFileReader, cacheKey: UInt64, path: String) {
        self.reader = reader
        self.cacheKey = cacheKey
        self.path = path
    }

    var hasReader: Bool { reader != nil }
    func dropReader() { reader = nil }
}
