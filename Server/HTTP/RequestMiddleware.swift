import Hummingbird
import HTTPTypes
import Logging
import SatchelServerCore

/// Around every request: counts it by route pattern and status, times it, and returns the
/// request id Hummingbird put in the request's log metadata as `X-Request-Id`, so an operator can
/// find a device's failed request in the logs from what the user reports.
struct RequestMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let id = context.logger[metadataKey: "hb.request.id"].map { "\($0)" }
        do {
            var response = try await next(request, context)
            if let id { response.headers[.requestID] = id }
            metrics.request(route: context.endpointPath ?? "unmatched", status: Int(response.status.code), duration: .now - start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.request(route: context.endpointPath ?? "unmatched", status: Int(status), duration: .now - start)
            throw error
        }
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-Id")!
}
