import Foundation
import SatchelTestSupport
import Hummingbird
import HummingbirdTesting
import Testing
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite

/// Keeps `Protocol/openapi.yaml` honest: it must list exactly the server's routes, and every
/// HTTP route it lists must be one the router answers.
@Suite struct OpenAPITests {
    /// Every route the server has, as "METHOD /path". `/v1/live` is the WebSocket upgrade
    /// (served by `HTTPAPI.server`, not the router).
    static let expected: Set<String> = [
        "GET /v1/health",
        "GET /v1/ready",
        "POST /v1/enroll",
        "POST /v1/hello",
        "POST /v1/push",
        "POST /v1/pull",
        "GET /v1/live",
        "GET /v1/admin/devices", "GET /v1/admin/devices/{id}", "POST /v1/admin/devices/{id}/revoke",
        "POST /v1/admin/devices/{id}/rebootstrap", "GET /v1/admin/users", "POST /v1/admin/users/{id}/disable",
        "GET /v1/admin/spaces", "GET /v1/admin/spaces/{id}/export", "POST /v1/admin/compact", "POST /v1/admin/backup",
        "GET /metrics",
    ]

    static let webSocketRoutes: Set<String> = ["GET /v1/live"]

    /// `Protocol/openapi.yaml`, found from this file: Tests/SatchelServerTests/ → repo root.
    static func specURL(filePath: String = #filePath) -> URL {
        URL(fileURLWithPath: filePath)
            .deletingLastPathComponent()  // Tests/SatchelServerTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // repo root
            .appendingPathComponent("Protocol")
            .appendingPathComponent("openapi.yaml")
    }

    /// The operations under the top-level `paths:` key, as "METHOD /path". A line-based reading
    /// of the layout openapi.yaml uses: path keys indented by 2 spaces, methods by 4. Blank lines
    /// and comments are skipped; deeper lines (descriptions, block scalars) are ignored.
    static func operations(inYAML text: String) -> Set<String> {
        let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        var result: Set<String> = []
        var inPaths = false
        var currentPath: String?
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.hasSuffix("\r") ? String(raw.dropLast()) : String(raw)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let indent = line.prefix(while: { $0 == " " }).count
            if indent == 0 {
                // A top-level key: `paths:` starts the section, any other key ends it.
                inPaths = trimmed == "paths:"
                currentPath = nil
                continue
            }
            guard inPaths, let colon = trimmed.firstIndex(of: ":") else { continue }
            var key = String(trimmed[..<colon])
            if key.count >= 2, let first = key.first, first == "'" || first == "\"", key.last == first {
                key = String(key.dropFirst().dropLast())
            }
            if indent == 2 {
                currentPath = key.hasPrefix("/") ? key : nil
            } else if indent == 4, let path = currentPath, methods.contains(key.lowercased()) {
                result.insert("\(key.uppercased()) \(path)")
            }
        }
        return result
    }

    @Test func theParserReadsOnlyPathsAndMethods() {
        let yaml = """
            openapi: 3.1.0
            info:
              title: x
            paths:
              /a:
                get:
                  description: |
                    post: not a method
                  responses: {}
                summary: not a method
              '/b':

                # a comment
                post:
                  responses: {}
            components:
              /c:
                get: {}
            """
        #expect(Self.operations(inYAML: yaml) == ["GET /a", "POST /b"])
    }

    @Test func theSpecListsExactlyTheServersRoutes() throws {
        let url = Self.specURL()
        let text = try String(contentsOf: url, encoding: .utf8)
        let found = Self.operations(inYAML: text)
        #expect(found == Self.expected, "in openapi.yaml but not the server: \(found.subtracting(Self.expected).sorted()); missing from openapi.yaml: \(Self.expected.subtracting(found).sorted())")
    }

    @Test func everyHTTPRouteInTheSpecIsServedByTheRouter() async throws {
        let text = try String(contentsOf: Self.specURL(), encoding: .utf8)
        let routes = Self.operations(inYAML: text).subtracting(Self.webSocketRoutes).sorted()
        #expect(!routes.isEmpty)
        let f = try await RouterFixture()
        try await f.app.test(.router) { client in
            for route in routes {
                let parts = route.split(separator: " ", maxSplits: 1).map(String.init)
                let method = try #require(HTTPRequest.Method(rawValue: parts[0]), "unknown method in \(route)")
                let r = try await client.execute(uri: parts[1].replacingOccurrences(of: "{id}", with: "x"), method: method)
                #expect(r.status != .notFound, "\(route) is in openapi.yaml but the router answers 404")
            }
        }
    }
}
