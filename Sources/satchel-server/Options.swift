import ArgumentParser
import Foundation
import Logging
import SatchelServer
import SatchelServerCore
import SatchelServerSQLite

/// Settings shared by every command, resolved flag > environment > config file > default.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Data directory holding the server database. [env: SATCHEL_DATA] (default: ./satchel-data)", valueName: "dir"))
    var data: String?

    @Option(name: .long, help: ArgumentHelp("PostgreSQL database instead of the data directory: postgres://USER@HOST:PORT/DATABASE (password in PGPASSWORD). [env: SATCHEL_DATABASE_URL]", valueName: "url"))
    var database: String?

    @Option(name: .long, help: ArgumentHelp("Config file of `key = value` lines (data, database, host, port, log-level, heartbeat-seconds, header-timeout-seconds, idle-timeout-seconds, max-connections). [env: SATCHEL_CONFIG]", valueName: "file"))
    var config: String?

    @Flag(name: .long, help: "Print machine-readable JSON instead of text.")
    var json = false

    /// The value for `key`: from the environment (SATCHEL_KEY) or the config file.
    func setting(_ key: String) throws -> String? {
        let env = ProcessInfo.processInfo.environment
        if let v = env["SATCHEL_" + key.uppercased().replacingOccurrences(of: "-", with: "_")] { return v }
        return try configFile()[key]
    }

    func configFile() throws -> [String: String] {
        guard let path = config ?? ProcessInfo.processInfo.environment["SATCHEL_CONFIG"] else { return [:] }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("cannot read config file '\(path)'; check the path or drop --config")
        }
        var out: [String: String] = [:]
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let parts = trimmed.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { throw ValidationError("config file '\(path)' line \(n + 1): expected `key = value`") }
            out[parts[0]] = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return out
    }

    func dataDirectory() throws -> String {
        try data ?? setting("data") ?? "./satchel-data"
    }

    /// The PostgreSQL URL, if one is set: flag, SATCHEL_DATABASE_URL, then the config file's
    /// `database`. Without one the store is the embedded SQLite one in the data directory.
    func databaseURL() throws -> String? {
        if let database { return database }
        if let url = ProcessInfo.processInfo.environment["SATCHEL_DATABASE_URL"], !url.isEmpty { return url }
        return try configFile()["database"]
    }

    /// Where the store is, as the settings say.
    func configuration() throws -> ServerConfiguration {
        ServerConfiguration(dataDirectory: try dataDirectory(), database: try databaseURL())
    }

    func openStore() async throws -> any ServerStore {
        // Operator commands print their results; the store's own notes (a migration) only
        // from warnings up.
        var logger = Logger(label: "satchel.store")
        logger.logLevel = .warning
        return try await operatorAction { try await SatchelServerApp.openStore(try configuration(), logger: logger) }
    }
}

/// Prints either a human line or JSON.
func emit(_ options: CommonOptions, text: String, json: [String: Any]) {
    if options.json {
        let data = (try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .prettyPrinted])) ?? Data()
        print(String(decoding: data, as: UTF8.self))
    } else {
        print(text)
    }
}

func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

/// Parses durations like "90s", "30m", "24h", "7d".
func parseDuration(_ s: String, allowZero: Bool = false) throws -> Int64 {
    guard let unit = s.last, let n = Int64(s.dropLast()), n > 0 || (allowZero && n == 0) else {
        throw ValidationError("cannot read duration '\(s)'; use a number and a unit, like 30m, 24h or 7d")
    }
    switch unit {
    case "s": return n * 1000
    case "m": return n * 60_000
    case "h": return n * 3_600_000
    case "d": return n * 86_400_000
    default: throw ValidationError("unknown unit in '\(s)'; use s, m, h or d")
    }
}

/// Turns store errors into a clean message on stderr and exit code 1.
func operatorAction<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as StoreError {
        FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
        throw ExitCode(1)
    }
}
