import Foundation
import Hummingbird
import Metrics
import NIOCore
import Prometheus

/// One process's metrics: its own swift-prometheus registry, the swift-metrics factory that records into it,
/// and the `/metrics` response that renders it. `node run`, `privacy serve` and `compute serve` each make one
/// and pass it (or its `factory`) to whatever records; nothing goes through the global `MetricsSystem`, so a
/// test process that runs several servers keeps their numbers apart.
final class ProcessMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    /// What the code records through (swift-metrics `Counter`, `Meter`, `Timer` with `factory:`).
    let factory: any MetricsFactory

    /// The Prometheus text exposition format this serves (the version every Prometheus reads).
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    init() {
        registry = PrometheusCollectorRegistry()
        factory = HelpingPrometheusFactory(registry: registry, help: MetricsCatalog.help)
        Metrics.Meter(label: "process_start_time_seconds", factory: factory).set(Date().timeIntervalSince1970)
    }

    /// The exposition, once `collect` has set the gauges that are read from state when scraped.
    func response(collect: @Sendable () async throws -> Void) async throws -> Response {
        try await collect()
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        return Response(
            status: .ok,
            headers: [.contentType: Self.contentType],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}

/// `delong_http_requests_total` and `delong_http_request_duration_seconds` by route template, method and
/// status class. Labels stay bounded: the route is one of the templates this process registered
/// (`/v1/datasets/{id}`, never an id; Hummingbird has set it before the middleware runs), or `unmatched` for
/// a path or method no route has (the 404s a scanner sends); methods outside the usual seven count as
/// `other`, and statuses as their class (`2xx` … `5xx`).
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let factory: any MetricsFactory

    static func method(_ method: HTTPRequest.Method) -> String {
        switch method {
        case .get, .head, .post, .put, .delete, .patch, .options: method.rawValue
        default: "other"
        }
    }

    static func statusClass(_ status: HTTPResponse.Status) -> String {
        (100...599).contains(status.code) ? "\(status.code / 100)xx" : "other"
    }

    func record(route: String, method: String, status: HTTPResponse.Status, since start: ContinuousClock.Instant) {
        let dimensions = [("route", route), ("method", method), ("status", Self.statusClass(status))]
        Metrics.Counter(label: "delong_http_requests_total", dimensions: dimensions, factory: factory).increment()
        Metrics.Timer(label: "delong_http_request_duration_seconds", dimensions: dimensions, factory: factory)
            .record(duration: ContinuousClock.now - start)
    }

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        let method = Self.method(request.method)
        let route = context.endpointPath ?? "unmatched"
        do {
            // Timed until the handler has its answer (the answers here are buffered, not streamed).
            let response = try await next(request, context)
            record(route: route, method: method, status: response.status, since: start)
            return response
        } catch {
            record(
                route: route,
                method: method,
                status: (error as? any HTTPResponseError)?.status ?? .internalServerError,
                since: start
            )
            throw error
        }
    }
}

/// A swift-metrics factory over a swift-prometheus registry that adds each family's `# HELP` line from
/// ``MetricsCatalog`` (swift-prometheus's own factory registers every metric without one).
struct HelpingPrometheusFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    let help: [String: String]
    /// Request latencies, 1 ms to 10 s.
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
        .seconds(10),
    ]
    static let valueBuckets: [Double] = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]

    /// The whole name is `label` (no namespace or unit appended); its HELP comes from `help`.
    func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: help[label] ?? "")
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: descriptor(label), labels: dimensions) }
        return registry.makeValueHistogram(
            descriptor: descriptor(label),
            labels: dimensions,
            buckets: Self.valueBuckets
        )
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(
            descriptor: descriptor(label),
            labels: dimensions,
            buckets: Self.durationBuckets
        )
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? ValueHistogram { registry.unregisterValueHistogram(histogram) }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}
