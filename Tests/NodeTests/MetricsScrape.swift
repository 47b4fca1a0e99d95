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
