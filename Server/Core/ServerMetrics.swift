import CoreMetrics
import Metrics
public import Prometheus
public import SatchelProtocol

/// The server's Prometheus metrics, through swift-metrics with a factory of its own (not the
/// process-wide bootstrap, so several servers in one test process keep separate counts).
/// Labels are routes, statuses, outcomes and directions only: never a token, code, id or body.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
        ]
        self.factory = factory
    }

    /// One HTTP request answered: `route` is the route pattern (`/v1/admin/devices/{id}`).
    public func request(route: String, status: Int, duration: Duration) {
        let labels = [("route", route), ("status", String(status))]
        Counter(label: "satchel_http_requests_total", dimensions: labels, factory: factory).increment()
        Metrics.Timer(label: "satchel_http_request_duration_seconds", dimensions: [("route", route)], factory: factory)
            .recordNanoseconds(duration.nanoseconds)
    }

    /// The outcome of each pushed mutation: applied, merged, conflict or rejected.
    func mutations(_ results: [MutationResult]) {
        var counts: [MutationStatus: Int] = [:]
        for r in results { counts[r.status, default: 0] += 1 }
        for (status, n) in counts {
            Counter(label: "satchel_mutations_total", dimensions: [("outcome", status.rawValue)], factory: factory).increment(by: n)
        }
    }

    /// Sync frames in or out, as sent (`compressed`) and as decoded (`raw`).
    func frame(direction: String, sent: Int, raw: Int) {
        Counter(label: "satchel_frame_bytes_total", dimensions: [("direction", direction), ("encoding", "compressed")], factory: factory).increment(by: sent)
        Counter(label: "satchel_frame_bytes_total", dimensions: [("direction", direction), ("encoding", "raw")], factory: factory).increment(by: raw)
    }

    /// Values read when scraped.
    public func gauges(liveConnections: Int, storeBytes: Int64, snapshots: SnapshotCache) {
        Gauge(label: "satchel_live_connections", factory: factory).record(liveConnections)
        Gauge(label: "satchel_store_bytes", factory: factory).record(storeBytes)
        Gauge(label: "satchel_snapshot_cache_records", factory: factory).record(snapshots.totalCachedRecords)
        Gauge(label: "satchel_snapshot_cache_bytes", factory: factory).record(snapshots.cachedBytes)
    }

    /// The exposition text (Prometheus text format 0.0.4).
    public func render() -> String { registry.emitToString() }
}

extension Duration {
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
