import Foundation
public import SatchelProtocol
public import SatchelServerCore
public import SatchelServerPostgres
import Synchronization

/// The throwaway PostgreSQL server `make test` starts (scripts/with-postgres.sh), and new,
/// empty databases on it: one per test, so tests running at once never see each other's rows.
public enum TestPostgres {
    /// The server's `postgres` database, from SATCHEL_TEST_POSTGRES.
    public static func serverURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["SATCHEL_TEST_POSTGRES"] else {
            throw TestFailure("SATCHEL_TEST_POSTGRES is not set: run the suite with `make test`, or under scripts/with-postgres.sh")
        }
        return url
    }

    private static let counter = Atomic<Int>(0)

    /// Creates a new database and returns its URL.
    public static func createDatabase() async throws -> String {
        let name = "satchel_\(ProcessInfo.processInfo.processIdentifier)_\(counter.add(1, ordering: .relaxed).newValue)_\(UInt32.random(in: 0 ... .max))"
        return try await PostgresLocation(url: serverURL()).createDatabase(named: name).url
    }

    /// A store object on the database at `url`: small pools (many tests run at once) and a
    /// quick feed poll.
    public static func open(_ url: String, clock: @escaping @Sendable () -> Timestamp = StoreDefaults.wallClock) async throws -> PostgresServerStore {
        // The whole suite runs at once on two cores: opening (a migration is some thirty
        // statements, each a hop through the busy cooperative pool) can take seconds.
        let started = ContinuousClock.now
        let store = try await PostgresServerStore.open(
            PostgresLocation(url: url), clock: clock, maxConnections: 4, feedPollInterval: .milliseconds(200), connectWithin: .seconds(120))
        let took = ContinuousClock.now - started
        if took > .seconds(3) { print("opening a PostgreSQL store took \(took) (the machine is busy)") }
        return store
    }
}
