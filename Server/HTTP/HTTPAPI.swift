import Foundation
import HTTPTypes
public import Hummingbird
public import HummingbirdWebSocket
public import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
public import SatchelProtocol
public import SatchelServerCore

/// The HTTP edge: routes, body limits, frames in and out, errors as statuses. PROTOCOL.md and
/// `Protocol/openapi.yaml` document every route; all logic lives in `SyncService`.
public enum HTTPAPI {
    public static let frameContentType = "application/x-satchel-frame"

    /// The router for every HTTP route (the live WebSocket is added by `webSocketUpgrade`).
    public static func router(service: SyncService) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let failures = FailureLog(service: service)
        router.middlewares.add(LogRequestsMiddleware(.info))
        router.middlewares.add(RequestMiddleware(metrics: service.metrics))

        router.get("/v1/health") { _, _ in "ok\n" }
        router.get("/v1/ready") { _, _ -> Response in
            do {
                _ = try await service.store.allSpaces()
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
            } catch {
                return Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "store unavailable\n")))
            }
        }

        router.post("/v1/enroll") { request, _ -> Response in
            await respondJSON(failures) {
                let body = try await collect(request, limit: 16 * 1024, hint: "send only the code, label and client")
                struct Enroll: Decodable { var code: String; var label: String?; var client: String? }
                guard let enroll = try? JSONDecoder().decode(Enroll.self, from: Data(body)) else {
                    throw APIError(code: "malformed_request", #"send JSON like {"code": "K7QM-4TZP-XW2H", "label": "ana-laptop"}"#)
                }
                let (device, token) = try await service.enroll(code: enroll.code, label: enroll.label, client: enroll.client)
                return ["device": device.id.rawValue, "user": device.user.rawValue, "label": device.label, "token": token]
            }
        }

        let endpoints = SyncEndpoints(service: service)
        router.post("/v1/hello") { request, _ -> Response in
            await respondFrame(request, endpoints) {
                let device = try await service.authenticate(authorization: request.headers[.authorization])
                let body = try await collect(request, limit: service.limits.maxRequestBytes)
                return try await endpoints.hello(body, features: request.headers[values: satchelFeatures], device: device)
            }
        }

        router.post("/v1/push") { request, _ -> Response in
            await respondFrame(request, endpoints) {
                let device = try await service.authenticate(authorization: request.headers[.authorization])
                return try await endpoints.push(try await collect(request, limit: service.limits.maxRequestBytes), device: device)
            }
        }

        router.post("/v1/pull") { request, _ -> Response in
            await respondFrame(request, endpoints) {
                let device = try await service.authenticate(authorization: request.headers[.authorization])
                return try await endpoints.pull(try await collect(request, limit: service.limits.maxRequestBytes), device: device)
            }
        }
        addAdminRoutes(router, service: service, failures: failures)
        return router
    }

    /// The admin API (JSON, operator tokens): what `satchel-server … --server URL` calls.
    static func addAdminRoutes(_ router: Router<BasicRequestContext>, service: SyncService, failures: FailureLog) {
        let admin = AdminService(store: service.store, now: service.now)
        @Sendable func handle(_ request: Request, _ body: @escaping @Sendable () async throws -> any Encodable & Sendable) async -> Response {
            do {
                _ = try await service.authenticateOperator(authorization: request.headers[.authorization])
                let value = try await body()
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
            } catch {
                return jsonError(failures.answer(error))
            }
        }
        @Sendable func deviceID(_ context: BasicRequestContext) throws -> DeviceID {
            try DeviceID(context.parameters.get("id") ?? "")
        }
        router.get("/v1/admin/devices") { request, _ in
            await handle(request) { try await admin.devices(user: request.uri.queryParameters.get("user").flatMap { try? UserID($0) }) }
        }
        router.get("/v1/admin/devices/:id") { request, context in
            await handle(request) { try await admin.device(try deviceID(context)) }
        }
        router.post("/v1/admin/devices/:id/revoke") { request, context in
            await handle(request) { try await admin.revoke(try deviceID(context)) }
        }
        router.get("/v1/admin/users") { request, _ in await handle(request) { try await admin.users() } }
        router.post("/v1/admin/users/:id/disable") { request, context in
            await handle(request) { try await admin.disable(try UserID(context.parameters.get("id") ?? "")) }
        }
        router.get("/v1/admin/spaces") { request, _ in await handle(request) { try await admin.spaces() } }
        @Sendable func spaceID(_ context: BasicRequestContext) throws -> SpaceID {
            try SpaceID(context.parameters.get("id") ?? "")
        }
        router.post("/v1/admin/compact") { request, _ in
            await handle(request) {
                let q = request.uri.queryParameters
                let space = try q.get("space").map { try SpaceID($0) }
                guard let olderThan = Int64(q.get("older-than-ms") ?? "0"), olderThan >= 0 else {
                    throw APIError(code: "malformed_request", "older-than-ms must be a whole number of milliseconds")
                }
                return try await admin.compact(space: space, olderThan: olderThan, dryRun: q.get("dry-run") == "true")
            }
        }
        router.post("/v1/admin/devices/:id/rebootstrap") { request, context in
            await handle(request) {
                guard let space = request.uri.queryParameters.get("space") else {
                    throw APIError(code: "malformed_request", "name the space: ?space=NAME")
                }
                return try await admin.rebootstrap(try deviceID(context), space: try SpaceID(space))
            }
        }
        router.get("/v1/admin/spaces/:id/export") { request, context in
            await handle(request) { try await admin.export(try spaceID(context)) }
        }
        router.post("/v1/admin/backup") { request, _ -> Response in
            do {
                _ = try await service.authenticateOperator(authorization: request.headers[.authorization])
                return try await backupResponse(service)
            } catch {
                return jsonError(failures.answer(error))
            }
        }
        router.get("/metrics") { request, _ -> Response in
            do {
                _ = try await service.authenticateOperator(authorization: request.headers[.authorization])
                service.metrics.gauges(liveConnections: service.live.connectionCount, storeBytes: try await (service.store as? any FileBackedStore)?.sizeOnDisk() ?? 0, snapshots: service.snapshots)
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                    body: .init(byteBuffer: ByteBuffer(string: service.metrics.render())))
            } catch {
                return jsonError(failures.answer(error))
            }
        }
    }

    /// A consistent copy of the store, made into a temporary file while the server keeps serving,
    /// then streamed in 1 MiB chunks (memory stays flat whatever the store's size) and removed.
    static func backupResponse(_ service: SyncService) async throws -> Response {
        let path = NSTemporaryDirectory() + "satchel-backup-\(UInt64.random(in: 0 ... .max)).sqlite"
        guard let files = service.store as? any FileBackedStore else {
            throw StoreError(.backupFailed, "this server's store is not kept in files; back it up with its database's own tools")
        }
        try await files.backup(to: path)
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let body = ResponseBody(contentLength: size) { writer in
            defer { try? FileManager.default.removeItem(atPath: path) }
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                try await writer.write(ByteBuffer(bytes: chunk))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/vnd.sqlite3"], body: body)
    }

    static func collect(_ request: Request, limit: Int, hint: String = "send fewer mutations per push") async throws -> [UInt8] {
        do {
            let buffer = try await request.body.collect(upTo: limit)
            return Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw APIError.tooLarge("the request body", limit: limit, hint: hint)
        }
    }

    /// Optional protocol features this server understands (PROTOCOL.md §14).
    static let satchelFeatures = HTTPField.Name("Satchel-Features")!

    /// Runs a handler that produces a frame; errors become ErrorResponse frames, or JSON when
    /// the client asked for it with `Accept: application/json` (handy with curl).
    static func respondFrame(_ request: Request, _ endpoints: SyncEndpoints, _ body: () async throws -> [UInt8]) async -> Response {
        do {
            let frame = try await body()
            return Response(status: .ok, headers: [.contentType: frameContentType, satchelFeatures: SyncEndpoints.features], body: .init(byteBuffer: ByteBuffer(bytes: frame)))
        } catch {
            let failure = endpoints.failure(error)
            if request.headers[.accept]?.contains("application/json") == true {
                return jsonError(failure.error)
            }
            return Response(status: .init(code: failure.status), headers: [.contentType: frameContentType], body: .init(byteBuffer: ByteBuffer(bytes: failure.frame)))
        }
    }

    static func respondJSON(_ failures: FailureLog, _ body: () async throws -> [String: String]) async -> Response {
        do {
            return jsonResponse(status: 200, try await body())
        } catch {
            return jsonError(failures.answer(error))
        }
    }

    /// An error as JSON, `{"error": {"code", "message"}}`, with its code's status.
    static func jsonError(_ error: APIError) -> Response {
        jsonResponse(status: error.status, ["error": ["code": error.code, "message": error.message]])
    }

    static func jsonResponse(status: Int, _ object: Any) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    // MARK: live

    /// The HTTP/1 server with the live WebSocket at `/v1/live`: authenticated on upgrade, then
    /// it sends a heartbeat at once, then `advanced` events for the device's spaces and a
    /// heartbeat every `heartbeat`.
    ///
    /// `connections` bounds every connection (see `ConnectionLimits`): Hummingbird's idle timeout
    /// on HTTP ones (never on live ones, whose pipeline has no HTTP handlers left after the
    /// upgrade), and `GuardedChannel` around it for the first head and the connection count.
    public static func server(service: SyncService, heartbeat: Duration, connections: ConnectionLimits = .default) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            GuardedChannel(
                base: HTTP1WebSocketUpgradeChannel(
                    responder: responder,
                    configuration: .init(http1: .init(idleTimeout: TimeAmount(connections.idleTimeout))),
                    shouldUpgrade: live(service: service, heartbeat: heartbeat)),
                limits: connections)
        }
    }

    /// Whether a request upgrades to the live WebSocket, and what runs on it if so.
    static func live(service: SyncService, heartbeat: Duration) -> @Sendable (HTTPRequest, any Channel, Logger) async throws -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        { head, _, logger in
            guard head.path?.split(separator: "?").first == "/v1/live" else { return .dontUpgrade }
            let device: DeviceInfo
            do {
                device = try await service.authenticate(authorization: head.headerFields[.authorization])
            } catch {
                // Refused upgrades fall through to the router, which answers 404; log why.
                logger.info("live connection refused", metadata: ["reason": "\(APIError(answering: error).code)"])
                return .dontUpgrade
            }
            let spaces = try await service.liveSpaces(of: device)
            return .upgrade([:]) { inbound, outbound, _ in
                let (id, events) = service.live.subscribe(device: device.id, spaces: spaces)
                defer { service.live.unsubscribe(id) }
                // A server shutting down ends its live connections rather than waiting for the
                // devices to hang up (it would wait for ever): they reconnect, with backoff.
                try await withGracefulShutdownHandler {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await event in events {
                            try await outbound.write(.binary(ByteBuffer(bytes: Frame.encode(.live(event)))))
                            if case .revoked = event { break }
                        }
                        try await outbound.close(.policyViolation, reason: "revoked or closed")
                    }
                    group.addTask {
                        // A heartbeat at once says the connection is subscribed: a device syncs
                        // then, knowing every later change will be announced.
                        try await outbound.write(.binary(ByteBuffer(bytes: Frame.encode(.live(.heartbeat(serverTime: service.now()))))))
                        while !Task.isCancelled {
                            try await Task.sleep(for: heartbeat)
                            // A device revoked by another process (the local operator commands)
                            // is caught here, within one heartbeat; the admin API closes at once.
                            if (try? await service.authenticate(authorization: head.headerFields[.authorization])) == nil {
                                service.live.revoke(device: device.id, message: "this device's access was withdrawn; ask your operator")
                                return
                            }
                            try await outbound.write(.binary(ByteBuffer(bytes: Frame.encode(.live(.heartbeat(serverTime: service.now()))))))
                        }
                    }
                    group.addTask {
                        // The device sends nothing; this ends when it closes the connection.
                        for try await _ in inbound {}
                    }
                    _ = try await group.next()
                    group.cancelAll()
                }
                } onGracefulShutdown: {
                    service.live.unsubscribe(id)
                }
            }
        }
    }
}
