import ArgumentParser
import SatchelCommandLine
import Foundation

/// The root command. Parsing and error reporting live here; each subcommand only parses its
/// arguments, calls `SatchelClient` and prints.
@main
struct SatchelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "satchel",
        abstract: "Offline-first field notes that sync with your mission's Satchel server.",
        discussion: """
            Everything but `join`, `sync` and `watch` works without a network: notes are
            saved and searchable at once, and go out with the next sync.

            Examples:
              satchel join https://sync.example.org K7QM-4TZP-XW2H --label ana-laptop
              satchel sync
              satchel note add --title "Z-Park visit" --body "Met the incubator" --tag bj
              satchel search z-park incubator
              satchel status

            The device's data lives in --home, or $SATCHEL_HOME, or
            $XDG_DATA_HOME/satchel, or ~/.local/share/satchel. Add --json to any command
            for stable JSON (sorted keys). Colour is used only when standard output is a
            terminal and NO_COLOR is not set.

            Exit codes:
              0  success; a sync that leaves conflicts open still succeeds
                 (`satchel conflicts` lists them, `satchel status` counts them)
              1  usage or input error: a bad option, an ambiguous id, a value
                 the schema refuses
              2  not found: no note, record, conflict or refused change with
                 that id on this device
              3  offline: the server could not be reached, its answer was cut or
                 damaged, or it cannot serve for now (its disk is full); changes
                 are kept, sync again later
              4  not enrolled: this device never joined, or the server does
                 not know it or revoked it; `satchel join` with a new code
                 (`satchel join --again` when another machine uses this
                 device's identity: a copied home)
              5  the server refused the request (a used or expired enrollment
                 code, no access) or answered something that is not Satchel;
                 or a sync finished but the server refused changes (`satchel
                 rejected`) or changes wait for this machine's clock
              6  a local failure: the device's data could not be read or
                 written, or the editor failed
            """,
        version: "0.1.0",
        subcommands: [
            JoinCommand.self, NoteCommand.self, SearchCommand.self, ShowCommand.self,
            SyncCommand.self, WatchCommand.self, StatusCommand.self,
            ConflictsCommand.self, ResolveCommand.self, RejectedCommand.self, ExportCommand.self,
        ])

    /// Like ArgumentParser's `main()`, but with Satchel's exit codes and `satchel: ` messages.
    static func main() async {
        do {
            var command = try parseAsRoot(LeadingOptions.reorder(
                Array(CommandLine.arguments.dropFirst()), valued: ["--home"], flags: ["--json", "--utc"]))
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            fail(error)
        }
    }

    /// Prints `satchel: <message>` on stderr and exits with the documented code.
    static func fail(_ error: any Error) -> Never {
        if let failure = Failure(error) {
            report(failure)
        }
        // ArgumentParser's own: help and version requests (parsed lazily, so they can surface
        // from `run()` too), explicit exit codes, and usage errors with the usage that helps.
        let code = exitCode(for: error)
        if code == .success || error is ExitCode { exit(withError: error) }
        if code == .validationFailure {
            if jsonRequested { report(Failure(status: .usage, message: message(for: error), code: "usage")) }
            var text = fullMessage(for: error)
            if text.hasPrefix("Error: ") { text = "satchel: " + text.dropFirst("Error: ".count) }
            Output.error(text.trimmingCharacters(in: .newlines))
            Output.exit(.usage)
        }
        report(Failure(status: .local, message: "\(error)"))
    }

    /// Whether `--json` was given (anywhere before a `--`): then errors are JSON too.
    static var jsonRequested: Bool {
        CommandLine.arguments.dropFirst().prefix { $0 != "--" }.contains("--json")
    }

    /// `satchel: <message>` on stderr, or with `--json` one line of
    /// `{"error":{"code":…,"exit":…,"message":…}}` there (stdout stays for results), then the exit.
    static func report(_ failure: Failure) -> Never {
        if jsonRequested {
            Output.error(JSON.object(["error": .object([
                "code": .string(failure.code), "message": .string(failure.message), "exit": .int(Int(failure.status.rawValue)),
            ])]).rendered(pretty: false))
        } else {
            Output.error("satchel: \(failure.message)")
        }
        Output.exit(failure.status)
    }
}
