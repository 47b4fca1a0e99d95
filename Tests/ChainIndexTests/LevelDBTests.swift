import ChainIndex
import ChainRecords
import Foundation
import TestSupport
import Testing

@Suite struct LevelDBTests {
    @Test func valuesPersistAcrossReopen() throws {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("db").path
        do {
            let db = try LevelDB(path: path)
            try db.put(Array("k1".utf8), [1, 2, 3])
            try db.put(Array("k2".utf8), [], sync: true)
            #expect(try db.get(Array("k1".utf8)) == [1, 2, 3])
            #expect(try db.get(Array("k2".utf8)) == [])
            #expect(try db.get(Array("nope".utf8)) == nil)
            try db.delete(Array("k1".utf8))
        }
        let reopened = try LevelDB(path: path)
        #expect(try reopened.get(Array("k1".utf8)) == nil)
        #expect(try reopened.get(Array("k2".utf8)) == [])
    }

    @Test func batchesApplyTogetherAndScansFollowKeyOrder() throws {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try LevelDB(path: dir.appendingPathComponent("db").path)
        var batch = WriteBatch()
        for n: UInt8 in [3, 1, 2] { batch.put([0x72, n], [n]) }
        batch.put([0x73, 0], [9])
        batch.delete([0x72, 2])
        try db.write(batch)
        let rows = try db.scan(prefix: [0x72])
        #expect(rows.map(\.key) == [[0x72, 1], [0x72, 3]])
        #expect(rows.map(\.value) == [[1], [3]])
        #expect(try db.scan(prefix: [0x72], limit: 1).count == 1)
    }

    @Test func aSecondOpenOfTheSameDirectoryFailsWithAClearError() throws {
        let dir = try DelongProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("db").path
        let first = try LevelDB(path: path)
        #expect(throws: LevelDBError.self) { try LevelDB(path: path) }
        _ = first
        #expect(throws: LevelDBError.self) {
            try LevelDB(path: dir.appendingPathComponent("absent").path, createIfMissing: false)
        }
    }
}
