import CLevelDB

/// A LevelDB failure, mapped once here from the C API's error strings.
public enum LevelDBError: Error, Equatable, CustomStringConvertible {
    /// The database could not be opened (missing directory, held by another process, corruption).
    case open(path: String, reason: String)
    /// A read, write or iteration failed.
    case io(String)

    public var description: String {
        switch self {
        case .open(let path, let reason): return "cannot open LevelDB at \(path): \(reason)"
        case .io(let reason): return "LevelDB: \(reason)"
        }
    }
}

/// The one owner of a LevelDB handle. Pointers never leave this file.
///
/// LevelDB documents `leveldb_t` as safe for concurrent use from several threads, and the option objects
/// here are only read after creation, hence `@unchecked Sendable`. Calls block on disk I/O: callers on the
/// cooperative pool should hop to a thread pool first.
public final class LevelDB: @unchecked Sendable {
    private let db: OpaquePointer
    private let options: OpaquePointer
    private let readOptions: OpaquePointer
    private let writeOptions: OpaquePointer
    private let syncWriteOptions: OpaquePointer
    /// Where the database lives.
    public let path: String

    /// Opens (creating if needed) the database at `path`.
    public init(path: String, createIfMissing: Bool = true) throws(LevelDBError) {
        options = leveldb_options_create()
        leveldb_options_set_create_if_missing(options, createIfMissing ? 1 : 0)
        leveldb_options_set_compression(options, Int32(leveldb_snappy_compression))
        var err: UnsafeMutablePointer<CChar>? = nil
        guard let handle = leveldb_open(options, path, &err), err == nil else {
            let reason = err.map { String(cString: $0) } ?? "unknown error"
            if let err { leveldb_free(err) }
            leveldb_options_destroy(options)
            throw .open(path: path, reason: reason)
        }
        db = handle
        readOptions = leveldb_readoptions_create()
        writeOptions = leveldb_writeoptions_create()
        syncWriteOptions = leveldb_writeoptions_create()
        leveldb_writeoptions_set_sync(syncWriteOptions, 1)
        self.path = path
    }

    deinit {
        leveldb_close(db)
        leveldb_writeoptions_destroy(syncWriteOptions)
        leveldb_writeoptions_destroy(writeOptions)
        leveldb_readoptions_destroy(readOptions)
        leveldb_options_destroy(options)
    }

    /// The value at `key`, or nil.
    public func get(_ key: [UInt8]) throws(LevelDBError) -> [UInt8]? {
        var length = 0
        var value: UnsafeMutablePointer<CChar>? = nil
        try Self.check { err in
            value = key.withUnsafeBytes { k in CLevelDB_get(db, readOptions, k.baseAddress, k.count, &length, &err) }
        }
        guard let value else { return nil }
        defer { leveldb_free(value) }
        return [UInt8](UnsafeRawBufferPointer(start: value, count: length))
    }

    /// Stores `value` at `key`.
    public func put(_ key: [UInt8], _ value: [UInt8], sync: Bool = false) throws(LevelDBError) {
        let options = sync ? syncWriteOptions : writeOptions
        try Self.check { err in
            key.withUnsafeBytes { k in
                value.withUnsafeBytes { v in
                    CLevelDB_put(db, options, k.baseAddress, k.count, v.baseAddress, v.count, &err)
                }
            }
        }
    }

    /// Removes `key` (no error when absent).
    public func delete(_ key: [UInt8], sync: Bool = false) throws(LevelDBError) {
        let options = sync ? syncWriteOptions : writeOptions
        try Self.check { err in key.withUnsafeBytes { k in CLevelDB_delete(db, options, k.baseAddress, k.count, &err) }
        }
    }

    /// Applies every operation of `batch` atomically: after a crash, all of them or none are visible.
    /// With `sync`, returns only once the batch is on disk.
    public func write(_ batch: WriteBatch, sync: Bool = true) throws(LevelDBError) {
        let options = sync ? syncWriteOptions : writeOptions
        let handle = leveldb_writebatch_create()
        defer { leveldb_writebatch_destroy(handle) }
        for op in batch.operations {
            switch op {
            case .put(let k, let v):
                k.withUnsafeBytes { kb in
                    v.withUnsafeBytes { vb in
                        CLevelDB_batch_put(handle, kb.baseAddress, kb.count, vb.baseAddress, vb.count)
                    }
                }
            case .delete(let k):
                k.withUnsafeBytes { kb in CLevelDB_batch_delete(handle, kb.baseAddress, kb.count) }
            }
        }
        try Self.check { err in leveldb_write(db, options, handle, &err) }
    }

    /// Every key/value pair whose key starts with `prefix`, in key order, from a consistent snapshot.
    public func scan(prefix: [UInt8], limit: Int = .max) throws(LevelDBError) -> [(key: [UInt8], value: [UInt8])] {
        let snapshot = leveldb_create_snapshot(db)
        let options = leveldb_readoptions_create()
        leveldb_readoptions_set_snapshot(options, snapshot)
        leveldb_readoptions_set_fill_cache(options, 0)
        defer {
            leveldb_readoptions_destroy(options)
            leveldb_release_snapshot(db, snapshot)
        }
        guard let iterator = leveldb_create_iterator(db, options) else { throw .io("cannot create an iterator") }
        defer { leveldb_iter_destroy(iterator) }
        prefix.withUnsafeBytes { p in CLevelDB_iter_seek(iterator, p.baseAddress, p.count) }
        var out: [(key: [UInt8], value: [UInt8])] = []
        while leveldb_iter_valid(iterator) != 0 && out.count < limit {
            var keyLength = 0
            var valueLength = 0
            let k = leveldb_iter_key(iterator, &keyLength)!
            let key = [UInt8](UnsafeRawBufferPointer(start: k, count: keyLength))
            guard key.starts(with: prefix) else { break }
            let v = leveldb_iter_value(iterator, &valueLength)!
            out.append((key, [UInt8](UnsafeRawBufferPointer(start: v, count: valueLength))))
            leveldb_iter_next(iterator)
        }
        var err: UnsafeMutablePointer<CChar>? = nil
        leveldb_iter_get_error(iterator, &err)
        if let err {
            defer { leveldb_free(err) }
            throw .io(String(cString: err))
        }
        return out
    }

    private static func check(_ body: (inout UnsafeMutablePointer<CChar>?) -> Void) throws(LevelDBError) {
        var err: UnsafeMutablePointer<CChar>? = nil
        body(&err)
        if let err {
            defer { leveldb_free(err) }
            throw .io(String(cString: err))
        }
    }
}

/// Operations to apply together with `LevelDB.write(_:sync:)`.
public struct WriteBatch: Sendable {
    enum Operation: Sendable {
        case put([UInt8], [UInt8])
        case delete([UInt8])
    }

    var operations: [Operation] = []

    public init() {}

    /// Stores `value` at `key` when the batch is written.
    public mutating func put(_ key: [UInt8], _ value: [UInt8]) { operations.append(.put(key, value)) }
    /// Removes `key` when the batch is written.
    public mutating func delete(_ key: [UInt8]) { operations.append(.delete(key)) }
    /// Number of operations.
    public var count: Int { operations.count }
}
