import Foundation
import SatchelClient
import SatchelProtocol
import SatchelSQLite
import Synchronization
import SatchelTesting

extension Worker {
    // MARK: initial sync

    enum SyncJob {
        struct Spec: Codable {
            var url: String
            var account: Account
            var directory: String
            /// Pull pages through HTTPTransport and drop them (transfer alone), or run SatchelClient.sync.
            var transferOnly: Bool
            var space: String
            var pageSize: Int
        }
        struct Result: Codable {
            var window: Window
            var notes: Int
            var sent: Int
            var received: Int
            var requests: Int
            /// VmRSS when ready to start, and VmHWM (peak) at the end, KiB.
            var startRSS: Int
            var peakRSS: Int
        }
    }

    static func sync(_ spec: SyncJob.Spec) async throws -> SyncJob.Result {
        if spec.transferOnly {
            let transport = try HTTPTransport(url: spec.url, token: spec.account.token)
            let space = SpaceID(unchecked: spec.space)
            let startRSS = procStatusKiB("VmRSS")
            var notes = 0, requests = 0
            let (_, window) = try await Window.measure {
                let hello = try await transport.hello(HelloRequest(client: "satchel-bench"))
                let horizon = hello.spaces.first { $0.space == space }?.horizon ?? 0
                var after: Version = 0
                while true {
                    // A new device's pull: a bootstrap (snapshot), as SatchelClient makes it.
                    let page = try await transport.pull(PullRequest(space: space, after: after, limit: spec.pageSize, bootstrap: horizon))
                    requests += 1
                    notes += page.changes.count
                    after = page.cursor
                    if !page.hasMore { break }
                }
            }
            let bytes = transport.bytes
            return SyncJob.Result(window: window, notes: notes, sent: bytes.sent, received: bytes.received, requests: requests + 1, startRSS: startRSS, peakRSS: procStatusKiB("VmHWM"))
        }
        let stats = TransportStats()
        let client = try await DeviceFactory.client(directory: spec.directory, url: spec.url, account: spec.account, stats: stats)
        let startRSS = procStatusKiB("VmRSS")
        let (report, window) = try await Window.measure { try await client.sync(pageSize: spec.pageSize) }
        await client.close()
        let routes = stats.snapshot().values
        return SyncJob.Result(
            window: window, notes: report.pulled, sent: routes.reduce(0) { $0 + $1.sent }, received: routes.reduce(0) { $0 + $1.received },
            requests: routes.reduce(0) { $0 + $1.count }, startRSS: startRSS, peakRSS: procStatusKiB("VmHWM"))
    }

    // MARK: small edit

    enum EditJob {
        struct Spec: Codable {
            var url: String
            var a: Account
            var b: Account
            var space: String
            var seed: UInt64
            var directory: String
        }
        struct Bytes: Codable {
            var pushRequest = 0, pushResponse = 0, pushRequestRaw = 0
            var pullRequest = 0, pullResponse = 0, pullResponseRaw = 0
            /// Hello request and response, which open every sync.
            var hello = 0
            var arrived = false
        }
        struct Result: Codable {
            var title: Bytes
            var bodyWord: Bytes
            var noteBytes: Int
            var jsonWholeNote: Int
            var jsonZlibWholeNote: Int
            var window: Window
        }
    }

    static func edit(_ spec: EditJob.Spec) async throws -> EditJob.Result {
        let factory = NoteFactory(seed: spec.seed)
        let statsA = TransportStats(measureRaw: true), statsB = TransportStats(measureRaw: true)
        let a = try await DeviceFactory.client(directory: spec.directory + "/a", url: spec.url, account: spec.a, stats: statsA)
        let b = try await DeviceFactory.client(directory: spec.directory + "/b", url: spec.url, account: spec.b, stats: statsB)
        let space = SpaceID(unchecked: spec.space)
        try await a.sync()
        try await b.sync()
        let note = factory.note(1)
        let key = try await a.createNote(space: space, title: note.title, body: note.body, tags: note.tags)
        try await a.sync()
        try await b.sync()

        func measure(_ change: () async throws -> Void, check: ([FieldName: Value]) -> Bool) async throws -> EditJob.Bytes {
            statsA.reset()
            statsB.reset()
            try await change()
            try await a.sync()
            try await b.sync()
            let ra = statsA.snapshot(), rb = statsB.snapshot()
            var out = EditJob.Bytes()
            out.pushRequest = ra["push"]?.sent ?? 0
            out.pushResponse = ra["push"]?.received ?? 0
            out.pushRequestRaw = ra["push"]?.rawSent ?? 0
            out.pullRequest = rb["pull"]?.sent ?? 0
            out.pullResponse = rb["pull"]?.received ?? 0
            out.pullResponseRaw = rb["pull"]?.rawReceived ?? 0
            out.hello = (rb["hello"]?.sent ?? 0) + (rb["hello"]?.received ?? 0)
            out.arrived = try await b.record(key)?.view.map(check) ?? false
            return out
        }
        let (results, window) = try await Window.measure { () async throws -> (EditJob.Bytes, EditJob.Bytes) in
            let newTitle = note.title + " (revised)"
            let title = try await measure({ try await a.updateNote(key, title: newTitle) }, check: { $0["title"] == .string(newTitle) })
            // One word of the body replaced, in the middle.
            var words = note.body.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            words[words.count / 2] = "Hefei"
            let newBody = words.joined(separator: " ")
            let body = try await measure({ try await a.updateNote(key, body: newBody) }, check: { $0["body"] == .text(newBody) })
            return (title, body)
        }
        // What a whole-record JSON sync would send for any edit of this note.
        let view = try await b.record(key)?.view ?? [:]
        let change = Change(
            version: 3, previousVersion: 2, key: key, kind: .upsert, fields: view.mapValues { .set($0) },
            clock: HLC(millis: physicalMillis, counter: 0), mutation: nil)
        let json = try JSONEncoder().encode(CodecBenchmark.json(change))
        let zlib = Frame.encode(payload: [UInt8](json), type: 6, compression: Frame.Compression(level: 6, minimumBytes: 0, useDictionary: false))
        await a.close()
        await b.close()
        return EditJob.Result(
            title: results.0, bodyWord: results.1, noteBytes: change.wireBytes.count, jsonWholeNote: json.count,
            jsonZlibWholeNote: zlib.count, window: window)
    }

    // MARK: propagation

    enum PropagationJob {
        struct Spec: Codable {
            var url: String
            var a: Account
            var b: Account
            var space: String
            var trials: Int
            var directory: String
        }
        struct Result: Codable {
            var latencies: [Double]
            var failures: Int
            /// Baseline: a hello round trip on the same loopback, same run.
            var helloLatencies: [Double]
            var window: Window
        }
    }

    enum LiveSignal: Sendable { case synced, failed(String), timeout(Int) }

    static func propagation(_ spec: PropagationJob.Spec) async throws -> PropagationJob.Result {
        let a = try await DeviceFactory.client(directory: spec.directory + "/a", url: spec.url, account: spec.a, stats: TransportStats())
        let b = try await DeviceFactory.client(directory: spec.directory + "/b", url: spec.url, account: spec.b, stats: TransportStats())
        let space = SpaceID(unchecked: spec.space)
        try await a.sync()
        let (signals, continuation) = AsyncStream<LiveSignal>.makeStream()
        let watcher = Task {
            try await b.watch { result in
                switch result {
                case .success: continuation.yield(.synced)
                case .failure(let error): continuation.yield(.failed("\(error)"))
                }
            }
        }
        var iterator = signals.makeAsyncIterator()
        _ = await iterator.next()  // the initial sync; the live connection opens right after it
        try await Task.sleep(for: .milliseconds(200))

        var latencies: [Double] = []
        var failures = 0
        let (_, window) = try await Window.measure {
            for k in 0..<spec.trials {
                let title = "propagation trial \(k)"
                let start = monotonicNanos()
                let key = try await a.createNote(space: space, title: title)
                let push = Task { try await a.sync() }
                let watchdog = Task {
                    try await Task.sleep(for: .seconds(10))
                    continuation.yield(.timeout(k))
                }
                var seen = false
                while let signal = await iterator.next() {
                    if case .timeout(let t) = signal, t == k { break }
                    if case .synced = signal, try await b.record(key)?.view?["title"] == .string(title) {
                        seen = true
                        break
                    }
                }
                let elapsed = seconds(since: start)
                watchdog.cancel()
                _ = try await push.value
                if seen { latencies.append(elapsed) } else { failures += 1 }
            }
        }
        watcher.cancel()
        _ = try? await watcher.value
        // Baseline: the smallest authenticated request, timed the same way.
        let transport = try HTTPTransport(url: spec.url, token: spec.b.token)
        var hello: [Double] = []
        for _ in 0..<max(spec.trials, 20) {
            let start = monotonicNanos()
            _ = try await transport.hello(HelloRequest(client: "satchel-bench"))
            hello.append(seconds(since: start))
        }
        await a.close()
        await b.close()
        return PropagationJob.Result(latencies: latencies, failures: failures, helloLatencies: hello, window: window)
    }

    // MARK: concurrency

    enum ConcurrencyJob {
        struct Spec: Codable {
            var url: String
            /// Servers of one cluster: device i talks to `urls[i % count]` (nil: all to `url`).
            var urls: [String]? = nil
            var devices: [Account]
            var spaces: [String]
            var solo: Account
            var soloSpace: String
            var mutations: Int
            var seed: UInt64
            var directory: String
        }
        struct Result: Codable {
            var window: Window
            var devices: Int
            var errors: Int
            var errorSamples: [String]
            var rejected: Int
            var conflicts: Int
            var pushed: Int
            var pulled: Int
            var latencies: [Double]
            var routes: [String: TransportStats.Route]
            var soloLatencies: [Double]
            var soloWindow: Window
            var pending: Int
        }
    }

    static func title(device: Int, note: Int) -> String { "device \(device) note \(note)" }

    static func concurrency(_ spec: ConcurrencyJob.Spec) async throws -> ConcurrencyJob.Result {
        // Each device has its own SQLite file and connection pool: raise the descriptor limit.
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)

        let factory = NoteFactory(seed: spec.seed)
        let stats = TransportStats()
        var clients: [SatchelClient] = []
        for (i, account) in spec.devices.enumerated() {
            let url = spec.urls.map { $0[i % $0.count] } ?? spec.url
            clients.append(try await DeviceFactory.client(directory: spec.directory + "/device-\(i)", url: url, account: account, stats: stats, ownPool: true))
        }
        // Baseline: one device alone, same work.
        let soloStats = TransportStats()
        let solo = try await DeviceFactory.client(directory: spec.directory + "/solo", url: spec.url, account: spec.solo, stats: soloStats, ownPool: true)
        try await solo.sync()
        for j in 0..<spec.mutations {
            let n = factory.note(j)
            try await solo.createNote(space: SpaceID(unchecked: spec.soloSpace), title: title(device: -1, note: j), body: n.body, tags: n.tags)
        }
        soloStats.reset()
        let (_, soloWindow) = try await Window.measure { try await solo.sync() }
        let soloLatencies = soloStats.snapshot().values.flatMap(\.latencies)
        await solo.close()

        // Every device joins (first sync) and writes its notes offline; not measured.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for c in clients { group.addTask { try await c.sync() } }
            try await group.waitForAll()
        }
        // The devices write side by side (each commit waits for its own fsync).
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, c) in clients.enumerated() {
                let space = SpaceID(unchecked: spec.spaces[i]), mutations = spec.mutations
                group.addTask {
                    for j in 0..<mutations {
                        let n = factory.note(i * mutations + j)
                        try await c.createNote(space: space, title: title(device: i, note: j), body: n.body, tags: n.tags)
                    }
                }
            }
            try await group.waitForAll()
        }
        stats.reset()

        // All devices sync at once.
        struct Outcome: Sendable { var error: String?; var report: SyncReport? }
        let (outcomes, window) = await Window.measure {
            await withTaskGroup(of: Outcome.self) { group -> [Outcome] in
                for c in clients {
                    group.addTask {
                        do { return Outcome(error: nil, report: try await c.sync()) } catch { return Outcome(error: "\(error)", report: nil) }
                    }
                }
                var all: [Outcome] = []
                for await o in group { all.append(o) }
                return all
            }
        }
        var pending = 0
        for c in clients {
            pending += try await c.status().pending
            await c.close()
        }
        let routes = stats.snapshot()
        let errors = outcomes.compactMap(\.error)
        let reports = outcomes.compactMap(\.report)
        return ConcurrencyJob.Result(
            window: window, devices: clients.count, errors: errors.count + routes.values.reduce(0) { $0 + $1.errors },
            errorSamples: Array(Set(errors)).prefix(5).map { String($0.prefix(300)) },
            rejected: reports.reduce(0) { $0 + $1.pushed.rejected }, conflicts: reports.reduce(0) { $0 + $1.pushed.conflicts },
            pushed: reports.reduce(0) { $0 + $1.pushed.applied + $1.pushed.merged }, pulled: reports.reduce(0) { $0 + $1.pulled },
            latencies: routes.values.flatMap(\.latencies),
            routes: routes.mapValues { var r = $0; r.latencies = [median(r.latencies), percentile(r.latencies, 99), r.latencies.max() ?? 0]; return r },
            soloLatencies: soloLatencies, soloWindow: soloWindow, pending: pending)
    }

    // MARK: probe

    enum ProbeJob {
        struct Spec: Codable {
            var url: String
            var account: Account
            var space: String
            var directory: String
            /// The probe stops when this file exists.
            var stopFile: String
        }
        struct Result: Codable {
            var requests: [TimedRequest]
        }
    }

    /// One more device, alone in its own process: writes one note and syncs, again and again,
    /// until told to stop. Its requests show what the server answers a device whose own CPU is
    /// not shared with 200 simulated others.
    static func probe(_ spec: ProbeJob.Spec) async throws -> ProbeJob.Result {
        let stats = TransportStats(keepTimeline: true)
        let client = try await DeviceFactory.client(directory: spec.directory, url: spec.url, account: spec.account, stats: stats, ownPool: true)
        var i = 0
        while !FileManager.default.fileExists(atPath: spec.stopFile) {
            try await client.createNote(space: SpaceID(unchecked: spec.space), title: "probe \(i)")
            do { try await client.sync() } catch {}  // failures are in the timeline
            i += 1
            try await Task.sleep(for: .milliseconds(20))
        }
        await client.close()
        return ProbeJob.Result(requests: stats.timeline.withLock { $0 })
    }

    // MARK: growth

    enum GrowthJob {
        struct Target: Codable {
            var url: String
            var account: Account
            var space: String
            var head: Int64
        }
        struct Spec: Codable {
            var small: Target
            var big: Target
            var rounds: Int
        }
        struct Result: Codable {
            var small: [Double]
            var big: [Double]
            var complete: Bool
            var window: Window
        }
    }

    /// A device 10 changes behind: hello, then one pull after head − 10.
    static func growth(_ spec: GrowthJob.Spec) async throws -> GrowthJob.Result {
        let targets = [spec.small, spec.big]
        let transports = try targets.map { try HTTPTransport(url: $0.url, token: $0.account.token) }
        var times: [[Double]] = [[], []]
        var complete = true
        let c0 = processCPUSeconds(), t0 = monotonicNanos()
        for round in -10..<spec.rounds {
            for (i, t) in targets.enumerated() {
                let start = monotonicNanos()
                _ = try await transports[i].hello(HelloRequest(client: "satchel-bench"))
                let page = try await transports[i].pull(PullRequest(space: SpaceID(unchecked: t.space), after: t.head - 10, limit: 500))
                let elapsed = seconds(since: start)
                if page.changes.count != 10 || page.hasMore { complete = false }
                if round >= 0 { times[i].append(elapsed) }  // the first rounds warm both up
            }
        }
        return GrowthJob.Result(small: times[0], big: times[1], complete: complete, window: Window(start: t0, end: monotonicNanos(), cpu: processCPUSeconds() - c0))
    }

    // MARK: search

    enum SearchJob {
        struct Spec: Codable {
            var directory: String
            var queries: Int
            var seed: UInt64
        }
        struct Result: Codable {
            var latencies: [Double]
            var rawLatencies: [Double]
            var hits: Int
            var notes: Int
            var entries: Int
            var slowest: String
            /// How many notes and entries each query matches (before the limit of 20).
            var matches: [Int]
            var window: Window
        }
    }

    /// Queries a field user would type: words and pairs of words from the notes' prose, and
    /// names of briefing entries (places, parks, companies), in a seeded order.
    static func searchQueries(count: Int, seed: UInt64) -> [String] {
        let factory = NoteFactory(seed: seed)
        var rng = SplitMix64(seed: seed ^ 0x5EA2C4)
        let words = factory.words.map { $0.filter { $0.isLetter } }.filter { $0.count >= 5 }
        var names: [String] = []
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Data/china-briefing.json")
        if let data = try? Data(contentsOf: path), let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let entries = json["entries"] as? [[String: Any]] {
            names = entries.compactMap { $0["name"] as? String }.map { String($0.split(separator: " ").prefix(2).joined(separator: " ")) }
        }
        if names.isEmpty { names = ["Suzhou", "Zhongguancun", "battery"] }
        return (0..<count).map { i in
            switch i % 4 {
            case 0, 1: words.randomElement(using: &rng)!
            case 2: "\(words.randomElement(using: &rng)!) \(words.randomElement(using: &rng)!)"
            default: names.randomElement(using: &rng)!
            }
        }
    }

    static func search(_ spec: SearchJob.Spec) async throws -> SearchJob.Result {
        let client = try SatchelClient(directory: spec.directory)
        let db = try Database(configuration: DatabaseConfiguration(path: spec.directory + "/satchel.sqlite", readOnly: true))
        func count(_ collection: String) throws -> Int {
            Int(try db.query("SELECT count(*) FROM records WHERE collection = ? AND view IS NOT NULL", collection) { $0.int64(at: 0) }.first ?? 0)
        }
        let notes = try count("notes"), entries = try count("entries")
        let queries = searchQueries(count: spec.queries, seed: spec.seed)
        // Warm the page cache the way a device that is in use has it warm.
        for q in queries.prefix(5) { _ = try await client.search(q) }
        var latencies: [Double] = [], raw: [Double] = []
        var hits = 0
        var slowest = (0.0, "")
        let (_, window) = try await Window.measure {
            for q in queries {
                let start = monotonicNanos()
                let found = try await client.search(q)
                let elapsed = seconds(since: start)
                latencies.append(elapsed)
                hits += found.count
                if elapsed > slowest.0 { slowest = (elapsed, q) }
            }
        }
        // Baseline: the same match and ranking straight on SQLite FTS5, without snippets, filters or the fallback.
        var matches: [Int] = []
        for q in queries {
            // The same terms the library's first query uses (stems, folded spellings).
            guard let fts = SatchelClient.fullTextQuery(q) else { continue }
            let start = monotonicNanos()
            _ = try db.query("SELECT rowid FROM search WHERE search MATCH ? ORDER BY bm25(search, 10.0, 1.0, 3.0) LIMIT 20", fts) { $0.int64(at: 0) }
            raw.append(seconds(since: start))
            matches.append(Int(try db.query("SELECT count(*) FROM search WHERE search MATCH ?", fts) { $0.int64(at: 0) }.first ?? 0))
        }
        db.close()
        await client.close()
        return SearchJob.Result(latencies: latencies, rawLatencies: raw, hits: hits, notes: notes, entries: entries, slowest: slowest.1, matches: matches, window: window)
    }
}
