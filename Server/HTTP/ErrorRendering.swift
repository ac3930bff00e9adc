import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SatchelServerCore

/// How a route group answers failures.
enum ErrorFormat: Sendable {
    /// The sync routes: an `ErrorResponse` frame, or JSON when the request says
    /// `Accept: application/json` (handy with curl). `SyncEndpoints` answers as it does for
    /// the transports without HTTP.
    case frame(SyncEndpoints)
    /// The admin API, `/metrics` and enrollment: `{"error": {"code", "message"}}`.
    case json(FailureLog)
}

/// The one place a failed request becomes a response. Each route group starts with one: the code
/// and message come from `APIError(answering:)`, the status from the one table (`ErrorStatus`),
/// and the server's own trouble is logged on the way (`FailureLog`).
///
/// A middleware rather than errors conforming to `HTTPResponseError`: Hummingbird renders those in
/// `RouterResponder`, outside the router's middleware, so the answer would go out without the
/// `X-Request-Id` that `RequestMiddleware` adds to every response (an operator finds a device's
/// failed request in the logs by it). And the format is the group's, not the error's: the same
/// `unknown_device` is a frame on a sync route and JSON on the admin API.
struct ErrorRenderingMiddleware<Context: RequestContext>: RouterMiddleware {
    let format: ErrorFormat

    init(_ format: ErrorFormat) { self.format = format }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return response(for: error, to: request)
        }
    }

    func response(for error: any Error, to request: Request) -> Response {
        switch format {
        case .json(let failures):
            return HTTPAPI.jsonError(failures.answer(error))
        case .frame(let endpoints):
            let failure = endpoints.failure(error)
            // Every answer of a sync route names the server's features (§14), errors included:
            // a client whose hello failed still learns what the server understands.
            if request.headers[.accept]?.contains("application/json") == true {
                var response = HTTPAPI.jsonError(failure.error)
                response.headers[HTTPAPI.satchelFeatures] = SyncEndpoints.features
                return response
            }
            return Response(
                status: .init(code: failure.status),
                headers: [.contentType: HTTPAPI.frameContentType, HTTPAPI.satchelFeatures: SyncEndpoints.features],
                body: .init(byteBuffer: ByteBuffer(bytes: failure.frame)))
        }
    }
}

extension HTTPAPI {
    /// An error as JSON, `{"error": {"code", "message"}}`, with its code's status.
    static func jsonError(_ error: APIError) -> Response {
        jsonResponse(status: error.status, ["error": ["code": error.code, "message": error.message]])
    }

    static func jsonResponse(status: Int, _ object: Any) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
