import Foundation
public import SatchelProtocol
public import SatchelServer
public import SatchelServerCore
public import SatchelServerSQLite

/// The real `satchel-server` on loopback, serving a data directory provisioned in process
/// through the server library (spaces, users and their roles; enrollment codes on demand).
/// Tests of the operator commands run those commands themselves (`ServerProcess.run`); every
/// other test that needs a running server starts from here.
public struct ServerWorld: Sendable {
    public let dir = TemporaryDirectory()
    public let data: String
    public let server: ServerProcess

    /// What most client tests sync: notes in `mission`, the briefing read-only.
    public static let missionAndBriefing: [SpaceID: Role] = ["mission": .writer, "briefing": .reader]

    /// Gives each of `users` `roles` (creating the spaces), then starts the server. `data`
    /// places the data directory elsewhere than in `dir` (on a small disk, say); the rest goes
    /// to `ServerProcess`.
    public init(
        users: [UserID] = ["ana", "bob"], roles: [SpaceID: Role] = ["mission": .writer], data: String? = nil,
        extraArguments: [String] = [], logLevel: String = "warning", logFile: String? = nil
    ) async throws {
        self.data = data ?? dir.file("data")
        try await Self.provision(data: self.data, users: users, roles: roles)
        server = try await ServerProcess(data: self.data, extraArguments: extraArguments, logLevel: logLevel, logFile: logFile)
    }

    /// Provisions a data directory without starting a server (for tests that start their own).
    public static func provision(data: String, users: [UserID], roles: [SpaceID: Role]) async throws {
        try await withStore(data) { try await $0.provision(users: users, roles: roles, now: Self.now()) }
    }

    /// A fresh one-time enrollment code for `user`, valid for an hour.
    public func enrollmentCode(for user: UserID) async throws -> String {
        try await Self.enrollmentCode(data: data, user: user)
    }

    /// The same for a data directory provisioned with `provision(data:users:roles:)`.
    public static func enrollmentCode(data: String, user: UserID) async throws -> String {
        try await withStore(data) { try await $0.enrollmentCode(for: user, now: Self.now()) }
    }

    /// Runs `body` on the data directory's store, opened as the operator commands open it (also
    /// while the server runs), and closes it whether `body` throws or not.
    public static func withStore<T: Sendable>(_ data: String, _ body: (any ServerStore) async throws -> T) async throws -> T {
        let store = try await SatchelServerApp.openStore(ServerConfiguration(dataDirectory: data))
        do {
            let result = try await body(store)
            await store.close()
            return result
        } catch {
            await store.close()
            throw error
        }
    }

    static func now() -> Timestamp { Timestamp(Date().timeIntervalSince1970 * 1000) }
}

extension ServerStore {
    /// Gives each of `users` `roles`, creating the users and spaces that are missing.
    public func provision(users: [UserID], roles: [SpaceID: Role], now: Timestamp = 1) async throws {
        let existing = Set(try await allSpaces())
        for space in roles.keys.sorted() where !existing.contains(space) { try await createSpace(space, now: now) }
        let known = Set(try await self.users().map(\.id))
        for user in users {
            if !known.contains(user) { try await createUser(user, now: now) }
            for (space, role) in roles { try await setRole(role, user: user, space: space) }
        }
    }

    /// A fresh one-time enrollment code for `user`, valid until `expiresAt` (an hour after `now`
    /// by default).
    public func enrollmentCode(for user: UserID, now: Timestamp, expiresAt: Timestamp? = nil) async throws -> String {
        var rng = SystemRandomNumberGenerator()
        let code = Credentials.newEnrollmentCode(using: &rng)
        try await createEnrollment(codeHash: Credentials.hash(code: code), user: user, label: nil, expiresAt: expiresAt ?? now + 3_600_000, now: now)
        return code
    }
}
