import Hummingbird
import SatchelServerCore

/// Checks a request's `Authorization` header and puts who sent it in the context; a request it
/// refuses goes no further, with the refusal's error (`token_missing`, `operator_token_invalid`…).
/// The rules are `SyncService`'s (`authenticate(authorization:)` and
/// `authenticateOperator(authorization:)`); this only carries their answer to the handlers.
struct AuthenticationMiddleware<Identity: Sendable>: RouterMiddleware {
    typealias Context = SatchelRequestContext<Identity>

    let authenticate: @Sendable (_ authorization: String?) async throws -> Identity

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.identity = try await authenticate(request.headers[.authorization])
        return try await next(request, context)
    }
}

extension AuthenticationMiddleware where Identity == DeviceInfo {
    /// The sync routes: a device token (`sat_…`) of a device not revoked, whose user is enabled.
    static func devices(_ service: SyncService) -> Self {
        Self { try await service.authenticate(authorization: $0) }
    }
}

extension AuthenticationMiddleware where Identity == Operator {
    /// The admin API and `/metrics`: an operator token (`sop_…`); a device token is refused.
    static func operators(_ service: SyncService) -> Self {
        Self { Operator(label: try await service.authenticateOperator(authorization: $0)) }
    }
}

extension RouterMethods where Context == BasicRequestContext {
    /// A group whose routes run only for requests `authentication` accepts, with the identity in
    /// their context; every failure in it, the refusal included, is answered in the `errors` format.
    func authenticated<Identity>(
        by authentication: AuthenticationMiddleware<Identity>, errors: ErrorFormat
    ) -> RouterGroup<AuthenticatedRequestContext<Identity>> {
        group(context: SatchelRequestContext<Identity>.self)
            .add(middleware: ErrorRenderingMiddleware(errors))
            .add(middleware: authentication)
            .group(context: AuthenticatedRequestContext<Identity>.self)
    }
}
