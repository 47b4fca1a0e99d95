public import ChainRecords
import Foundation

extension RecordChange {
    static func family(of key: [UInt8]) -> Family? {
        if key == Keyspace.privacySigner { return .privacySigner }
        if key == Keyspace.governance { return .governance }
        switch key.first {
        case 0x64 where key.count == 33: return .dataset
        case 0x72 where key.count == 53: return .rental
        case 0x61 where key.count == 33: return .algorithm
        case 0x6A where key.count == 33: return .job
        case 0x6D where key.count == 33: return .measurement
        case 0x6F where key.count == 21: return .operator
        default: return nil  // secondary indexes and bookkeeping
        }
    }
}

/// Fan-out of index events to any number of AsyncStream subscribers.
final class IndexBroadcaster: @unchecked Sendable {
    private let lock = NSLock()
    private var continuations: [UUID: AsyncStream<IndexEvent>.Continuation] = [:]

    func subscribe(bufferLimit: Int) -> AsyncStream<IndexEvent> {
        let (stream, continuation) = AsyncStream<IndexEvent>.makeStream(bufferingPolicy: .bufferingNewest(bufferLimit))
        let id = UUID()
        lock.withLock { continuations[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            self.lock.withLock { _ = self.continuations.removeValue(forKey: id) }
        }
        return stream
    }

    func publish(_ events: [IndexEvent]) {
        let targets = lock.withLock { Array(continuations.values) }
        for c in targets { for e in events { c.yield(e) } }
    }

    func finish() {
        let targets = lock.withLock { Array(continuations.values) }
        for c in targets { c.finish() }
    }
}

extension ChainIndex {
    /// A stream of every change committed after this call: records added, records rolled back by reorgs, and
    /// head advances (with the final block). A subscriber that falls more than `bufferLimit` events behind
    /// loses the oldest ones; it should re-read what it needs after a `headAdvanced`.
    public func subscribe(bufferLimit: Int = 4096) -> AsyncStream<IndexEvent> {
        broadcaster.subscribe(bufferLimit: bufferLimit)
    }
}
