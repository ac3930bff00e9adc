import ArgumentParser
import Foundation
import SatchelProtocol
import SatchelServer
import SatchelServerCore
import SatchelServerSQLite

struct SpaceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "space", abstract: "Manage spaces (sync scopes).",
        subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a space.", discussion: "Example:\n  satchel-server space create mission-cn-2026")
        @OptionGroup var common: CommonOptions
        @Argument(help: "The space's id: 1–64 characters of A–Z a–z 0–9 . _ : -") var name: String

        func run() async throws {
            let space = try parseID(SpaceID.self, name)
            let store = try await common.openStore()
            try await operatorAction { try await store.createSpace(space, now: nowMillis()) }
            await store.close()
            emit(common, text: "created space \(space)", json: ["space": space.rawValue, "created": true])
        }
    }
}

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage users.", subcommands: [Add.self, List.self, Disable.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a user.", discussion: "Example:\n  satchel-server user add ana")
        @OptionGroup var common: CommonOptions
        @Argument(help: "The user's id: 1–64 characters of A–Z a–z 0–9 . _ : -") var name: String

        func run() async throws {
            let user = try parseID(UserID.self, name)
            let store = try await common.openStore()
            try await operatorAction { try await store.createUser(user, now: nowMillis()) }
            await store.close()
            emit(common, text: "added user \(user)", json: ["user": user.rawValue, "created": true])
        }
    }
}

struct MemberCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "member", abstract: "Manage who may use a space.", subcommands: [Add.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give a user a role in a space (replacing any earlier role).",
            discussion: "Example:\n  satchel-server member add --space mission-cn-2026 --user ana --role writer")
        @OptionGroup var common: CommonOptions
        @Option(help: "The space.") var space: String
        @Option(help: "The user.") var user: String
        @Option(help: "reader (pull), writer (pull and push) or owner.") var role: String

        func run() async throws {
            let spaceID = try parseID(SpaceID.self, space)
            let userID = try parseID(UserID.self, user)
            guard let r = Role(rawValue: role) else { throw ValidationError("unknown role '\(role)'; use reader, writer or owner") }
            let store = try await common.openStore()
            try await operatorAction { try await store.setRole(r, user: userID, space: spaceID) }
            await store.close()
            emit(common, text: "\(userID) is now \(r.rawValue) of \(spaceID)", json: ["space": spaceID.rawValue, "user": userID.rawValue, "role": r.rawValue])
        }
    }
}

struct Enroll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a one-time enrollment code a device exchanges for its token.",
        discussion: """
            The code is shown once and stored only as a hash. On the device: satchel join URL CODE

            Example:
              satchel-server enroll --user ana --device ana-laptop --expires 24h
            """)
    @OptionGroup var common: CommonOptions
    @Option(help: "The user the device will belong to.") var user: String
    @Option(help: "A label for the device, shown to operators.") var device: String?
    @Option(help: "How long the code stays valid: 30m, 24h, 7d …") var expires = "24h"

    func run() async throws {
        let userID = try parseID(UserID.self, user)
        let validity = try parseDuration(expires)
        let store = try await common.openStore()
        var rng = SystemRandomNumberGenerator()
        let code = Credentials.newEnrollmentCode(using: &rng)
        let expiresAt = nowMillis() + validity
        try await operatorAction {
            try await store.createEnrollment(codeHash: Credentials.hash(code: code), user: userID, label: device, expiresAt: expiresAt, now: nowMillis())
        }
        await store.close()
        let when = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(expiresAt) / 1000))
        emit(common, text: "enrollment code for \(userID): \(code) (valid until \(when))",
             json: ["user": userID.rawValue, "code": code, "expiresAt": when, "device": device ?? NSNull()])
    }
}

/// Parses an id, turning a bad one into a usage error that says what is allowed.
func parseID<K>(_: Identifier<K>.Type, _ raw: String) throws -> Identifier<K> {
    do { return try Identifier<K>(raw) } catch { throw ValidationError(error.message) }
}
