import HTTPTypes
public import Hummingbird
import NIOCore
public import SatchelServerCore

/// The HTTP edge: routes, body limits, frames in and out, errors as statuses. PROTOCOL.md and
/// `Protocol/openapi.yaml` document every route; all logic lives in `SyncService`.
///
/// The routes come in groups by who may call them: `OpenRoutes` for anyone, `SyncRoutes` for
/// devices and `AdminRoutes` for operators, each group behind its `AuthenticationMiddleware`,
/// with its `ErrorRenderingMiddleware` answering every failure in it.
public enum HTTPAPI {
    public static let frameContentType = "application/x-satchel-frame"

    /// Optional protocol features this server understands (PROTOCOL.md §14).
    static let satchelFeatures = HTTPField.Name("Satchel-Features")!

    /// The router for every HTTP route (the live WebSocket is added by `server`).
    public static func router(service: SyncService) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let failures = FailureLog(service: service)
        router.middlewares.add(LogRequestsMiddleware(.info))
        router.middlewares.add(RequestMiddleware(metrics: service.metrics))
        router.addRoutes(OpenRoutes.collection(service, failures: failures))
        let endpoints = SyncEndpoints(service: service)
        router.authenticated(by: .devices(service), errors: .frame(endpoints))
            .addRoutes(SyncRoutes.collection(endpoints))
        router.authenticated(by: .operators(service), errors: .json(failures))
            .addRoutes(AdminRoutes.collection(service))
        return router
    }

    /// A request's body, refused with `request_too_large` beyond `limit` bytes.
    static func collect(_ request: Request, limit: Int, hint: String = "send fewer mutations per push") async throws -> [UInt8] {
        do {
            let buffer = try await request.body.collect(upTo: limit)
            return Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw APIError.tooLarge("the request body", limit: limit, hint: hint)
        }
    }
}
