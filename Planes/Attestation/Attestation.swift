// Attestation: Intel TDX (and AMD SEV-SNP) remote attestation for DeLong's Computing and Privacy Planes.
//
// - TDXQuote parses DCAP quotes v4/v5 (TD report 1.0 and 1.5) with every length bounds-checked.
// - QuoteCollateral parses dcap-qvl's QuoteCollateralV3 JSON; DCAPVerifier.prepare checks its chains, CRLs and
//   TCB Info / QE Identity signatures once against the built-in Intel SGX Root CA (IntelRootCA), and
//   DCAPVerifier.verify checks each quote at a caller-supplied time (the checks and order of dcap-qvl 0.7.0),
//   yielding a VerifiedQuote with the converged TCB status and advisories.
// - AttestationPolicy is what a relying party accepts (statuses, debug, REPORTDATA in constant time);
//   VerifiedQuote.measurementDigest is the value of the on-chain allow-list.
// - EventLog replays RTMR0-3 from CCEL binary logs and dstack's JSON log (dstack's RTMR3 digest rule).
// - SNPReport parses AMD SEV-SNP attestation reports; SNPVerifier checks the AMD chain (ARK pinned by
//   AMDRootKeys, ASK, VCEK/VLEK; RSASSA-PSS) and the report's P-384 signature, chip ID, TCB and debug bit,
//   yielding a VerifiedSNPReport whose measurementDigest is SHA-256("snp" ‖ MEASUREMENT).
// - InsecureDevelopmentEvidence is an unsigned stand-in for machines without TDX; policies refuse it by default.
//
// Pure: no network, no clock, no logging. All OpenSSL use goes through PlaneCrypto. See docs/attestation.md.
