public import Foundation

/// The body of `instances.insert` for one job's Confidential VM with Intel TDX, exactly the fields of the design
/// note (production-backends §3): name, machine type, `confidentialInstanceConfig` TDX, scheduling (terminate on
/// host maintenance, no automatic restart, delete at `maxRunDuration`), one boot disk, one GVNIC interface
/// (without an external address unless asked), metadata items and labels.
///
/// Every value is checked against Compute Engine's naming rules when the request is made, so a bad name fails
/// here with the rule rather than as a 400 from the API.
public struct InstanceRequest: Sendable, Hashable {
    /// One metadata item (`metadata.items[]`): what the guest reads from the metadata server.
    public struct MetadataItem: Sendable, Hashable, Codable {
        public var key: String
        public var value: String

        /// An item; keys are `[A-Za-z0-9_-]{1,128}`.
        public init(key: String, value: String) {
            self.key = key
            self.value = value
        }
    }

    /// The label the sweeper lists by; its value is ``labelValue(forJobID:)``.
    public static let jobLabel = "delong-job"
    /// The metadata key that carries the full job id (a label value holds at most 63 characters).
    public static let jobIDMetadataKey = "job-id"

    /// The instance name (`[a-z]([-a-z0-9]{0,61}[a-z0-9])?`).
    public let name: String
    /// The zone, for example `us-central1-a`.
    public let zone: String
    /// The machine type's short name, for example `c3-standard-4`.
    public let machineType: String
    /// The boot image, for example `projects/P/global/images/I` or `projects/P/global/images/family/F`.
    public let sourceImage: String
    /// The boot disk's size in GB.
    public let diskSizeGb: Int
    /// After this many seconds Compute Engine deletes the instance (`instanceTerminationAction: DELETE`).
    public let maxRunDurationSeconds: Int
    /// `metadata.items`, in this order.
    public let metadata: [MetadataItem]
    /// `labels`.
    public let labels: [String: String]
    /// The VPC network, `global/networks/default` by default.
    public let network: String
    /// A subnetwork (`regions/R/subnetworks/S`), when the network is not in auto mode.
    public let subnetwork: String?
    /// Whether the interface gets an ephemeral external address (`accessConfigs: [ONE_TO_ONE_NAT]`). Off by
    /// default: the guest then reaches out through Cloud NAT or Private Google Access only.
    public let externalAccess: Bool

    /// A request; throws ``ComputeEngineError/Code/invalidRequest`` naming the field that breaks a rule.
    public init(
        name: String,
        zone: String,
        machineType: String,
        sourceImage: String,
        diskSizeGb: Int = 10,
        maxRunDurationSeconds: Int,
        metadata: [MetadataItem] = [],
        labels: [String: String] = [:],
        network: String = "global/networks/default",
        subnetwork: String? = nil,
        externalAccess: Bool = false
    ) throws(ComputeEngineError) {
        try Self.check(name: name)
        for (field, value) in [("zone", zone), ("machineType", machineType)] {
            guard Self.isResourceName(value) else {
                throw ComputeEngineError(
                    .invalidRequest,
                    "instance \(name): expected \(field) to be a Compute Engine name ([a-z][-a-z0-9]*), found \(value.prefix(80))"
                )
            }
        }
        guard
            sourceImage.hasPrefix("projects/") || sourceImage.hasPrefix("https://") || sourceImage.hasPrefix("global/")
        else {
            throw ComputeEngineError(
                .invalidRequest,
                "instance \(name): expected sourceImage projects/P/global/images/I (or …/images/family/F), found \(sourceImage.prefix(120))"
            )
        }
        guard diskSizeGb >= 1 else {
            throw ComputeEngineError(.invalidRequest, "instance \(name): expected diskSizeGb ≥ 1, found \(diskSizeGb)")
        }
        guard maxRunDurationSeconds >= 1, maxRunDurationSeconds <= 120 * 86_400 else {
            throw ComputeEngineError(
                .invalidRequest,
                "instance \(name): expected maxRunDuration between 1 s and 120 days, found \(maxRunDurationSeconds) s"
            )
        }
        for item in metadata {
            guard (1...128).contains(item.key.utf8.count),
                item.key.unicodeScalars.allSatisfy({ Self.isASCIIAlphanumeric($0) || $0 == "-" || $0 == "_" })
            else {
                throw ComputeEngineError(
                    .invalidRequest,
                    "instance \(name): expected metadata keys of 1–128 [A-Za-z0-9_-], found \(item.key.prefix(140))"
                )
            }
        }
        guard Set(metadata.map(\.key)).count == metadata.count else {
            throw ComputeEngineError(
                .invalidRequest,
                "instance \(name): expected distinct metadata keys, found a repeat"
            )
        }
        guard labels.count <= 64 else {
            throw ComputeEngineError(
                .invalidRequest,
                "instance \(name): expected at most 64 labels, found \(labels.count)"
            )
        }
        for (key, value) in labels {
            try Self.check(labelKey: key, value: value)
        }
        self.name = name
        self.zone = zone
        self.machineType = machineType
        self.sourceImage = sourceImage
        self.diskSizeGb = diskSizeGb
        self.maxRunDurationSeconds = maxRunDurationSeconds
        self.metadata = metadata
        self.labels = labels
        self.network = network
        self.subnetwork = subnetwork
        self.externalAccess = externalAccess
    }

    /// The request for job `jobID` (64 hex digits, `0x` optional): named ``instanceName(forJobID:)``, labelled
    /// `delong-job` = ``labelValue(forJobID:)``, with metadata `job-id` = the full id before `metadata`.
    public static func forJob(
        _ jobID: String,
        zone: String,
        machineType: String,
        sourceImage: String,
        diskSizeGb: Int = 10,
        maxRunDurationSeconds: Int,
        metadata: [MetadataItem] = [],
        labels: [String: String] = [:],
        network: String = "global/networks/default",
        subnetwork: String? = nil,
        externalAccess: Bool = false
    ) throws(ComputeEngineError) -> InstanceRequest {
        var allLabels = labels
        allLabels[jobLabel] = try labelValue(forJobID: jobID)
        return try InstanceRequest(
            name: try instanceName(forJobID: jobID),
            zone: zone,
            machineType: machineType,
            sourceImage: sourceImage,
            diskSizeGb: diskSizeGb,
            maxRunDurationSeconds: maxRunDurationSeconds,
            metadata: [MetadataItem(key: jobIDMetadataKey, value: try normalizedJobID(jobID))] + metadata,
            labels: allLabels,
            network: network,
            subnetwork: subnetwork,
            externalAccess: externalAccess
        )
    }

    /// `delong-job-` and the first 20 hex digits of the job id (80 bits: unique among a project's live jobs).
    public static func instanceName(forJobID jobID: String) throws(ComputeEngineError) -> String {
        "delong-job-" + String(try normalizedJobID(jobID).prefix(20))
    }

    /// The job id as a label value: lowercase hex, cut to the 63 characters a label value may hold.
    public static func labelValue(forJobID jobID: String) throws(ComputeEngineError) -> String {
        String(try normalizedJobID(jobID).prefix(63))
    }

    /// The job id in lowercase hex without `0x`; throws unless it is 20 to 64 hex digits.
    static func normalizedJobID(_ jobID: String) throws(ComputeEngineError) -> String {
        let hex = (jobID.hasPrefix("0x") || jobID.hasPrefix("0X") ? String(jobID.dropFirst(2)) : jobID).lowercased()
        guard (20...64).contains(hex.count),
            hex.unicodeScalars.allSatisfy({ "0123456789abcdef".unicodeScalars.contains($0) })
        else {
            throw ComputeEngineError(
                .invalidRequest,
                "job id: expected 20 to 64 hex digits (0x optional), found \(jobID.prefix(80))"
            )
        }
        return hex
    }

    /// Throws unless `name` matches `[a-z]([-a-z0-9]{0,61}[a-z0-9])?` (RFC 1035, at most 63 characters).
    public static func check(name: String) throws(ComputeEngineError) {
        guard isResourceName(name) else {
            throw ComputeEngineError(
                .invalidRequest,
                "instance name: expected [a-z]([-a-z0-9]{0,61}[a-z0-9])?, found \(name.prefix(80))"
            )
        }
    }

    /// `[a-z]([-a-z0-9]{0,61}[a-z0-9])?`.
    static func isResourceName(_ name: String) -> Bool {
        let scalars = Array(name.unicodeScalars)
        guard let first = scalars.first, let last = scalars.last, scalars.count <= 63 else { return false }
        guard isLowerLetter(first), isLowerLetter(last) || isDigit(last) else { return false }
        return scalars.allSatisfy { isLowerLetter($0) || isDigit($0) || $0 == "-" }
    }

    /// Label keys `[a-z][a-z0-9_-]{0,62}`, values `[a-z0-9_-]{0,63}` (lowercase ASCII only here).
    static func check(labelKey key: String, value: String) throws(ComputeEngineError) {
        let k = Array(key.unicodeScalars)
        let allowed: (Unicode.Scalar) -> Bool = { isLowerLetter($0) || isDigit($0) || $0 == "-" || $0 == "_" }
        guard let first = k.first, isLowerLetter(first), k.count <= 63, k.allSatisfy(allowed) else {
            throw ComputeEngineError(
                .invalidRequest,
                "label key: expected [a-z][a-z0-9_-]{0,62}, found \(key.prefix(80))"
            )
        }
        guard value.unicodeScalars.count <= 63, value.unicodeScalars.allSatisfy(allowed) else {
            throw ComputeEngineError(
                .invalidRequest,
                "label \(key): expected a value of [a-z0-9_-]{0,63}, found \(value.prefix(80))"
            )
        }
    }

    static func isLowerLetter(_ s: Unicode.Scalar) -> Bool { s.value >= 0x61 && s.value <= 0x7A }
    static func isDigit(_ s: Unicode.Scalar) -> Bool { s.value >= 0x30 && s.value <= 0x39 }
    static func isASCIIAlphanumeric(_ s: Unicode.Scalar) -> Bool {
        isLowerLetter(s) || isDigit(s) || (s.value >= 0x41 && s.value <= 0x5A)
    }
}

extension InstanceRequest {
    /// The JSON body: sorted keys, slashes unescaped, int64 fields (`seconds`, `diskSizeGb`) as strings as the
    /// API's JSON mapping writes them.
    public func jsonBody() throws(ComputeEngineError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return try encoder.encode(Body(self))
        } catch {
            throw ComputeEngineError(.invalidRequest, "instance \(name): the body does not encode (\(error))")
        }
    }

    struct Body: Encodable {
        struct Confidential: Encodable { let confidentialInstanceType = "TDX" }
        struct Seconds: Encodable { let seconds: String }
        struct Scheduling: Encodable {
            let onHostMaintenance = "TERMINATE"
            let automaticRestart = false
            let instanceTerminationAction = "DELETE"
            let maxRunDuration: Seconds
        }
        struct InitializeParams: Encodable {
            let sourceImage: String
            let diskSizeGb: String
        }
        struct Disk: Encodable {
            let boot = true
            let autoDelete = true
            let initializeParams: InitializeParams
        }
        struct AccessConfig: Encodable {
            let type = "ONE_TO_ONE_NAT"
            let name = "External NAT"
        }
        struct NetworkInterface: Encodable {
            let network: String
            let subnetwork: String?
            let nicType = "GVNIC"
            let accessConfigs: [AccessConfig]?
        }
        struct Metadata: Encodable { let items: [MetadataItem] }

        let name: String
        let machineType: String
        let confidentialInstanceConfig = Confidential()
        let scheduling: Scheduling
        let disks: [Disk]
        let networkInterfaces: [NetworkInterface]
        let metadata: Metadata
        let labels: [String: String]

        init(_ r: InstanceRequest) {
            name = r.name
            machineType = "zones/\(r.zone)/machineTypes/\(r.machineType)"
            scheduling = Scheduling(maxRunDuration: Seconds(seconds: String(r.maxRunDurationSeconds)))
            disks = [
                Disk(initializeParams: InitializeParams(sourceImage: r.sourceImage, diskSizeGb: String(r.diskSizeGb)))
            ]
            networkInterfaces = [
                NetworkInterface(
                    network: r.network,
                    subnetwork: r.subnetwork,
                    accessConfigs: r.externalAccess ? [AccessConfig()] : nil
                )
            ]
            metadata = Metadata(items: r.metadata)
            labels = r.labels
        }
    }
}
