import Foundation
import Hummingbird
import HummingbirdTesting
import SatchelProtocol
@testable import SatchelSQLite
import Testing
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite

/// One code, one status: `ErrorStatus` gives every error the status PROTOCOL.md §14.1 and
/// openapi.yaml document, on every route.
@Suite struct ErrorStatusTests {
    static let storeCodes: [(StoreError.Code, Int)] = [
        (.unknownDevice, 404), (.unknownUser, 404), (.unknownSpace, 404),
        (.enrollmentInvalid, 401), (.enrollmentUsed, 409), (.enrollmentExpired, 410),
        (.closed, 503), (.backupFailed, 500), (.beyondHead, 400),
        // Raised only by local commands today, so the default.
        (.spaceExists, 400), (.userExists, 400), (.dataDirectoryBusy, 400), (.restoreRefused, 400),
    ]
    static let frameCodes: [(FrameError.Code, Int)] = [
        (.tooLarge, 413), (.decompressionBomb, 413),
        (.truncated, 400), (.badMagic, 400), (.unsupportedVersion, 400), (.unknownMessageType, 400),
        (.checksumMismatch, 400), (.corrupt, 400), (.malformed, 400),
    ]
    /// Every schema refusal that escapes as a request error is the client's: 400.
    static let rejectionCodes: [RejectionCode] = [
        .invalidIdentifier, .invalidName, .unknownCollection, .unknownField, .typeMismatch, .missingField,
        .tooLong, .invalidValue, .readOnlyCollection, .recordNotFound, .invalidBaseVersion, .baseExpired,
        .diffBaseMismatch, .invalidDiff, .clockTooFarAhead, .forbidden, .wrongDevice, .mutationIDTaken,
        .deviceCopied,
    ]

    /// Every code of the errors below the HTTP edge, with the status it must answer.
    static let expected: [(error: any SatchelError, status: Int)] =
        storeCodes.map { (StoreError($0.0, "test"), $0.1) }
        + frameCodes.map { (FrameError($0.0, "test"), $0.1) }
        + rejectionCodes.map { (Rejection($0, "test"), 400) }

    @Test(arguments: expected)
    func everyCodeAnswersItsStatus(error: any SatchelError, status: Int) {
        let answer = APIError(answering: error)
        #expect(answer.status == status)
        #expect(answer.code == error.codeName)
    }

    @Test func serverTroubleHasItsOwnCodes() {
        #expect(APIError(answering: SQLiteError(code: 13, message: "database or disk is full", sql: "INSERT")).status == 507)
        #expect(APIError(answering: CocoaError(.fileWriteUnknown)).status == 500)
    }

    @Test func anUnknownDeviceIs404OnTheAdminAPIAndOnTheSyncRoutes() async throws {
        let f = try await RouterFixture()
        var rng = SystemRandomNumberGenerator()
        let operatorToken = Credentials.newOperatorToken(using: &rng)
        try await f.store.createOperatorToken(hash: Credentials.hash(token: operatorToken), label: "test", now: 1)
        try await f.app.test(.router) { client in
            for (method, uri) in [
                (HTTPRequest.Method.get, "/v1/admin/devices/d-nope"), (.post, "/v1/admin/devices/d-nope/revoke"),
                (.post, "/v1/admin/devices/d-nope/rebootstrap?space=mission"),
            ] {
                let r = try await client.execute(uri: uri, method: method, headers: bearer(operatorToken))
                #expect(r.status == .notFound && r.errorCode == "unknown_device", "\(method) \(uri)")
            }
        }
        // A frame route answers a store error the same way (the simulation's path, no HTTP).
        let failure = SyncEndpoints(service: f.service).failure(StoreError(.unknownDevice, "device 'd-nope' does not exist"))
        #expect(failure.status == 404 && failure.error.code == "unknown_device")
        guard case .error(let frame) = try Frame.decode(failure.frame, maxPayloadBytes: 1 << 20) else {
            Issue.record("expected an error frame")
            return
        }
        #expect(frame.code == "unknown_device")
    }

    @Test func protocolMarkdownDocumentsTheTable() throws {
        let documented = Self.documentedCodes(inMarkdown: try String(contentsOf: Self.specURL("PROTOCOL.md"), encoding: .utf8))
        #expect(documented.count > 30)
        for (status, code) in documented {
            #expect(ErrorStatus.of(code) == status, "PROTOCOL.md §14.1 says \(code) is \(status)")
        }
    }

    @Test func openAPIDocumentsTheTable() throws {
        let documented = Self.documentedCodes(inYAML: try String(contentsOf: Self.specURL("openapi.yaml"), encoding: .utf8))
        #expect(documented.contains { $0 == (404, "unknown_device") })
        #expect(documented.contains { $0 == (503, "store_closed") })
        for (status, code) in documented {
            #expect(ErrorStatus.of(code) == status, "openapi.yaml lists \(code) under \(status)")
        }
    }

    // MARK: reading the documents

    static func specURL(_ name: String) -> URL {
        OpenAPITests.specURL().deletingLastPathComponent().appendingPathComponent(name)
    }

    /// The (status, code) pairs of the table in §14.1: rows whose first cell is a status, every
    /// `snake_case` code quoted in the second cell.
    static func documentedCodes(inMarkdown text: String) -> [(Int, String)] {
        guard let start = text.range(of: "### 14.1 Errors") else { return [] }
        let section = text[start.upperBound...]
        let end = section.range(of: "\n### ")?.lowerBound ?? section.endIndex
        var pairs: [(Int, String)] = []
        for line in section[..<end].split(separator: "\n") where line.hasPrefix("| ") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count > 1, let status = Int(cells[0]) else { continue }
            pairs += quotedCodes(cells[1]).map { (status, $0) }
        }
        return pairs
    }

    /// The (status, code) pairs of openapi.yaml: each path response's `x-error-codes`, and
    /// those of a component response it refers to (`$ref: "#/components/responses/Name"`).
    /// A line-based reading of the layout the file uses, like `OpenAPITests.operations`.
    static func documentedCodes(inYAML text: String) -> [(Int, String)] {
        var section = "", component: String?, status: Int?
        var componentCodes: [String: [String]] = [:], references: [(Int, String)] = [], pairs: [(Int, String)] = []
        var readingList = false  // inside a block list after `x-error-codes:`
        func add(_ code: String) {
            if section == "components", let component { componentCodes[component, default: []].append(code) }
            if section == "paths", let status { pairs.append((status, code)) }
        }
        for raw in text.split(separator: "\n") {
            let line = String(raw), trimmed = line.trimmingCharacters(in: .whitespaces)
            let indent = line.prefix { $0 == " " }.count
            if readingList, trimmed.hasPrefix("- ") {
                add(String(trimmed.dropFirst(2)))
                continue
            }
            readingList = false
            let key = trimmed.prefix { $0 != ":" }
            if indent == 0 { section = String(key) }
            if section == "components", indent == 4 { component = String(key) }
            if section == "components", indent == 2 { component = nil }
            if section == "paths", indent <= 8 {
                status = indent == 8 && key.count == 5 && key.hasPrefix("\"") ? Int(key.dropFirst().dropLast()) : nil
            }
            if section == "paths", let status, let ref = line.range(of: "#/components/responses/") {
                references.append((status, String(line[ref.upperBound...].prefix { $0.isLetter })))
            }
            if trimmed.hasPrefix("x-error-codes:") {
                let list = trimmed.dropFirst("x-error-codes:".count).trimmingCharacters(in: .whitespaces)
                if list.isEmpty { readingList = true } else { quotedCodes(list, quoted: false).forEach(add) }
            }
        }
        return pairs + references.flatMap { status, name in (componentCodes[name] ?? []).map { (status, $0) } }
    }

    /// The snake_case words of `text`: all of them, or (`quoted`) only those in backticks.
    static func quotedCodes(_ text: some StringProtocol, quoted: Bool = true) -> [String] {
        let words: [Substring]
        if quoted {
            // Split on backticks, the quoted words are every second piece.
            let pieces = String(text).split(separator: "`", omittingEmptySubsequences: false)
            words = pieces.indices.filter { $0 % 2 == 1 }.map { pieces[$0] }
        } else {
            words = String(text).split { !($0.isLetter || $0 == "_") }
        }
        return words.map(String.init).filter { word in !word.isEmpty && word.allSatisfy { $0.isLowercase || $0 == "_" } }
    }
}
