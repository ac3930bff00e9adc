import Foundation
import Hummingbird
public import Logging
import NIOCore
public import SatchelProtocol
public import SatchelServerCore
public import SatchelServerSQLite
import SatchelServerPostgres
import SatchelSQLite

/// How to run a server: where, with which data, limits and heartbeat.
public struct ServerConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port (printed when the server is running).
    public var port: Int
    /// Folder holding `satchel.sqlite` (created if missing), when `database` is nil.
    public var dataDirectory: String
    /// A PostgreSQL database (`postgres://USER@HOST:PORT/DATABASE`) shared by any number of
    /// servers; nil: the embedded SQLite store in `dataDirectory`.
    public var database: String?
    public var limits: Limits
    public var heartbeat: Duration
    /// Timeouts and the connection limit (see `ConnectionLimits`).
    public var connections: ConnectionLimits

    public init(
        host: String = "127.0.0.1", port: Int = 8080, dataDirectory: String = "./satchel-data", database: String? = nil,
        limits: Limits = .default, heartbeat: Duration = .seconds(10), connections: ConnectionLimits = .default
    ) {
        self.database = database
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.limits = limits
        self.heartbeat = heartbeat
        self.connections = connections
    }

    /// The database file in the data directory.
    public var databasePath: String { SQLiteServerStore.databasePath(inDataDirectory: dataDirectory) }

    /// Where the store is, for the line a running server prints and its logs.
    public var storeDescription: String {
        if let database, let location = try? PostgresLocation(url: database) { return "database: \(location)" }
        return "data: \(dataDirectory)"
    }
}

/// The server process: opens the store, serves HTTP and WebSocket until SIGTERM or SIGINT, lets
/// in-flight requests finish, then closes the store cleanly.
public enum SatchelServerApp {
    /// Opens the configured store: the PostgreSQL database, or the SQLite one in the data
    /// directory (creating the directory if needed).
    public static func openStore(_ configuration: ServerConfiguration, logger: Logger = Logger(label: "satchel.store")) async throws -> any ServerStore {
        if let url = configuration.database {
            return try await PostgresServerStore.open(PostgresLocation(url: url), logger: logger)
        }
        // Every space and the token hashes live here: its owner's only (0700, files 0600).
        try PrivateFiles.prepare(directory: configuration.dataDirectory)
        return try SQLiteServerStore(path: configuration.databasePath)
    }

    /// Runs until a shutdown signal. `onRunning` gets the bound port (useful with port 0).
    public static func run(
        _ configuration: ServerConfiguration, logger: Logger, snapshots: SnapshotCache = SnapshotCache(),
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        // One server per data directory; `restore` takes the same lock. Any number share a
        // PostgreSQL database.
        let lock = configuration.database == nil ? try DataDirectoryLock(directory: configuration.dataDirectory) : nil
        defer { withExtendedLifetime(lock) {} }
        let store = try await openStore(configuration, logger: logger)
        let service = SyncService(store: store, limits: configuration.limits, snapshots: snapshots, logger: logger, now: { Timestamp(Date().timeIntervalSince1970 * 1000) })
        // Connections beyond the open-file limit would fail to be accepted, silently: the limit
        // is raised to its hard ceiling, and the connection limit kept below it.
        let (connections, openFiles) = configuration.connections.fittingOpenFileLimit()
        if connections.maxConnections < configuration.connections.maxConnections {
            logger.warning(
                "the open-file limit leaves room for fewer connections than asked; raise it (ulimit -n, LimitNOFILE=) to serve more",
                metadata: ["open-files": "\(openFiles)", "max-connections": "\(connections.maxConnections)", "asked": "\(configuration.connections.maxConnections)"])
        }
        let app = Application(
            router: HTTPAPI.router(service: service),
            server: HTTPAPI.server(service: service, heartbeat: configuration.heartbeat, connections: connections),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "satchel-server"),
            services: service.backgroundServices,
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
        do {
            try await app.runService()
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        logger.info("store closed; goodbye")
    }
}
