import PrivacyPlane
import Testing

/// RFC 3339 timestamps as SIWE uses them.
@Suite struct SIWETimestampTests {
    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)), ("2021-09-30T16:25:24.000Z", 1_633_019_124),
        ("2021-09-30T16:25:24-02:00", 1_633_026_324), ("2000-02-29T00:00:00+00:00", 951_782_400),
        ("1969-12-31T23:59:59Z", -1), ("2100-01-07T14:31:43.952Z", 4_103_015_503),
    ])
    func instantsMatchUnixTime(text: String, seconds: Int64) throws {
        #expect(try RFC3339Timestamp(parsing: text).unixSeconds == seconds)
    }

    @Test(arguments: [
        "2022-02-31T17:09:38.578Z", "2021-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2021-13-01T00:00:00Z",
        "2021-09-30 16:25:24Z", "2021-09-30T16:25:24", "2021-09-30T24:00:00Z", "2021-09-30T16:60:00Z",
        "2021-09-30T16:25:24.Z", "2021-09-30T16:25:24+0200", "Wed Oct 05 2011 16:48:00 GMT+0200 (CEST)",
        "2021-9-30T16:25:24Z", "2021-09-30T16:25:24Z ",
    ])
    func invalidDateTimesAreRefused(text: String) {
        #expect(throws: PrivacyPlaneError.self) { try RFC3339Timestamp(parsing: text) }
    }

    @Test func renderedTimestampsParseBackToTheSameInstant() throws {
        for seconds: Int64 in [0, 1, -1, 951_782_400, 4_103_015_503, 253_402_300_799, -62_167_219_200] {
            let t = RFC3339Timestamp(unixSeconds: seconds, nanoseconds: 120_000_000)
            #expect(try RFC3339Timestamp(parsing: t.text) == t, "\(t.text)")
        }
        #expect(RFC3339Timestamp(unixSeconds: 1_633_019_124).text == "2021-09-30T16:25:24Z")
        #expect(RFC3339Timestamp(unixSeconds: 0, nanoseconds: 500_000_000).text == "1970-01-01T00:00:00.5Z")
    }
}
