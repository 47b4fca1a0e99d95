internal import ChainCore
internal import Foundation

/// Intel's TCB Info for one FMSPC (TDX TCB Info v3), parsed from the exact JSON bytes Intel signed.
public struct TCBInfo: Sendable {
    /// "TDX" for TDX TCB Info, "SGX" for SGX.
    public let id: String
    /// Format version (3 for TDX).
    public let version: Int
    /// issueDate, seconds since the Unix epoch.
    public let issueDate: Int64
    /// nextUpdate, seconds since the Unix epoch.
    public let nextUpdate: Int64
    /// FMSPC (6 bytes).
    public let fmspc: [UInt8]
    /// TCB evaluation data number.
    public let tcbEvaluationDataNumber: Int
    /// The base TDX module identity (`tdxModule`).
    public let tdxModule: TDXModuleIdentity?
    /// Per-major-version TDX module identities (`tdxModuleIdentities`, id `TDX_<version as 2 hex digits>`).
    public let tdxModuleIdentities: [TDXModuleIdentity]
    /// TCB levels in Intel QVL's canonical order (highest SGX components, then PCESVN, then TDX components).
    public let tcbLevels: [Level]

    /// One TCB level.
    public struct Level: Sendable {
        /// The 16 SGX component SVNs.
        public let sgxComponents: [UInt8]
        /// PCESVN.
        public let pceSVN: UInt16
        /// The 16 TDX component SVNs (TDX TCB Info only).
        public let tdxComponents: [UInt8]
        /// Status string exactly as published.
        public let statusName: String
        /// Advisory IDs.
        public let advisoryIDs: [String]
    }

    /// A TDX module identity (`tdxModule` or an entry of `tdxModuleIdentities`).
    public struct TDXModuleIdentity: Sendable {
        /// `TDX_01`, … (empty for the base `tdxModule`).
        public let id: String
        /// Expected MRSIGNERSEAM (48).
        public let mrSigner: [UInt8]
        /// Expected SEAMATTRIBUTES (8).
        public let attributes: [UInt8]
        /// Mask applied to SEAMATTRIBUTES (8).
        public let attributesMask: [UInt8]
        /// (isvsvn, status, advisories), highest first as published.
        public let tcbLevels: [(isvSVN: Int, statusName: String, advisoryIDs: [String])]
    }

    init(json bytes: [UInt8]) throws(AttestationError) {
        let o = try JSONFields(bytes, what: "TCB Info")
        id = try o.string("id")
        version = try o.int("version")
        issueDate = try o.time("issueDate")
        nextUpdate = try o.time("nextUpdate")
        fmspc = try o.hex("fmspc", count: 6)
        tcbEvaluationDataNumber = try o.int("tcbEvaluationDataNumber")
        tdxModule = try o.optionalObject("tdxModule").map { m throws(AttestationError) in try Self.module(m, id: "") }
        var identities: [TDXModuleIdentity] = []
        for m in try o.objects("tdxModuleIdentities", optional: true) {
            identities.append(try Self.module(m, id: try m.string("id")))
        }
        tdxModuleIdentities = identities
        var levels: [Level] = []
        for l in try o.objects("tcbLevels", optional: false) {
            let tcb = try l.object("tcb")
            var sgx: [UInt8] = []
            for c in try tcb.objects("sgxtcbcomponents", optional: false) {
                sgx.append(UInt8(try c.int("svn", max: 255)))
            }
            var tdx: [UInt8] = []
            for c in try tcb.objects("tdxtcbcomponents", optional: true) {
                tdx.append(UInt8(try c.int("svn", max: 255)))
            }
            guard sgx.count == 16, tdx.isEmpty || tdx.count == 16 else {
                throw AttestationError(
                    .malformedCollateral,
                    "TCB Info: expected 16 SGX (and 16 TDX) components per level, found \(sgx.count) and \(tdx.count)"
                )
            }
            levels.append(
                Level(
                    sgxComponents: sgx,
                    pceSVN: UInt16(try tcb.int("pcesvn", max: 65535)),
                    tdxComponents: tdx,
                    statusName: try l.string("tcbStatus"),
                    advisoryIDs: try l.strings("advisoryIDs")
                )
            )
        }
        let isTDX = version >= 3 && id == "TDX"
        tcbLevels = levels.enumerated().sorted { a, b in
            if a.element.sgxComponents != b.element.sgxComponents {
                return a.element.sgxComponents.lexicographicallyPrecedes(b.element.sgxComponents) == false
            }
            if a.element.pceSVN != b.element.pceSVN { return a.element.pceSVN > b.element.pceSVN }
            if isTDX, a.element.tdxComponents != b.element.tdxComponents {
                return !a.element.tdxComponents.lexicographicallyPrecedes(b.element.tdxComponents)
            }
            return a.offset < b.offset
        }.map(\.element)
    }

    private static func module(_ m: JSONFields, id: String) throws(AttestationError) -> TDXModuleIdentity {
        var levels: [(Int, String, [String])] = []
        for l in try m.objects("tcbLevels", optional: true) {
            levels.append(
                (try l.object("tcb").int("isvsvn", max: 255), try l.string("tcbStatus"), try l.strings("advisoryIDs"))
            )
        }
        return TDXModuleIdentity(
            id: id,
            mrSigner: try m.hex("mrsigner", count: 48),
            attributes: try m.hex("attributes", count: 8),
            attributesMask: try m.hex("attributesMask", count: 8),
            tcbLevels: levels
        )
    }
}

/// Intel's identity of the TD Quoting Enclave (QE Identity, id TD_QE), parsed from the exact signed JSON.
public struct QEIdentity: Sendable {
    /// "TD_QE" for TDX.
    public let id: String
    /// Format version (2).
    public let version: Int
    /// issueDate, seconds since the Unix epoch.
    public let issueDate: Int64
    /// nextUpdate, seconds since the Unix epoch.
    public let nextUpdate: Int64
    /// Expected MISCSELECT and its mask (little-endian u32 from 4 hex bytes).
    public let miscSelect: UInt32
    /// Mask for MISCSELECT.
    public let miscSelectMask: UInt32
    /// Expected ATTRIBUTES (16) and mask (16).
    public let attributes: [UInt8]
    /// Mask for ATTRIBUTES.
    public let attributesMask: [UInt8]
    /// Expected MRSIGNER (32).
    public let mrSigner: [UInt8]
    /// Expected ISVPRODID.
    public let isvProdID: Int
    /// (isvsvn, status, advisories), highest first as published.
    public let tcbLevels: [(isvSVN: Int, statusName: String, advisoryIDs: [String])]

    init(json bytes: [UInt8]) throws(AttestationError) {
        let o = try JSONFields(bytes, what: "QE Identity")
        id = try o.string("id")
        version = try o.int("version")
        issueDate = try o.time("issueDate")
        nextUpdate = try o.time("nextUpdate")
        func le32(_ b: [UInt8]) -> UInt32 {
            b.enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
        }
        miscSelect = le32(try o.hex("miscselect", count: 4))
        miscSelectMask = le32(try o.hex("miscselectMask", count: 4))
        attributes = try o.hex("attributes", count: 16)
        attributesMask = try o.hex("attributesMask", count: 16)
        mrSigner = try o.hex("mrsigner", count: 32)
        isvProdID = try o.int("isvprodid", max: 65535)
        var levels: [(Int, String, [String])] = []
        for l in try o.objects("tcbLevels", optional: false) {
            levels.append(
                (try l.object("tcb").int("isvsvn", max: 65535), try l.string("tcbStatus"), try l.strings("advisoryIDs"))
            )
        }
        tcbLevels = levels
    }
}

/// Typed access to a JSON object's fields with errors that name the document and field.
struct JSONFields {
    let object: [String: Any]
    let what: String

    init(_ bytes: [UInt8], what: String) throws(AttestationError) {
        guard let value = try? JSONSerialization.jsonObject(with: Data(bytes)), let object = value as? [String: Any]
        else {
            throw AttestationError(.malformedCollateral, "\(what): expected a JSON object, found unparsable text")
        }
        self.init(object: object, what: what)
    }

    init(object: [String: Any], what: String) {
        self.object = object
        self.what = what
    }

    private func fail(_ key: String, _ expected: String) -> AttestationError {
        AttestationError(
            .malformedCollateral,
            "\(what): expected \(key) to be \(expected), found \(object[key].map { "\(type(of: $0))" } ?? "nothing")"
        )
    }

    func string(_ key: String) throws(AttestationError) -> String {
        guard let v = object[key] as? String else { throw fail(key, "a string") }
        return v
    }

    func optionalString(_ key: String) throws(AttestationError) -> String? {
        guard let v = object[key], !(v is NSNull) else { return nil }
        guard let s = v as? String else { throw fail(key, "a string") }
        return s
    }

    func int(_ key: String, max: Int = Int(Int32.max)) throws(AttestationError) -> Int {
        guard let n = object[key] as? Int, n >= 0, n <= max else { throw fail(key, "an integer in 0…\(max)") }
        return n
    }

    func time(_ key: String) throws(AttestationError) -> Int64 {
        guard let t = RFC3339.seconds(try string(key)) else { throw fail(key, "an RFC 3339 time") }
        return t
    }

    func hex(_ key: String, count: Int) throws(AttestationError) -> [UInt8] {
        guard let b = Hex.decode(lenient: try string(key)), b.count == count else {
            throw fail(key, "\(count) bytes of hex")
        }
        return b
    }

    func object(_ key: String) throws(AttestationError) -> JSONFields {
        guard let o = object[key] as? [String: Any] else { throw fail(key, "an object") }
        return JSONFields(object: o, what: "\(what).\(key)")
    }

    func optionalObject(_ key: String) throws(AttestationError) -> JSONFields? {
        guard let v = object[key], !(v is NSNull) else { return nil }
        guard let o = v as? [String: Any] else { throw fail(key, "an object") }
        return JSONFields(object: o, what: "\(what).\(key)")
    }

    func objects(_ key: String, optional: Bool) throws(AttestationError) -> [JSONFields] {
        guard let v = object[key], !(v is NSNull) else {
            if optional { return [] }
            throw fail(key, "an array of objects")
        }
        guard let a = v as? [Any] else { throw fail(key, "an array of objects") }
        var out: [JSONFields] = []
        for (i, e) in a.enumerated() {
            guard let o = e as? [String: Any] else { throw fail(key, "an array of objects") }
            out.append(JSONFields(object: o, what: "\(what).\(key)[\(i)]"))
        }
        return out
    }

    func strings(_ key: String) throws(AttestationError) -> [String] {
        guard let v = object[key], !(v is NSNull) else { return [] }
        guard let a = v as? [String] else { throw fail(key, "an array of strings") }
        return a
    }
}
