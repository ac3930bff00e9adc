import Hummingbird
import NIOCore
import SatchelServerCore

/// `/v1/hello`, `/v1/push` and `/v1/pull`: a frame in, a frame out, for the device the context
/// names (the group's `AuthenticationMiddleware.devices` ran first). The work is
/// `SyncEndpoints`'; the group answers failures as `ErrorResponse` frames.
enum SyncRoutes {
    static func collection(_ endpoints: SyncEndpoints) -> RouteCollection<DeviceRequestContext> {
        let routes = RouteCollection(context: DeviceRequestContext.self)
        let limit = endpoints.service.limits.maxRequestBytes
        routes.post("/v1/hello") { request, context in
            let body = try await HTTPAPI.collect(request, limit: limit)
            return frame(try await endpoints.hello(body, features: request.headers[values: HTTPAPI.satchelFeatures], device: context.device))
        }
        routes.post("/v1/push") { request, context in
            frame(try await endpoints.push(try await HTTPAPI.collect(request, limit: limit), device: context.device))
        }
        routes.post("/v1/pull") { request, context in
            frame(try await endpoints.pull(try await HTTPAPI.collect(request, limit: limit), device: context.device))
        }
        return routes
    }

    /// An answer frame, naming the optional features this server understands (§14).
    static func frame(_ bytes: [UInt8]) -> Response {
        Response(
            status: .ok, headers: [.contentType: HTTPAPI.frameContentType, HTTPAPI.satchelFeatures: SyncEndpoints.features],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
