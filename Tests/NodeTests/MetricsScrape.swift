import Foundation
import TestSupport
import Testing

/// What every DeLong `/metrics` answer holds, whichever process serves it: the Prometheus 0.0.4 content
/// type, every line a valid HELP, TYPE or sample (``PrometheusExposition`` throws otherwise), a HELP for every
/// family, and bounded labels: only the known label names, at most 64 series per family, no label value
/// that carries an address, id or hash (`0x…`), and routes as templates (or `unmatched`).
enum MetricsScrape {
    static let labelNames: Set<String> = ["reason", "stage", "outcome", "kind", "route", "method", "status", "le"]
    static let maxSeriesPerFamily = 64

    static func scrape(
        _ baseURL: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> PrometheusExposition {
        let (contentType, exposition) = try await PrometheusExposition.scrape(baseURL)
        #expect(contentType == "text/plain; version=0.0.4; charset=utf-8", sourceLocation: sourceLocation)
        for family in exposition.types.keys.sorted() {
            #expect(exposition.help[family]?.isEmpty == false, "no HELP for \(family)", sourceLocation: sourceLocation)
            #expect(
                exposition.seriesCount(family) <= maxSeriesPerFamily,
                "\(family): \(exposition.seriesCount(family)) series",
                sourceLocation: sourceLocation
            )
        }
        for sample in exposition.samples {
            for (name, value) in sample.labels {
                #expect(labelNames.contains(name), "label \(name) in \(sample)", sourceLocation: sourceLocation)
                #expect(!value.contains("0x"), "a hex value in \(sample)", sourceLocation: sourceLocation)
                if name == "route" {
                    #expect(
                        value.hasPrefix("/") || value == "unmatched",
                        "route \(value)",
                        sourceLocation: sourceLocation
                    )
                }
            }
        }
        return exposition
    }
}

extension PrometheusExposition {
    /// The value of `name` with `labels`, or -1 when the series is absent (so an expectation names it).
    func at(_ name: String, _ labels: [String: String] = [:]) -> Double { value(name, labels) ?? -1 }
}

/// The strict reader the /metrics tests rely on accepts the format and refuses what is not in it, so a
/// malformed exposition cannot pass for a valid one.
@Suite struct PrometheusExpositionTests {
    static let valid = """
        # HELP a_total Things, with a backslash \\\\ in the help.
        # TYPE a_total counter
        a_total{reason="x\\"y\\\\z\\n",kind="k"} 3
        # TYPE b gauge
        b NaN
        # TYPE h histogram
        h_bucket{le="0.5"} 1
        h_bucket{le="+Inf"} 2
        h_sum 1.25
        h_count 2

        """

    @Test func readsSamplesLabelsEscapesNaNAndHistograms() throws {
        let e = try PrometheusExposition(Self.valid)
        #expect(e.value("a_total", ["reason": "x\"y\\z\n", "kind": "k"]) == 3)
        #expect(e.value("b")?.isNaN == true)
        #expect(e.value("h_bucket", ["le": "+Inf"]) == 2 && e.value("h_count") == 2)
        #expect(e.types == ["a_total": "counter", "b": "gauge", "h": "histogram"])
        #expect(e.help["a_total"] == "Things, with a backslash \\\\ in the help.")
        #expect(e.seriesCount("h") == 1 && e.samples(of: "h").count == 4)
    }

    @Test(arguments: [
        ("# TYPE a counter\na 1", "expected a final line feed"),
        ("# a comment\n", "expected # HELP or # TYPE"),
        ("a 1\n# TYPE a counter\n", "whose family has no TYPE"),
        ("# TYPE a counter\na{x=\"1\\q\"} 1\n", "invalid escape"),
        ("# TYPE a counter\na{x=1} 1\n", "quoted label value"),
        ("# TYPE 1a counter\n", "invalid metric name"),
        ("# TYPE a counter\na 1\na 2\n", "same series"),
        ("# TYPE a counter\na one\n", "expected a value"),
        ("# TYPE a widget\n", "expected a type"),
        ("# TYPE h histogram\nh_bucket 1\n", "without le"),
        ("# TYPE a counter\n\n", "invalid metric name"),
        ("# TYPE a counter\na{x=\"1\"}1\n", "expected a space"),
    ])
    func refusesWhatIsNotTheFormat(text: String, why: String) {
        #expect {
            _ = try PrometheusExposition(text)
        } throws: { "\($0)".contains(why) }
    }
}
