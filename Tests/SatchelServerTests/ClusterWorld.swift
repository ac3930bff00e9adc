import Foundation
import SatchelProtocol
import SatchelTestSupport

/// Three real `satchel-server serve --database URL` processes sharing one fresh PostgreSQL
/// database, provisioned with the operator commands run on that database as an operator would
/// (`space create`, `user add`, `member add`, `enroll`, `operator-token create`, each with
/// `--database`). An instance can be killed and started again on the same database; `up` is
/// what a load balancer's health check would route to.
final class ClusterWorld: Sendable {
    let dir = TemporaryDirectory()
    let database: String
    /// The instances by slot; a slot holds its latest process, dead or alive.
    private let instances: Locked<[ServerProcess]>
    /// Slots taking requests: a killed instance leaves this at once, a restarted one rejoins.
    private let upSlots: Locked<Set<Int>>
    let extraArguments: [String]

    static let space: SpaceID = "mission"

    /// Provisions `users` as writers of `mission` on a new database, then starts `count`
    /// instances on it. `extraArguments` go to every `serve`.
    init(users: [UserID] = ["ana"], count: Int = 3, extraArguments: [String] = []) async throws {
        database = try await TestPostgres.createDatabase()
        self.extraArguments = extraArguments
        // The first command migrates the new database; the others find it current.
        try await ServerProcess.run(["space", "create", Self.space.rawValue, "--database", database])
        for user in users {
            try await ServerProcess.run(["user", "add", user.rawValue, "--database", database])
            try await ServerProcess.run(["member", "add", "--space", Self.space.rawValue, "--user", user.rawValue, "--role", "writer", "--database", database])
        }
        var started: [ServerProcess] = []
        for slot in 0..<count {
            started.append(try await Self.start(slot, dir: dir, database: database, extraArguments: extraArguments))
        }
        instances = Locked(started)
        upSlots = Locked(Set(0..<count))
    }

    static func start(_ slot: Int, dir: TemporaryDirectory, database: String, extraArguments: [String]) async throws -> ServerProcess {
        // Each instance gets a data directory of its own: with --database nothing of the store
        // is kept there, and no two processes should share one anyway.
        try await ServerProcess(data: dir.file("instance-\(slot)"), extraArguments: ["--database", database] + extraArguments)
    }

    func instance(_ slot: Int) -> ServerProcess { instances.withLock { $0[slot] } }
    var count: Int { instances.withLock { $0.count } }

    /// The URL of a random instance taking requests.
    func randomURL() -> String {
        let slot = upSlots.withLock { $0.randomElement() }
        return instance(slot ?? 0).url
    }

    /// kill -9 on `slot`'s process; it stops taking requests once it is dead (requests sent
    /// meanwhile find it refusing connections, as they would before a health check notices).
    func kill9(_ slot: Int) {
        instance(slot).kill9()
        upSlots.withLock { _ = $0.remove(slot) }
    }

    /// Starts `slot` again on the same database (on a new port) and routes to it again.
    func restart(_ slot: Int) async throws {
        let process = try await Self.start(slot, dir: dir, database: database, extraArguments: extraArguments)
        instances.withLock { $0[slot] = process }
        upSlots.withLock { _ = $0.insert(slot) }
    }

    /// A one-time enrollment code for `user`, made by `satchel-server enroll --database`.
    func enrollmentCode(for user: UserID) async throws -> String {
        let out = try await ServerProcess.run(["enroll", "--user", user.rawValue, "--database", database, "--json"])
        guard let json = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], let code = json["code"] as? String else {
            throw TestFailure("enroll printed no code: \(out)")
        }
        return code
    }

    /// An operator token for the admin API of every instance, made on the database.
    func operatorToken() async throws -> String {
        let out = try await ServerProcess.run(["operator-token", "create", "--database", database, "--json"])
        guard let json = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], let token = json["token"] as? String else {
            throw TestFailure("operator-token create printed no token: \(out)")
        }
        return token
    }

    func terminateAll() {
        for slot in 0..<count { _ = instance(slot).terminate(within: .seconds(10)) }
    }
}
