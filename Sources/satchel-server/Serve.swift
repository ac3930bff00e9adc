import ArgumentParser
import Foundation
import Logging
import SatchelProtocol
import SatchelServer

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve devices over HTTP until SIGTERM or SIGINT.",
        discussion: """
            Serves on 127.0.0.1:8080 with the database in ./satchel-data unless told otherwise.
            Settings come from flags, then SATCHEL_* environment variables, then the config file.

            Examples:
              satchel-server serve
              satchel-server serve --host 0.0.0.0 --port 9000 --data /var/lib/satchel
              SATCHEL_PORT=0 satchel-server serve     # any free port; the line printed says which
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

    func run() async throws {
        var configuration = ServerConfiguration()
        configuration.dataDirectory = try common.dataDirectory()
        configuration.host = try host ?? common.setting("host") ?? configuration.host
        if let p = try port ?? common.setting("port").flatMap(Int.init) { configuration.port = p }
        if let h = try heartbeatSeconds ?? common.setting("heartbeat-seconds").flatMap(Int.init) { configuration.heartbeat = .seconds(h) }
        let levelName = try logLevel ?? common.setting("log-level") ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else {
            throw ValidationError("unknown log level '\(levelName)'; use trace, debug, info, notice, warning, error or critical")
        }
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "satchel-server")
        logger.logLevel = level
        let json = common.json
        let host = configuration.host
        let data = configuration.dataDirectory
        try await SatchelServerApp.run(configuration, logger: logger) { port in
            // Tests and scripts read this line (port 0 picks a free port).
            let line = json
                ? #"{"listening": "http://\#(host):\#(port)", "data": "\#(data)"}"#
                : "satchel-server listening on http://\(host):\(port) (data: \(data))"
            // Written straight to the file descriptor: a pipe reader sees it at once.
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        }
    }
}
