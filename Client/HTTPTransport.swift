import AsyncHTTPClient
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOSSL
public import SatchelProtocol
import Synchronization

/// The transport to a real server: HTTP for hello, push and pull (one frame each way) and a
/// WebSocket for live events. `https://` uses the system trust store, or a CA file the operator
/// hands out. Every request has a deadline, so a dead link ends in `.offline`, never a hang.
public final class HTTPTransport: SyncTransport {
    public let baseURL: String
    let token: String
    let client: HTTPClient
    let ownsClient: Bool
    let tls: TLSConfiguration?
    let timeout: TimeAmount
    /// Bytes sent and received as frames (compressed), for progress and the benchmark.
    let counters = Mutex<(sent: Int, received: Int)>((0, 0))

    /// A transport for `url` with the device's `token`.
    /// - Parameters:
    ///   - caFile: a PEM file of CA certificates to trust instead of the system store.
    ///   - timeout: the deadline for each request.
    public init(url: String, token: String, caFile: String? = nil, timeout: Duration = .seconds(15)) throws {
        baseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.token = token
        self.timeout = .seconds(max(1, timeout.components.seconds))
        (client, tls, ownsClient) = try Self.makeClient(caFile: caFile)
    }

    deinit {
        if ownsClient { try? client.syncShutdown() }
    }

    static func makeClient(caFile: String?) throws -> (HTTPClient, TLSConfiguration?, Bool) {
        guard let caFile else { return (HTTPClient.shared, nil, false) }
        guard FileManager.default.isReadableFile(atPath: caFile) else {
            throw ClientError(code: "ca_file_unreadable", "cannot read the CA file '\(caFile)'; check the path your operator gave you")
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(caFile)
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(30))
        return (HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration), tls, true)
    }

    /// Bytes of frames sent and received so far.
    public var bytes: (sent: Int, received: Int) { counters.withLock { $0 } }

    /// Exchanges an enrollment code for this device's token.
    public static func enroll(url: String, code: String, label: String, client: String, caFile: String? = nil) async throws -> (device: DeviceID, user: UserID, token: String) {
        let base = url.hasSuffix("/") ? String(url.dropLast()) : url
        let (http, _, owns) = try makeClient(caFile: caFile)
        do {
            let result = try await enroll(http, base: base, code: code, label: label, client: client)
            if owns { try? await http.shutdown() }
            return result
        } catch {
            if owns { try? await http.shutdown() }
            throw error
        }
    }

    static func enroll(_ http: HTTPClient, base: String, code: String, label: String, client: String) async throws -> (device: DeviceID, user: UserID, token: String) {
        var request = HTTPClientRequest(url: base + "/v1/enroll")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let body = try JSONSerialization.data(withJSONObject: ["code": code, "label": label, "client": client])
        request.body = .bytes(ByteBuffer(bytes: body))
        let response: HTTPClientResponse
        let data: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .seconds(15))
            data = try await response.body.collect(upTo: 1 << 20)
        } catch {
            let reason = offline(base, error).message.components(separatedBy: ";").first ?? "cannot reach the server"
            throw TransportError(.offline, "\(reason); joining needs a link to the server, try again when you have one")
        }
        let json = (try? JSONSerialization.jsonObject(with: Data(data.readableBytesView))) as? [String: Any]
        guard response.status == .ok, let device = json?["device"] as? String, let user = json?["user"] as? String, let token = json?["token"] as? String else {
            let error = json?["error"] as? [String: Any]
            throw TransportError(.refused, code: error?["code"] as? String, (error?["message"] as? String) ?? "the server refused the enrollment (HTTP \(response.status.code))")
        }
        return (DeviceID(unchecked: device), UserID(unchecked: user), token)
    }

    static func offline(_ url: String, _ error: any Error) -> TransportError {
        let reason: String
        switch error {
        case let e as HTTPClientError where e == .deadlineExceeded || e == .readTimeout || e == .connectTimeout:
            reason = "it did not answer in time"
        case let e as HTTPClientError:
            reason = "\(e)"
        default:
            reason = "\(error)".contains("refused") ? "the connection was refused" : "\(type(of: error)): \(error)"
        }
        return TransportError(.offline, "cannot reach the server at \(url) (\(reason)); your changes are kept and will sync when the link is back")
    }

    func send(_ path: String, _ message: Message, timeout: TimeAmount? = nil) async throws -> Message {
        try await exchange(path, frame: Frame.encode(message), timeout: timeout).message
    }

    /// Sends a frame; the reply, and the optional features the server's answer names.
    func exchange(_ path: String, frame: [UInt8], timeout: TimeAmount? = nil, features asked: Set<String> = []) async throws -> (message: Message, features: Set<String>) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if !asked.isEmpty { request.headers.add(name: "Satchel-Features", value: asked.sorted().joined(separator: ", ")) }
        request.headers.add(name: "Content-Type", value: "application/x-satchel-frame")
        request.body = .bytes(ByteBuffer(bytes: frame))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: timeout ?? self.timeout)
        } catch {
            throw Self.offline(baseURL, error)
        }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: 64 << 20)
        } catch {
            // The answer had begun: the link dropped, or the deadline passed, part way through.
            throw Self.damaged("\(error)", server: baseURL)
        }
        counters.withLock { $0.sent += frame.count; $0.received += body.readableBytes }
        let features = Set(response.headers["Satchel-Features"].flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) })
        return (try Self.reply(status: Int(response.status.code), body: Array(body.readableBytesView), features: features, server: baseURL), features)
    }

    /// What an answer of the sync routes means: its message, or the `TransportError` for an
    /// error frame (by status and code), a damaged transfer or something that is not a frame.
    /// Shared by every transport that carries these routes (the simulation's too). `features`:
    /// what the answer's `Satchel-Features` header names; a hello answer records whether the
    /// server leaves writes reported as written out of pulls (§14).
    public static func reply(status: Int, body: [UInt8], features: Set<String> = [], server: String) throws -> Message {
        let reply: Message
        do {
            reply = try Frame.decode(body, maxPayloadBytes: 64 << 20)
        } catch {
            // A frame the link cut or changed, caught by its length, zlib stream or checksum.
            if damagedInTransit.contains(error.code) { throw damaged(error.code.rawValue, server: server) }
            // Not a frame at all from a failing server or a proxy before it (an error page):
            // the server (or the way to it) cannot serve for now.
            if status >= 500 { throw unavailable(code: "http_\(status)", "it answered HTTP \(status)", server: server) }
            throw TransportError(.badResponse, "the server at \(server) sent an unreadable answer (HTTP \(status), \(error.message)); is this a Satchel server?")
        }
        if case .error(let e) = reply {
            switch (status, e.code) {
            case (401, _): throw TransportError(.unauthorized, code: e.code, e.message)
            case (410, "cursor_expired"): throw TransportError(.cursorExpired, code: e.code, e.message)
            // The server's own trouble (its disk full, shutting down, a failure): nothing of the
            // request was refused, so the writes stay pending and go out on a later sync.
            case (500..., _): throw unavailable(code: e.code, e.message, server: server)
            default: throw TransportError(.refused, code: e.code, e.message)
            }
        }
        if case .helloResponse(var hello) = reply {
            hello.asWrittenSupported = features.contains(SatchelFeature.asWritten)
            return .helloResponse(hello)
        }
        return reply
    }

    /// Frame errors a cut or corrupted transfer produces. A flipped bit in the header's length
    /// can look like a decompression bomb; retrying a real server is harmless either way.
    static let damagedInTransit: Set<FrameError.Code> = [.truncated, .checksumMismatch, .corrupt, .decompressionBomb]

    /// Link trouble, retried by a later sync: the answer was cut or damaged on its way.
    static func damaged(_ detail: String, server: String) -> TransportError {
        TransportError(
            .offline, code: "transfer_damaged",
            "the answer from the server at \(server) was cut or damaged in transit (\(detail)); your changes are kept, retrying later")
    }

    /// A transient server condition (HTTP 5xx), retried by a later sync like a missing link.
    static func unavailable(code: String?, _ message: String, server: String) -> TransportError {
        TransportError(.offline, code: code, "the server at \(server) cannot take this now: \(message); your changes are kept and will sync later")
    }

    public func hello(_ request: HelloRequest) async throws -> HelloResponse {
        // Hello opens every sync and is tiny: a short deadline tells "offline" within seconds
        // (the client library retries refused connections until the deadline).
        let (reply, _) = try await exchange("/v1/hello", frame: Frame.encode(.helloRequest(request)), timeout: .seconds(5), features: request.features)
        guard case .helloResponse(let r) = reply else { throw unexpected() }
        return r
    }

    public func push(_ request: PushRequest) async throws -> PushResponse {
        guard case .pushResponse(let r) = try await send("/v1/push", .pushRequest(request)) else { throw unexpected() }
        return r
    }

    public func push(_ encoded: EncodedPush) async throws -> PushResponse {
        guard case .pushResponse(let r) = try await exchange("/v1/push", frame: encoded.frame).message else { throw unexpected() }
        return r
    }

    public func pull(_ request: PullRequest) async throws -> PullResponse {
        guard case .pullResponse(let r) = try await send("/v1/pull", .pullRequest(request)) else { throw unexpected() }
        return r
    }

    func unexpected() -> TransportError {
        TransportError(.badResponse, "the server at \(baseURL) answered with the wrong kind of message")
    }

    public func live() async throws -> AsyncThrowingStream<LiveEvent, any Error> {
        let wsURL = baseURL.replacingOccurrences(of: "https://", with: "wss://").replacingOccurrences(of: "http://", with: "ws://") + "/v1/live"
        let (stream, continuation) = AsyncThrowingStream<LiveEvent, any Error>.makeStream(bufferingPolicy: .bufferingNewest(64))
        let token = self.token, tls = self.tls, base = baseURL
        let task = Task {
            do {
                try await WebSocketClient.connect(
                    url: wsURL, configuration: .init(additionalHeaders: [.authorization: "Bearer \(token)"]),
                    tlsConfiguration: tls, logger: Logger(label: "satchel-live")
                ) { inbound, _, _ in
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        guard case .binary(let buffer) = message,
                              case .live(let event) = try Frame.decode(Array(buffer.readableBytesView), maxPayloadBytes: 1 << 20) else { continue }
                        continuation.yield(event)
                    }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: Self.offline(base, error))
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}
