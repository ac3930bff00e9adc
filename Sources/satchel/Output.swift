import Foundation

/// Writing to the terminal. Lines go straight to the file descriptor (no stdio buffering), so
/// `watch` output reaches a pipe at once and stdout and stderr never interleave out of order.
enum Output {
    static func line(_ text: String = "") {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// Writes to stderr without a newline (progress bars).
    static func progress(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    static func json(_ value: JSON) {
        line(value.rendered())
    }

    static func exit(_ status: ExitStatus) -> Never {
        Foundation.exit(status.rawValue)
    }
}

/// What the terminal can show.
enum Terminal {
    /// Colour and bold on stdout: only on a terminal, never with `NO_COLOR` (any value) or `TERM=dumb`.
    static var colour: Bool {
        let env = ProcessInfo.processInfo.environment
        return isatty(1) == 1 && env["NO_COLOR"] == nil && env["TERM"] != "dumb"
    }

    static var stdinIsTerminal: Bool { isatty(0) == 1 }
    static var stderrIsTerminal: Bool { isatty(2) == 1 }

    static func bold(_ s: String) -> String { colour ? "\u{1B}[1m\(s)\u{1B}[0m" : s }
    static func dim(_ s: String) -> String { colour ? "\u{1B}[2m\(s)\u{1B}[0m" : s }
    /// A search match: bold yellow on a terminal, `[match]` otherwise.
    static func match(_ s: String) -> String { colour ? "\u{1B}[1;33m\(s)\u{1B}[0m" : "[\(s)]" }
}

/// A JSON value, rendered with sorted keys so output is stable for scripts and diffs.
enum JSON: Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    static func string(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
    static func int(_ i: Int) -> JSON { .int(Int64(i)) }

    /// Pretty (two-space indent) by default; `pretty: false` gives one line (for `watch`).
    func rendered(pretty: Bool = true) -> String {
        var out = ""
        write(to: &out, indent: pretty ? "" : nil)
        return out
    }

    private func write(to out: inout String, indent: String?) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += d.isFinite ? "\(d)" : "null"
        case .string(let s): JSON.quote(s, into: &out)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            let inner = indent.map { $0 + "  " }
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                if let inner { out += "\n" + inner } else if i > 0 { out += " " }
                item.write(to: &out, indent: inner)
            }
            if let indent { out += "\n" + indent }
            out += "]"
        case .object(let members):
            if members.isEmpty { out += "{}"; return }
            out += "{"
            let inner = indent.map { $0 + "  " }
            for (i, key) in members.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                if let inner { out += "\n" + inner } else if i > 0 { out += " " }
                JSON.quote(key, into: &out)
                out += ": "
                members[key]!.write(to: &out, indent: inner)
            }
            if let indent { out += "\n" + indent }
            out += "}"
        }
    }

    private static func quote(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20 || c.value == 0x7F:
                out += "\\u" + String(repeating: "0", count: 4 - String(c.value, radix: 16).count) + String(c.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

/// Dates and sizes as people read them.
enum Format {
    /// Milliseconds since 1970 as an ISO 8601 date in UTC, e.g. `2026-11-02T08:15:00Z` (JSON).
    static func date(_ millis: Int64) -> String {
        Date(timeIntervalSince1970: Double(millis) / 1000).formatted(Date.ISO8601FormatStyle())
    }

    /// The same for people: in this computer's time zone with its offset
    /// (`2026-11-02T09:15:00+01:00`), or in UTC with `--utc`.
    static func localDate(_ millis: Int64) -> String {
        let style = Date.ISO8601FormatStyle(timeSeparator: .colon, timeZoneSeparator: .colon, timeZone: humanTimeZone)
        return Date(timeIntervalSince1970: Double(millis) / 1000).formatted(style)
    }

    /// Read from the command line, like `NO_COLOR` from the environment, so every human output
    /// agrees without passing the flag down (`GlobalOptions.utc` declares it to the parser).
    static var humanTimeZone: TimeZone {
        CommandLine.arguments.dropFirst().prefix { $0 != "--" }.contains("--utc") ? TimeZone(identifier: "UTC")! : .current
    }

    /// "just now", "5 minutes ago", "2 hours ago", "3 days ago".
    static func ago(_ millis: Int64, now: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) -> String {
        let seconds = max(0, (now - millis) / 1000)
        func plural(_ n: Int64, _ unit: String) -> String { "\(n) \(unit)\(n == 1 ? "" : "s") ago" }
        switch seconds {
        case ..<60: return "just now"
        case ..<3600: return plural(seconds / 60, "minute")
        case ..<86_400: return plural(seconds / 3600, "hour")
        default: return plural(seconds / 86_400, "day")
        }
    }

    /// "3 minutes", "5 hours", "365 days".
    static func duration(millis: Int64) -> String {
        let seconds = max(0, millis / 1000)
        switch seconds {
        case ..<120: return count(Int(seconds), "second")
        case ..<7200: return count(Int(seconds / 60), "minute")
        case ..<172_800: return count(Int(seconds / 3600), "hour")
        default: return count(Int(seconds / 86_400), "day")
        }
    }

    static func bytes(_ n: Int) -> String {
        switch n {
        case ..<1024: return "\(n) B"
        case ..<(1024 * 1024): return String(format: "%.1f KB", Double(n) / 1024)
        default: return String(format: "%.1f MB", Double(n) / 1024 / 1024)
        }
    }

    static func count(_ n: Int, _ singular: String, _ plural: String? = nil) -> String {
        "\(n) \(n == 1 ? singular : plural ?? singular + "s")"
    }
}
