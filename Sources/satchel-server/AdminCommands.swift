import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import SatchelProtocol
import SatchelServer
import SatchelServerCore
import SatchelServerSQLite

/// Where operator commands act: on a running server through its admin API (`--server URL`
/// with an operator token), or directly on a data directory (the default).
struct TargetOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Act on this running server through its admin API instead of a data directory.", valueName: "url"))
    var server: String?

    @Option(help: ArgumentHelp("Operator token for --server; it shows in `ps`, so prefer SATCHEL_OPERATOR_TOKEN or --token-file. [env: SATCHEL_OPERATOR_TOKEN]", valueName: "token"))
    var token: String?

    @Option(name: .customLong("token-file"), help: ArgumentHelp("Read the operator token for --server from this file (`-`: stdin).", valueName: "file"))
    var tokenFile: String?

    /// The operator token: --token, then --token-file, then SATCHEL_OPERATOR_TOKEN.
    func operatorToken() throws -> String? {
        if let token { return token }
        if let tokenFile {
            let text: String?
            if tokenFile == "-" {
                text = readLine(strippingNewline: true)
            } else {
                text = try? String(contentsOfFile: tokenFile, encoding: .utf8)
            }
            guard let text else { throw ValidationError("cannot read the operator token file '\(tokenFile)'; check the path and its permissions") }
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else { throw ValidationError("the operator token file '\(tokenFile)' is empty; put the sop_… token from `satchel-server operator-token create` in it") }
            return token
        }
        return ProcessInfo.processInfo.environment["SATCHEL_OPERATOR_TOKEN"]
    }

    /// Calls the admin API and decodes its JSON answer.
    func remote<T: Decodable>(_ method: String, _ path: String, as: T.Type) async throws -> T {
        guard let server else { preconditionFailure("remote() without --server") }
        let request = try authorizedRequest(method, path)
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(15))
            body = try await response.body.collect(upTo: 16 << 20)
        } catch {
            fail("cannot reach \(server) (\(error)); check the URL and that the server runs")
        }
        let data = Data(body.readableBytesView)
        guard response.status == .ok else {
            let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
            let message = (json?["error"] as? [String: Any])?["message"] as? String ?? "HTTP \(response.status.code)"
            fail(message)
        }
        return try JSONDecoder().decode(T.self, from: data)
    }

    func authorizedRequest(_ method: String, _ path: String) throws -> HTTPClientRequest {
        guard let server else { preconditionFailure("a remote call without --server") }
        guard let token = try operatorToken() else {
            throw ValidationError("--server needs an operator token: set SATCHEL_OPERATOR_TOKEN or pass --token-file FILE (make one with `satchel-server operator-token create`)")
        }
        var request = HTTPClientRequest(url: (server.hasSuffix("/") ? String(server.dropLast()) : server) + path)
        request.method = method == "POST" ? .POST : .GET
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        return request
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    Foundation.exit(1)
}

/// Runs `body` with an AdminService on the local data directory.
func local<T>(_ common: CommonOptions, _ body: (AdminService) async throws -> T) async throws -> T {
    let store = try await common.openStore()
    do {
        let value = try await operatorAction { try await body(AdminService(store: store, now: nowMillis)) }
        await store.close()
        return value
    } catch {
        await store.close()
        throw error
    }
}

func printJSON(_ value: some Encodable) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
    print(String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self))
}

func table(_ rows: [[String]]) -> String {
    guard let first = rows.first else { return "" }
    let widths = first.indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
    return rows.map { row in row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ") }
        .joined(separator: "\n")
}

struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device", abstract: "See and revoke devices.", subcommands: [List.self, Show.self, Revoke.self, Rebootstrap.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List devices with their user, last contact and status.",
            discussion: """
                Examples:
                  satchel-server device list
                  satchel-server device list --user ana --server https://sync.example.org --token-file ~/.satchel-operator-token --json
                  SATCHEL_OPERATOR_TOKEN=sop_… satchel-server device list --server https://sync.example.org
                """)
        @OptionGroup var common: CommonOptions
        @OptionGroup var target: TargetOptions
        @Option(help: "Only this user's devices.") var user: String?

        func run() async throws {
            let devices: [AdminDevice]
            if target.server != nil {
                devices = try await target.remote("GET", "/v1/admin/devices" + (user.map { "?user=\($0)" } ?? ""), as: [AdminDevice].self)
            } else {
                let u = try user.map { try parseID(UserID.self, $0) }
                devices = try await local(common) { try await $0.devices(user: u) }
            }
            if common.json { return printJSON(devices) }
            if devices.isEmpty { return print("no devices yet; make an enrollment code with `satchel-server enroll --user NAME`") }
            print(table([["DEVICE", "USER", "LABEL", "LAST SEEN", "STATUS"]] + devices.map { [$0.id, $0.user, $0.label, $0.lastSeen ?? "never", $0.status] }))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Everything about one device: last sync, what it has not pulled, refused writes, open conflicts.",
            discussion: "Example:\n  satchel-server device show d-01hq3v9k2m8x7c4n5p6r7s8t9v")
        @OptionGroup var common: CommonOptions
        @OptionGroup var target: TargetOptions
        @Argument(help: "The device id (see `device list`).") var id: String

        func run() async throws {
            let detail: AdminDeviceDetail
            if target.server != nil {
                detail = try await target.remote("GET", "/v1/admin/devices/\(id)", as: AdminDeviceDetail.self)
            } else {
                let d = try parseID(DeviceID.self, id)
                detail = try await local(common) { try await $0.device(d) }
            }
            if common.json { return printJSON(detail) }
            let d = detail.device
            print("device \(d.id) (\(d.label)) of user \(d.user): \(d.status)")
            print("  client: \(d.client ?? "unknown")   first seen: \(d.firstSeen)   last seen: \(d.lastSeen ?? "never")")
            print("  last successful sync: \(detail.lastSuccessfulSync ?? "never")")
            for s in detail.spaces { print("  space \(s.space): pulled to version \(s.cursor), \(s.notYetPulled) changes not yet pulled") }
            print("  refused writes: \(detail.rejected.count)")
            for r in detail.rejected { print("    \(r.mutation): \(r.code): \(r.message)") }
            print("  open conflicts: \(detail.openConflicts.count)")
            for c in detail.openConflicts { print("    \(c)") }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a device: its next request is refused and its live connection closes.",
            discussion: """
                The live connection closes at once through --server, and within a second on a data
                directory a running server serves (it reads the change feed from the database).

                Example:
                  satchel-server device revoke d-01hq3v9k2m8x7c4n5p6r7s8t9v --server https://sync.example.org
                """)
        @OptionGroup var common: CommonOptions
        @OptionGroup var target: TargetOptions
        @Argument(help: "The device id.") var id: String

        func run() async throws {
            let device: AdminDevice
            if target.server != nil {
                device = try await target.remote("POST", "/v1/admin/devices/\(id)/revoke", as: AdminDevice.self)
            } else {
                let d = try parseID(DeviceID.self, id)
                device = try await local(common) { try await $0.revoke(d) }
            }
            if common.json { return printJSON(device) }
            print("revoked device \(device.id) (\(device.label)) of user \(device.user)")
        }
    }
}

extension UserCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List users.", discussion: "Example:\n  satchel-server user list --json")
        @OptionGroup var common: CommonOptions
        @OptionGroup var target: TargetOptions

        func run() async throws {
            let users: [AdminUser] = target.server != nil
                ? try await target.remote("GET", "/v1/admin/users", as: [AdminUser].self)
                : try await local(common) { try await $0.users() }
            if common.json { return printJSON(users) }
            print(table([["USER", "ADDED", "DEVICES", "STATUS"]] + users.map { [$0.id, $0.added, String($0.devices), $0.disabledAt == nil ? "active" : "disabled"] }))
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disable a user: all their devices are refused from now on.",
            discussion: "Example:\n  satchel-server user disable ana")
        @OptionGroup var common: CommonOptions
        @OptionGroup var target: TargetOptions
        @Argument(help: "The user.") var name: String

        func run() async throws {
            let user: AdminUser
            if target.server != nil {
                user = try await target.remote("POST", "/v1/admin/users/\(name)/disable", as: AdminUser.self)
            } else {
                let u = try parseID(UserID.self, name)
                user = try await local(common) { try await $0.disable(u) }
            }
            if common.json { return printJSON(user) }
            print("disabled user \(user.id) (\(user.devices) devices refused from now on)")
        }
    }
}

extension SpaceCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List spaces with their latest version and history horizon.",
            discussion: "Example:\n  satchel-server space list --server https://sync.example.org")
        @OptionGroup var common: CommonOptions
        @OptionGroup var target: TargetOptions

        func run() async throws {
            let spaces: [AdminSpace] = target.server != nil
                ? try await target.remote("GET", "/v1/admin/spaces", as: [AdminSpace].self)
                : try await local(common) { try await $0.spaces() }
            if common.json { return printJSON(spaces) }
            print(table([["SPACE", "VERSION", "HISTORY FROM"]] + spaces.map { [$0.id, String($0.head), String($0.horizon)] }))
        }
    }
}

struct OperatorTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator-token", abstract: "Make tokens for the admin API.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an operator token (shown once, stored as a hash) on the data directory.",
            discussion: "Example:\n  satchel-server operator-token create --label laptop-of-the-mission-lead")
        @OptionGroup var common: CommonOptions
        @Option(help: "Who or what holds the token.") var label = "operator"

        func run() async throws {
            var rng = SystemRandomNumberGenerator()
            let token = Credentials.newOperatorToken(using: &rng)
            let store = try await common.openStore()
            try await store.createOperatorToken(hash: Credentials.hash(token: token), label: label, now: nowMillis())
            await store.close()
            emit(common, text: "operator token (shown once; keep it safe): \(token)", json: ["token": token, "label": label])
        }
    }
}
