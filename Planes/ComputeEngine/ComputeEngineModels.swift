public import Foundation

/// A zonal Operation (`compute#operation`) as `instances.insert`, `instances.delete` and `zoneOperations.wait`
/// return it. Only the fields DeLong reads are decoded; the rest are ignored.
public struct ZoneOperation: Sendable, Hashable, Codable {
    /// One entry of `error.errors`.
    public struct ErrorItem: Sendable, Hashable, Codable {
        /// For example `ZONE_RESOURCE_POOL_EXHAUSTED` or `QUOTA_EXCEEDED`.
        public var code: String?
        public var message: String?
    }
    /// `error`, present when a finished operation failed.
    public struct Failure: Sendable, Hashable, Codable {
        public var errors: [ErrorItem]?
    }

    /// The operation's name (the path element of `zoneOperations.get/wait`).
    public var name: String
    /// `PENDING`, `RUNNING` or `DONE`.
    public var status: String
    /// `insert`, `delete`, …
    public var operationType: String?
    /// The instance's URL.
    public var targetLink: String?
    public var targetId: String?
    public var id: String?
    public var progress: Int?
    public var selfLink: String?
    public var zone: String?
    public var insertTime: String?
    public var startTime: String?
    public var endTime: String?
    /// Present when the operation failed.
    public var error: Failure?
    public var httpErrorStatusCode: Int?
    public var httpErrorMessage: String?

    /// Whether the operation has finished (successfully or not).
    public var isDone: Bool { status == "DONE" }

    /// The instance name at the end of ``targetLink``.
    public var targetName: String? { targetLink?.split(separator: "/").last.map(String.init) }
}

/// An instance as `instances.get` and `instances.list` return it (the fields DeLong reads).
public struct Instance: Sendable, Hashable, Codable {
    public struct Scheduling: Sendable, Hashable, Codable {
        public struct Seconds: Sendable, Hashable, Codable {
            /// int64 as a string in the API's JSON.
            public var seconds: String?
        }
        public var maxRunDuration: Seconds?
        public var instanceTerminationAction: String?
        public var onHostMaintenance: String?
        public var automaticRestart: Bool?
    }
    public struct Metadata: Sendable, Hashable, Codable {
        public var items: [InstanceRequest.MetadataItem]?
    }

    public var name: String
    /// `PROVISIONING`, `STAGING`, `RUNNING`, `STOPPING`, `SUSPENDING`, `SUSPENDED`, `REPAIRING`, `TERMINATED`.
    public var status: String
    public var id: String?
    /// RFC 3339 with a UTC offset, for example `2026-12-04T13:02:11.123-08:00`.
    public var creationTimestamp: String?
    public var labels: [String: String]?
    public var metadata: Metadata?
    public var scheduling: Scheduling?
    public var machineType: String?
    public var selfLink: String?
    public var zone: String?

    /// ``creationTimestamp`` as a date, when it parses.
    public var createdAt: Date? { creationTimestamp.flatMap(Self.parseTimestamp) }

    /// `scheduling.maxRunDuration.seconds` as a number.
    public var maxRunDurationSeconds: Int? { scheduling?.maxRunDuration?.seconds.flatMap { Int($0) } }

    /// The value of metadata item `key`.
    public func metadataValue(_ key: String) -> String? { metadata?.items?.first { $0.key == key }?.value }

    /// RFC 3339 with or without fractional seconds.
    static func parseTimestamp(_ text: String) -> Date? {
        let withFraction = ISO8601DateFormatter()
        withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = withFraction.date(from: text) { return date }
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        return plain.date(from: text)
    }
}

/// A page of `instances.list`.
struct InstanceList: Decodable {
    var items: [Instance]?
    var nextPageToken: String?
}
