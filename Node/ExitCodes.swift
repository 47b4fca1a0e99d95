/// Every exit status `delong` uses, in one table (as gocryptfs does), so scripts can rely on them.
enum ExitCodes {
    /// Everything checked out.
    static let ok: Int32 = 0
    /// The input was well-formed but did not verify: a mismatch, a bad signature, a rejected quote,
    /// an authentication failure in sealed data.
    static let verificationFailed: Int32 = 1
    /// The input was malformed: unparsable JSON, hex, RLP or options; the message names what and where.
    static let malformedInput: Int32 = 2
    /// An input or output file could not be read or written (missing, permissions, disk full).
    static let ioError: Int32 = 3
    /// A key was refused: missing, wrong size or with permissions looser than 0600.
    static let keyRefused: Int32 = 4
    /// A mount or other system operation failed (FUSE unavailable, mountpoint busy).
    static let systemError: Int32 = 5
}
