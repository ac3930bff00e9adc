import Foundation
import SatchelClient
import SatchelProtocol
import Synchronization

/// Per-request figures of one device's (or one worker's) requests, by route.
final class TransportStats: Sendable {
    struct Route: Codable, Sendable {
        var count = 0
        var errors = 0
        /// Frame bytes (as sent: compressed where the sender compressed), from `HTTPTransport.bytes`.
        var sent = 0
        var received = 0
        /// The same messages as uncompressed frames (only when measuring raw sizes).
        var rawSent = 0
        var rawReceived = 0
        var latencies: [Double] = []
    }

    let routes = Mutex<[String: Route]>([:])
    let measureRaw: Bool
    /// When each request started (monotonic ns) and how long it took, if `keepTimeline`.
    let timeline = Mutex<[TimedRequest]>([])
    let keepTimeline: Bool

    init(measureRaw: Bool = false, keepTimeline: Bool = false) {
        self.measureRaw = measureRaw
        self.keepTimeline = keepTimeline
    }

    func snapshot() -> [String: Route] { routes.withLock { $0 } }
    func reset() { routes.withLock { $0 = [:] } }

    func record(_ name: String, start: UInt64, seconds: Double, sent: Int, received: Int, rawSent: Int, rawReceived: Int, failed: Bool) {
        if keepTimeline { timeline.withLock { $0.append(TimedRequest(route: name, start: start, seconds: seconds, failed: failed)) } }
        routes.withLock { r in
            var route = r[name] ?? Route()
            route.count += 1
            if failed { route.errors += 1 }
            route.sent += sent
            route.received += received
            route.rawSent += rawSent
            route.rawReceived += rawReceived
            route.latencies.append(seconds)
            r[name] = route
        }
    }
}

struct TimedRequest: Codable, Sendable {
    var route: String
    var start: UInt64
    var seconds: Double
    var failed: Bool
}

/// The client library's own `HTTPTransport`, wrapped to time each request and read its byte
/// counter before and after. One per device, reused by every sync of that device.
final class CountingTransport: SyncTransport {
    let inner: HTTPTransport
    let stats: TransportStats

    init(inner: HTTPTransport, stats: TransportStats) {
        self.inner = inner
        self.stats = stats
    }

    private func measure<T: Sendable>(
        _ name: String, rawRequest: @autoclosure () -> Int, _ body: () async throws -> T, rawResponse: (T) -> Int
    ) async throws -> T {
        let before = inner.bytes
        let start = monotonicNanos()
        do {
            let result = try await body()
            let elapsed = seconds(since: start)
            let after = inner.bytes
            stats.record(
                name, start: start, seconds: elapsed, sent: after.sent - before.sent, received: after.received - before.received,
                rawSent: stats.measureRaw ? rawRequest() + Frame.headerSize : 0,
                rawReceived: stats.measureRaw ? rawResponse(result) + Frame.headerSize : 0, failed: false)
            return result
        } catch {
            let after = inner.bytes
            stats.record(name, start: start, seconds: seconds(since: start), sent: after.sent - before.sent, received: after.received - before.received, rawSent: 0, rawReceived: 0, failed: true)
            throw error
        }
    }

    func hello(_ request: HelloRequest) async throws -> HelloResponse {
        try await measure("hello", rawRequest: request.wireBytes.count, { try await inner.hello(request) }, rawResponse: { $0.wireBytes.count })
    }

    func push(_ request: PushRequest) async throws -> PushResponse {
        try await measure("push", rawRequest: request.wireBytes.count, { try await inner.push(request) }, rawResponse: { $0.wireBytes.count })
    }

    func push(_ encoded: EncodedPush) async throws -> PushResponse {
        try await measure("push", rawRequest: encoded.payloadBytes, { try await inner.push(encoded) }, rawResponse: { $0.wireBytes.count })
    }

    func pull(_ request: PullRequest) async throws -> PullResponse {
        try await measure("pull", rawRequest: request.wireBytes.count, { try await inner.pull(request) }, rawResponse: { $0.wireBytes.count })
    }

    func live() async throws -> AsyncThrowingStream<LiveEvent, any Error> { try await inner.live() }
}

/// Makes `SatchelClient`s whose transport is a `CountingTransport`, one per device.
enum DeviceFactory {
    /// The system CA bundle. Handing HTTPTransport a CA file makes it own an HTTP client (and so
    /// its own connection pool) instead of sharing `HTTPClient.shared` (8 connections per host)
    /// with every other device in the worker process; plain `http://` never reads the file.
    static let caBundle = "/etc/ssl/certs/ca-certificates.crt"

    static func client(directory: String, url: String, account: Account, stats: TransportStats, ownPool: Bool = false) async throws -> SatchelClient {
        final class Cache: Sendable { let transport = Mutex<CountingTransport?>(nil) }
        let cached = Cache()
        let ca = ownPool && FileManager.default.isReadableFile(atPath: caBundle) ? caBundle : nil
        let client = try SatchelClient(directory: directory, transport: { url, token, _ in
            if let t = cached.transport.withLock({ $0 }) { return t }
            let t = CountingTransport(inner: try HTTPTransport(url: url, token: token, caFile: ca), stats: stats)
            cached.transport.withLock { $0 = t }
            return t
        })
        try await client.setCredentials(url: url, device: DeviceID(unchecked: account.device), user: UserID(unchecked: account.user), token: account.token)
        return client
    }
}
