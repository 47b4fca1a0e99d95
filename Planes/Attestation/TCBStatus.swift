/// The TCB status Intel assigns to a platform (TCB Info level), a QE (QE Identity level) or a TDX module.
public enum TCBStatus: String, Sendable, Hashable, CaseIterable, Codable {
    /// Patched against every published advisory.
    case upToDate = "UpToDate"
    /// Patched, but software mitigations for some advisories are needed (see the advisory IDs).
    case swHardeningNeeded = "SWHardeningNeeded"
    /// Patched, but the platform configuration (BIOS) needs changes.
    case configurationNeeded = "ConfigurationNeeded"
    /// Both of the above.
    case configurationAndSWHardeningNeeded = "ConfigurationAndSWHardeningNeeded"
    /// Missing microcode/firmware updates; vulnerable to the listed advisories.
    case outOfDate = "OutOfDate"
    /// Out of date and needing configuration changes.
    case outOfDateConfigurationNeeded = "OutOfDateConfigurationNeeded"
    /// The TCB level was revoked; never trust it.
    case revoked = "Revoked"

    /// Converges a platform status with a component (QE or TDX module) status as Intel's QVL does
    /// (`convergeTcbStatuses`, also dcap-qvl): only a Revoked or OutOfDate component changes the platform status.
    func converged(withComponent component: TCBStatus) -> TCBStatus {
        switch (component, self) {
        case (.revoked, _): .revoked
        case (.outOfDate, .upToDate), (.outOfDate, .swHardeningNeeded): .outOfDate
        case (.outOfDate, .configurationNeeded), (.outOfDate, .configurationAndSWHardeningNeeded):
            .outOfDateConfigurationNeeded
        default: self
        }
    }
}

/// A status with the advisories that explain it.
struct StatusWithAdvisories: Sendable, Hashable {
    var status: TCBStatus
    var advisoryIDs: [String]

    /// Platform status merged with a component status: converged status, advisories appended without repeats.
    func merged(with component: StatusWithAdvisories) -> StatusWithAdvisories {
        var ids = advisoryIDs
        for id in component.advisoryIDs where !ids.contains(id) { ids.append(id) }
        return StatusWithAdvisories(status: status.converged(withComponent: component.status), advisoryIDs: ids)
    }
}
