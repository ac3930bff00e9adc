import Foundation
import Glibc
import SatchelProtocol
import SatchelSQLite
import SatchelServer
import SatchelServerCore
import SatchelServerSQLite
import SatchelTesting
import SatchelBriefing

/// Sizes and outputs of a run; every size is a flag.
struct Options: Sendable {
    var pushNotes = 20_000
    var syncNotes = 100_000
    var syncSmallNotes = 20_000
    var trials = 200
    var devices = 200
    var team = 1
    var mutations = 100
    var logBig = 1_000_000
    var logSmall = 1_000
    var queries = 200
    var seed: UInt64 = 7
    var markdown: String? = "BENCHMARKS.md"
    var json: String?
    var keep = false
    var quick = false
    var phases: [String] = Orchestrator.allPhases
    /// The PostgreSQL server the pg- phases create databases on (else SATCHEL_BENCH_POSTGRES or
    /// SATCHEL_TEST_POSTGRES, as scripts/with-postgres.sh sets it).
    var postgres: String?

    mutating func makeQuick() {
        quick = true
        pushNotes = 500
        syncNotes = 2_000
        syncSmallNotes = 500
        trials = 10
        devices = 20
        team = 1
        mutations = 100
        logBig = 20_000
        logSmall = 1_000
        queries = 30
    }
}

/// How a figure compares with the goal.
enum Verdict: String, Codable {
    case met, missed, info
}

struct Row: Codable {
    var phase: String
    var measure: String
    var value: String
    var baseline: String
    var goal: String
    var verdict: Verdict
}

/// CPU and bytes of one measured stretch.
struct Cost: Codable {
    var phase: String
    var seconds: Double
    var serverCPU: Double
    var clientCPU: Double
    var wireBytes: Int?
    var rawBytes: Int?
    var note: String
    /// The stretch in CLOCK_MONOTONIC seconds (for `perf record -k CLOCK_MONOTONIC` and `perf report --time`).
    var window: [Double]? = nil
}

extension Window {
    var span: [Double] { [Double(start) / 1e9, Double(end) / 1e9] }
}

@MainActor
final class Orchestrator {
    nonisolated static let allPhases = ["push", "sync", "edit", "propagation", "concurrency", "growth", "search", "pg-push", "pg-sync", "pg-concurrency"]

    let options: Options
    let sampler = Sampler()
    let root: String
    let executable: String
    let factory: NoteFactory
    var rows: [Row] = []
    var costs: [Cost] = []
    /// Stable keys for the smoke test and for comparing runs.
    var metrics: [String: Double] = [:]
    var notes: [String] = []
    var searchClient: String?
    let started = Date()

    init(options: Options) throws {
        self.options = options
        root = (NSTemporaryDirectory() as NSString).appendingPathComponent("satchel-bench-\(getpid())")
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        factory = NoteFactory(seed: options.seed)
    }

    func log(_ s: String) { FileHandle.standardError.write(Data("[\(Fmt.dec(Date().timeIntervalSince(started), 1)) s] \(s)\n".utf8)) }

    func dir(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }

    func add(_ phase: String, _ measure: String, _ value: String, baseline: String = "", goal: String = "", _ verdict: Verdict = .info) {
        rows.append(Row(phase: phase, measure: measure, value: value, baseline: baseline, goal: goal, verdict: verdict))
    }

    /// Runs `satchel-bench _worker JOB` with `spec` and decodes its result.
    func worker<S: Encodable, R: Decodable>(_ job: String, _ spec: S, as: R.Type) async throws -> R {
        let specPath = dir("\(job)-\(UUID().uuidString.prefix(8)).spec.json"), outPath = specPath.replacingOccurrences(of: ".spec.", with: ".result.")
        try JSONEncoder().encode(spec).write(to: URL(fileURLWithPath: specPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["_worker", job, specPath, outPath]
        let status: Int32 = try await withCheckedThrowingContinuation { c in
            process.terminationHandler = { c.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { c.resume(throwing: error) }
        }
        guard status == 0, let data = FileManager.default.contents(atPath: outPath) else {
            throw BenchError("the \(job) worker failed (exit status \(status)); its messages are above")
        }
        return try JSONDecoder().decode(R.self, from: data)
    }

    func run() async throws {
        var phases = options.phases
        if phases.contains("search") && !phases.contains("sync") { phases.insert("sync", at: 0) }
        // Concurrency runs first, so the process that hosts its server has not yet grown its heap
        // seeding the other phases' data: its memory is then the server's. The report keeps the
        // issue's order.
        let order = ["concurrency"] + Self.allPhases.filter { $0 != "concurrency" }
        for phase in order where phases.contains(phase) {
            // Hand memory freed by the previous phase back to the system before measuring again.
            trimHeap()
            log("phase \(phase)…")
            switch phase {
            case "push": try await push()
            case "sync": try await initialSync()
            case "edit": try await editAndPropagation(edit: true, propagation: phases.contains("propagation"))
            case "propagation": if !phases.contains("edit") { try await editAndPropagation(edit: false, propagation: true) }
            case "concurrency": try await concurrency()
            case "growth": try await growth()
            case "search": try await search()
            case "pg-push", "pg-sync", "pg-concurrency":
                guard postgres != nil else {
                    log("\(phase): no PostgreSQL server (make bench starts one; or --postgres URL), skipped")
                    notes.append("The PostgreSQL phases did not run: no server was given.")
                    continue
                }
                switch phase {
                case "pg-push": try await postgresPush()
                case "pg-sync": try await postgresSync()
                default: try await postgresConcurrency()
                }
            default: break
            }
        }
        sampler.stop()
        let rank = Dictionary(uniqueKeysWithValues: ["push", "initial sync", "small edit", "propagation", "concurrency", "growth", "search", "pg push", "pg sync", "pg concurrency"].enumerated().map { ($1, $0) })
        rows = rows.enumerated().sorted { (rank[$0.element.phase] ?? 9, $0.offset) < (rank[$1.element.phase] ?? 9, $1.offset) }.map(\.element)
        let costRank = { (c: Cost) in ["push", "initial sync", "small edit", "propagation", "concurrency", "growth", "search"].firstIndex { c.phase.hasPrefix($0) } ?? 9 }
        costs = costs.enumerated().sorted { (costRank($0.element), $0.offset) < (costRank($1.element), $1.offset) }.map(\.element)
        if !options.keep { try? FileManager.default.removeItem(atPath: root) }
    }

    // MARK: push

    func push() async throws {
        let n = options.pushNotes
        // Baseline: raw SQLite, the same rows, WAL, synchronous=FULL, one transaction per 500.
        let path = dir("push-baseline.sqlite")
        let db = try Database(configuration: DatabaseConfiguration(path: path, journalMode: .wal, synchronous: .full))
        try db.execute("CREATE TABLE notes (id TEXT PRIMARY KEY, title TEXT NOT NULL, body TEXT, tags TEXT, author TEXT, created_at INTEGER, updated_at INTEGER)")
        var rng = SplitMix64(seed: options.seed ^ 0xBA5E)
        let rowsToInsert = (0..<n).map { i in (RecordID.random(using: &rng).rawValue, factory.note(i)) }
        let cpu0 = processCPUSeconds(), t0 = monotonicNanos()
        for start in stride(from: 0, to: n, by: 500) {
            try db.transaction {
                for (id, note) in rowsToInsert[start..<min(start + 500, n)] {
                    try db.run(
                        "INSERT INTO notes (id, title, body, tags, author, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        id, note.title, note.body, note.tags.joined(separator: " "), "ana", note.createdAt, note.createdAt)
                }
            }
        }
        let rawSeconds = seconds(since: t0), rawCPU = processCPUSeconds() - cpu0
        db.close()
        let rawRate = Double(n) / rawSeconds

        let server = BenchServer(directory: dir("push-server"), seed: options.seed)
        let store = try await server.openStore()
        try await BenchServer.createSpace(store, "mission", members: [("ana", .writer), ("bulk-writer", .writer)])
        let device = try await server.account(store, user: "ana", device: "push")
        let rawDevice = try await server.account(store, user: "bulk-writer", device: "push-raw")
        await store.close()
        try await server.start()
        let r = try await worker(
            "push", Worker.PushJob.Spec(url: server.url, account: device, rawAccount: rawDevice, space: "mission", notes: n, seed: options.seed, directory: dir("push-client")),
            as: Worker.PushJob.Result.self)
        await server.stop()
        guard r.pushed == n, r.rawPushed == n else { throw BenchError("push: \(r.pushed) and \(r.rawPushed) of \(n) notes accepted (\(r.rejected) rejected)") }

        let rate = Double(n) / r.push.seconds, transportRate = Double(n) / r.raw.seconds
        let ratio = rate / rawRate
        metrics["push.notesPerSecond"] = rate
        metrics["push.transportNotesPerSecond"] = transportRate
        metrics["push.rawSQLiteNotesPerSecond"] = rawRate
        metrics["push.ratio"] = ratio
        metrics["push.localWritesPerSecond"] = Double(n) / r.local.seconds
        metrics["push.wireBytesPerNote"] = Double(r.pushRoute.sent) / Double(n)
        metrics["push.rawBytesPerNote"] = Double(r.rawUncompressed) / Double(n)
        let goal = "≥ 40% of raw SQLite"
        add("push", "notes/s, 1 device, \(Fmt.int(Double(n))) notes, SatchelClient.sync (batches of 500)", "\(Fmt.int(rate)) (\(Fmt.pct(ratio)) of raw)",
            baseline: "raw SQLite \(Fmt.int(rawRate)) notes/s", goal: goal, ratio >= 0.4 ? .met : .missed)
        add("push", "notes/s, same notes as PushRequests through HTTPTransport alone", "\(Fmt.int(transportRate)) (\(Fmt.pct(transportRate / rawRate)) of raw)",
            baseline: "raw SQLite \(Fmt.int(rawRate)) notes/s", goal: goal, .info)
        add("push", "local writes before the push (createNote, one transaction each)", "\(Fmt.int(Double(n) / r.local.seconds)) notes/s")
        add("push", "the rest of that sync: notes the pushing device pulls back (its own writes are confirmed when acknowledged and left out of its pulls), time, bytes received",
            "\(Fmt.int(Double(r.pulledBack))) notes, \(Fmt.dec(r.sync.seconds - r.push.seconds, 2)) s, \(Fmt.int(Double(r.pullRoute.received))) B")
        costs.append(Cost(phase: "push: SatchelClient.sync, push part", seconds: r.push.seconds, serverCPU: sampler.cpu(from: r.push.start, to: r.push.end), clientCPU: r.push.cpu,
                          wireBytes: r.pushRoute.sent, rawBytes: r.rawUncompressed, note: "raw = the same notes as uncompressed PushRequest frames", window: r.push.span))
        costs.append(Cost(phase: "push: rest of that sync (pull)", seconds: r.sync.seconds - r.push.seconds, serverCPU: sampler.cpu(from: r.push.end, to: r.sync.end),
                          clientCPU: r.sync.cpu - r.push.cpu, wireBytes: r.pullRoute.received, rawBytes: nil, note: "", window: [r.push.span[1], r.sync.span[1]]))
        costs.append(Cost(phase: "push: HTTPTransport alone", seconds: r.raw.seconds, serverCPU: sampler.cpu(from: r.raw.start, to: r.raw.end), clientCPU: r.raw.cpu,
                          wireBytes: r.rawSent, rawBytes: r.rawUncompressed, note: "", window: r.raw.span))
        costs.append(Cost(phase: "push: raw SQLite baseline", seconds: rawSeconds, serverCPU: 0, clientCPU: rawCPU, wireBytes: nil, rawBytes: nil, note: "in the orchestrator"))
    }

    // MARK: initial sync

    func initialSync() async throws {
        let m = options.syncNotes, small = options.syncSmallNotes
        let server = BenchServer(directory: dir("sync-server"), seed: options.seed)
        let store = try await server.openStore()
        try await BenchServer.createSpace(store, "bulk", members: [("reader-l", .reader)])
        try await BenchServer.createSpace(store, "bulk-small", members: [("reader-s", .reader)])
        log("seeding \(Fmt.int(Double(m))) + \(Fmt.int(Double(small))) notes…")
        try await BenchServer.seedNotes(store, space: "bulk", count: m, factory: factory)
        try await BenchServer.seedNotes(store, space: "bulk-small", count: small, factory: factory)
        let briefing = try await Briefing.load(briefingPath, into: store, now: Timestamp(Date().timeIntervalSince1970 * 1000))
        let transfer = try await server.account(store, user: "reader-l", device: "transfer")
        let big = try await server.account(store, user: "reader-l", device: "new-big")
        let smallDevice = try await server.account(store, user: "reader-s", device: "new-small")
        await store.close()

        // Baselines on the same notes: the server's stored change blobs (raw Satchel binary),
        // reading them straight from SQLite, and JSON + zlib 6 of them in pages of 500.
        let db = try Database(configuration: DatabaseConfiguration(path: server.databasePath, readOnly: true))
        let t0 = monotonicNanos()
        var rawBytes = 0, count = 0
        var sample: [[UInt8]] = []
        let sampleSize = min(m, 20_000)
        try db.query("SELECT data FROM changes WHERE space = 'bulk' ORDER BY version") { row in
            let blob = row.blob(at: 0)
            rawBytes += blob.count
            count += 1
            if sample.count < sampleSize { sample.append(blob) }
        }
        let readRate = Double(count) / seconds(since: t0)
        db.close()
        let changes = try sample.map { try Change(wireBytes: $0) }
        var jsonRaw = 0, jsonZlib = 0, satchelZlib = 0
        let tj = monotonicNanos()
        for start in stride(from: 0, to: changes.count, by: 500) {
            let page = Array(changes[start..<min(start + 500, changes.count)])
            let json = try JSONEncoder().encode(CodecBenchmark.JSONPage(space: "bulk", changes: page.map(CodecBenchmark.json), cursor: page.last!.version, hasMore: true))
            jsonRaw += json.count
            jsonZlib += Frame.encode(payload: [UInt8](json), type: 6, compression: Frame.Compression(level: 6, minimumBytes: 0, useDictionary: false)).count
        }
        let jsonRate = Double(changes.count) / seconds(since: tj)
        // What the server does for every pull page: wrap the stored blobs and deflate them.
        let tz = monotonicNanos()
        for start in stride(from: 0, to: sample.count, by: 500) {
            let payload = PullResponse.encodePayload(space: "bulk", encodedChanges: Array(sample[start..<min(start + 500, sample.count)]), cursor: 1, hasMore: true, head: 1)
            satchelZlib += Frame.encode(payload: payload, type: 6).count
        }
        let deflateRate = Double(sample.count) / seconds(since: tz)

        try await server.start()
        // The server caches compressed snapshot pages of every full page once, off the request
        // path; measure that separately and start the transfer when it is done.
        let buildStart = monotonicNanos()
        // Every full page that has a record after it (the tail is served live).
        let cacheSeconds = try await server.waitForSnapshots(records: max(0, m - 1) / 500 * 500 + max(0, small - 1) / 500 * 500)
        let cacheCPU = sampler.cpu(from: buildStart, to: monotonicNanos())
        log("snapshot cache built in \(Fmt.dec(cacheSeconds, 2)) s")
        log("transfer of \(Fmt.int(Double(m))) notes…")
        let xfer = try await worker("sync", Worker.SyncJob.Spec(url: server.url, account: transfer, directory: dir("transfer"), transferOnly: true, space: "bulk", pageSize: 500), as: Worker.SyncJob.Result.self)
        log("new device syncing \(Fmt.int(Double(small))) notes…")
        let s = try await worker("sync", Worker.SyncJob.Spec(url: server.url, account: smallDevice, directory: dir("client-small"), transferOnly: false, space: "bulk-small", pageSize: 500), as: Worker.SyncJob.Result.self)
        log("new device syncing \(Fmt.int(Double(m))) notes…")
        let clientDir = dir("client-big")
        let b = try await worker("sync", Worker.SyncJob.Spec(url: server.url, account: big, directory: clientDir, transferOnly: false, space: "bulk", pageSize: 500), as: Worker.SyncJob.Result.self)
        await server.stop()
        searchClient = clientDir
        guard xfer.notes == m, b.notes == m + briefing.entries, s.notes == small + briefing.entries else {
            throw BenchError("initial sync: pulled \(xfer.notes), \(b.notes), \(s.notes) changes; expected \(m), \(m + briefing.entries), \(small + briefing.entries)")
        }

        let rate = Double(m) / xfer.window.seconds
        let wirePerNote = Double(xfer.received) / Double(m)
        let rawPerNote = Double(rawBytes) / Double(m)
        let jsonZlibPerNote = Double(jsonZlib) / Double(changes.count)
        let applyRate = Double(b.notes) / b.window.seconds
        metrics["sync.transferNotesPerSecond"] = rate
        metrics["sync.syncNotesPerSecond"] = applyRate
        metrics["sync.transferSeconds"] = xfer.window.seconds
        metrics["sync.syncSeconds"] = b.window.seconds
        metrics["sync.wireBytesPerNote"] = wirePerNote
        metrics["sync.rawBytesPerNote"] = rawPerNote
        metrics["sync.jsonBytesPerNote"] = Double(jsonRaw) / Double(changes.count)
        metrics["sync.jsonZlibBytesPerNote"] = jsonZlibPerNote
        metrics["sync.sqliteReadNotesPerSecond"] = readRate
        metrics["sync.peakRSSSmallKiB"] = Double(s.peakRSS)
        metrics["sync.peakRSSBigKiB"] = Double(b.peakRSS)
        let nm = Fmt.int(Double(m))
        add("initial sync", "transfer alone: \(nm) notes pulled through HTTPTransport (pages of 500), decoded, dropped",
            "\(Fmt.int(rate)) notes/s (\(Fmt.dec(xfer.window.seconds, 2)) s)",
            baseline: "SQLite reads the same blobs at \(Fmt.int(readRate))/s; deflating the same pages once: \(Fmt.int(deflateRate))/s; JSON+zlib6: \(Fmt.int(jsonRate))/s",
            goal: "≥ 45,000 notes/s", rate >= 45_000 ? .met : .missed)
        add("initial sync", "building the compressed snapshot pages once, after the server starts (\(nm) + \(Fmt.int(Double(small))) notes, before any device asks)",
            "\(Fmt.dec(cacheSeconds, 2)) s, \(Fmt.mib(server.snapshots.cachedBytes / 1024)) of frames", baseline: "deflating the same pages once: \(Fmt.int(deflateRate)) notes/s", goal: "", .info)
        add("initial sync", "transfer + local apply + indexing: SatchelClient.sync of a new device (\(nm) notes + \(briefing.entries) briefing entries)",
            "\(Fmt.dec(b.window.seconds, 2)) s (\(Fmt.int(applyRate)) notes/s)", baseline: "transfer alone \(Fmt.dec(xfer.window.seconds, 2)) s", goal: "", .info)
        add("initial sync", "bytes on the wire per note (frames as sent)", "\(Fmt.int(wirePerNote)) B",
            baseline: "raw binary \(Fmt.int(rawPerNote)) B; JSON \(Fmt.int(Double(jsonRaw) / Double(changes.count))) B; JSON+zlib6 \(Fmt.int(jsonZlibPerNote)) B",
            goal: "≤ 560 B", wirePerNote <= 560 ? .met : .missed)
        let flat = Double(b.peakRSS) <= Double(s.peakRSS) * 1.15
        add("initial sync", "peak client memory (worker VmHWM): \(Fmt.int(Double(small))) vs \(nm) notes",
            "\(Fmt.mib(s.peakRSS)) vs \(Fmt.mib(b.peakRSS))", baseline: "worker before syncing: \(Fmt.mib(b.startRSS))",
            goal: "flat as the count grows (here: ≤ +15% for \(Fmt.dec(Double(m) / Double(max(1, small)), 0))× the notes)", flat ? .met : .missed)
        costs.append(Cost(phase: "initial sync: transfer alone", seconds: xfer.window.seconds, serverCPU: sampler.cpu(from: xfer.window.start, to: xfer.window.end),
                          clientCPU: xfer.window.cpu, wireBytes: xfer.received, rawBytes: rawBytes, note: "raw = stored change blobs", window: xfer.window.span))
        costs.append(Cost(phase: "initial sync: SatchelClient.sync, \(nm) notes", seconds: b.window.seconds, serverCPU: sampler.cpu(from: b.window.start, to: b.window.end),
                          clientCPU: b.window.cpu, wireBytes: b.received, rawBytes: nil, note: "", window: b.window.span))
        costs.append(Cost(phase: "initial sync: SatchelClient.sync, \(Fmt.int(Double(small))) notes", seconds: s.window.seconds, serverCPU: sampler.cpu(from: s.window.start, to: s.window.end),
                          clientCPU: s.window.cpu, wireBytes: s.received, rawBytes: nil, note: ""))
        costs.append(Cost(phase: "initial sync: JSON+zlib6 baseline (\(Fmt.int(Double(changes.count))) notes)", seconds: Double(changes.count) / jsonRate, serverCPU: 0, clientCPU: Double(changes.count) / jsonRate,
                          wireBytes: jsonZlib, rawBytes: jsonRaw, note: "encoding only, in the orchestrator"))
        notes.append("A bootstrap is served from snapshot pages compressed once when the server starts (or when a page's worth of new notes arrives): \(Fmt.dec(cacheSeconds, 2)) s and \(Fmt.dec(cacheCPU, 2)) s of CPU here. The same pages deflated once in the orchestrator compress to \(Fmt.int(Double(satchelZlib) / Double(sample.count))) B/note.")
    }

    var briefingPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Data/china-briefing.json").path
    }
}
