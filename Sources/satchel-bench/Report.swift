import Foundation

/// The printed table, BENCHMARKS.md and the machine-readable JSON of a run.
extension Orchestrator {
    static let keepMarker = "<!-- satchel-bench rewrites everything above this line; it keeps what is below. -->"

    func printTable() {
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        let w = (rows.map(\.phase.count).max() ?? 5, rows.map(\.value.count).max() ?? 5, rows.map(\.goal.count).max() ?? 4)
        print(pad("phase", w.0), pad("Satchel", w.1), pad("goal", w.2), "verdict", " measure  [baseline]")
        for r in rows {
            print(pad(r.phase, w.0), pad(r.value, w.1), pad(r.goal, w.2), pad(r.verdict == .info ? "" : r.verdict.rawValue, 7),
                  " \(r.measure)\(r.baseline.isEmpty ? "" : "  [\(r.baseline)]")")
        }
        print("")
        print(pad("phase (measured stretch)", 52), "wall s   server CPU s  client CPU s  wire bytes     raw bytes")
        for c in costs {
            print(pad(c.phase, 52), pad(Fmt.dec(c.seconds, 2), 8), pad(Fmt.dec(c.serverCPU, 2), 13), pad(Fmt.dec(c.clientCPU, 2), 13),
                  pad(c.wireBytes.map { Fmt.int(Double($0)) } ?? "", 14), c.rawBytes.map { Fmt.int(Double($0)) } ?? "")
        }
        for n in notes { print("note:", n) }
    }

    static func shell(_ command: String) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return "?" }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func markdown(command: String) -> String {
        #if DEBUG
        let build = "debug (the client and protocol modules are optimised even in debug builds; the server is not) — use a release build for figures"
        #else
        let build = "release"
        #endif
        let cpu = Self.shell("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")
        let memory = Self.shell("grep MemTotal /proc/meminfo | awk '{printf \"%.1f GiB\", $2/1048576}'")
        let cell = { (s: String) in s.replacingOccurrences(of: "|", with: "\\|") }
        var md = """
        # Satchel benchmarks

        Written by `satchel-bench` (issue 7). It runs the real sync server in its own process (on
        127.0.0.1, a free port and a fresh data folder per phase) and the real client library in
        worker processes it starts, over loopback HTTP. Every figure stands beside a baseline
        measured in the same run on the same seeded data, because this machine is shared and
        absolute times drift: compare figures with their baselines, and runs by their ratios.

        ## Machine and run

        - `uname -a`: `\(Self.shell("uname -a"))`
        - CPU: \(cpu.isEmpty ? "?" : cpu), `nproc` = \(Self.shell("nproc")); memory \(memory); load average before the run: \(Self.shell("cut -d' ' -f1-3 /proc/loadavg"))
        - date: \(Self.shell("date -u '+%Y-%m-%d %H:%M UTC'")), run took \(Fmt.dec(Date().timeIntervalSince(started), 0)) s
        - build: \(build)
        - command: `\(command)`
        - data: seed \(options.seed); notes of 500–2,000 characters of consecutive words from the briefing's summaries, a title and 3 tags

        ## Figures

        | phase | measure | Satchel | baseline (same run) | goal | |
        |---|---|---|---|---|---|

        """
        for r in rows {
            let mark = r.verdict == .met ? "met" : r.verdict == .missed ? "**missed**" : ""
            md += "| \(r.phase) | \(cell(r.measure)) | \(cell(r.value)) | \(cell(r.baseline)) | \(cell(r.goal)) | \(mark) |\n"
        }
        md += """

        ## CPU and bytes per phase

        CPU seconds are user + system time (getrusage). The server column is the benchmark
        process, which hosts nothing but the server while a phase runs (sampled every 10 ms and
        cut to the window the worker reports); the client column is the worker process. Wire
        bytes are frames as sent (compressed where the sender compressed), from
        `HTTPTransport.bytes`; raw bytes are the same messages uncompressed.

        | measured stretch | wall s | server CPU s | client CPU s | wire bytes | raw bytes | |
        |---|---|---|---|---|---|---|

        """
        for c in costs {
            md += "| \(cell(c.phase)) | \(Fmt.dec(c.seconds, 2)) | \(Fmt.dec(c.serverCPU, 2)) | \(Fmt.dec(c.clientCPU, 2)) | \(c.wireBytes.map { Fmt.int(Double($0)) } ?? "") | \(c.rawBytes.map { Fmt.int(Double($0)) } ?? "") | \(cell(c.note)) |\n"
        }
        md += """

        ## How each phase measures

        - **push**: a device that has synced once before writes the notes locally (`createNote`),
          then one `SatchelClient.sync` pushes them in batches of 500; the push part runs from the start of the sync to the end
          of the last batch's acknowledgement. The same notes then go again as `PushRequest`s
          straight through `HTTPTransport` (another device, new ids), which leaves out the
          client's outbox. Baseline: the same rows inserted into a plain SQLite table (WAL,
          synchronous=FULL like the server, one transaction per 500).
        - **initial sync**: the server is seeded through its store's push; "transfer alone"
          pulls every page through `HTTPTransport` (decoded, then dropped); "transfer + apply"
          is a new device's `SatchelClient.sync`. Peak memory is the worker's VmHWM, at two sizes.
          Baselines: reading the same stored change blobs from SQLite, and the same notes as
          JSON (Foundation) with zlib level 6 over pages of 500.
        - **small edit**: device A changes one field of a note B already has and syncs; B syncs.
          The figure is the body of A's push request and of B's pull response. Baseline: the
          whole note as JSON, which a record-level JSON sync sends for any edit.
        - **propagation**: B runs `watch` (live mode); A writes a note and syncs; the time runs
          from A's write until B's `onSync` fired and B's store holds the note.
        - **concurrency**: each device has its own SQLite file and connection pool (as separate
          devices would); all devices run in one worker process. All write offline first, then
          sync at once. Latency is per request as the devices see it (send to decoded answer), so
          it includes the worker's own waiting for CPU: the devices share the 2 cores with the
          server. By default each device has its own space; with `--team N` devices share spaces
          and also pull and index each other's notes, which makes the worker, not the server, the
          bottleneck on 2 cores. A probe, one more device in a process of its own, writes and
          syncs one note every 20 ms meanwhile: its requests show what the server answers a device
          whose CPU is not shared with the simulated others. Lost notes are counted in the
          server's store afterwards. This phase runs first, so the server's process has not grown
          its heap on other phases' data.
        - **growth**: two servers, one with a log of \(Fmt.int(Double(options.logSmall))) changes and one with
          \(Fmt.int(Double(options.logBig))); a device 10 changes behind does hello + pull.
        - **search**: the device from the initial sync (all notes plus the briefing), queries
          alternating single words, pairs of words from the notes' prose, and briefing names.

        """
        if !notes.isEmpty {
            md += "\nAlso measured: " + notes.joined(separator: " ") + "\n\n"
        }
        let missed = rows.filter { $0.verdict == .missed }
        md += "## Goals missed in this run\n\n"
        if missed.isEmpty {
            md += "None.\n\n"
        } else {
            for r in missed { md += "- \(r.phase): \(r.measure): \(r.value) against \(r.goal)\(r.baseline.isEmpty ? "" : " (baseline \(r.baseline))").\n" }
            md += "\nWhy, with profiles, in the section below.\n\n"
        }
        md += Self.keepMarker + "\n"
        return md
    }

    func writeMarkdown(to path: String, command: String) throws {
        var kept = "\n## Profiles\n\n(Run `perf record -g` on the release binary for a missed phase and note the top frames here.)\n"
        if let existing = try? String(contentsOfFile: path, encoding: .utf8), let range = existing.range(of: Self.keepMarker) {
            kept = String(existing[range.upperBound...]).trimmingPrefixNewlines()
        }
        try (markdown(command: command) + kept).write(toFile: path, atomically: true, encoding: .utf8)
    }

    func writeJSON(to path: String) throws {
        struct Out: Encodable {
            var metrics: [String: Double]
            var rows: [Row]
            var costs: [Cost]
        }
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try e.encode(Out(metrics: metrics, rows: rows, costs: costs)).write(to: URL(fileURLWithPath: path))
    }
}

extension String {
    func trimmingPrefixNewlines() -> String {
        var s = Substring(self)
        while s.first == "\n" { s = s.dropFirst() }
        return "\n" + String(s)
    }
}
