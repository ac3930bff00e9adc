import Hummingbird
import SatchelServerCore

/// The context of the routes behind authentication, made from Hummingbird's
/// `BasicRequestContext` by their group: the core context, and who sent the request once
/// `AuthenticationMiddleware` has checked its token (nil until then).
struct SatchelRequestContext<Identity: Sendable>: RequestContext {
    typealias Source = BasicRequestContext

    var coreContext: CoreRequestContextStorage
    /// Set by `AuthenticationMiddleware`; handlers read `AuthenticatedRequestContext.identity`.
    var identity: Identity?

    init(source: BasicRequestContext) {
        // The same storage, not a new one from `source`: the router has already put the route's
        // parameters (`:id`) and endpoint path in it.
        coreContext = source.coreContext
        identity = nil
    }
}

/// The context handlers behind authentication get: the identity is there, not optional, so a
/// handler cannot run for a request nobody authenticated, and never reads the header itself.
/// Made from `SatchelRequestContext` after `AuthenticationMiddleware` has run.
struct AuthenticatedRequestContext<Identity: Sendable>: ChildRequestContext {
    var coreContext: CoreRequestContextStorage
    let identity: Identity

    init(context: SatchelRequestContext<Identity>) throws {
        // Only a group built without `AuthenticationMiddleware` gets here with no identity: the
        // request is refused (a 500, logged) rather than served.
        guard let identity = context.identity else { throw NotAuthenticated() }
        coreContext = context.coreContext
        self.identity = identity
    }

    /// A route group wired without its authentication middleware.
    struct NotAuthenticated: Error {}
}

/// Who sent a request to the admin API or `/metrics`: the label of its operator token.
struct Operator: Sendable, Hashable {
    let label: String
}

typealias DeviceRequestContext = AuthenticatedRequestContext<DeviceInfo>
typealias OperatorRequestContext = AuthenticatedRequestContext<Operator>

extension AuthenticatedRequestContext where Identity == DeviceInfo {
    /// The device whose token the request carried (not revoked, its user not disabled).
    var device: DeviceInfo { identity }
}

extension AuthenticatedRequestContext where Identity == Operator {
    /// The label the operator token was created with.
    var operatorLabel: String { identity.label }
}
