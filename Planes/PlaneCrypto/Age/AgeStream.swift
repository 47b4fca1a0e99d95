import COpenSSL
import Glibc

/// Reads up to `buffer.count` bytes into `buffer`; returns how many, 0 only at the end of the input.
public typealias AgeInput = (UnsafeMutableRawBufferPointer) throws(PlaneCryptoError) -> Int
/// Takes the next bytes of output; the buffer is only valid during the call.
public typealias AgeOutput = (UnsafeRawBufferPointer) throws(PlaneCryptoError) -> Void

/// A read buffer over an ``AgeInput``: header lines, then whole payload chunks.
final class AgeBufferedInput {
    private let source: AgeInput
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    private var atEnd = false

    init(_ source: @escaping AgeInput) {
        self.source = source
        buffer = [UInt8](repeating: 0, count: Age.encryptedChunkSize + 1)
    }

    /// Refills after the unread bytes; false at the end of the input.
    private func fill() throws(PlaneCryptoError) -> Bool {
        if atEnd { return false }
        if start > 0 {
            buffer.withUnsafeMutableBytes { b in
                _ = memmove(b.baseAddress!, b.baseAddress! + start, end - start)
            }
            end -= start
            start = 0
        }
        if end == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }
        let n = try buffer.withMutableBytes { (b) throws(PlaneCryptoError) -> Int in
            try source(UnsafeMutableRawBufferPointer(rebasing: b[end...]))
        }
        if n == 0 { atEnd = true }
        end += n
        return n > 0
    }

    /// The next line including its LF; nil when the input ends first; an error when no LF comes within `limit`.
    func readLine(limit: Int) throws(PlaneCryptoError) -> [UInt8]? {
        var scanned = 0  // bytes after `start` already searched
        while true {
            if let lf = buffer[(start + scanned)..<end].firstIndex(of: UInt8(ascii: "\n")) {
                guard lf + 1 - start <= limit else { break }
                let line = Array(buffer[start...lf])
                start = lf + 1
                return line
            }
            scanned = end - start
            guard scanned < limit else { break }
            guard try fill() else { return nil }
        }
        throw PlaneCryptoError(.ageHeader, "age header: longer than \(AgeHeader.maxLength) bytes")
    }

    /// Fills `out` as far as the input allows; returns the count (less than `out.count` only at the end).
    func read(into out: UnsafeMutableRawBufferPointer) throws(PlaneCryptoError) -> Int {
        var copied = 0
        while copied < out.count {
            if start == end {
                guard try fill() else { break }
                continue
            }
            let n = min(out.count - copied, end - start)
            buffer.withUnsafeBytes { b in
                UnsafeMutableRawBufferPointer(rebasing: out[copied..<(copied + n)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: b[start..<(start + n)]))
            }
            start += n
            copied += n
        }
        return copied
    }

    deinit { SecretBytes.wipe(&buffer) }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` keeping the error type (the standard library's only rethrows `any Error`).
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(PlaneCryptoError) -> R) throws(PlaneCryptoError) -> R {
        let result = withUnsafeBytes { b in Result { () throws(PlaneCryptoError) in try body(b) } }
        return try result.get()
    }

    /// `withUnsafeMutableBytes` keeping the error type.
    mutating func withMutableBytes<R>(
        _ body: (UnsafeMutableRawBufferPointer) throws(PlaneCryptoError) -> R
    ) throws(PlaneCryptoError) -> R {
        let result = withUnsafeMutableBytes { b in Result { () throws(PlaneCryptoError) in try body(b) } }
        return try result.get()
    }
}
