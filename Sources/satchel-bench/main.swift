import Foundation
import SatchelProtocol

// satchel-bench: measurements beside baselines taken in the same run.
//   satchel-bench codec [--notes N] [--page N] [--seed N]
//   satchel-bench all [--quick] [sizes] [--out BENCHMARKS.md] [--json FILE]
//   satchel-bench push|sync|edit|propagation|concurrency|growth|search[,…] [same flags]

func usage() -> Never {
    FileHandle.standardError.write(Data("""
    usage: satchel-bench codec [--notes N] [--page N] [--seed N] [--quick]
           satchel-bench all [--quick] [--seed N] [sizes] [--out FILE | --no-markdown] [--json FILE] [--keep] [--postgres URL]
           satchel-bench PHASE[,PHASE…] [the same flags]

    codec   encodes and decodes the same pages of notes as Satchel binary frames and as JSON,
            raw and zlib-compressed, and prints time and bytes per note for each.
    all     runs every phase below against the real server (in this process, loopback) and
            the real client library (in worker processes), each beside a baseline measured in
            the same run; prints a table and writes BENCHMARKS.md.

    phases: push, sync (initial sync), edit (small edit), propagation, concurrency, growth,
            search (runs sync first, for its device); on PostgreSQL: pg-push, pg-sync,
            pg-concurrency (one server and three on one database; skipped without a server)

    sizes (the defaults took 7–9 minutes in a release build on a busy 2-core machine; --quick: seconds):
      --notes N        push: notes one device pushes                     (20000; quick 500)
      --sync-notes N   initial sync: notes a new device pulls            (100000; quick 2000)
      --sync-small N   initial sync: the smaller size, for memory        (20000; quick 500)
      --trials N       propagation: trials                               (200; quick 10)
      --devices N      concurrency: devices syncing at once              (200; quick 20)
      --team N         concurrency: devices sharing a space              (1)
      --mutations N    concurrency: mutations per device                 (100)
      --log N          growth: the long change log                       (1000000; quick 20000)
      --small-log N    growth: the short change log                      (1000)
      --queries N      search: queries                                   (200; quick 30)
    output:
      --out FILE       the markdown report (default BENCHMARKS.md; none with --quick unless given)
      --no-markdown    write no markdown
      --json FILE      the figures as JSON (for tests and comparing runs)
      --keep           keep the temporary data folders
      --postgres URL   the PostgreSQL server the pg- phases create databases on (default
                       SATCHEL_BENCH_POSTGRES, or SATCHEL_TEST_POSTGRES as make bench sets it)

    examples: satchel-bench codec --notes 20000 --page 500
              satchel-bench all
              satchel-bench push,sync --notes 5000 --sync-notes 20000 --no-markdown

    """.utf8))
    exit(2)
}

var args = Array(CommandLine.arguments.dropFirst())
let phaseNames = Set(Orchestrator.allPhases)

if args.first == "_worker", args.count == 4 {
    do {
        try await Worker.run(args[1], spec: args[2], out: args[3])
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("satchel-bench worker \(args[1]): \(error)\n".utf8))
        exit(1)
    }
}

if let first = args.first, first == "all" || first.split(separator: ",").allSatisfy({ phaseNames.contains(String($0)) }) {
    args.removeFirst()
    var options = Options()
    if first != "all" { options.phases = first.split(separator: ",").map(String.init) }
    if args.contains("--quick") {
        options.makeQuick()
        options.markdown = nil
    }
    while !args.isEmpty {
        let flag = args.removeFirst()
        switch flag {
        case "--quick": continue
        case "--help", "-h": usage()
        case "--no-markdown": options.markdown = nil; continue
        case "--keep": options.keep = true; continue
        case "--out", "--json", "--postgres":
            guard let value = args.first else { usage() }
            args.removeFirst()
            switch flag {
            case "--out": options.markdown = value
            case "--json": options.json = value
            default: options.postgres = value
            }
            continue
        default: break
        }
        guard let value = args.first.flatMap(Int.init), value > 0 else { usage() }
        args.removeFirst()
        switch flag {
        case "--notes": options.pushNotes = value
        case "--sync-notes": options.syncNotes = value
        case "--sync-small": options.syncSmallNotes = value
        case "--trials": options.trials = value
        case "--devices": options.devices = value
        case "--team": options.team = value
        case "--mutations": options.mutations = value
        case "--log": options.logBig = value
        case "--small-log": options.logSmall = value
        case "--queries": options.queries = value
        case "--seed": options.seed = UInt64(value)
        default: usage()
        }
    }
    let command = "satchel-bench " + CommandLine.arguments.dropFirst().joined(separator: " ")
    do {
        let orchestrator = try Orchestrator(options: options)
        try await orchestrator.run()
        orchestrator.printTable()
        if let path = options.markdown {
            try orchestrator.writeMarkdown(to: path, command: command)
            FileHandle.standardError.write(Data("wrote \(path)\n".utf8))
        }
        if let path = options.json { try orchestrator.writeJSON(to: path) }
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("satchel-bench: \(error)\n".utf8))
        exit(1)
    }
}

guard args.first == "codec" else { usage() }
args.removeFirst()
var bench = CodecBenchmark(notes: 10_000, pageSize: 500, seed: 7)
while !args.isEmpty {
    let flag = args.removeFirst()
    if flag == "--quick" { bench.notes = 1000; continue }
    if flag == "--help" || flag == "-h" { usage() }
    guard let value = args.first.flatMap(Int.init) else { usage() }
    args.removeFirst()
    switch flag {
    case "--notes": bench.notes = value
    case "--page": bench.pageSize = value
    case "--seed": bench.seed = UInt64(value)
    default: usage()
    }
}

FileHandle.standardError.write(Data("encoding \(bench.notes) notes (500–2,000 characters of body) in pages of \(bench.pageSize)…\n".utf8))
let rows = try bench.run()
func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
print(pad("encoding", 24), lpad("encode notes/s", 15), lpad("decode notes/s", 15), lpad("raw B/note", 11), lpad("wire B/note", 12))
for r in rows {
    let n = Double(bench.notes)
    print(pad(r.name, 24), lpad(String(Int(n / r.encodeSeconds)), 15), lpad(String(Int(n / r.decodeSeconds)), 15),
          lpad(String(r.rawBytes / bench.notes), 11), lpad(String(r.wireBytes / bench.notes), 12))
}
