public import ChainCore
import Foundation
public import PlaneProtocol

#if canImport(Glibc)
import Glibc
#endif

/// Where outputs wait for a human decision. The dataset's provider signs an EIP-712 ``ReviewDecision`` over
/// the job id and the sha256 of the output tar; the desk accepts it only from that provider's key, only for
/// the output that is waiting, appends it to the decision log (JSON lines, fsynced before it takes effect) and
/// wakes the agent. Nothing skips review: an output nobody decides on is rejected at the deadline.
public actor ReviewDesk {
    public struct Waiting: Sendable {
        /// The output tar, which only the provider may read (``output(_:at:signature:)``).
        var archive: [UInt8]
        public var outputDigest: Hash32
        public var provider: Address
        public var since: Int64
    }

    public let domain: JobDomain
    private let logPath: String
    private var waiting: [Hash32: Waiting] = [:]
    private var decided: [Hash32: SignedReviewDecision] = [:]
    private var waiters: [Hash32: CheckedContinuation<SignedReviewDecision?, Never>] = [:]

    public init(domain: JobDomain, logPath: String) {
        self.domain = domain
        self.logPath = logPath
    }

    /// What waits for `job`'s review, nil when nothing does.
    public func waiting(_ job: Hash32) -> Waiting? { waiting[job] }

    /// Opens the review of `job`'s output and waits for a decision until `deadline` (nil: it passed).
    public func review(
        job: Hash32,
        output: OutputPackage,
        provider: Address,
        deadline: Duration
    ) async
        -> SignedReviewDecision?
    {
        waiting[job] = Waiting(
            archive: output.archive,
            outputDigest: output.digest,
            provider: provider,
            since: Int64(Date().timeIntervalSince1970 * 1000)
        )
        let timer = Task {
            try? await Task.sleep(for: deadline)
            self.settle(job, nil)
        }
        let decision = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<SignedReviewDecision?, Never>) in
                if let early = decided[job] {
                    continuation.resume(returning: early)
                } else {
                    waiters[job] = continuation
                }
            }
        } onCancel: {
            Task { await self.settle(job, nil) }
        }
        timer.cancel()
        waiting[job] = nil
        decided[job] = nil
        return decision
    }

    /// The waiting output's tar for its reviewer: the dataset's provider signs
    /// keccak256("delong/review-output/v1" ‖ job id ‖ at) within five minutes of the plane's clock.
    public func output(_ job: Hash32, at: UInt64, signature: Signature) throws(ComputingPlaneError) -> [UInt8] {
        guard let open = waiting[job] else {
            throw ComputingPlaneError(.badInput, "job \(job.hex) has no output waiting for review")
        }
        let now = UInt64(Date().timeIntervalSince1970)
        guard at + 300 >= now && at <= now + 300 else {
            throw ComputingPlaneError(.badInput, "the request is dated \(at); the plane's clock says \(now)")
        }
        let signer: Address
        do { signer = try Secp256k1.shared.recoverAddress(Self.outputRequestHash(job: job, at: at), signature) } catch {
            throw ComputingPlaneError(.badInput, "the request's signature: \(error)")
        }
        guard signer == open.provider else {
            throw ComputingPlaneError(
                .badInput,
                "the request is signed by \(signer.checksummed); only the dataset's provider \(open.provider.checksummed) reads this output"
            )
        }
        return open.archive
    }

    /// What a reviewer signs to read an output: keccak256("delong/review-output/v1" ‖ job id ‖ at, 8 bytes BE).
    public static func outputRequestHash(job: Hash32, at: UInt64) -> Hash32 {
        var at = at.bigEndian
        return Keccak256.hash(
            Array("delong/review-output/v1".utf8) + job.bytes + withUnsafeBytes(of: &at) { Array($0) }
        )
    }

    /// Ends the wait of `job` (a cancel or kill of the job).
    public func close(_ job: Hash32) { settle(job, nil) }

    private func settle(_ job: Hash32, _ decision: SignedReviewDecision?) {
        if let decision { decided[job] = decision }
        waiters.removeValue(forKey: job)?.resume(returning: decision)
    }

    /// Accepts `decision` when it is the waiting output's provider's, for that output; else a `badInput`
    /// error naming what was expected and what was found.
    public func decide(_ decision: SignedReviewDecision) throws(ComputingPlaneError) {
        let job = decision.decision.jobID
        guard let open = waiting[job], decided[job] == nil else {
            throw ComputingPlaneError(.badInput, "job \(job.hex) has no output waiting for review")
        }
        let signer: Address
        do { signer = try decision.signer(domain) } catch {
            throw ComputingPlaneError(.badInput, "the review decision's signature: \(error)")
        }
        guard signer == open.provider else {
            throw ComputingPlaneError(
                .badInput,
                "the review decision is signed by \(signer.checksummed); only the dataset's provider \(open.provider.checksummed) reviews this output"
            )
        }
        guard decision.decision.outputDigest == open.outputDigest else {
            throw ComputingPlaneError(
                .badInput,
                "the decision is for output \(decision.decision.outputDigest.hex); the output waiting is \(open.outputDigest.hex)"
            )
        }
        try append(decision)
        settle(job, decision)
    }

    private func append(_ decision: SignedReviewDecision) throws(ComputingPlaneError) {
        let line: Data
        do { line = try JSONSerialization.data(withJSONObject: decision.json, options: [.sortedKeys]) } catch {
            throw ComputingPlaneError(.io, "cannot encode the review decision: \(error)")
        }
        let fd = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw ComputingPlaneError(
                .io,
                "cannot open the decision log \(logPath): \(String(cString: strerror(errno)))"
            )
        }
        defer { Glibc.close(fd) }
        let bytes = [UInt8](line) + [UInt8(ascii: "\n")]
        guard write(fd, bytes, bytes.count) == bytes.count, fsync(fd) == 0 else {
            throw ComputingPlaneError(.io, "cannot append to the decision log \(logPath)")
        }
    }
}
