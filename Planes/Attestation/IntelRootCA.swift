public import PlaneCrypto

/// The Intel SGX Root CA: the one trust anchor of DCAP verification (also for TDX).
///
/// Subject `CN=Intel SGX Root CA, O=Intel Corporation, L=Santa Clara, ST=CA, C=US`, serial
/// 22650CD65A9D3489F383B49552BF501B392706AC, valid 2018-05-21…2049-12-31, P-256, SHA-256 fingerprint
/// 44A0196B2B99F889B8E149E95B807A350E7424964399E885A7CBB8CCFAB674D3. Published by Intel at
/// https://certificates.trustedservices.intel.com/Intel_SGX_Provisioning_Certification_RootCA.pem; the same
/// certificate ships with dcap-qvl (`src/TrustedRootCA.der`) and go-tdx-guest (`verify/trusted_root.pem`).
/// Every signing chain is taken from the collateral and the quote; only this anchor is built in.
public enum IntelRootCA {
    /// The root certificate, parsed once.
    public static let certificate: X509Certificate = {
        do {
            return try X509Certificate.pemChain(Array(pem.utf8))[0]
        } catch {
            fatalError("IntelRootCA: the embedded certificate does not parse: \(error)")
        }
    }()

    /// SHA-256 of the root's DER encoding.
    public static let sha256Fingerprint = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"

    static let pem = """
        -----BEGIN CERTIFICATE-----
        MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw
        aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv
        cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ
        BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG
        A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0
        aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT
        AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7
        1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB
        uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ
        MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50
        ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV
        Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI
        KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg
        AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=
        -----END CERTIFICATE-----
        """
}
