import Foundation
import Hummingbird
import NIOCore
import SatchelProtocol
import SatchelServerCore

/// The admin API (`/v1/admin/…`, what `satchel-server … --server URL` calls) and `/metrics`:
/// for operators only (the group's `AuthenticationMiddleware.operators` ran first), JSON answers,
/// and the group answers failures as JSON too. The work is `AdminService`'s.
enum AdminRoutes {
    static func collection(_ service: SyncService) -> RouteCollection<OperatorRequestContext> {
        let admin = AdminService(store: service.store, now: service.now)
        let routes = RouteCollection(context: OperatorRequestContext.self)
        routes.get("/v1/admin/devices") { request, _ in
            // A malformed `user` is refused (400 invalid_identifier), not read as "every user".
            try json(await admin.devices(user: try request.uri.queryParameters.get("user").map { try UserID($0) }))
        }
        routes.get("/v1/admin/devices/:id") { _, context in try json(await admin.device(try deviceID(context))) }
        routes.post("/v1/admin/devices/:id/revoke") { _, context in try json(await admin.revoke(try deviceID(context))) }
        routes.post("/v1/admin/devices/:id/rebootstrap") { request, context in
            guard let space = request.uri.queryParameters.get("space") else {
                throw APIError(code: "malformed_request", "name the space: ?space=NAME")
            }
            return try json(await admin.rebootstrap(try deviceID(context), space: try SpaceID(space)))
        }
        routes.get("/v1/admin/users") { _, _ in try json(await admin.users()) }
        routes.post("/v1/admin/users/:id/disable") { _, context in
            try json(await admin.disable(try UserID(context.parameters.get("id") ?? "")))
        }
        routes.get("/v1/admin/spaces") { _, _ in try json(await admin.spaces()) }
        routes.get("/v1/admin/spaces/:id/export") { _, context in
            try json(await admin.export(try SpaceID(context.parameters.get("id") ?? "")))
        }
        routes.post("/v1/admin/compact") { request, _ in
            let q = request.uri.queryParameters
            let space = try q.get("space").map { try SpaceID($0) }
            guard let olderThan = Int64(q.get("older-than-ms") ?? "0"), olderThan >= 0 else {
                throw APIError(code: "malformed_request", "older-than-ms must be a whole number of milliseconds")
            }
            // Only `true` or `false`: a typo must not turn a dry run into a real compaction.
            guard let dryRun = q.get("dry-run").map({ ["true": true, "false": false][$0] }) ?? false else {
                throw APIError(code: "malformed_request", "dry-run must be true or false")
            }
            return try json(await admin.compact(space: space, olderThan: olderThan, dryRun: dryRun))
        }
        routes.post("/v1/admin/backup") { _, _ in try await backupResponse(service) }
        routes.get("/metrics") { _, _ in
            service.metrics.gauges(
                liveConnections: service.live.connectionCount,
                storeBytes: try await (service.store as? any SizedStore)?.sizeOnDisk() ?? 0, snapshots: service.snapshots)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: service.metrics.render())))
        }
        return routes
    }

    static func deviceID(_ context: OperatorRequestContext) throws -> DeviceID {
        try DeviceID(context.parameters.get("id") ?? "")
    }

    /// An answer as JSON, keys sorted so the same state always reads the same.
    static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
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
}
