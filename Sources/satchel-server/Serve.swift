import ArgumentParser
import Foundation
import Logging
import SatchelProtocol
import SatchelServer
import SatchelServerCore
import SatchelServerSQLite

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve devices over HTTP until SIGTERM or SIGINT.",
        discussion: """
            Serves on 127.0.0.1:8080 with the database in ./satchel-data unless told otherwise.
            With --database (or SATCHEL_DATABASE_URL) it serves from PostgreSQL instead, and any
            number of servers may share that database behind a load balancer.
            Settings come from flags, then SATCHEL_* environment variables, then the config file.

            Examples:
              satchel-server serve
              satchel-server serve --host 0.0.0.0 --port 9000 --data /var/lib/satchel
              satchel-server serve --database postgres://satchel@db.internal:5432/satchel   # one of a cluster
              SATCHEL_PORT=0 satchel-server serve     # any free port; the line printed says which
              satchel-server serve --max-connections 4000 --idle-timeout-seconds 120
            """)

    @OptionGroup var common: CommonOptions

    @Option(help: ArgumentHelp("Address to listen on. [env: SATCHEL_HOST] (default: 127.0.0.1)", valueName: "host"))
    var host: String?

    @Option(help: ArgumentHelp("Port to listen on; 0 picks a free one. [env: SATCHEL_PORT] (default: 8080)", valueName: "port"))
    var port: Int?

    @Option(name: .customLong("log-level"), help: ArgumentHelp("trace, debug, info, notice, warning, error or critical. [env: SATCHEL_LOG_LEVEL] (default: info)", valueName: "level"))
    var logLevel: String?

    @Option(name: .customLong("heartbeat-seconds"), help: ArgumentHelp("Seconds between live heartbeats. (default: 10)", valueName: "n"))
    var heartbeatSeconds: Int?

    @Option(name: .customLong("header-timeout-seconds"), help: ArgumentHelp("Seconds a new connection has to send a whole request head. [env: SATCHEL_HEADER_TIMEOUT_SECONDS] (default: 30)", valueName: "n"))
    var headerTimeoutSeconds: Int?

    @Option(name: .customLong("idle-timeout-seconds"), help: ArgumentHelp("Seconds an HTTP connection may sit idle between requests; live connections are exempt. [env: SATCHEL_IDLE_TIMEOUT_SECONDS] (default: 75)", valueName: "n"))
    var idleTimeoutSeconds: Int?

    @Option(name: .customLong("max-connections"), help: ArgumentHelp("Connections open at once, live ones included; more are closed as they arrive. [env: SATCHEL_MAX_CONNECTIONS] (default: 1000, or less if the open-file limit is lower)", valueName: "n"))
    var maxConnections: Int?

    /// The setting `key` from its flag, the environment or the config file: a whole number above 0.
    func positive(_ key: String, _ flag: Int?) throws -> Int? {
        if let flag {
            guard flag > 0 else { throw ValidationError("--\(key) must be a whole number above 0") }
            return flag
        }
        guard let text = try common.setting(key) else { return nil }
        guard let n = Int(text), n > 0 else {
            throw ValidationError("setting \(key) is '\(text)'; it must be a whole number above 0 (from SATCHEL_\(key.uppercased().replacingOccurrences(of: "-", with: "_")) or the config file)")
        }
        return n
    }

    func run() async throws {
        var configuration = try common.configuration()
        configuration.host = try host ?? common.setting("host") ?? configuration.host
        if let p = try port ?? common.setting("port").flatMap(Int.init) { configuration.port = p }
        if let h = try heartbeatSeconds ?? common.setting("heartbeat-seconds").flatMap(Int.init) { configuration.heartbeat = .seconds(h) }
        if let n = try positive("header-timeout-seconds", headerTimeoutSeconds) { configuration.connections.headTimeout = .seconds(n) }
        if let n = try positive("idle-timeout-seconds", idleTimeoutSeconds) { configuration.connections.idleTimeout = .seconds(n) }
        if let n = try positive("max-connections", maxConnections) { configuration.connections.maxConnections = n }
        let levelName = try logLevel ?? common.setting("log-level") ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else {
            throw ValidationError("unknown log level '\(levelName)'; use trace, debug, info, notice, warning, error or critical")
        }
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "satchel-server")
        logger.logLevel = level
        let json = common.json
        let host = configuration.host
        let store = configuration.storeDescription
        let data = configuration.database == nil ? configuration.dataDirectory : nil
        try await operatorAction { try await serve(configuration, logger: logger, json: json, host: host, store: store, data: data) }
    }

    private func serve(_ configuration: ServerConfiguration, logger: Logger, json: Bool, host: String, store: String, data: String?) async throws {
        try await SatchelServerApp.run(configuration, logger: logger) { port in
            // Tests and scripts read this line (port 0 picks a free port).
            let line = json
                ? #"{"listening": "http://\#(host):\#(port)", "\#(data == nil ? "database" : "data")": "\#(data ?? String(store.dropFirst("database: ".count)))"}"#
                : "satchel-server listening on http://\(host):\(port) (\(store))"
            // Written straight to the file descriptor: a pipe reader sees it at once.
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        }
    }
}
