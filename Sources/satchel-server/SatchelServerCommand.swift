import ArgumentParser
import SatchelCommandLine

@main
struct SatchelServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "satchel-server",
        abstract: "The Satchel sync server and its operator commands.",
        discussion: """
            Run `satchel-server serve` to serve devices; the other commands manage the server's
            data directory (they work while the server runs).

            Examples:
              satchel-server quickstart                 # a space, a user and a code to join with
              satchel-server serve --port 8080
              satchel-server space create mission-cn-2026
              satchel-server user add ana
              satchel-server member add --space mission-cn-2026 --user ana --role writer
              satchel-server enroll --user ana --device ana-laptop --expires 24h
              satchel-server briefing load Data/china-briefing.json
              satchel-server device list --server https://sync.example.org --token-file ~/.satchel-operator-token
              SATCHEL_OPERATOR_TOKEN=sop_… satchel-server device list --server https://sync.example.org
              satchel-server compact --dry-run
              satchel-server backup nightly.sqlite
              satchel-server export --space mission-cn-2026 > mission.json
            """,
        version: "0.1.0",
        subcommands: [Serve.self, Quickstart.self, SpaceCommand.self, UserCommand.self, MemberCommand.self, Enroll.self, BriefingCommand.self, DeviceCommand.self, OperatorTokenCommand.self, Compact.self, Backup.self, Restore.self, Export.self])

    /// ArgumentParser's `main()`, after moving options given before the subcommand behind it.
    static func main() async {
        let arguments = LeadingOptions.reorder(
            Array(CommandLine.arguments.dropFirst()),
            valued: ["--data", "--database", "--config", "--server", "--token-file"], flags: ["--json"])
        do {
            var command = try parseAsRoot(arguments)
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
