import Attestation
public import ChainCore
import ChainIndex
import ChainRecords
import Foundation
import PlaneCrypto
public import PlaneProtocol

/// What an auditor brings: the job, a verified index of the chain (synced by the auditor's own light
/// client), and optionally the DA store, the evidence bundle as a file, the algorithm's source folder and the
/// consumer's ciphertext.
public struct JobAuditInputs: Sendable {
    public var job: Hash32
    public var index: any AuditRecords
    /// The public DA store: algorithm bundles, evidence bundles, the Privacy Plane's receipt heads.
    public var da: DAStore?
    /// The evidence bundle's bytes when given as a file (`--evidence`); else read from `da`.
    public var evidenceBundle: [UInt8]?
    /// A folder to pack with the bundle packer and compare with the published bundle (`--source`).
    public var source: String?
    /// The consumer's ciphertext (`--output`).
    public var output: [UInt8]?

    public init(
        job: Hash32,
        index: any AuditRecords,
        da: DAStore? = nil,
        evidenceBundle: [UInt8]? = nil,
        source: String? = nil,
        output: [UInt8]? = nil
    ) {
        self.job = job
        self.index = index
        self.da = da
        self.evidenceBundle = evidenceBundle
        self.source = source
        self.output = output
    }
}

/// The audit of one Secure job from public data only (docs/audit.md): each link from the chain's JobRecorded
/// to the consumer's ciphertext, checked in order. Links no plane server: what it needs of the planes' formats
/// is in PlaneProtocol.
public struct JobAudit {
    struct Failure: Error {
        let found: String
        let expected: String
    }

    let inputs: JobAuditInputs
    var checks: [AuditCheck] = []
    var insecure = false

    // What the checks learn on the way (nil: not established).
    var recorded: JobRecord?
    var algorithm: AlgorithmRecord?
    var bundle: [String: Any]?
    var token: SignedAccessToken?
    var tokenHash: Hash32?
    var record: SignedResultRecord?
    var receipt: SignedReceipt?
    var quote: VerifiedQuote?
    var agentSigner: Address?
    var privacySigner: Address?

    var chainID: UInt64 { inputs.index.config.chainID }
    var tokenDomain: TokenDomain {
        TokenDomain(chainID: chainID, verifyingContract: inputs.index.config.contracts.algorithmRegistry)
    }
    var jobDomain: JobDomain {
        JobDomain(chainID: chainID, verifyingContract: inputs.index.config.contracts.algorithmRegistry)
    }

    /// Runs every check in order and returns the verdict.
    public static func run(_ inputs: JobAuditInputs) -> AuditVerdict {
        var audit = JobAudit(inputs: inputs)
        audit.runAll()
        return AuditVerdict(job: inputs.job.hex, checks: audit.checks, insecure: audit.insecure)
    }

    /// Runs `body` as the check `name` unless `missing` names a prerequisite that is not established (then the
    /// check is skipped, and the verdict fails through the check that failed first).
    mutating func check(
        _ name: String,
        _ title: String,
        expected: String,
        missing: String? = nil,
        _ body: (inout JobAudit) throws(Failure) -> String
    ) {
        if let missing {
            checks.append(
                AuditCheck(
                    name: name,
                    title: title,
                    status: .skipped,
                    found: "not checked: \(missing)",
                    expected: expected
                )
            )
            return
        }
        do {
            let found = try body(&self)
            checks.append(AuditCheck(name: name, title: title, status: .passed, found: found, expected: expected))
        } catch {
            checks.append(
                AuditCheck(name: name, title: title, status: .failed, found: error.found, expected: error.expected)
            )
        }
    }

    /// An error's reason, as the modules word it.
    static func reason(_ error: any Error) -> String {
        (error as? PlaneProtocolError)?.reason ?? "\(error)"
    }

    static func fail(_ found: String, _ expected: String) -> Failure { Failure(found: found, expected: expected) }

    /// A record read from the index; an index error is a failed check.
    static func read<T>(_ body: () throws -> T, _ what: String) throws(Failure) -> T {
        do { return try body() } catch { throw fail("the index could not be read for \(what): \(error)", what) }
    }

    mutating func runAll() {
        let job = inputs.job
        let index = inputs.index

        check(
            "jobRecorded",
            "JobRecorded is in the verified chain data",
            expected: "a final JobRecorded for \(job.hex) in the light client's verified index"
        ) { (a) throws(Failure) -> String in
            guard let recorded = try Self.read({ try index.job(job) }, "JobRecorded") else {
                throw Self.fail(
                    "no JobRecorded for \(job.hex) in the verified index",
                    "a JobRecorded event for the job"
                )
            }
            let final = try Self.read({ try index.finalNumber() }, "the final block")
            guard recorded.recorded.blockNumber <= final else {
                throw Self.fail(
                    "JobRecorded in block \(recorded.recorded.blockNumber), past the final block \(final)",
                    "JobRecorded in a final block"
                )
            }
            a.recorded = recorded
            let j = recorded.job
            return
                "block \(recorded.recorded.blockNumber) (\(recorded.recorded.blockHash.hex)) log \(recorded.recorded.logIndex): dataset \(j.datasetID.hex), consumer \(j.consumer.checksummed), image \(j.imageDigest.hex), output \(j.outputDigest.hex), evidence \(j.attestationDigest.hex), operator \(j.operator.checksummed)"
        }

        check(
            "algorithmPublished",
            "its image digest was published (AlgorithmPublished) before the job",
            expected:
                "AlgorithmPublished for the job's image digest in an earlier block (or earlier in the same block)",
            missing: recorded == nil ? "no JobRecorded" : nil
        ) { (a) throws(Failure) -> String in
            let recorded = a.recorded!
            let image = recorded.job.imageDigest
            guard
                let algorithm = try Self.read({ try index.algorithm(image) }, "AlgorithmPublished")
            else {
                throw Self.fail("no AlgorithmPublished for image \(image.hex)", "AlgorithmPublished for \(image.hex)")
            }
            let p = algorithm.published
            let r = recorded.recorded
            guard (p.blockNumber, p.logIndex) < (r.blockNumber, r.logIndex) else {
                throw Self.fail(
                    "published in block \(p.blockNumber) log \(p.logIndex), not before JobRecorded (block \(r.blockNumber) log \(r.logIndex))",
                    "published before the job"
                )
            }
            a.algorithm = algorithm
            return
                "published by \(algorithm.publisher.checksummed) in block \(p.blockNumber): bundle \(algorithm.bundleDigest.hex) at \(algorithm.daLocator)"
        }

        check(
            "algorithmBundle",
            "the DA store's bundle bytes re-hash to the bundle digest and are canonical",
            expected: "a canonical DeLong bundle whose sha256 is AlgorithmPublished.bundleDigest",
            missing: algorithm == nil ? "no AlgorithmPublished" : inputs.da == nil ? "no --da store given" : nil
        ) { (a) throws(Failure) -> String in
            let digest = a.algorithm!.bundleDigest
            let bytes: [UInt8]
            do { bytes = try a.inputs.da!.get(digest) } catch {
                throw Self.fail(Self.reason(error), "the bundle \(BundleDigest.text(digest)) in the DA store")
            }
            let bundle: AlgorithmBundle
            do { bundle = try AlgorithmBundle.verified(archive: bytes) } catch {
                throw Self.fail("the bundle is not canonical: \(Self.reason(error))", "a canonical bundle archive")
            }
            return
                "\(bytes.count) bytes, sha256 \(bundle.digest.hex), \(bundle.entries.count) entries, entry \(bundle.manifest.entry)"
        }

        check(
            "rebuild",
            "a rebuild from --source gives the same bundle digest",
            expected: "the packed folder's digest equal to AlgorithmPublished.bundleDigest",
            missing: inputs.source == nil
                ? "no --source given (optional)" : algorithm == nil ? "no AlgorithmPublished" : nil
        ) { (a) throws(Failure) -> String in
            let expected = a.algorithm!.bundleDigest
            let packed: AlgorithmBundle
            do { packed = try AlgorithmBundle.packed(entries: try BundleTree.entries(under: a.inputs.source!)) } catch {
                throw Self.fail("\(a.inputs.source!) does not pack: \(Self.reason(error))", expected.hex)
            }
            guard packed.digest == expected else {
                throw Self.fail("\(a.inputs.source!) packs to \(packed.digest.hex)", expected.hex)
            }
            return "\(a.inputs.source!) packs to \(packed.digest.hex)"
        }

        evidenceChecks()
        releaseChecks()
    }
}
