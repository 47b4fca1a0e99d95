public import ChainCore
public import ChainIndex
public import ChainRecords

/// The verified chain data an audit reads: the auditor's own light-client index (``ChainIndex``), or in tests
/// a view of one.
public protocol AuditRecords: Sendable {
    /// The chain id and contracts the index was built for (they make the EIP-712 domains).
    var config: IndexConfig { get }
    func finalNumber() throws -> UInt64
    func job(_ id: Hash32) throws -> JobRecord?
    func algorithm(_ imageDigest: Hash32) throws -> AlgorithmRecord?
    func measurement(_ digest: Hash32) throws -> MeasurementRecord?
    func dataset(_ id: Hash32) throws -> DatasetRecord?
    func privacySigner() throws -> SignerRecord?
}

extension ChainIndex: AuditRecords {}
