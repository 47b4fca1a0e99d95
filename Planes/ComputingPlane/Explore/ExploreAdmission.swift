public import ChainCore
public import ChainRecords
public import Foundation
import PlaneCrypto
public import PlaneProtocol
import Sealing
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Who may open an Explore session here, and on what: an explore token the Privacy Plane signed for this
/// plane, redeemed once, for a consumer whose rental this plane's own index shows active, on the sample the
/// dataset's on-chain `sampleLocator` names, with its bytes checked against that digest before they are mounted
/// (and, for a sealed sample, before its key is asked for).
public final class ExploreAdmission: Sendable {
    /// What an admitted token opens.
    public struct Admitted: Sendable {
        public let consumer: Address
        public let dataset: Hash32
        /// The rental's end (the session never outlasts it).
        public let rentalEnd: Date
        /// The verified sample, extracted read-only: the directory to mount at /data.
        public let sample: String
        public let sampleDigest: Hash32
    }

    public let records: any RecordReader
    public let tokenDomain: TokenDomain
    public let operatorAddress: Address
    public let da: DAStore
    /// Verified samples, one directory per digest (`<samples>/<64 hex>/`), root-owned and read-only.
    public let samples: String
    /// Where sealed samples' keys come from; nil serves plain samples only.
    public let sampleKeys: (any SampleKeySource)?
    /// Redeemed token nonces until their tokens expire: a token opens one session.
    private let redeemed = Mutex<[Hash32: UInt64]>([:])

    public init(
        records: any RecordReader,
        tokenDomain: TokenDomain,
        operatorAddress: Address,
        da: DAStore,
        samples: String,
        sampleKeys: (any SampleKeySource)? = nil
    )
        throws(ComputingPlaneError)
    {
        self.sampleKeys = sampleKeys
        self.records = records
        self.tokenDomain = tokenDomain
        self.operatorAddress = operatorAddress
        self.da = da
        self.samples = samples
        guard mkdir(samples, 0o755) == 0 || errno == EEXIST else {
            throw ComputingPlaneError(.io, "cannot create \(samples): \(ComputingPlaneError.text(errno))")
        }
    }

    /// Checks `token` and the chain, then verifies and extracts the sample; the token is spent only when
    /// everything else holds, so a refusal for a missing sample can be retried with the same token.
    public func admit(_ token: SignedAccessToken) async throws(ComputingPlaneError) -> Admitted {
        let now = PlaneClock.now(records)
        let verified = try verify(token, now: now)
        let t = verified.token
        let rental = try activeRental(consumer: t.consumer, dataset: t.dataset, now: now)
        let (directory, digest) = try await sample(of: t.dataset, token: token, now: now)
        try spend(t.nonce, until: t.expiry, now: now)
        return Admitted(
            consumer: t.consumer,
            dataset: t.dataset,
            rentalEnd: Date(timeIntervalSince1970: TimeInterval(rental.expiresAt)),
            sample: directory,
            sampleDigest: digest
        )
    }

    /// Whether the consumer's rental is still active in the index (pending revocations count: a session ends on
    /// first sight of one). Polled while a session runs.
    public func rentalActive(consumer: Address, dataset: Hash32) -> Bool {
        (try? activeRental(consumer: consumer, dataset: dataset, now: PlaneClock.now(records))) != nil
    }

    // MARK: Checks

    func verify(_ token: SignedAccessToken, now: UInt64) throws(ComputingPlaneError) -> VerifiedAccessToken {
        let signer: Address
        do {
            guard let named = try records.privacySigner() else {
                throw ComputingPlaneError(.forbidden, "AlgorithmRegistry names no privacy signer in the verified index")
            }
            signer = named.address
        } catch let error as ComputingPlaneError { throw error } catch {
            throw ComputingPlaneError(.io, "the index: \(error)")
        }
        // A token up to 60 s early (the Privacy Plane's clock may follow a head ahead of ours) is judged at its
        // notBefore, as in Secure jobs.
        let at = max(now, min(token.token.notBefore, now + 60))
        let verified: VerifiedAccessToken
        switch TokenVerifier(domain: tokenDomain, signer: signer).verify(token, now: at) {
        case .rejected(let why): throw ComputingPlaneError(.forbidden, "the access token: \(why)")
        case .verified(let v): verified = v
        }
        guard verified.token.mode == .explore else {
            throw ComputingPlaneError(
                .forbidden,
                "the token is for \(verified.token.mode.name) mode; an Explore session needs an explore token"
            )
        }
        guard verified.token.audience == operatorAddress else {
            throw ComputingPlaneError(
                .forbidden,
                "the token is for the Computing Plane \(verified.token.audience.checksummed), not this one (\(operatorAddress.checksummed))"
            )
        }
        return verified
    }

    func activeRental(consumer: Address, dataset: Hash32, now: UInt64) throws(ComputingPlaneError) -> RentalRecord {
        let record: DatasetRecord?
        let rental: RentalRecord?
        do {
            record = try records.dataset(dataset)
            rental = try records.rental(dataset: dataset, consumer: consumer)
        } catch { throw ComputingPlaneError(.io, "the index: \(error)") }
        guard let record, !record.retired else {
            throw ComputingPlaneError(.forbidden, "dataset \(dataset.hex) is not registered or is retired")
        }
        guard let rental else {
            throw ComputingPlaneError(.forbidden, "\(consumer.checksummed) has no rental of \(dataset.hex)")
        }
        guard rental.status == .active else {
            throw ComputingPlaneError(.forbidden, "the rental of \(dataset.hex) was revoked by the provider")
        }
        guard rental.expiresAt > now else {
            throw ComputingPlaneError(.forbidden, "the rental of \(dataset.hex) ended at \(rental.expiresAt)")
        }
        return rental
    }

    /// The dataset's sample: its locator from the index, its bytes from the DA store checked against it, and
    /// its files extracted once per digest (into a temporary directory renamed into place, so a directory
    /// under its digest is always whole). A sealed sample's bytes are checked against the digest first, then
    /// its key is asked for with `token` and dropped once the archive is open.
    func sample(
        of dataset: Hash32,
        token: SignedAccessToken,
        now: UInt64
    ) async throws(ComputingPlaneError) -> (
        String, Hash32
    ) {
        let text: [UInt8]
        do {
            guard let record = try records.dataset(dataset) else {
                throw ComputingPlaneError(.forbidden, "dataset \(dataset.hex) is not registered")
            }
            text = record.sampleLocatorText.bytes
        } catch let error as ComputingPlaneError { throw error } catch {
            throw ComputingPlaneError(.io, "the index: \(error)")
        }
        let locator: SampleLocator
        do { locator = try SampleLocator.parse(text) } catch {
            throw ComputingPlaneError(
                .notFound,
                "dataset \(dataset.hex) publishes no sample this plane can serve: \(error.reason) (the provider "
                    + "publishes one with delong dataset publish-sample)"
            )
        }
        let directory = samples + "/" + Hex.encode(locator.digest.bytes, prefix: false)
        if access(directory, F_OK) == 0 { return (directory, locator.digest) }
        let sample: PublishedSample
        if let sealedUnder = locator.sealedUnder {
            sample = try await sealedSample(locator, under: sealedUnder, of: dataset, token: token, now: now)
        } else {
            do {
                let bytes = try da.get(locator.digest, limit: SampleLocator.limits.maxArchiveBytes)
                sample = try PublishedSample.verified(bytes, locator: locator)
            } catch {
                throw ComputingPlaneError(
                    error.code == .io ? .notFound : .verification,
                    "the sample \(locator) of dataset \(dataset.hex): \(error.reason)"
                )
            }
        }
        let staging = directory + ".staging-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            try BundleExtraction.extract(sample.entries, into: staging)
        } catch {
            _ = try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
        guard rename(staging, directory) == 0 || errno == ENOTEMPTY || errno == EEXIST else {
            let reason = ComputingPlaneError.text(errno)
            _ = try? FileManager.default.removeItem(atPath: staging)
            throw ComputingPlaneError(.io, "cannot place the sample at \(directory): \(reason)")
        }
        // Another admission may have placed the same digest first; its copy is the same bytes.
        _ = try? FileManager.default.removeItem(atPath: staging)
        return (directory, locator.digest)
    }

    /// A sealed sample: its bytes from the DA store checked against the locator's digest and read as a sealed
    /// file for the dataset the locator names, all before any key is asked for; then the key (spending the
    /// token at the Privacy Plane), the archive opened and checked canonical. The key is wiped when this returns.
    func sealedSample(
        _ locator: SampleLocator,
        under sealedUnder: Hash32,
        of dataset: Hash32,
        token: SignedAccessToken,
        now: UInt64
    ) async throws(ComputingPlaneError) -> PublishedSample {
        let what = "the sample \(locator) of dataset \(dataset.hex)"
        let bytes: [UInt8]
        do {
            bytes = try da.get(
                locator.digest,
                limit: SampleLocator.limits.maxArchiveBytes + SampleLocator.maxSealingOverhead
            )
            try PublishedSample.checkDigest(bytes, locator: locator)
        } catch {
            throw ComputingPlaneError(error.code == .io ? .notFound : .verification, "\(what): \(error.reason)")
        }
        let id: DatasetID
        let header: SealedFileHeader
        do {
            id = try DatasetID(bytes: sealedUnder.bytes)
            header = try SealedBlob.header(of: bytes, maxPlaintext: SampleLocator.limits.maxArchiveBytes, source: what)
        } catch { throw ComputingPlaneError(.verification, error.reason) }
        guard header.datasetID == id else {
            throw ComputingPlaneError(
                .verification,
                "\(what): sealed for dataset \(header.datasetID), expected the dataset the locator names \(id)"
            )
        }
        guard let sampleKeys else {
            throw ComputingPlaneError(
                .notFound,
                "\(what) is sealed, and this plane has no Privacy Plane client to ask for its key"
            )
        }
        // A spent token would still spend the Privacy Plane's release for nothing: refused here first.
        try redeemed.withLock { (used) throws(ComputingPlaneError) in
            guard used[token.token.nonce].map({ $0 <= now }) ?? true else {
                throw ComputingPlaneError(.conflict, "this explore token was already redeemed; get a new one")
            }
        }
        let archive: [UInt8]
        do {  // the key's scope: its bytes are wiped when it ends
            let key = try await sampleKeys.key(for: sealedUnder, keyVersion: header.keyVersion, token: token)
            do {
                archive = try SealedBlob.open(
                    bytes,
                    datasetKey: key,
                    datasetID: id,
                    maxPlaintext: SampleLocator.limits.maxArchiveBytes,
                    source: what
                )
            } catch { throw ComputingPlaneError(.verification, error.reason) }
        }
        do { return try PublishedSample.decoded(archive) } catch {
            throw ComputingPlaneError(.verification, "\(what): \(error.reason)")
        }
    }

    func spend(_ nonce: Hash32, until expiry: UInt64, now: UInt64) throws(ComputingPlaneError) {
        try redeemed.withLock { (used) throws(ComputingPlaneError) in
            used = used.filter { $0.value > now }
            guard used[nonce] == nil else {
                throw ComputingPlaneError(.conflict, "this explore token was already redeemed; get a new one")
            }
            used[nonce] = expiry
        }
    }
}

/// The plane's clock for chain decisions: the wall clock, or the verified head's time when that runs ahead of
/// it (at most 60 s: a head far in the future is the chain's problem, not a reason to move time).
enum PlaneClock {
    static func now(_ records: any RecordReader) -> UInt64 {
        let wall = UInt64(Date().timeIntervalSince1970)
        let head = (try? records.headTimestamp()) ?? 0
        return max(wall, min(head, wall + 60))
    }
}
