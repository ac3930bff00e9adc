import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SatchelServerCore

/// The routes anyone may call: whether the server is up (`/v1/health`), whether it can serve
/// (`/v1/ready`, the store answers), and enrollment, how a device gets its token.
enum OpenRoutes {
    static func collection(_ service: SyncService, failures: FailureLog) -> RouteCollection<BasicRequestContext> {
        let routes = RouteCollection(context: BasicRequestContext.self)
        routes.get("/v1/health") { _, _ in "ok\n" }
        routes.get("/v1/ready") { _, _ -> Response in
            // Plain text, as `/v1/health` (whose String answer Hummingbird labels so).
            let plain: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
            do {
                _ = try await service.store.allSpaces()
                return Response(status: .ok, headers: plain, body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
            } catch {
                return Response(status: .serviceUnavailable, headers: plain, body: .init(byteBuffer: ByteBuffer(string: "store unavailable\n")))
            }
        }
        // Enrollment can fail on what the client sent: its errors are JSON, like the admin API's
        // (middleware added here applies to the routes added after it).
        routes.add(middleware: ErrorRenderingMiddleware(.json(failures)))
        routes.post("/v1/enroll") { request, _ -> Response in
            let body = try await HTTPAPI.collect(request, limit: 16 * 1024, hint: "send only the code, label and client")
            struct Enroll: Decodable { var code: String; var label: String?; var client: String? }
            guard let enroll = try? JSONDecoder().decode(Enroll.self, from: Data(body)) else {
                throw APIError(code: "malformed_request", #"send JSON like {"code": "K7QM-4TZP-XW2H", "label": "ana-laptop"}"#)
            }
            let (device, token) = try await service.enroll(code: enroll.code, label: enroll.label, client: enroll.client)
            return HTTPAPI.jsonResponse(status: 200, ["device": device.id.rawValue, "user": device.user.rawValue, "label": device.label, "token": token])
        }
        return routes
    }
}
