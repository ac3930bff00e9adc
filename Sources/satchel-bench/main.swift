import Foundation
import SatchelProtocol

// satchel-bench: measurements beside baselines taken in the same run.
//   satchel-bench codec [--notes N] [--page N] [--seed N]
// More benchmarks (server, client, sync) join as their issues land.

func usage() -> Never {
    FileHandle.standardError.write(Data("""
    usage: satchel-bench codec [--notes N] [--page N] [--seed N] [--quick]

    codec   encodes and decodes the same pages of notes as Satchel binary frames and as JSON,
            raw and zlib-compressed, and prints time and bytes per note for each.

    example: satchel-bench codec --notes 20000 --page 500

    """.utf8))
    exit(2)
}

var args = Array(CommandLine.arguments.dropFirst())
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
