import Glibc

/// A heap-allocated pthread mutex (so its address is stable), as NIO's `NIOLock` does.
final class Lock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always)
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// A small free-list of reusable objects (cipher contexts, scratch buffers) shared between threads.
/// Each object is used by one thread at a time: `take` removes it from the list, `give` returns it.
final class Pool<Element: AnyObject>: @unchecked Sendable {
    private let lock = Lock()
    private var free: [Element] = []
    private let limit: Int
    private let make: () -> Element

    init(limit: Int = 16, make: @escaping () -> Element) {
        self.limit = limit
        self.make = make
    }

    @inline(__always)
    func with<R, E: Error>(_ body: (Element) throws(E) -> R) throws(E) -> R {
        let element = lock.withLock { free.popLast() } ?? make()
        defer { lock.withLock { if free.count < limit { free.append(element) } } }
        return try body(element)
    }
}

/// A raw byte buffer owned by one object (freed on deinit); lent out through ``Pool``.
final class ScratchBuffer {
    let bytes: UnsafeMutableRawBufferPointer
    init(count: Int) { bytes = .allocate(byteCount: count, alignment: 64) }
    deinit { bytes.deallocate() }
}
