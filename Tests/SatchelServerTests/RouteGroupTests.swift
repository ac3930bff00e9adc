import Foundation
import Hummingbird
import HummingbirdTesting
import SatchelProtocol
import SatchelTestSupport
import Testing
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite

/// How the router is put together: which token opens which group, that a handler behind
/// authentication gets its identity from the context and never runs without one, and that every
/// group's failures keep the request id and are counted under their status.
@Suite struct RouteGroupTests {
    static let openRoutes: Set<String> = ["GET /v1/health", "GET /v1/ready", "POST /v1/enroll"]
    static let deviceRoutes: Set<String> = ["POST /v1/hello", "POST /v1/push", "POST /v1/pull"]
    /// The rest of openapi.yaml's routes, but the live WebSocket (served outside the router).
    static let operatorRoutes = OpenAPITests.expected.subtracting(openRoutes).subtracting(deviceRoutes).subtracting(OpenAPITests.webSocketRoutes)

    static func request(_ route: String) -> (HTTPRequest.Method, String) {
        let parts = route.split(separator: " ")
        return (HTTPRequest.Method(rawValue: String(parts[0]))!, parts[1].replacingOccurrences(of: "{id}", with: "x"))
    }

    @Test func eachTokenOpensOnlyItsOwnGroup() async throws {
        let f = try await RouterFixture()
        let operatorToken = try await Self.operatorToken(f)
        #expect(Self.operatorRoutes.count == 11)
        try await f.app.test(.router) { client in
            let (_, deviceToken) = try await client.device(f)
            // Each group with the other group's token: refused as its own kind of token, in its
            // own format.
            for (routes, otherToken, missing, invalid, format) in [
                (Self.operatorRoutes, deviceToken, "operator_token_missing", "operator_token_invalid", "application/json"),
                (Self.deviceRoutes, operatorToken, "token_missing", "token_invalid", HTTPAPI.frameContentType),
            ] {
                for route in routes.sorted() {
                    let (method, uri) = Self.request(route)
                    let none = try await client.execute(uri: uri, method: method)
                    let other = try await client.execute(uri: uri, method: method, headers: bearer(otherToken))
                    #expect(none.status == .unauthorized && none.errorCode == missing, "\(route)")
                    #expect(other.status == .unauthorized && other.errorCode == invalid, "the wrong kind of token opened \(route)")
                    #expect(other.headers[.contentType] == format, "\(route)")
                }
            }
        }
    }

    /// openapi.yaml names the token each group takes: none on the open routes, an operator token
    /// on the admin API and `/metrics`, the document's default (a device token) elsewhere.
    @Test func theSpecNamesTheTokenEachGroupTakes() throws {
        var security: [String: String] = [:], path = "", operation = ""
        for line in try String(contentsOf: OpenAPITests.specURL(), encoding: .utf8).split(separator: "\n") {
            let indent = line.prefix { $0 == " " }.count, text = line.trimmingCharacters(in: .whitespaces)
            if indent == 2, text.hasPrefix("/") { path = String(text.dropLast()) }
            if indent == 4, !path.isEmpty { operation = "\(text.dropLast().uppercased()) \(path)" }
            if indent == 6, text.hasPrefix("security:") { security[operation] = String(text.dropFirst("security:".count)).trimmingCharacters(in: .whitespaces) }
            if indent == 0 { path = "" }
        }
        let open = Set(security.filter { $0.value == "[]" }.keys), operators = Set(security.filter { $0.value.contains("operatorToken") }.keys)
        #expect(open == Self.openRoutes)
        #expect(operators == Self.operatorRoutes)
        #expect(OpenAPITests.expected.subtracting(open).subtracting(operators) == Self.deviceRoutes.union(OpenAPITests.webSocketRoutes))
    }

    @Test func handlersGetTheIdentityFromTheirContext() async throws {
        let f = try await RouterFixture()
        let operatorToken = try await Self.operatorToken(f)
        let router = Router(context: BasicRequestContext.self)
        router.addRoutes(OpenRoutes.collection(f.service, failures: FailureLog(service: f.service)))
        router.authenticated(by: .devices(f.service), errors: .frame(SyncEndpoints(service: f.service)))
            .get("/device") { _, context in context.device.label }
        router.authenticated(by: .operators(f.service), errors: .json(FailureLog(service: f.service)))
            .get("/operator") { _, context in context.operatorLabel }
        try await Application(router: router).test(.router) { client in
            let (_, deviceToken) = try await client.device(f)
            let device = try await client.execute(uri: "/device", method: .get, headers: bearer(deviceToken))
            let op = try await client.execute(uri: "/operator", method: .get, headers: bearer(operatorToken))
            #expect(String(buffer: device.body) == "ana-laptop")
            #expect(String(buffer: op.body) == "test-operator")
        }
    }

    /// A group built without its authentication middleware refuses every request (and logs it
    /// as the server's trouble) instead of serving it to whoever asks.
    @Test func aHandlerNeverRunsWithoutAnIdentity() async throws {
        let f = try await RouterFixture()
        let ran = Locked(false)
        let router = Router(context: BasicRequestContext.self)
        router.group(context: SatchelRequestContext<DeviceInfo>.self)
            .add(middleware: ErrorRenderingMiddleware(.frame(SyncEndpoints(service: f.service))))
            .group(context: DeviceRequestContext.self)
            .post("/v1/hello") { _, _ in
                ran.value = true
                return "served"
            }
        try await Application(router: router).test(.router) { client in
            let r = try await client.execute(uri: "/v1/hello", method: .post, headers: [.authorization: "Bearer sat_anything"])
            #expect(r.status == .internalServerError && r.errorCode == "internal_error")
        }
        #expect(!ran.value)
    }

    /// Failures are answered inside the router's middleware: they carry `X-Request-Id` and the
    /// metrics count them under the status they were answered with.
    @Test func failuresKeepTheRequestIDAndAreCounted() async throws {
        let f = try await RouterFixture()
        try await f.app.test(.router) { client in
            for (method, uri) in [(HTTPRequest.Method.post, "/v1/push"), (.get, "/v1/admin/users"), (.post, "/v1/enroll")] {
                let r = try await client.execute(uri: uri, method: method)
                #expect(r.status.code >= 400 && r.headers[.requestID]?.isEmpty == false, "\(method) \(uri)")
            }
        }
        let counted = try Prometheus.parse(f.service.metrics.render())
        #expect(counted.value("satchel_http_requests_total", ["route": "/v1/push", "status": "401"]) == 1)
        #expect(counted.value("satchel_http_requests_total", ["route": "/v1/admin/users", "status": "401"]) == 1)
        #expect(counted.value("satchel_http_requests_total", ["route": "/v1/enroll", "status": "400"]) == 1)
    }

    static func operatorToken(_ f: RouterFixture) async throws -> String {
        var rng = SystemRandomNumberGenerator()
        let token = Credentials.newOperatorToken(using: &rng)
        try await f.store.createOperatorToken(hash: Credentials.hash(token: token), label: "test-operator", now: 1)
        return token
    }
}
