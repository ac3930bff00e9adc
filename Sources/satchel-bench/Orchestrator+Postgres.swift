import Foundation
import Logging
import PostgresNIO
import SatchelProtocol
import SatchelServer
import SatchelServerCore
import SatchelServerPostgres
import SatchelTesting

/// The PostgreSQL phases: the same pushes, bootstraps and 200 devices as the SQLite phases, on
/// one server and on three servers sharing one database (a cluster behind a load balancer, the
/// balancer left out), each beside a baseline from the same run on the same PostgreSQL server.
///
/// The three servers run in this process, as the SQLite phases' one does: on two cores, three
/// processes would only add their context switches. What the figures can show here is whether
/// the database (one row lock for versions, one WAL) or the servers' CPU is what a second and
/// third server contend for.
extension Orchestrator {
    /// The PostgreSQL server the phases create their databases on (`make bench` starts one).
    var postgres: PostgresLocation? {
        let env = ProcessInfo.processInfo.environment
        guard let url = options.postgres ?? env["SATCHEL_BENCH_POSTGRES"] ?? env["SATCHEL_TEST_POSTGRES"] else { return nil }
        return try? PostgresLocation(url: url)
    }

    /// A new database for one measurement.
    func postgresDatabase(_ name: String) async throws -> String {
        guard let postgres else { throw BenchError("no PostgreSQL server: run under scripts/with-postgres.sh or give --postgres URL") }
        return try await postgres.createDatabase(named: "bench_\(getpid())_\(name)").url
    }

    /// `count` servers on one new database.
    func cluster(_ name: String, _ count: Int) async throws -> (database: String, servers: [BenchServer]) {
        let database = try await postgresDatabase(name)
        return (database, (0..<count).map { _ in BenchServer(directory: dir(name), seed: options.seed, database: database) })
    }

    // MARK: push

    func postgresPush() async throws {
        let n = options.pushNotes
        // Baseline: the same rows into a plain table on the same server, 500 per transaction,
        // one INSERT of unnest()ed arrays each, synchronous commit on (the server's default).
        let baselineURL = try await postgresDatabase("push_baseline")
        let rawRate = try await plainInsertRate(baselineURL, count: n)

        // One server, one device, as the SQLite push phase.
        let (_, one) = try await cluster("push_one", 1)
        let store = try await one[0].openStore()
        try await BenchServer.createSpace(store, "mission", members: [("ana", .writer), ("bulk-writer", .writer)])
        let device = try await one[0].account(store, user: "ana", device: "push")
        let rawDevice = try await one[0].account(store, user: "bulk-writer", device: "push-raw")
        await store.close()
        try await one[0].start()
        let r = try await worker(
            "push", Worker.PushJob.Spec(url: one[0].url, account: device, rawAccount: rawDevice, space: "mission", notes: n, seed: options.seed, directory: dir("pg-push-client")),
            as: Worker.PushJob.Result.self)
        await one[0].stop()
        guard r.pushed == n, r.rawPushed == n else { throw BenchError("postgres push: \(r.pushed) and \(r.rawPushed) of \(n) notes accepted") }
        let rate = Double(n) / r.push.seconds, transportRate = Double(n) / r.raw.seconds

        // Three devices at once, a third of the notes each, pre-built frames started together:
        // through one server, then one device each through three servers of one database.
        let third = max(1, n / 3)
        let throughOne = try await burst(servers: try await cluster("push_three_on_one", 1).servers, notes: third, label: "pg-burst-one")
        let throughThree = try await burst(servers: try await cluster("push_three", 3).servers, notes: third, label: "pg-burst-three")

        let ratio = rate / rawRate
        metrics["pg.push.notesPerSecond"] = rate
        metrics["pg.push.rawNotesPerSecond"] = rawRate
        metrics["pg.push.ratio"] = ratio
        metrics["pg.push.threeOnOneNotesPerSecond"] = throughOne
        metrics["pg.push.threeOnThreeNotesPerSecond"] = throughThree
        let baseline = "plain PostgreSQL table \(Fmt.int(rawRate)) rows/s"
        add("pg push", "notes/s, 1 device, 1 server, \(Fmt.int(Double(n))) notes, SatchelClient.sync (batches of 500)", "\(Fmt.int(rate)) (\(Fmt.pct(ratio)) of plain)",
            baseline: baseline, goal: "≥ 40% of the plain table", ratio >= 0.4 ? .met : .missed)
        add("pg push", "notes/s, same notes as PushRequests through HTTPTransport alone", "\(Fmt.int(transportRate)) (\(Fmt.pct(transportRate / rawRate)) of plain)", baseline: baseline)
        add("pg push", "notes/s, 3 devices at once (\(Fmt.int(Double(third))) notes each, PushRequests of 500 through HTTPTransport): through 1 server / through 3 servers of one database",
            "\(Fmt.int(throughOne)) / \(Fmt.int(throughThree))", baseline: baseline)
    }

    /// Notes per second in all while three devices push `notes` each at once, device i through
    /// `servers[i % count]`; checks every note was stored once.
    func burst(servers: [BenchServer], notes: Int, label: String) async throws -> Double {
        let store = try await servers[0].openStore()
        try await BenchServer.createSpace(store, "mission", members: [("ana", .writer)])
        var specs: [Worker.BurstJob.Spec] = []
        for i in 0..<3 {
            let account = try await servers[0].account(store, user: "ana", device: "\(label)-\(i)")
            specs.append(Worker.BurstJob.Spec(url: "", account: account, space: "mission", notes: notes, seed: options.seed &+ UInt64(i),
                                              readyFile: dir("\(label)-\(i).ready"), goFile: dir("\(label).go")))
        }
        await store.close()
        for server in servers { try await server.start() }
        for i in 0..<3 { specs[i].url = servers[i % servers.count].url }
        let (s0, s1, s2) = (specs[0], specs[1], specs[2])
        async let a = worker("burst", s0, as: Worker.BurstJob.Result.self)
        async let b = worker("burst", s1, as: Worker.BurstJob.Result.self)
        async let c = worker("burst", s2, as: Worker.BurstJob.Result.self)
        while !specs.allSatisfy({ FileManager.default.fileExists(atPath: $0.readyFile) }) { try await Task.sleep(for: .milliseconds(5)) }
        FileManager.default.createFile(atPath: s0.goFile, contents: nil)
        let results = try await [a, b, c]
        let check = try await servers[0].openStore()
        let stored = try await check.records(in: "mission", collection: .notes).count
        await check.close()
        for server in servers { await server.stop() }
        guard results.allSatisfy({ $0.pushed == notes && $0.rejected == 0 }), stored == 3 * notes else {
            throw BenchError("postgres push (\(label)): \(results.map(\.pushed)) of \(notes) each accepted, \(stored) stored")
        }
        let start = results.map(\.window.start).min()!, end = results.map(\.window.end).max()!
        return Double(3 * notes) / (Double(end - start) / 1e9)
    }

    /// Rows per second into a plain table of the note's columns, `count` rows, 500 per transaction.
    func plainInsertRate(_ url: String, count n: Int) async throws -> Double {
        let logger = Logger(label: "satchel-bench.postgres")
        let connection = try await PostgresLocation(url: url).connect(logger: logger)
        try await connection.query("CREATE TABLE notes (id text PRIMARY KEY, title text NOT NULL, body text, tags text, author text, created_at bigint, updated_at bigint)", logger: logger)
        var rng = SplitMix64(seed: options.seed ^ 0xBA5E)
        let rows = (0..<n).map { i in (RecordID.random(using: &rng).rawValue, factory.note(i)) }
        let t0 = monotonicNanos()
        for start in stride(from: 0, to: n, by: 500) {
            let page = rows[start..<min(start + 500, n)]
            let ids: [String] = page.map { $0.0 }, titles: [String] = page.map { $0.1.title }, bodies: [String] = page.map { $0.1.body }
            let tags: [String] = page.map { $0.1.tags.joined(separator: " ") }, created: [Int64] = page.map { $0.1.createdAt }
            try await connection.query("BEGIN", logger: logger)
            try await connection.query(
                """
                INSERT INTO notes (id, title, body, tags, author, created_at, updated_at)
                SELECT i, t, b, g, 'ana', c, c FROM unnest(\(ids)::text[], \(titles)::text[], \(bodies)::text[], \(tags)::text[], \(created)::bigint[]) AS r(i, t, b, g, c)
                """, logger: logger)
            try await connection.query("COMMIT", logger: logger)
        }
        let rate = Double(n) / seconds(since: t0)
        try await connection.close()
        return rate
    }

    // MARK: initial sync

    func postgresSync() async throws {
        let m = options.syncNotes
        let (database, servers) = try await cluster("sync", 3)
        let store = try await servers[0].openStore()
        try await BenchServer.createSpace(store, "bulk", members: [("reader", .reader)])
        log("seeding \(Fmt.int(Double(m))) notes in PostgreSQL…")
        let seedStart = monotonicNanos()
        try await BenchServer.seedNotes(store, space: "bulk", count: m, factory: factory)
        let seedRate = Double(m) / seconds(since: seedStart)
        var accounts: [Account] = []
        for i in 0..<7 { accounts.append(try await servers[0].account(store, user: "reader", device: "pg-new-\(i)")) }
        await store.close()

        // Baseline: the stored change blobs read straight from the database, in version order.
        let logger = Logger(label: "satchel-bench.postgres")
        let connection = try await PostgresLocation(url: database).connect(logger: logger)
        let t0 = monotonicNanos()
        var read = 0
        for try await _ in try await connection.query("SELECT data FROM changes WHERE space = 'bulk' ORDER BY version", logger: logger) { read += 1 }
        let readRate = Double(read) / seconds(since: t0)
        try await connection.close()

        for server in servers { try await server.start() }
        // Every server builds its compressed bootstrap pages from the database once it starts.
        let full = max(0, m - 1) / 500 * 500
        for server in servers { _ = try await server.waitForSnapshots(records: full) }
        func transfer(_ account: Account, _ url: String, _ name: String) async throws -> Worker.SyncJob.Result {
            try await worker("sync", Worker.SyncJob.Spec(url: url, account: account, directory: dir(name), transferOnly: true, space: "bulk", pageSize: 500), as: Worker.SyncJob.Result.self)
        }
        let alone = try await transfer(accounts[0], servers[0].url, "pg-xfer-1")
        func threeAtOnce(_ urls: [String], _ offset: Int) async throws -> Double {
            let (a0, a1, a2) = (accounts[offset], accounts[offset + 1], accounts[offset + 2])
            async let a = transfer(a0, urls[0], "pg-xfer-\(offset)")
            async let b = transfer(a1, urls[1], "pg-xfer-\(offset + 1)")
            async let c = transfer(a2, urls[2], "pg-xfer-\(offset + 2)")
            let results = try await [a, b, c]
            guard results.allSatisfy({ $0.notes == m }) else { throw BenchError("postgres sync: pulled \(results.map(\.notes)) of \(m)") }
            let start = results.map(\.window.start).min()!, end = results.map(\.window.end).max()!
            return Double(3 * m) / (Double(end - start) / 1e9)
        }
        let throughOne = try await threeAtOnce(Array(repeating: servers[0].url, count: 3), 1)
        let throughThree = try await threeAtOnce(servers.map(\.url), 4)
        for server in servers { await server.stop() }
        guard alone.notes == m else { throw BenchError("postgres sync: pulled \(alone.notes) of \(m)") }

        let rate = Double(m) / alone.window.seconds
        metrics["pg.sync.transferNotesPerSecond"] = rate
        metrics["pg.sync.threeOnOneNotesPerSecond"] = throughOne
        metrics["pg.sync.threeOnThreeNotesPerSecond"] = throughThree
        metrics["pg.sync.readNotesPerSecond"] = readRate
        let baseline = "PostgreSQL reads the same blobs at \(Fmt.int(readRate))/s"
        add("pg sync", "transfer alone: \(Fmt.int(Double(m))) notes pulled by a new device through 1 server (bootstrap pages of 500)",
            "\(Fmt.int(rate)) notes/s (\(Fmt.dec(alone.window.seconds, 2)) s)", baseline: baseline)
        add("pg sync", "3 new devices at once, all notes each: through 1 server / through 3 servers of one database (notes/s in all)",
            "\(Fmt.int(throughOne)) / \(Fmt.int(throughThree))", baseline: baseline,
            goal: "3 servers at least as fast as 1", throughThree >= throughOne * 0.95 ? .met : .missed)
        add("pg sync", "seeding the notes through the store's push (batches of 1,000, no HTTP)", "\(Fmt.int(seedRate)) notes/s")
    }

    // MARK: concurrency

    func postgresConcurrency() async throws {
        for count in [1, 3] {
            let d = options.devices
            let (_, servers) = try await cluster("concurrency_\(count)", count)
            let store = try await servers[0].openStore()
            var accounts: [Account] = [], spaces: [String] = []
            for i in 0..<d {
                let space = "team-\(i)"
                try await BenchServer.createSpace(store, space, members: [(space, .writer)])
                accounts.append(try await servers[0].account(store, user: space, device: "pg\(count)-c\(i)"))
                spaces.append(space)
            }
            try await BenchServer.createSpace(store, "solo", members: [("solo", .writer)])
            let solo = try await servers[0].account(store, user: "solo", device: "pg\(count)-solo")
            await store.close()
            for server in servers { try await server.start() }
            let r = try await worker(
                "concurrency",
                Worker.ConcurrencyJob.Spec(
                    url: servers[0].url, urls: servers.map(\.url), devices: accounts, spaces: spaces, solo: solo, soloSpace: "solo",
                    mutations: options.mutations, seed: options.seed, directory: dir("pg-devices-\(count)")),
                as: Worker.ConcurrencyJob.Result.self)
            let check = try await servers[0].openStore()
            var found = 0
            for space in spaces { found += try await check.records(in: SpaceID(unchecked: space), collection: .notes).values.filter { !$0.deleted }.count }
            await check.close()
            for server in servers { await server.stop() }
            let total = d * options.mutations
            let p50 = median(r.latencies), p99 = percentile(r.latencies, 99)
            metrics["pg.concurrency.\(count).p99Seconds"] = p99
            metrics["pg.concurrency.\(count).lost"] = Double(total - found)
            add("pg concurrency", "\(d) devices sync at once, \(options.mutations) mutations each, devices spread over \(count) server\(count == 1 ? "" : "s"): errors; lost; p50 / p99",
                "\(r.errors); \(total - found); \(Fmt.ms(p50)) / \(Fmt.ms(p99))",
                baseline: "1 device alone: p99 \(Fmt.ms(percentile(r.soloLatencies, 99)))", goal: "0 errors, 0 lost",
                r.errors == 0 && found == total ? .met : .missed)
            add("pg concurrency", "throughput, \(count) server\(count == 1 ? "" : "s")", "\(Fmt.int(Double(total) / r.window.seconds)) mutations/s in \(Fmt.dec(r.window.seconds, 2)) s")
        }
    }
}
