import Foundation
public import Logging
import NIOPosix
public import PostgresNIO
import SatchelServerCore

/// Where a PostgreSQL database is, as an operator writes it:
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require]`
/// (`postgresql://` too; port 5432 by default; a password is better given as `PGPASSWORD`, since
/// a URL on a command line shows in `ps`).
///
/// ```swift
/// let location = try PostgresLocation(url: "postgres://satchel@127.0.0.1:5432/satchel")
/// ```
public struct PostgresLocation: Sendable, Hashable, CustomStringConvertible {
    public enum TLS: String, Sendable, Hashable {
        /// Plain TCP: loopback or a private network only.
        case disable
        /// TLS when the server offers it (libpq's default).
        case prefer
        /// TLS or no connection.
        case require
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLS

    /// Reads `url`; a URL that is not one refuses with what to write instead.
    public init(url: String) throws { try self.init(url: url, environment: ProcessInfo.processInfo.environment) }

    /// Reads `url`, with `PGPASSWORD` from `environment` when the URL holds no password.
    public init(url: String, environment: [String: String]) throws {
        func refuse(_ why: String) -> StoreError {
            StoreError(.invalidDatabaseURL, "cannot use database URL '\(Self.redacting(url))': \(why); write it as postgres://USER@HOST:PORT/DATABASE")
        }
        guard let parts = URLComponents(string: url), let scheme = parts.scheme, ["postgres", "postgresql"].contains(scheme) else {
            throw refuse("it must start with postgres://")
        }
        guard let host = parts.host, !host.isEmpty else { throw refuse("it names no host") }
        guard let user = parts.user, !user.isEmpty else { throw refuse("it names no user") }
        let database = String(parts.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { throw refuse("it names no database (the path after the host)") }
        var tls = TLS.prefer
        for item in parts.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(TLS.init(rawValue:)) else { throw refuse("sslmode must be disable, prefer or require") }
                tls = mode
            case "application_name", "connect_timeout":
                continue
            default:
                throw refuse("unknown parameter '\(item.name)'")
            }
        }
        self.host = host
        self.port = parts.port ?? 5432
        self.user = user.removingPercentEncoding ?? user
        self.password = parts.password?.removingPercentEncoding ?? environment["PGPASSWORD"]
        self.database = database.removingPercentEncoding ?? database
        self.tls = tls
    }

    /// The URL without its password: what logs and messages show.
    public var description: String { "postgres://\(user)@\(host):\(port)/\(database)" }

    static func redacting(_ url: String) -> String {
        guard var parts = URLComponents(string: url), parts.password != nil else { return url }
        parts.password = "***"
        return parts.string ?? url
    }

    /// Creates the database `name` on this server (connecting to this location's database, such
    /// as `postgres`) and returns its location: for tests and benchmarks that want a new one.
    public func createDatabase(named name: String) async throws -> PostgresLocation {
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw StoreError(.invalidDatabaseURL, "database name '\(name)' must be letters, digits and _")
        }
        let logger = Logger(label: "satchel.postgres.admin")
        let connection = try await connect(logger: logger)
        do {
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
        var created = self
        created.database = name
        return created
    }

    /// The location as a URL, without its password (give that in PGPASSWORD).
    public var url: String {
        var parts = URLComponents()
        parts.scheme = "postgres"
        parts.user = user
        parts.host = host
        parts.port = port
        parts.path = "/" + database
        if tls != .prefer { parts.queryItems = [URLQueryItem(name: "sslmode", value: tls.rawValue)] }
        return parts.string ?? description
    }

    /// One connection of its own to the database (not pooled): for a check, an administrative
    /// statement, a benchmark's baseline. Close it when done.
    public func connect(logger: Logger) async throws -> PostgresConnection {
        try await PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(), configuration: connectionConfiguration, id: 0, logger: logger)
    }

    /// One connection's configuration, for a first check that the database can be used.
    var connectionConfiguration: PostgresConnection.Configuration {
        PostgresConnection.Configuration(host: host, port: port, username: user, password: password, database: database, tls: connectionTLS)
    }

    private var connectionTLS: PostgresConnection.Configuration.TLS {
        switch tls {
        case .disable: .disable
        case .prefer: .prefer(try! .init(configuration: .makeClientConfiguration()))
        case .require: .require(try! .init(configuration: .makeClientConfiguration()))
        }
    }

    /// The pool's configuration: at most `maxConnections` connections.
    func clientConfiguration(maxConnections: Int) -> PostgresClient.Configuration {
        let tlsMode: PostgresClient.Configuration.TLS = switch tls {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: tlsMode)
        configuration.options.maximumConnections = maxConnections
        configuration.options.minimumConnections = 0
        configuration.options.additionalStartupParameters = [("application_name", "satchel-server")]
        return configuration
    }
}
