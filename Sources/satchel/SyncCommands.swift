import ArgumentParser
import Dispatch
import Foundation
import SatchelClient
import SatchelProtocol
import Synchronization

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Send this device's changes to the server and fetch everyone else's.",
        discussion: """
            Shows progress on stderr when it is a terminal, then one summary line. A
            sync that leaves conflicts open still succeeds (exit 0); `satchel conflicts`
            lists them. With no link to the server it says so within seconds and exits
            with 3; your changes are kept for the next try. When the server refused a
            change (`satchel rejected` says why) or changes wait for this machine's
            clock to be right, the sync still fetches everything and then exits with 5.

            Example:
              satchel sync
              satchel sync --json
            """)

    @OptionGroup var global: GlobalOptions
    @Option(name: .customLong("page-size"), help: "Changes to fetch per request (1–10000).") var pageSize = 500

    func validate() throws {
        if !(1...10_000).contains(pageSize) { throw UsageError("--page-size must be between 1 and 10000") }
    }

    func run() async throws {
        let bar = Terminal.stderrIsTerminal ? ProgressBar() : nil
        let report: SyncReport
        do {
            report = try await global.withClient { client in
                try await client.sync(pageSize: pageSize) { progress in bar?.show(progress) }
            }
        } catch {
            bar?.clear()
            throw error
        }
        bar?.clear()
        if global.json {
            Output.json(SyncSummary.json(report))
        } else {
            Output.line(SyncSummary.line(report))
            for line in SyncSummary.arrivals(report) { Output.line(line) }
            for hint in SyncSummary.hints(report) { Output.line(hint) }
        }
        if SyncSummary.refusedSomething(report) { Output.exit(.refused) }
    }
}

/// How a sync report reads.
enum SyncSummary {
    static func line(_ r: SyncReport) -> String {
        let p = r.pushed
        let pushed = p.applied + p.merged + p.conflicts + p.rejected
        return "synced: pushed \(pushed) (\(p.applied) applied, \(p.merged) merged, \(Format.count(p.conflicts, "conflict")), \(p.rejected) rejected), "
            + "pulled \(r.pulled); \(Format.count(r.openConflicts, "conflict")) open; "
            + "\(Format.bytes(r.bytesSent)) sent, \(Format.bytes(r.bytesReceived)) received"
    }

    static func hints(_ r: SyncReport) -> [String] {
        var out: [String] = []
        if r.openConflicts > 0 {
            out.append("\(r.openConflicts == 1 ? "a conflict needs" : "\(r.openConflicts) conflicts need") your choice: `satchel conflicts` shows both versions, `satchel resolve` settles it (the sync itself succeeded)")
        }
        if r.pushed.rejected > 0 {
            out.append("the server refused \(Format.count(r.pushed.rejected, "change")): `satchel rejected` says why")
        }
        if r.pushed.waitingForClock > 0 || r.clock != .fine {
            out.append(clockHint(r))
        }
        if r.restored {
            out.append("this device's data was older than what the server holds of it (restored from a backup or copied): downloaded every space again; unsent changes are kept")
        } else if !r.rebootstrapped.isEmpty {
            out.append("downloaded again from scratch (this device was behind the server's history): \(r.rebootstrapped.map(\.rawValue).joined(separator: ", "))")
        }
        return out
    }

    /// Whether the sync ends with exit 5: a change was refused, or changes wait for the clock.
    static func refusedSomething(_ r: SyncReport) -> Bool {
        if case .ahead = r.clock { return true }
        return r.pushed.rejected > 0 || r.pushed.waitingForClock > 0
    }

    static func clockHint(_ r: SyncReport) -> String {
        let waiting = r.pushed.waitingForClock > 0 ? "\(Format.count(r.pushed.waitingForClock, "change")) wait (kept, visible on this device); " : ""
        switch r.clock {
        case .ahead(let millis):
            return "this machine's clock is \(Format.duration(millis: millis)) ahead of the server's: \(waiting)set the right date and time, then sync again"
        case .restamped(let n):
            return "this machine's clock had run ahead of the server's and is right now: \(Format.count(n, "change")) stamped again and sent"
        case .fine:
            return "the server found this machine's clock ahead: \(waiting)set the right date and time, then sync again"
        }
    }

    static func json(_ r: SyncReport) -> JSON {
        .object([
            "pushed": .object([
                "applied": .int(r.pushed.applied), "merged": .int(r.pushed.merged), "conflicts": .int(r.pushed.conflicts),
                "rejected": .int(r.pushed.rejected), "resent": .int(r.pushed.resent),
                "waitingForClock": .int(r.pushed.waitingForClock),
            ]),
            "restored": .bool(r.restored),
            "clock": clockJSON(r.clock),
            "pulled": .int(r.pulled),
            "openConflicts": .int(r.openConflicts),
            "bytesSent": .int(r.bytesSent),
            "bytesReceived": .int(r.bytesReceived),
            "rebootstrapped": .array(r.rebootstrapped.map { .string($0.rawValue) }),
            "arrivedCount": .int(r.arrivedCount),
            "arrived": .array(r.arrived.map { a in
                .object([
                    "id": .string(a.key.record.rawValue), "space": .string(a.key.space.rawValue),
                    "title": .string(a.title), "author": .string(a.author), "new": .bool(a.isNew), "deleted": .bool(a.title == nil),
                ])
            }),
        ])
    }

    /// The notes that arrived, a line each, as a person reads them: at most `limit`, then how
    /// many more.
    static func arrivals(_ r: SyncReport, limit: Int = 10) -> [String] {
        var out: [String] = []
        for a in r.arrived.prefix(limit) {
            let place = " in \(a.key.space)" + (a.author.map { ", by \($0)" } ?? "")
            if let title = a.title {
                out.append("  \(a.isNew ? "new    " : "changed") \(Terminal.bold(MissionReport.oneLine(title)))" + Terminal.dim(place))
            } else {
                out.append("  deleted note \(a.key.record)" + Terminal.dim(" in \(a.key.space)"))
            }
        }
        let more = r.arrivedCount - min(limit, r.arrived.count)
        if more > 0 { out.append("  … and \(Format.count(more, "more note"))  (`satchel note list` shows them)") }
        return out
    }
}

extension SyncSummary {
    static func clockJSON(_ c: ClockCheck) -> JSON {
        switch c {
        case .fine: .object(["state": .string("fine")])
        case .restamped(let n): .object(["state": .string("restamped"), "restamped": .int(n)])
        case .ahead(let millis): .object(["state": .string("ahead"), "aheadMillis": .int(Int(millis))])
        }
    }
}

/// A one-line progress bar on stderr, redrawn in place.
final class ProgressBar: Sendable {
    static let width = 78

    func show(_ p: SyncProgress) {
        let (label, done, total): (String, Int, Int) = switch p.phase {
        case .connecting: ("connecting", 0, 0)
        case .pushing: ("sending", p.pushed, p.toPush)
        case .pulling: ("receiving", p.pulled, p.toPull)
        case .done: ("done", 1, 1)
        }
        let cells = 24
        let filled = total > 0 ? min(cells, done * cells / total) : 0
        var text = "\(label.padding(toLength: 10, withPad: " ", startingAt: 0)) [\(String(repeating: "#", count: filled))\(String(repeating: "-", count: cells - filled))]"
        // The pull's total comes from the spaces' version numbers: records changed several
        // times, and a bootstrap's snapshot, arrive once, so fewer may come than it says.
        if total > 0 && p.phase == .pulling { text += " \(done) of up to \(total)" }
        if total > 0 && p.phase == .pushing { text += " \(done)/\(total)" }
        text += "  \(Format.bytes(p.bytesSent + p.bytesReceived))"
        Output.progress("\r" + text.padding(toLength: Self.width, withPad: " ", startingAt: 0))
    }

    func clear() {
        Output.progress("\r" + String(repeating: " ", count: Self.width) + "\r")
    }
}

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Stay in sync live until Ctrl-C, printing a line per sync.",
        discussion: """
            Syncs, then keeps a live connection and syncs whenever the server announces
            a change, and within a second of a note written on this device (in another
            terminal too, e.g. `satchel note add` while watching). A lost link is retried with growing pauses (1 s to 60 s). Stops
            with exit 4 if the server revokes this device, and with 0 on Ctrl-C.

            Example:
              satchel watch
              satchel watch --json | jq .pulled
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "Seconds between the server's heartbeats; three missed ones mean the link is dead (1–300).") var heartbeat = 10

    func validate() throws {
        if !(1...300).contains(heartbeat) { throw UsageError("--heartbeat must be between 1 and 300 seconds") }
    }

    func run() async throws {
        let json = global.json
        let heartbeat = self.heartbeat
        try await global.withClient { client in
            guard await client.isJoined else {
                throw CLIError(.notEnrolled, "this device has not joined a server yet; run `satchel join URL CODE` with a code from your operator")
            }
            let stopping = StopFlag()
            let task = Task {
                try await client.watch(heartbeat: .seconds(heartbeat)) { result in
                    if stopping.isSet { return }
                    WatchCommand.report(result, json: json)
                }
            }
            let signals = [SIGINT, SIGTERM].map { sig in
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler {
                    stopping.set()
                    task.cancel()
                }
                source.resume()
                return source
            }
            defer { signals.forEach { $0.cancel() } }
            if !json { Output.error("watching \(try await client.status().server ?? "the server"); Ctrl-C stops") }
            try await task.value
            if !json { Output.error("stopped watching") }
        }
    }

    static func report(_ result: Result<SyncReport, any Error>, json: Bool) {
        let millis = Int64(Date().timeIntervalSince1970 * 1000)
        let now = json ? Format.date(millis) : Format.localDate(millis)
        switch result {
        case .success(let report):
            if json {
                guard case .object(var o) = SyncSummary.json(report) else { return }
                o["time"] = .string(now)
                o["ok"] = .bool(true)
                Output.line(JSON.object(o).rendered(pretty: false))
            } else {
                Output.line("\(now)  \(SyncSummary.line(report))")
                for line in SyncSummary.arrivals(report) { Output.line(line) }
            }
        case .failure(let error):
            let failure = Failure(error) ?? Failure(status: .local, message: "\(error)")
            if json {
                Output.line(JSON.object(["time": .string(now), "ok": .bool(false), "error": .string(failure.message)]).rendered(pretty: false))
            } else {
                Output.line("\(now)  \(failure.status == .notEnrolled ? "stopped" : "retrying"): \(failure.message)")
            }
        }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show this device's server, last sync, waiting changes, conflicts and spaces.",
        discussion: """
            Works offline: it reports what the device knows as of its last sync, and why
            the last attempt failed, if it did.

            Example:
              satchel status
              satchel status --json
            """)

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let status = try await global.withClient { client in try await client.status() }
        if global.json {
            Output.json(.object([
                "joined": .bool(status.device != nil),
                "server": .string(status.server),
                "device": .string(status.device?.rawValue),
                "user": .string(status.user?.rawValue),
                "lastSync": status.lastSuccess.map { .string(Format.date($0)) } ?? .null,
                "lastError": .string(status.lastError),
                "lastErrorAt": status.lastErrorAt.map { .string(Format.date($0)) } ?? .null,
                "pending": .int(status.pending),
                "rejected": .int(status.rejected),
                "conflicts": .int(status.conflicts),
                "spaces": .array(status.spaces.map { s in
                    .object(["space": .string(s.space.rawValue), "role": .string(s.role.rawValue), "head": .int(s.head)])
                }),
            ]))
            return
        }
        var rows: [(String, String)] = []
        if let server = status.server, let device = status.device {
            rows.append(("server", server))
            rows.append(("device", "\(device)" + (status.user.map { " (user \($0))" } ?? "")))
        } else {
            rows.append(("server", "not joined; run `satchel join URL CODE` with a code from your operator"))
        }
        rows.append(("last sync", status.lastSuccess.map { "\(Format.localDate($0)) (\(Format.ago($0)))" } ?? "never"))
        rows.append(("pending", status.pending == 0 ? "nothing waiting" : "\(Format.count(status.pending, "change")) waiting for the next sync"))
        rows.append(("rejected", status.rejected == 0 ? "0" : "\(status.rejected) (`satchel rejected` says why)"))
        rows.append(("conflicts", status.conflicts == 0 ? "0" : "\(status.conflicts) open (`satchel conflicts` shows them)"))
        rows.append(("spaces", status.spaces.isEmpty ? "none known yet (run `satchel sync`)" : status.spaces.map { "\($0.space) (\($0.role.rawValue))" }.joined(separator: ", ")))
        if let error = status.lastError {
            rows.append(("last error", error + (status.lastErrorAt.map { " (\(Format.localDate($0)), \(Format.ago($0)))" } ?? "")))
        }
        let width = rows.map(\.0.count).max()! + 2
        for (name, value) in rows {
            Output.line((name + ":").padding(toLength: width, withPad: " ", startingAt: 0) + value)
        }
    }
}

/// Set once Ctrl-C arrives, so the last, interrupted sync is not reported as a failure.
final class StopFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}
