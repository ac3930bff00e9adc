// A small program that drives SatchelClient on one device home, for the client crash test
// (ClientCrashTests), which kills it with SIGKILL mid-write and mid-sync, again and again.
//
//   satchel-driver join --home DIR --url URL --code CODE [--label L]
//   satchel-driver write --home DIR --count N --prefix P [--space S]
//   satchel-driver sync --home DIR [--loop]
//   satchel-driver edit-and-sync --home DIR --count N --prefix P [--space S]
//
// Every line on stdout is written with one write(2) straight to the file descriptor, after the
// library call it reports has returned, so a reader that sees "wrote ID" knows the local write
// was committed before the process could be killed. Exit codes: 0 ok, 1 error (message on stderr).
import Foundation
import SatchelClient
import SatchelProtocol

/// One line on stdout, unbuffered (a kill right after it loses nothing already reported).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("satchel-driver: \(message)\n".utf8))
    exit(1)
}

let usage = """
    usage: satchel-driver join --home DIR --url URL --code CODE [--label L]
           satchel-driver write --home DIR --count N --prefix P [--space S]
           satchel-driver sync --home DIR [--loop]
           satchel-driver edit-and-sync --home DIR --count N --prefix P [--space S]
    """

/// `--name value` options and bare `--flag`s after the command.
struct Arguments {
    var command: String
    var options: [String: String] = [:]
    var flags: Set<String> = []

    static let flagNames: Set<String> = ["loop"]

    init(_ argv: [String]) {
        guard let first = argv.first else { fail("missing command\n\(usage)") }
        command = first
        var i = 1
        while i < argv.count {
            let a = argv[i]
            guard a.hasPrefix("--") else { fail("unexpected argument '\(a)'\n\(usage)") }
            let name = String(a.dropFirst(2))
            if Self.flagNames.contains(name) {
                flags.insert(name)
                i += 1
            } else {
                guard i + 1 < argv.count else { fail("option --\(name) needs a value") }
                options[name] = argv[i + 1]
                i += 2
            }
        }
    }

    func required(_ name: String) -> String {
        guard let v = options[name] else { fail("\(command) needs --\(name)\n\(usage)") }
        return v
    }

    func int(_ name: String) -> Int {
        guard let n = Int(required(name)), n >= 0 else { fail("--\(name) must be a number ≥ 0") }
        return n
    }

    func space() -> SpaceID {
        let raw = options["space"] ?? "mission"
        guard let s = try? SpaceID(raw) else { fail("invalid space id '\(raw)'") }
        return s
    }
}

func describe(_ report: SyncReport) -> String {
    "synced pushed=\(report.pushed.applied + report.pushed.merged + report.pushed.conflicts) rejected=\(report.pushed.rejected) pulled=\(report.pulled)"
}

func run(_ args: Arguments) async throws {
    let client = try SatchelClient(directory: args.required("home"), now: SatchelClient.wallClock)
    switch args.command {
    case "join":
        let (device, user) = try await client.join(url: args.required("url"), code: args.required("code"), label: args.options["label"] ?? "satchel-driver")
        say("joined \(device) \(user)")

    case "write":
        let count = args.int("count"), prefix = args.required("prefix"), space = args.space()
        for i in 0..<count {
            let key = try await client.createNote(space: space, title: "\(prefix)-\(i)", body: "body of \(prefix)-\(i)")
            say(key.record.rawValue)
        }

    case "sync":
        if args.flags.contains("loop") {
            while true {
                do {
                    say(describe(try await client.sync()))
                } catch {
                    // Offline-first: a server that is down is not the driver's problem; try again.
                    say("sync failed: \(error)")
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
        } else {
            say(describe(try await client.sync()))
        }

    case "edit-and-sync":
        let count = args.int("count"), prefix = args.required("prefix"), space = args.space()
        for i in 0..<count {
            let title = "\(prefix)-\(i)"
            let key = try await client.createNote(space: space, title: title, body: "body of \(title)")
            say("wrote \(key.record.rawValue)")
            // An append: a patch applied twice anywhere would show as a doubled suffix.
            try await client.updateNote(key, body: "body of \(title) (edited)")
            say("edited \(key.record.rawValue)")
            do {
                say(describe(try await client.sync()))
            } catch {
                say("sync failed: \(error)")
            }
        }

    default:
        fail("unknown command '\(args.command)'\n\(usage)")
    }
    await client.close()
}

let arguments = Arguments(Array(CommandLine.arguments.dropFirst()))
do {
    try await run(arguments)
    exit(0)
} catch {
    fail("\(error)")
}
