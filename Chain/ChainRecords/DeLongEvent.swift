public import ChainCore

/// Every event of DeLong's contracts (contrib/contracts/README.md is the specification), decoded.
/// These events are the index's only input: each carries the state it leaves behind.
///
/// Values are kept exactly as emitted: times are uint256 in the contracts (`rent(ds, 2**64)` is legal on a
/// free dataset), so they stay `U256`; strings need not be UTF-8, so they stay bytes (`ChainText`).
public enum DeLongEvent: Hashable, Sendable {
    // DataMarket
    case datasetRegistered(DatasetFields)
    case datasetUpdated(DatasetFields)
    case datasetRetired(datasetID: Hash32, provider: Address)
    case rentalStarted(RentalKey, provider: Address, startedAt: U256, expiresAt: U256, paid: U256)
    case rentalExtended(RentalKey, provider: Address, addedSeconds: U256, expiresAt: U256, paid: U256)
    case rentalRevoked(RentalKey, provider: Address, expiresAt: U256, refund: U256)
    case earningsSettled(RentalKey, provider: Address, amount: U256)
    case withdrawal(account: Address, amount: U256)
    // AlgorithmRegistry
    case algorithmPublished(imageDigest: Hash32, publisher: Address, bundleDigest: Hash32, daLocator: ChainText)
    case jobRecorded(JobFields)
    case measurementTrusted(digest: Hash32, measurements: [UInt8], label: ChainText)
    case measurementRevoked(digest: Hash32)
    case operatorSet(operator: Address, authorized: Bool)
    case privacySignerSet(previous: Address, signer: Address)
    case governanceTransferred(previous: Address, governance: Address)

    /// A dataset as DatasetRegistered and DatasetUpdated describe it.
    public struct DatasetFields: Hashable, Sendable {
        public var datasetID: Hash32
        public var provider: Address
        public var manifestDigest: Hash32
        public var pricePerSecond: U256
        public var sampleLocator: ChainText
        public var metadataURI: ChainText

        public init(
            datasetID: Hash32,
            provider: Address,
            manifestDigest: Hash32,
            pricePerSecond: U256,
            sampleLocator: ChainText,
            metadataURI: ChainText
        ) {
            self.datasetID = datasetID
            self.provider = provider
            self.manifestDigest = manifestDigest
            self.pricePerSecond = pricePerSecond
            self.sampleLocator = sampleLocator
            self.metadataURI = metadataURI
        }
    }

    /// A rental is keyed by dataset and consumer.
    public struct RentalKey: Hashable, Sendable {
        public var datasetID: Hash32
        public var consumer: Address
        public init(datasetID: Hash32, consumer: Address) {
            self.datasetID = datasetID
            self.consumer = consumer
        }
    }

    /// A recorded job.
    public struct JobFields: Hashable, Sendable {
        public var jobID: Hash32
        public var datasetID: Hash32
        public var consumer: Address
        public var imageDigest: Hash32
        public var outputDigest: Hash32
        public var attestationDigest: Hash32
        public var `operator`: Address

        public init(
            jobID: Hash32,
            datasetID: Hash32,
            consumer: Address,
            imageDigest: Hash32,
            outputDigest: Hash32,
            attestationDigest: Hash32,
            operator: Address
        ) {
            self.jobID = jobID
            self.datasetID = datasetID
            self.consumer = consumer
            self.imageDigest = imageDigest
            self.outputDigest = outputDigest
            self.attestationDigest = attestationDigest
            self.operator = `operator`
        }
    }
}

/// The deployed DeLong contracts and the event ABIs to read their logs with.
public struct DeLongContracts: Sendable, Hashable {
    public var dataMarket: Address
    public var algorithmRegistry: Address

    public init(dataMarket: Address, algorithmRegistry: Address) {
        self.dataMarket = dataMarket
        self.algorithmRegistry = algorithmRegistry
    }

    /// From the deployment file `contrib/contracts/deploy` writes ({"DataMarket": {"address": …}, …}).
    public init(deploymentJSON o: [String: Any]) throws(ChainError) {
        func address(_ contract: String) throws(ChainError) -> Address {
            guard let entry = o[contract] as? [String: Any], let hex = entry["address"] as? String else {
                throw ChainError(.invalidJSON, "deployment: expected \(contract).address")
            }
            do { return try Address(hex: hex) } catch { throw error.within("deployment \(contract).address") }
        }
        self.init(dataMarket: try address("DataMarket"), algorithmRegistry: try address("AlgorithmRegistry"))
    }

    static let bytes32 = ABIType.fixedBytes(32)
    static func p(_ name: String, _ type: ABIType, indexed: Bool = false) -> ABIEvent.Parameter {
        ABIEvent.Parameter(name, type, indexed: indexed)
    }

    static let datasetParameters = [
        p("datasetId", bytes32, indexed: true), p("provider", .address, indexed: true), p("manifestDigest", bytes32),
        p("pricePerSecond", .uint(256)), p("sampleLocator", .string), p("metadataURI", .string),
    ]
    static let rentalHead = [
        p("datasetId", bytes32, indexed: true), p("consumer", .address, indexed: true),
        p("provider", .address, indexed: true),
    ]

    /// DataMarket's events.
    public static let dataMarketEvents: [ABIEvent] = [
        ABIEvent(name: "DatasetRegistered", parameters: datasetParameters),
        ABIEvent(name: "DatasetUpdated", parameters: datasetParameters),
        ABIEvent(
            name: "DatasetRetired",
            parameters: [p("datasetId", bytes32, indexed: true), p("provider", .address, indexed: true)]
        ),
        ABIEvent(
            name: "RentalStarted",
            parameters: rentalHead + [p("startedAt", .uint(256)), p("expiresAt", .uint(256)), p("paid", .uint(256))]
        ),
        ABIEvent(
            name: "RentalExtended",
            parameters: rentalHead + [p("addedSeconds", .uint(256)), p("expiresAt", .uint(256)), p("paid", .uint(256))]
        ),
        ABIEvent(
            name: "RentalRevoked",
            parameters: rentalHead + [p("expiresAt", .uint(256)), p("refund", .uint(256))]
        ),
        ABIEvent(name: "EarningsSettled", parameters: rentalHead + [p("amount", .uint(256))]),
        ABIEvent(name: "Withdrawal", parameters: [p("account", .address, indexed: true), p("amount", .uint(256))]),
    ]

    /// AlgorithmRegistry's events.
    public static let algorithmRegistryEvents: [ABIEvent] = [
        ABIEvent(
            name: "AlgorithmPublished",
            parameters: [
                p("imageDigest", bytes32, indexed: true), p("publisher", .address, indexed: true),
                p("bundleDigest", bytes32), p("daLocator", .string),
            ]
        ),
        ABIEvent(
            name: "JobRecorded",
            parameters: [
                p("jobId", bytes32, indexed: true), p("datasetId", bytes32, indexed: true),
                p("consumer", .address, indexed: true),
                p("imageDigest", bytes32), p("outputDigest", bytes32), p("attestationDigest", bytes32),
                p("operator", .address),
            ]
        ),
        ABIEvent(
            name: "MeasurementTrusted",
            parameters: [
                p("measurementDigest", bytes32, indexed: true), p("measurements", .bytes), p("label", .string),
            ]
        ),
        ABIEvent(name: "MeasurementRevoked", parameters: [p("measurementDigest", bytes32, indexed: true)]),
        ABIEvent(name: "OperatorSet", parameters: [p("operator", .address, indexed: true), p("authorized", .bool)]),
        ABIEvent(
            name: "PrivacySignerSet",
            parameters: [p("previous", .address, indexed: true), p("signer", .address, indexed: true)]
        ),
        ABIEvent(
            name: "GovernanceTransferred",
            parameters: [p("previous", .address, indexed: true), p("governance", .address, indexed: true)]
        ),
    ]

    private static let byTopic: [Hash32: ABIEvent] = Dictionary(
        uniqueKeysWithValues: (dataMarketEvents + algorithmRegistryEvents).map { ($0.topic, $0) }
    )

    /// Whether a block whose bloom is `bloom` may hold a DeLong event (blooms have no false negatives, so
    /// `false` lets the light client skip the block without fetching its receipts).
    public func mayHaveEvents(_ bloom: Bloom) -> Bool {
        bloom.mayContain(dataMarket.bytes) || bloom.mayContain(algorithmRegistry.bytes)
    }

    /// The DeLong event in `log`, nil when the log is not from a DeLong contract.
    ///
    /// Every value the contracts can emit decodes (any uint256, any string bytes). What does not decode is
    /// something the ABI cannot produce: an unknown topic from a DeLong contract, a wrong topic count or a data
    /// layout that does not match the event. That is an error: the contract and this ABI disagree, and indexing
    /// past it would silently lose state.
    public func decode(_ log: Log) throws(ChainError) -> DeLongEvent? {
        let known: [ABIEvent]
        switch log.address {
        case dataMarket: known = Self.dataMarketEvents
        case algorithmRegistry: known = Self.algorithmRegistryEvents
        default: return nil
        }
        guard let topic = log.topics.first, let event = Self.byTopic[topic], known.contains(event) else {
            throw ChainError(
                .invalidABI,
                "log from \(log.address) has topic0 \(log.topics.first?.hex ?? "none"), which is no event of that contract"
            )
        }
        let fields = try event.decode(log, rawStrings: true)
        var v = FieldReader(event: event.name, fields: fields)
        do throws(ChainError) {
            switch event.name {
            case "DatasetRegistered", "DatasetUpdated":
                let d = DeLongEvent.DatasetFields(
                    datasetID: try v.hash(),
                    provider: try v.address(),
                    manifestDigest: try v.hash(),
                    pricePerSecond: try v.uint(),
                    sampleLocator: try v.string(),
                    metadataURI: try v.string()
                )
                return event.name == "DatasetRegistered" ? .datasetRegistered(d) : .datasetUpdated(d)
            case "DatasetRetired":
                return .datasetRetired(datasetID: try v.hash(), provider: try v.address())
            case "RentalStarted":
                return .rentalStarted(
                    try v.rentalKey(),
                    provider: try v.address(),
                    startedAt: try v.uint(),
                    expiresAt: try v.uint(),
                    paid: try v.uint()
                )
            case "RentalExtended":
                return .rentalExtended(
                    try v.rentalKey(),
                    provider: try v.address(),
                    addedSeconds: try v.uint(),
                    expiresAt: try v.uint(),
                    paid: try v.uint()
                )
            case "RentalRevoked":
                return .rentalRevoked(
                    try v.rentalKey(),
                    provider: try v.address(),
                    expiresAt: try v.uint(),
                    refund: try v.uint()
                )
            case "EarningsSettled":
                return .earningsSettled(try v.rentalKey(), provider: try v.address(), amount: try v.uint())
            case "Withdrawal":
                return .withdrawal(account: try v.address(), amount: try v.uint())
            case "AlgorithmPublished":
                return .algorithmPublished(
                    imageDigest: try v.hash(),
                    publisher: try v.address(),
                    bundleDigest: try v.hash(),
                    daLocator: try v.string()
                )
            case "JobRecorded":
                return .jobRecorded(
                    DeLongEvent.JobFields(
                        jobID: try v.hash(),
                        datasetID: try v.hash(),
                        consumer: try v.address(),
                        imageDigest: try v.hash(),
                        outputDigest: try v.hash(),
                        attestationDigest: try v.hash(),
                        operator: try v.address()
                    )
                )
            case "MeasurementTrusted":
                return .measurementTrusted(digest: try v.hash(), measurements: try v.bytes(), label: try v.string())
            case "MeasurementRevoked":
                return .measurementRevoked(digest: try v.hash())
            case "OperatorSet":
                return .operatorSet(operator: try v.address(), authorized: try v.bool())
            case "PrivacySignerSet":
                return .privacySignerSet(previous: try v.address(), signer: try v.address())
            default:  // GovernanceTransferred
                return .governanceTransferred(previous: try v.address(), governance: try v.address())
            }
        } catch {
            throw error.within("\(event.name) in log of \(log.address)")
        }
    }
}

/// Reads decoded event fields in declaration order, checking each one's type.
private struct FieldReader {
    let event: String
    var fields: ArraySlice<(name: String, value: ABIValue)>

    init(event: String, fields: [(name: String, value: ABIValue)]) {
        self.event = event
        self.fields = fields[...]
    }

    mutating func next() throws(ChainError) -> (name: String, value: ABIValue) {
        guard let f = fields.popFirst() else { throw ChainError(.invalidABI, "\(event): fewer fields than expected") }
        return f
    }

    mutating func hash() throws(ChainError) -> Hash32 {
        let f = try next()
        guard case .fixedBytes(let b) = f.value else { throw ChainError(.invalidABI, "\(f.name): expected bytes32") }
        return try Hash32(b)
    }
    mutating func address() throws(ChainError) -> Address {
        let f = try next()
        guard case .address(let a) = f.value else { throw ChainError(.invalidABI, "\(f.name): expected an address") }
        return a
    }
    mutating func uint() throws(ChainError) -> U256 {
        let f = try next()
        guard case .uint(let u) = f.value else { throw ChainError(.invalidABI, "\(f.name): expected a uint256") }
        return u
    }
    /// A string decoded with `rawStrings`: its exact bytes.
    mutating func string() throws(ChainError) -> ChainText {
        let f = try next()
        switch f.value {
        case .bytes(let b): return ChainText(bytes: b)
        case .string(let s): return ChainText(s)
        default: throw ChainError(.invalidABI, "\(f.name): expected a string")
        }
    }
    mutating func bytes() throws(ChainError) -> [UInt8] {
        let f = try next()
        guard case .bytes(let b) = f.value else { throw ChainError(.invalidABI, "\(f.name): expected bytes") }
        return b
    }
    mutating func bool() throws(ChainError) -> Bool {
        let f = try next()
        guard case .bool(let b) = f.value else { throw ChainError(.invalidABI, "\(f.name): expected a bool") }
        return b
    }
    mutating func rentalKey() throws(ChainError) -> DeLongEvent.RentalKey {
        DeLongEvent.RentalKey(datasetID: try hash(), consumer: try address())
    }
}

extension DeLongContracts {
    /// DataMarket's storage slot of `rentals` (contrib/contracts/artifacts/DataMarket.json, storageLayout).
    public static let rentalsSlot = U256(2)

    /// The first storage slot of `rentals[dataset][consumer]` (a struct: startedAt, expiresAt, escrow,
    /// settledAt in consecutive slots). Vyper places `map[key]` at keccak256(slot ‖ key), slot first (the
    /// reverse of Solidity), each word 32 bytes; checked against eth_getStorageAt in the tests.
    public static func rentalSlot(dataset: Hash32, consumer: Address) -> U256 {
        let inner = Keccak256.hash(rentalsSlot.bigEndianBytes + dataset.bytes)
        let outer = Keccak256.hash(inner.bytes + [UInt8](repeating: 0, count: 12) + consumer.bytes)
        return try! U256(bigEndian: outer.bytes)
    }
}
