// What a light client can check about a header from its parent alone (no state, no execution):
// linkage, number, time, gas-limit bounds, gas used, the EIP-1559 base fee and the EIP-4844/7918 excess blob gas.

/// A header-check failure: which field, what was expected, what was found.
public struct HeaderCheckFailure: Sendable, Hashable, CustomStringConvertible {
    public let field: String
    public let expected: String
    public let found: String
    public var description: String { "\(field): expected \(expected), found \(found)" }
}

/// Header rules from Ethereum's specifications.
public enum HeaderChecks {
    public static let gasLimitBoundDivisor: UInt64 = 1024
    public static let minGasLimit: UInt64 = 5000
    public static let elasticityMultiplier: UInt64 = 2
    public static let baseFeeChangeDenominator: UInt64 = 8
    public static let initialBaseFee: UInt64 = 1_000_000_000
    public static let gasPerBlob: UInt64 = 131_072
    public static let blobBaseCost: UInt64 = 8192
    public static let minBlobBaseFee: UInt64 = 1

    /// Every rule `header` breaks given its `parent`; empty when it passes.
    ///
    /// Without a `spec`, London is recognised from the headers themselves (a base fee field) and the blob
    /// rules, which need the fork's blob schedule, are not checked.
    public static func check(
        _ header: Header,
        parent: Header,
        parentHash: Hash32,
        spec: ChainSpec?
    ) -> [HeaderCheckFailure] {
        var failures: [HeaderCheckFailure] = []
        func fail(_ field: String, _ expected: String, _ found: String) {
            failures.append(HeaderCheckFailure(field: field, expected: expected, found: found))
        }
        if header.parentHash != parentHash { fail("parentHash", parentHash.hex, header.parentHash.hex) }
        if header.number != parent.number &+ 1 { fail("number", "\(parent.number + 1)", "\(header.number)") }
        if header.timestamp <= parent.timestamp { fail("timestamp", "> \(parent.timestamp)", "\(header.timestamp)") }
        if header.gasUsed > header.gasLimit { fail("gasUsed", "≤ gasLimit \(header.gasLimit)", "\(header.gasUsed)") }

        // Gas limit may move by less than 1/1024 of the parent's; at the London fork the parent's limit is
        // scaled by the elasticity multiplier (the target stays the same).
        let london = spec?.isLondon(header.number) ?? (header.baseFeePerGas != nil)
        let parentLondon = spec?.isLondon(parent.number) ?? (parent.baseFeePerGas != nil)
        let parentLimit = london && !parentLondon ? parent.gasLimit * elasticityMultiplier : parent.gasLimit
        let diff = header.gasLimit > parentLimit ? header.gasLimit - parentLimit : parentLimit - header.gasLimit
        if diff >= parentLimit / gasLimitBoundDivisor {
            fail("gasLimit", "within \(parentLimit / gasLimitBoundDivisor - 1) of \(parentLimit)", "\(header.gasLimit)")
        }
        if header.gasLimit < minGasLimit { fail("gasLimit", "≥ \(minGasLimit)", "\(header.gasLimit)") }

        if london {
            let expected = expectedBaseFee(parent: parent, parentIsLondon: parentLondon)
            if header.baseFeePerGas != expected {
                fail("baseFeePerGas", "\(expected)", header.baseFeePerGas.map { "\($0)" } ?? "none")
            }
        } else if header.baseFeePerGas != nil {
            fail("baseFeePerGas", "none before London", "\(header.baseFeePerGas!)")
        }

        guard let spec else { return failures }
        if let schedule = spec.blobSchedule(at: header.timestamp) {
            guard let used = header.blobGasUsed, let excess = header.excessBlobGas else {
                fail("blobGasUsed/excessBlobGas", "present from Cancun on", "absent")
                return failures
            }
            if used % gasPerBlob != 0 || used > schedule.max * gasPerBlob {
                fail("blobGasUsed", "a multiple of \(gasPerBlob) up to \(schedule.max * gasPerBlob)", "\(used)")
            }
            let expected = expectedExcessBlobGas(parent: parent, timestamp: header.timestamp, spec: spec)
            if excess != expected { fail("excessBlobGas", "\(expected)", "\(excess)") }
        } else if header.blobGasUsed != nil || header.excessBlobGas != nil {
            fail("blobGasUsed/excessBlobGas", "absent before Cancun", "present")
        }
        return failures
    }

    /// EIP-1559: the base fee a child of `parent` must carry.
    public static func expectedBaseFee(parent: Header, parentIsLondon: Bool) -> U256 {
        guard let parentBaseFee = parent.baseFeePerGas, parentIsLondon else {
            return U256(initialBaseFee)
        }
        let target = parent.gasLimit / elasticityMultiplier
        if parent.gasUsed == target { return parentBaseFee }
        if parent.gasUsed > target {
            let delta = parentBaseFee * U256(parent.gasUsed - target) / U256(target) / U256(baseFeeChangeDenominator)
            return parentBaseFee + Swift.max(delta, U256(1))
        }
        let delta = parentBaseFee * U256(target - parent.gasUsed) / U256(target) / U256(baseFeeChangeDenominator)
        return delta > parentBaseFee ? .zero : parentBaseFee - delta
    }

    /// EIP-4844 with EIP-7918 from Osaka: the excess blob gas a child at `timestamp` must carry.
    public static func expectedExcessBlobGas(parent: Header, timestamp: UInt64, spec: ChainSpec) -> UInt64 {
        guard let schedule = spec.blobSchedule(at: timestamp) else { return 0 }
        let parentExcess = parent.excessBlobGas ?? 0
        let parentUsed = parent.blobGasUsed ?? 0
        let total = parentExcess + parentUsed
        let targetGas = schedule.target * gasPerBlob
        if total < targetGas { return 0 }
        if spec.isOsaka(timestamp) {
            // EIP-7918: while execution gas is dear relative to blobs, excess only grows.
            let reserve = U256(blobBaseCost) * (parent.baseFeePerGas ?? .zero)
            let blobPrice =
                U256(gasPerBlob)
                * blobBaseFee(excessBlobGas: parentExcess, updateFraction: schedule.baseFeeUpdateFraction)
            if reserve > blobPrice {
                return parentExcess + parentUsed * (schedule.max - schedule.target) / schedule.max
            }
        }
        return total - targetGas
    }

    /// The blob base fee for an excess: fake_exponential(MIN_BASE_FEE_PER_BLOB_GAS, excess, fraction).
    public static func blobBaseFee(excessBlobGas: UInt64, updateFraction: UInt64) -> U256 {
        fakeExponential(factor: U256(minBlobBaseFee), numerator: U256(excessBlobGas), denominator: U256(updateFraction))
    }

    /// EIP-4844's integer approximation of factor · e^(numerator / denominator). Saturates at U256.max
    /// instead of trapping, so a hostile header's excess blob gas cannot crash the checker.
    public static func fakeExponential(factor: U256, numerator: U256, denominator: U256) -> U256 {
        var i = U256(1)
        var output = U256.zero
        var (accumulator, overflow) = factor.multipliedReportingOverflow(by: denominator)
        while !accumulator.isZero && !overflow {
            let sum = output.addingReportingOverflow(accumulator)
            let product = accumulator.multipliedReportingOverflow(by: numerator)
            let divisor = denominator.multipliedReportingOverflow(by: i)
            overflow = sum.overflow || product.overflow || divisor.overflow
            output = sum.partialValue
            accumulator = product.partialValue / divisor.partialValue
            i = i + U256(1)
        }
        return overflow ? .max : output / denominator
    }
}
