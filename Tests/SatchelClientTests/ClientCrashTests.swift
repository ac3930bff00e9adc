import Foundation
import SatchelClient
import SatchelProtocol
import SatchelServer
import SatchelServerCore
import SatchelServerSQLite
import SatchelTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Kills `satchel-driver` (a small program driving SatchelClient on one device home) with
/// SIGKILL in the middle of writes and syncs, round after round, and the real server with
/// kill -9 in some rounds; then checks that the device converges with every write it reported
/// present exactly once on the server, nothing pending, rejected or doubled.
@Suite(.serialized) struct ClientCrashTests {
    static let rounds = 14
    /// Reported writes wanted at least; a loaded machine (slow driver start-ups) gets extra rounds.
    static let minimumWrites = 20
    static let maximumRounds = 40
    /// Rounds in which the server is killed too (and restarted on the same data and port).
    static let serverKillRounds: Set<Int> = [4, 9, 12]

    @Test func killNineMidSyncLosesNothingAndDoublesNothing() async throws {
        let dir = TemporaryDirectory()
        let data = dir.file("data")
        try await ServerWorld.provision(data: data, users: ["ana"], roles: ["mission": .writer])
        // A fixed port: the device stores its server's URL, and the server restarts after kill -9.
        let port = try freePort()
        var server = try await startServer(data: data, port: port)
        var serverStopped = false
        // A failed requirement must not leave the server running.
        defer { if !serverStopped { server.kill9() } }
        let url = server.url

        let home = dir.file("device-a")
        let join = try Driver.run(["join", "--home", home, "--url", url, "--code", try await ServerWorld.enrollmentCode(data: data, user: "ana"), "--label", "crashy"])
        try #require(join.status == 0, "join failed: \(join.stderr)")

        var ledger = Ledger()
        var rng = SystemRandomNumberGenerator()
        var kills = 0, serverKills = 0
        var round = 0
        while round < Self.rounds || (ledger.writes.count < Self.minimumWrites && round < Self.maximumRounds) {
            defer { round += 1 }
            let delay = Int.random(in: 50...400, using: &rng)
            let killServer = Self.serverKillRounds.contains(round)
            let drivers: [(driver: Driver, prefix: String?)]
            if round % 2 == 0 {
                // Create, edit, sync, repeat: the kill lands in a local write or anywhere in a sync.
                let prefix = "r\(round)e"
                drivers = [(try Driver(["edit-and-sync", "--home", home, "--space", "mission", "--count", "100000", "--prefix", prefix]), prefix)]
            } else {
                // A writer and a syncer on the same home, as an app and its background sync would be.
                let prefix = "r\(round)w"
                drivers = [
                    (try Driver(["write", "--home", home, "--space", "mission", "--count", "100000", "--prefix", prefix]), prefix),
                    (try Driver(["sync", "--home", home, "--loop"]), nil),
                ]
            }
            if killServer {
                try? await Task.sleep(for: .milliseconds(delay / 2))
                server.kill9()
                serverStopped = true
                serverKills += 1
                try? await Task.sleep(for: .milliseconds(delay - delay / 2))
            } else {
                try? await Task.sleep(for: .milliseconds(delay))
            }
            var ended: [(exited: Bool, output: Driver.Output)] = []
            for (i, d) in drivers.enumerated() {
                // The second process dies a little later: its kill lands somewhere else.
                if i > 0 { try? await Task.sleep(for: .milliseconds(Int.random(in: 0...60, using: &rng))) }
                let exited = d.driver.kill9()
                if exited { kills += 1 }
                ended.append((exited, d.driver.finish()))
            }
            for (d, (exited, output)) in zip(drivers, ended) {
                // Only the kill may end a driver early; exiting with an error means the library threw.
                if !exited {
                    try #require(output.status == 0, "round \(round): driver \(d.driver.arguments[0]) exited with \(output.status): \(output.stderr)")
                }
                if let prefix = d.prefix { ledger.record(round: round, prefix: prefix, lines: output.lines) }
            }
            if killServer {
                server = try await startServer(data: data, port: port)
                serverStopped = false
            }
        }

        // Restart: a clean sync by the driver, then the in-process library on the same home syncs
        // until nothing is pending (normally the driver's sync already sent everything).
        let clean = try Driver.run(["sync", "--home", home])
        #expect(clean.status == 0, "the clean sync after the crashes failed: \(clean.stderr)")
        let a = try SatchelClient(directory: home)
        var attempts = 0
        while try await a.status().pending > 0 || attempts == 0 {
            attempts += 1
            try #require(attempts <= 5, "device still has pending writes after 5 syncs")
            try await a.sync()
        }
        let status = try await a.status()
        let rejected = try await a.rejected().map { "\($0.mutation.id): \($0.state)" }
        let conflicts = try await a.conflicts()
        #expect(status.pending == 0)
        #expect(status.rejected == 0, "rejected: \(rejected)")
        #expect(status.conflicts == 0, "a single device made conflicts: \(conflicts)")

        // A second, freshly joined device pulls everything the server has.
        let b = try SatchelClient(directory: dir.file("device-b"))
        try await b.join(url: url, code: try await ServerWorld.enrollmentCode(data: data, user: "ana"), label: "witness")
        try await b.sync()
        let notesA = try await a.notes(space: "mission")
        let notesB = try await b.notes(space: "mission")
        let byIDB = Dictionary(grouping: notesB, by: { $0.key.record.rawValue })
        let byIDA = Dictionary(grouping: notesA, by: { $0.key.record.rawValue })

        // (a) Every write the driver reported is on the server exactly once, as written.
        for w in ledger.writes {
            let found = byIDB[w.id] ?? []
            #expect(found.count == 1, "reported write \(w.id) (\(w.title), round \(w.round)) is on the server \(found.count) times")
            guard let values = found.first?.values else { continue }
            #expect(values["title"] == .string(w.title), "\(w.id): title \(String(describing: values["title"])), expected \(w.title)")
            let body = values["body"]?.textValue ?? "<none>"
            if w.edited {
                #expect(body == w.editedBody, "\(w.id): reported edit lost or doubled; body is '\(body)'")
            } else {
                // Killed between the write and the next line: either body is fine, nothing else.
                #expect(body == w.body || (w.mayBeEdited && body == w.editedBody), "\(w.id): body is '\(body)'")
            }
        }
        // Writes not reported (a kill between commit and print) are at most the next title of a
        // writer, and nothing on the server comes from anywhere else.
        let reported = Set(ledger.writes.map(\.id))
        for (id, notes) in byIDB where !reported.contains(id) {
            let title = notes[0].values["title"]?.textValue ?? "<none>"
            #expect(ledger.unreportedTitlesAllowed.contains(title), "unexpected note \(id) '\(title)' on the server")
        }

        // (b) Both devices hold the same notes.
        #expect(Set(byIDA.keys) == Set(byIDB.keys), "device A has \(byIDA.count) notes, the server \(byIDB.count)")
        #expect(byIDA.values.allSatisfy { $0.count == 1 } && byIDB.values.allSatisfy { $0.count == 1 })
        for (id, notes) in byIDB {
            #expect(byIDA[id]?.first?.values == notes.first?.values, "note \(id) differs between devices")
        }

        // (d) No title twice.
        let titles = Dictionary(grouping: notesB, by: { $0.values["title"]?.textValue ?? "" })
        for (title, notes) in titles where notes.count > 1 {
            Issue.record("title '\(title)' is on the server \(notes.count) times: \(notes.map(\.key.record))")
        }

        await a.close()
        await b.close()
        _ = server.terminate()
        serverStopped = true

        // The server's log holds each of the device's mutations at most once.
        let store = try SQLiteServerStore(path: ServerConfiguration(dataDirectory: data).databasePath)
        var after: Version = 0
        var perMutation: [MutationID: Int] = [:]
        while true {
            let page = try await store.pull(space: "mission", after: after, limit: 500)
            for bytes in page.encodedChanges {
                if let m = try Change(wireBytes: bytes).mutation { perMutation[m, default: 0] += 1 }
            }
            after = page.cursor
            if !page.hasMore { break }
        }
        await store.close()
        for (m, n) in perMutation where n > 1 { Issue.record("mutation \(m) was applied \(n) times") }

        print("client crash test: \(round) rounds, \(kills) driver kills (SIGKILL), \(serverKills) server kills (kill -9); \(ledger.writes.count) writes reported before the kills (\(ledger.writes.filter(\.edited).count) of them edited) checked on the server; \(notesB.count) notes there, \(perMutation.count) mutations in its log")
        #expect(ledger.writes.count >= Self.minimumWrites, "the drivers should report a fair number of writes before their kills (got \(ledger.writes.count))")
    }

    func startServer(data: String, port: Int) async throws -> ServerProcess {
        // Right after a kill -9 the port can take a moment to be free again.
        var lastError: (any Error)?
        for _ in 0..<20 {
            do {
                let server = try await ServerProcess(data: data, extraArguments: ["--port", String(port)])
                try #require(server.port == port, "the server listens on \(server.port), not \(port)")
                return server
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        throw lastError ?? TestFailure("cannot start the server")
    }
}

/// What the drivers reported: "wrote ID" / "edited ID" (edit-and-sync) or a bare ID (write).
struct Ledger {
    struct Write {
        var id: String
        var round: Int
        var title: String
        var edited = false
        /// Killed after the create was reported: the edit may have committed unreported.
        var mayBeEdited = false
        var body: String { "body of \(title)" }
        var editedBody: String { "body of \(title) (edited)" }
    }

    var writes: [Write] = []
    /// Titles a writer may have committed without living to report them.
    var unreportedTitlesAllowed: Set<String> = []

    mutating func record(round: Int, prefix: String, lines: [String]) {
        var created = 0
        var lastIndex: Int?
        for line in lines {
            let parts = line.split(separator: " ")
            if parts.count == 1 && !line.isEmpty {
                writes.append(Write(id: line, round: round, title: "\(prefix)-\(created)"))
                created += 1
            } else if parts.count == 2 && parts[0] == "wrote" {
                writes.append(Write(id: String(parts[1]), round: round, title: "\(prefix)-\(created)", mayBeEdited: true))
                lastIndex = writes.count - 1
                created += 1
            } else if parts.count == 2 && parts[0] == "edited", let i = lastIndex, writes[i].id == parts[1] {
                writes[i].edited = true
            }
        }
        unreportedTitlesAllowed.insert("\(prefix)-\(created)")
    }
}

/// `satchel-driver` as a child process, its stdout read to the end on a thread of its own.
final class Driver: @unchecked Sendable {
    static var binary: String { builtProduct("satchel-driver") }

    struct Output {
        var status: Int32
        var lines: [String]
        var stderr: String
    }

    let arguments: [String]
    let process = Process()
    private let output = Locked((out: Data(), err: Data()))
    private let done = DispatchGroup()

    init(_ arguments: [String]) throws {
        self.arguments = arguments
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        try process.run()
        for (pipe, isOut) in [(outPipe, true), (errPipe, false)] {
            done.enter()
            Thread.detachNewThread { [self] in
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                output.withLock { if isOut { $0.out = data } else { $0.err = data } }
                done.leave()
            }
        }
    }

    /// Runs to completion.
    static func run(_ arguments: [String]) throws -> Output {
        let d = try Driver(arguments)
        d.process.waitUntilExit()
        return d.finish()
    }

    /// SIGKILL; returns whether the kill is what ended it (false if it had already exited).
    func kill9() -> Bool {
        let wasRunning = process.isRunning
        if wasRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return wasRunning && process.terminationReason == .uncaughtSignal
    }

    /// Waits for the output to end; only complete lines count (a kill can cut one short).
    func finish() -> Output {
        done.wait()
        let (out, err) = output.value
        var text = String(decoding: out, as: UTF8.self)
        if let last = text.lastIndex(of: "\n") { text = String(text[...last]) } else { text = "" }
        return Output(
            status: process.terminationStatus,
            lines: text.split(separator: "\n").map(String.init),
            stderr: String(decoding: err, as: UTF8.self))
    }
}

/// A port nobody listens on right now (bound to 0 and released).
func freePort() throws -> Int {
    #if canImport(Glibc)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
    let fd = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { throw TestFailure("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw TestFailure("bind() failed") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw TestFailure("getsockname() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}
