import Foundation
import PrivacyPlane
import TestSupport
import Testing

/// FileNonceStore: single use, expiry, persistence across restarts, torn writes and compaction.
@Suite struct SIWENonceStoreTests {
    let dir: URL
    var path: String { dir.appendingPathComponent("nonces.log").path }
    let now = SIWEFixtures.time("2026-11-24T21:30:00Z")

    init() throws { dir = try DelongProcess.temporaryDirectory() }

    @Test func aReplayedNonceIsRefused() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try FileNonceStore(path: path)
        let nonce = try store.issue(now: now, lifetime: .seconds(300))
        #expect(try store.consume(nonce.value, now: now) == .consumed)
        #expect(try store.consume(nonce.value, now: now) == .alreadyUsed)
    }

    @Test func anExpiredNonceIsRefused() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try FileNonceStore(path: path)
        let nonce = try store.issue(now: now, lifetime: .seconds(300))
        #expect(nonce.expiresAt == SIWEFixtures.time("2026-11-24T21:35:00Z"))
        #expect(try store.consume(nonce.value, now: SIWEFixtures.time("2026-11-24T21:35:00Z")) == .expired)
    }

    @Test func nonceNeverIssuedHereIsUnknown() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try FileNonceStore(path: path)
        #expect(try store.consume("abcdefgh12345678", now: now) == .unknown)
        #expect(try store.consume("has space", now: now) == .unknown)
        #expect(try store.consume("", now: now) == .unknown)
    }

    @Test func aRestartKeepsUsedNoncesUsedAndForgetsUnusedOnes() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        var used = ""
        var unused = ""
        do {
            let store = try FileNonceStore(path: path)
            used = try store.issue(now: now, lifetime: .seconds(300)).value
            unused = try store.issue(now: now, lifetime: .seconds(300)).value
            #expect(try store.consume(used, now: now) == .consumed)
        }
        let reopened = try FileNonceStore(path: path)
        #expect(try reopened.consume(used, now: now) == .alreadyUsed)
        // Unused nonces lived in memory only: one issued before the restart is not accepted after it.
        #expect(try reopened.consume(unused, now: now) == .unknown)
    }

    /// M6: issuing a nonce writes nothing (no fsync on GET /v1/nonce); only a use is written, once.
    @Test func issuingNoncesTouchesNoDiskAndOnlyAUseIsWritten() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try FileNonceStore(path: path)
        let size = { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1 }
        let empty = size()
        let nonces = try (0..<1000).map { _ in try store.issue(now: now, lifetime: .seconds(300)).value }
        #expect(store.durableWrites == 0)
        #expect(store.recordCount == 0)
        #expect(size() == empty, "the log did not grow while issuing")
        #expect(try store.consume(nonces[17], now: now) == .consumed)
        #expect(store.durableWrites == 1)
        #expect(size() > empty)
        #expect(try store.consume(nonces[17], now: now) == .alreadyUsed)
        #expect(store.durableWrites == 1, "a refused reuse writes nothing")
    }

    @Test func outstandingNoncesAreBoundedAndExpiredOnesMakeRoom() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try FileNonceStore(path: path, maxOutstanding: 16)
        for _ in 0..<16 { _ = try store.issue(now: now, lifetime: .seconds(60)) }
        #expect(throws: PrivacyPlaneError(.storage, "")) { _ = try store.issue(now: now, lifetime: .seconds(60)) }
        let later = SIWEFixtures.time("2026-11-24T21:31:00Z")
        #expect(try store.issue(now: later, lifetime: .seconds(60)).value.count == NonceGenerator.length)
        #expect(store.heldCount == 1)
    }

    @Test func nonceLogsOfTheEarlierFormatAreStillRead() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = "AAAAAAAAAAAAAAAAAAAA"
        let b = "BBBBBBBBBBBBBBBBBBBB"
        let expiry = now.unixSeconds + 300
        try Data("delong-siwe-nonces v1\nI \(a) \(expiry)\nI \(b) \(expiry)\nU \(a)\n".utf8)
            .write(to: URL(fileURLWithPath: path))
        let store = try FileNonceStore(path: path)
        #expect(try store.consume(a, now: now) == .alreadyUsed)
        #expect(try store.consume(b, now: now) == .consumed)
    }

    @Test func aSecondInstanceOnTheSameFileIsRefused() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try FileNonceStore(path: path)
        _ = try store.issue(now: now, lifetime: .seconds(60))
        #expect(throws: PrivacyPlaneError.self) { try FileNonceStore(path: path) }
    }

    @Test func aTornLastRecordIsCutOffAndEarlierRecordsSurvive() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        var used = ""
        do {
            let store = try FileNonceStore(path: path)
            used = try store.issue(now: now, lifetime: .seconds(300)).value
            #expect(try store.consume(used, now: now) == .consumed)
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("I half".utf8))
        try handle.close()
        let reopened = try FileNonceStore(path: path)
        #expect(try reopened.consume(used, now: now) == .alreadyUsed)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!text.contains("half"))
        #expect(text.hasSuffix("\n"))
    }

    @Test func aCorruptLogIsRefusedNotSkipped() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("delong-siwe-nonces v1\nX what\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: PrivacyPlaneError(.corruptStore, "")) { try FileNonceStore(path: path) }
        try Data("something else\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: PrivacyPlaneError(.corruptStore, "")) { try FileNonceStore(path: path) }
    }

    @Test func compactionDropsExpiredNoncesAndKeepsLiveUsedOnesUsed() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        var live = ""
        do {
            let store = try FileNonceStore(path: path, compactionThreshold: 16)
            let early = SIWEFixtures.time("2026-11-24T20:00:00Z")
            for _ in 0..<10 {
                let old = try store.issue(now: early, lifetime: .seconds(60)).value
                #expect(try store.consume(old, now: early) == .consumed)
            }
            live = try store.issue(now: now, lifetime: .seconds(600)).value
            #expect(try store.consume(live, now: now) == .consumed)
            // Enough uses to cross the threshold: compaction runs inside consume and drops the ten old ones.
            for _ in 0..<8 {
                #expect(
                    try store.consume(try store.issue(now: now, lifetime: .seconds(600)).value, now: now) == .consumed
                )
            }
            #expect(store.recordCount < 19)
            try store.compact(now: now)
        }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix("delong-siwe-nonces v1\n"))
        #expect(text.split(separator: "\n").count == 1 + 9)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        let reopened = try FileNonceStore(path: path)
        #expect(try reopened.consume(live, now: now) == .alreadyUsed)
    }

    @Test func issuedNoncesAreAlphanumericWithAtLeast96BitsAndDistinct() throws {
        #expect(Double(NonceGenerator.length) * log2(62.0) >= 96)
        var seen = Set<String>()
        for _ in 0..<2000 {
            let nonce = NonceGenerator.make()
            #expect(nonce.utf8.count == NonceGenerator.length)
            #expect(nonce.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
            seen.insert(nonce)
        }
        #expect(seen.count == 2000)
    }

    @Test func concurrentUsesOfOneNonceConsumeItExactlyOnce() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try FileNonceStore(path: path)
        let nonce = try store.issue(now: now, lifetime: .seconds(300)).value
        let outcomes = Outcomes()
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            outcomes.add((try? store.consume(nonce, now: now)) ?? .unknown)
        }
        #expect(outcomes.all.filter { $0 == .consumed }.count == 1)
        #expect(outcomes.all.filter { $0 == .alreadyUsed }.count == 15)
    }
}

private final class Outcomes: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [NonceConsumption] = []
    func add(_ value: NonceConsumption) {
        lock.lock()
        values.append(value)
        lock.unlock()
    }
    var all: [NonceConsumption] {
        lock.lock()
        defer { lock.unlock() }
        return values
    }
}
