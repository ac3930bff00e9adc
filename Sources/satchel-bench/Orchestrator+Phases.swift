import Foundation
import SatchelProtocol
import SatchelSQLite
import SatchelServer
import SatchelServerCore
import SatchelServerSQLite

extension Orchestrator {
    // MARK: small edit and propagation

    func editAndPropagation(edit: Bool, propagation: Bool) async throws {
        let server = BenchServer(directory: dir("edit-server"), seed: options.seed)
        let store = try await server.openStore()
        try await BenchServer.createSpace(store, "field", members: [("ana", .writer), ("bob", .writer)])
        let a = try await server.account(store, user: "ana", device: "edit-a")
        let b = try await server.account(store, user: "bob", device: "edit-b")
        let pa = try await server.account(store, user: "ana", device: "live-a")
        let pb = try await server.account(store, user: "bob", device: "live-b")
        await store.close()
        try await server.start()

        if edit {
            let r = try await worker("edit", Worker.EditJob.Spec(url: server.url, a: a, b: b, space: "field", seed: options.seed, directory: dir("edit")), as: Worker.EditJob.Result.self)
            guard r.title.arrived, r.bodyWord.arrived else { throw BenchError("small edit: device B did not receive the edit") }
            metrics["edit.titlePushBytes"] = Double(r.title.pushRequest)
            metrics["edit.titlePullBytes"] = Double(r.title.pullResponse)
            metrics["edit.bodyPushBytes"] = Double(r.bodyWord.pushRequest)
            metrics["edit.bodyPullBytes"] = Double(r.bodyWord.pullResponse)
            metrics["edit.jsonWholeNoteBytes"] = Double(r.jsonWholeNote)
            let baseline = "whole note as JSON \(Fmt.int(Double(r.jsonWholeNote))) B, JSON+zlib6 \(Fmt.int(Double(r.jsonZlibWholeNote))) B"
            for (name, e) in [("title changed", r.title), ("one word of a \(Fmt.int(Double(r.noteBytes)))-byte note's body changed", r.bodyWord)] {
                let ok = e.pushRequest < 300 && e.pullResponse < 300
                add("small edit", "\(name): push request body A→server / pull response body server→B",
                    "\(e.pushRequest) B / \(e.pullResponse) B", baseline: baseline, goal: "< 300 B each way", ok ? .met : .missed)
                add("small edit", "\(name): the rest of those syncs (push response, pull request, B's hello)",
                    "\(e.pushResponse) B, \(e.pullRequest) B, \(e.hello) B", baseline: "uncompressed: push \(e.pushRequestRaw) B, pull \(e.pullResponseRaw) B")
            }
            costs.append(Cost(phase: "small edit (2 edits, 4 syncs)", seconds: r.window.seconds, serverCPU: sampler.cpu(from: r.window.start, to: r.window.end), clientCPU: r.window.cpu,
                              wireBytes: r.title.pushRequest + r.title.pullResponse + r.bodyWord.pushRequest + r.bodyWord.pullResponse,
                              rawBytes: r.title.pushRequestRaw + r.title.pullResponseRaw + r.bodyWord.pushRequestRaw + r.bodyWord.pullResponseRaw, note: "push requests + pull responses"))
        }
        if propagation {
            let r = try await worker(
                "propagation", Worker.PropagationJob.Spec(url: server.url, a: pa, b: pb, space: "field", trials: options.trials, directory: dir("live")),
                as: Worker.PropagationJob.Result.self)
            let p50 = median(r.latencies), p99 = percentile(r.latencies, 99)
            let h50 = median(r.helloLatencies), h99 = percentile(r.helloLatencies, 99)
            metrics["propagation.medianSeconds"] = p50
            metrics["propagation.p99Seconds"] = p99
            metrics["propagation.failures"] = Double(r.failures)
            metrics["propagation.trials"] = Double(r.latencies.count)
            add("propagation", "A writes and syncs → B (watch) has the note: median of \(r.latencies.count) trials", Fmt.ms(p50),
                baseline: "hello round trip \(Fmt.ms(h50))", goal: "< 20 ms", p50 < 0.020 && r.failures == 0 ? .met : .missed)
            add("propagation", "same, 99th percentile\(r.failures > 0 ? " (\(r.failures) trials not seen within 10 s)" : "")", Fmt.ms(p99),
                baseline: "hello round trip \(Fmt.ms(h99))", goal: "< 100 ms", p99 < 0.100 && r.failures == 0 ? .met : .missed)
            costs.append(Cost(phase: "propagation (\(r.latencies.count) trials)", seconds: r.window.seconds, serverCPU: sampler.cpu(from: r.window.start, to: r.window.end),
                              clientCPU: r.window.cpu, wireBytes: nil, rawBytes: nil, note: "both devices in one worker"))
        }
        await server.stop()
    }

    // MARK: concurrency

    func concurrency() async throws {
        let d = options.devices, team = max(1, options.team)
        let server = BenchServer(directory: dir("concurrency-server"), seed: options.seed)
        let store = try await server.openStore()
        var accounts: [Account] = [], spaces: [String] = []
        let teams = (d + team - 1) / team
        for t in 0..<teams {
            let space = "team-\(t)"
            try await BenchServer.createSpace(store, space, members: [(space, .writer)])
        }
        for i in 0..<d {
            let space = "team-\(i / team)"
            accounts.append(try await server.account(store, user: space, device: "c\(i)"))
            spaces.append(space)
        }
        try await BenchServer.createSpace(store, "solo", members: [("solo", .writer)])
        let solo = try await server.account(store, user: "solo", device: "solo")
        try await BenchServer.createSpace(store, "probe", members: [("probe", .writer)])
        let probe = try await server.account(store, user: "probe", device: "probe")
        await store.close()
        let idleStart = monotonicNanos()
        try await server.start()
        try await Task.sleep(for: .milliseconds(100))
        let idleRSS = sampler.maxRSS(from: idleStart, to: monotonicNanos())
        let stopFile = dir("probe.stop")
        let probeTask = Task {
            try await worker("probe", Worker.ProbeJob.Spec(url: server.url, account: probe, space: "probe", directory: dir("probe"), stopFile: stopFile), as: Worker.ProbeJob.Result.self)
        }
        let r = try await worker(
            "concurrency",
            Worker.ConcurrencyJob.Spec(url: server.url, devices: accounts, spaces: spaces, solo: solo, soloSpace: "solo", mutations: options.mutations, seed: options.seed, directory: dir("devices")),
            as: Worker.ConcurrencyJob.Result.self)
        FileManager.default.createFile(atPath: stopFile, contents: nil)
        let probed = try await probeTask.value.requests.filter { $0.start >= r.window.start && $0.start <= r.window.end }
        let serverRSS = sampler.maxRSS(from: r.window.start, to: r.window.end)

        // Nothing lost: every note every device wrote is on the server with its title.
        let check = try await server.openStore()
        var found = Set<String>()
        for t in 0..<teams {
            for state in try await check.records(in: SpaceID(unchecked: "team-\(t)"), collection: .notes).values where !state.deleted {
                if case .string(let title)? = state.values["title"] { found.insert(title) }
            }
        }
        await check.close()
        await server.stop()
        var lost = 0
        for i in 0..<d { for j in 0..<options.mutations where !found.contains(Worker.title(device: i, note: j)) { lost += 1 } }

        let p99 = percentile(r.latencies, 99), p50 = median(r.latencies)
        let solo99 = percentile(r.soloLatencies, 99)
        let total = d * options.mutations
        metrics["concurrency.errors"] = Double(r.errors)
        metrics["concurrency.lost"] = Double(lost)
        metrics["concurrency.rejected"] = Double(r.rejected)
        metrics["concurrency.p99Seconds"] = p99
        metrics["concurrency.serverRSSKiB"] = Double(serverRSS)
        metrics["concurrency.mutationsPerSecond"] = Double(total) / r.window.seconds
        let requests = r.routes.values.reduce(0) { $0 + $1.count }
        let sharing = team == 1 ? "each in its own space" : "teams of \(team) share a space"
        add("concurrency", "\(d) devices sync at once, \(options.mutations) mutations each (\(sharing)): errors",
            "\(r.errors)\(r.errorSamples.isEmpty ? "" : " (\(r.errorSamples.joined(separator: "; ")))")", goal: "0", r.errors == 0 ? .met : .missed)
        add("concurrency", "lost (of \(Fmt.int(Double(total))) notes, checked in the server's store); rejected; still pending on devices",
            "\(lost); \(r.rejected); \(r.pending)", goal: "0", lost == 0 && r.rejected == 0 && r.pending == 0 ? .met : .missed)
        add("concurrency", "request latency as the \(d) simulated devices see it, \(Fmt.int(Double(requests))) requests (hello, push, pull; the devices' own CPU work shares the 2 cores): p50 / p99", "\(Fmt.ms(p50)) / \(Fmt.ms(p99))",
            baseline: "1 device alone, same work: p99 \(Fmt.ms(solo99))", goal: "p99 < 250 ms", p99 < 0.25 ? .met : .missed)
        let probeLatencies = probed.map(\.seconds)
        metrics["concurrency.probeP99Seconds"] = percentile(probeLatencies, 99)
        add("concurrency", "one more device in its own process, syncing a note every 20 ms during the round: \(probed.count) requests, p50 / p99\(probed.contains { $0.failed } ? " (\(probed.filter(\.failed).count) failed)" : "")",
            "\(Fmt.ms(median(probeLatencies))) / \(Fmt.ms(percentile(probeLatencies, 99)))", goal: "p99 < 250 ms", percentile(probeLatencies, 99) < 0.25 ? .met : .missed)
        let serverCPU = sampler.cpu(from: r.window.start, to: r.window.end)
        add("concurrency", "server CPU while all sync (the server process)", "\(Fmt.dec(serverCPU, 2)) s in \(Fmt.dec(r.window.seconds, 2)) s (\(Fmt.pct(serverCPU / r.window.seconds)) of one core), \(Fmt.ms(serverCPU / Double(max(1, requests)))) per request",
            baseline: "devices' worker: \(Fmt.dec(r.window.cpu, 2)) s")
        let byRoute = r.routes.sorted { $0.key < $1.key }.map { "\($0.key) \(Fmt.ms($0.value.latencies[0])) / \(Fmt.ms($0.value.latencies[1]))" }.joined(separator: ", ")
        add("concurrency", "same, p50 / p99 by route", byRoute)
        add("concurrency", "server memory: peak RSS of the benchmark process, which hosts only the server (devices run in a worker process)",
            Fmt.mib(serverRSS), baseline: "same process idle with the server started: \(Fmt.mib(idleRSS))", goal: "< 100 MiB", serverRSS < 100 * 1024 ? .met : .missed)
        add("concurrency", "throughput while all sync", "\(Fmt.int(Double(total) / r.window.seconds)) mutations/s, \(Fmt.int(Double(r.pulled))) changes pulled, \(Fmt.dec(r.window.seconds, 2)) s")
        costs.append(Cost(phase: "concurrency (\(d) devices)", seconds: r.window.seconds, serverCPU: sampler.cpu(from: r.window.start, to: r.window.end), clientCPU: r.window.cpu,
                          wireBytes: r.routes.values.reduce(0) { $0 + $1.sent + $1.received }, rawBytes: nil, note: "all requests both ways", window: r.window.span))
    }

    // MARK: growth

    func growth() async throws {
        var targets: [Worker.GrowthJob.Target] = []
        var servers: [BenchServer] = []
        var seedSeconds = 0.0
        for (name, size) in [("growth-small", options.logSmall), ("growth-big", options.logBig)] {
            let server = BenchServer(directory: dir(name), seed: options.seed)
            let store = try await server.openStore()
            try await BenchServer.createSpace(store, "log", members: [("reader", .reader)])
            let account = try await server.account(store, user: "reader", device: name)
            log("writing a log of \(Fmt.int(Double(size))) changes…")
            let t0 = monotonicNanos()
            try await BenchServer.seedNotes(store, space: "log", count: size, factory: factory, batch: 5000, small: true)
            seedSeconds += seconds(since: t0)
            let head = try await store.head(of: "log").head
            await store.close()
            try await server.start()
            // The server compresses bootstrap pages once after it starts; the measure is the
            // steady state, so wait until that one-time work is done.
            _ = try await server.waitForSnapshots(records: max(0, size - 1) / 500 * 500)
            servers.append(server)
            targets.append(.init(url: server.url, account: account, space: "log", head: head))
        }
        let rounds = options.quick ? 30 : 300
        let r = try await worker("growth", Worker.GrowthJob.Spec(small: targets[0], big: targets[1], rounds: rounds), as: Worker.GrowthJob.Result.self)
        let window = r.window
        for s in servers { await s.stop() }
        guard r.complete else { throw BenchError("growth: a pull of the last 10 changes did not return exactly 10") }
        let small = median(r.small), big = median(r.big)
        metrics["growth.smallSeconds"] = small
        metrics["growth.bigSeconds"] = big
        metrics["growth.ratio"] = big / small
        let scaled = options.logBig < 1_000_000 ? " (scaled down from 1,000,000: --log 1000000 for the full size)" : ""
        add("growth", "hello + pull of the last 10 changes, median of \(rounds): log of \(Fmt.int(Double(options.logBig)))\(scaled)",
            "\(Fmt.ms(big)) (\(Fmt.dec(big / small, 2))×)", baseline: "log of \(Fmt.int(Double(options.logSmall))): \(Fmt.ms(small))", goal: "within 2×", big / small <= 2 ? .met : .missed)
        add("growth", "same, 99th percentile", Fmt.ms(percentile(r.big, 99)), baseline: Fmt.ms(percentile(r.small, 99)))
        costs.append(Cost(phase: "growth (pulls only)", seconds: window.seconds, serverCPU: sampler.cpu(from: window.start, to: window.end), clientCPU: window.cpu, wireBytes: nil, rawBytes: nil,
                          note: "writing the logs took \(Fmt.dec(seedSeconds, 1)) s beforehand"))
    }

    // MARK: search

    func search() async throws {
        guard let directory = searchClient else { throw BenchError("search needs the initial sync's device") }
        let r = try await worker("search", Worker.SearchJob.Spec(directory: directory, queries: options.queries, seed: options.seed), as: Worker.SearchJob.Result.self)
        let p50 = median(r.latencies), p99 = percentile(r.latencies, 99)
        metrics["search.medianSeconds"] = p50
        metrics["search.p99Seconds"] = p99
        metrics["search.hits"] = Double(r.hits)
        metrics["search.notes"] = Double(r.notes)
        add("search", "SatchelClient.search over \(Fmt.int(Double(r.notes))) notes + \(r.entries) briefing entries: median of \(r.latencies.count) queries",
            Fmt.ms(p50), baseline: "FTS5 MATCH + bm25 straight on SQLite: \(Fmt.ms(median(r.rawLatencies)))", goal: "< 10 ms", p50 < 0.010 ? .met : .missed)
        add("search", "same, 99th percentile (slowest query: “\(r.slowest)”)", Fmt.ms(p99), baseline: Fmt.ms(percentile(r.rawLatencies, 99)))
        let m = r.matches.map(Double.init)
        metrics["search.medianMatches"] = median(m)
        add("search", "rows each query matches (beyond 1,000 the library ranks the newest 1,000 notes, older title matches and all briefing entries; the baseline ranks all): median / 90th percentile",
            "\(Fmt.int(median(m))) / \(Fmt.int(percentile(m, 90)))", baseline: "of \(Fmt.int(Double(r.notes + r.entries)))")
        costs.append(Cost(phase: "search (\(r.latencies.count) queries)", seconds: r.window.seconds, serverCPU: 0, clientCPU: r.window.cpu, wireBytes: nil, rawBytes: nil, note: "no server", window: r.window.span))
    }
}
