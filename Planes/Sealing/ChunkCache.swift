import PlaneCrypto

/// Decrypted chunks kept in memory under a byte bound, evicted in CLOCK (second-chance FIFO) order.
///
/// Readers consult it only for chunks a request covers partially (a 4 KiB read of a 16 KiB chunk); chunks a
/// request covers whole are decrypted straight into the caller's buffer. Thread-safe. Evicted and removed
/// plaintext is overwritten in place (when a reader still shares a chunk's bytes, only a copy is, and the
/// reader's bytes are dropped unwiped when it is done).
public final class ChunkCache: @unchecked Sendable {
    /// Identifies a chunk: an opaque per-file number chosen by the caller, and the chunk index.
    public struct Key: Hashable, Sendable {
        let file: UInt64
        let chunk: UInt64
    }

    private struct Slot {
        var bytes: [UInt8]
        var referenced: Bool
    }

    private let lock = Lock()
    private var slots: [Key: Slot] = [:]
    private var queue: [Key] = []
    private var head = 0
    private var usedBytes = 0
    /// The memory bound in bytes (plaintext bytes held).
    public let capacityBytes: Int

    /// A cache holding at most `capacityBytes` of plaintext.
    public init(capacityBytes: Int) { self.capacityBytes = max(0, capacityBytes) }

    /// Plaintext bytes currently held.
    public var currentBytes: Int { lock.withLock { usedBytes } }

    func get(file: UInt64, chunk: UInt64) -> [UInt8]? {
        lock.withLock {
            let key = Key(file: file, chunk: chunk)
            guard slots[key] != nil else { return nil }
            slots[key]!.referenced = true
            return slots[key]!.bytes
        }
    }

    func insert(file: UInt64, chunk: UInt64, bytes: [UInt8]) {
        guard bytes.count <= capacityBytes else { return }
        lock.withLock {
            let key = Key(file: file, chunk: chunk)
            guard slots[key] == nil else { return }
            while usedBytes + bytes.count > capacityBytes, head < queue.count {
                let victim = queue[head]
                head += 1
                if var slot = slots[victim], slot.referenced {
                    slot.referenced = false
                    slots[victim] = slot
                    queue.append(victim)
                } else if var slot = slots.removeValue(forKey: victim) {
                    usedBytes -= slot.bytes.count
                    SecretBytes.wipe(&slot.bytes)
                }
            }
            if head > 4096, head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            slots[key] = Slot(bytes: bytes, referenced: false)
            queue.append(key)
            usedBytes += bytes.count
        }
    }

    /// Drops everything (for example on unmount), wiping the plaintext.
    public func removeAll() {
        lock.withLock {
            for key in Array(slots.keys) { SecretBytes.wipe(&slots[key]!.bytes) }
            slots.removeAll()
            queue.removeAll()
            head = 0
            usedBytes = 0
        }
    }
}
