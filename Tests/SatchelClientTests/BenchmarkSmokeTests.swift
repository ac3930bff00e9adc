import Foundation
import SatchelTestSupport
import Testing

/// `satchel-bench all --quick` runs every phase against the real server and client library and
/// reports sane figures. It never checks how fast anything is: only that the run completes and
/// that rates are positive, bytes are plausible and nothing failed or went missing.
@Suite(.serialized) struct BenchmarkSmokeTests {
    static var binary: String { builtProduct("satchel-bench") }

    struct Output: Decodable {
        struct Row: Decodable { var phase: String; var verdict: String }
        var metrics: [String: Double]
        var rows: [Row]
    }

    @Test(.timeLimit(.minutes(3))) func quickRunCompletesWithSaneFigures() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build satchel-bench first (swift build --build-tests builds it): \(Self.binary)")
        let dir = TemporaryDirectory()
        let markdown = dir.file("BENCHMARKS.md"), json = dir.file("bench.json"), log = dir.file("bench.log")
        FileManager.default.createFile(atPath: log, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["all", "--quick", "--out", markdown, "--json", json]
        process.standardOutput = output
        process.standardError = output
        try process.run()
        process.waitUntilExit()
        try output.close()
        let printed = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        try #require(process.terminationStatus == 0, "satchel-bench exited with \(process.terminationStatus):\n\(printed.suffix(3000))")

        let result = try JSONDecoder().decode(Output.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        let m = result.metrics
        func value(_ key: String) -> Double {
            let v = m[key]
            #expect(v != nil, "missing figure \(key)")
            return v ?? .nan
        }
        // Rates are positive.
        for key in ["push.notesPerSecond", "push.transportNotesPerSecond", "push.rawSQLiteNotesPerSecond", "push.localWritesPerSecond",
                    "sync.transferNotesPerSecond", "sync.syncNotesPerSecond", "sync.sqliteReadNotesPerSecond", "concurrency.mutationsPerSecond"] {
            #expect(value(key) > 0, "\(key)")
        }
        // Bytes per note on the wire: some, and fewer than the raw encoding (pages are compressed).
        #expect(value("sync.wireBytesPerNote") > 0)
        #expect(value("sync.wireBytesPerNote") < value("sync.rawBytesPerNote"))
        #expect(value("sync.jsonZlibBytesPerNote") > 0 && value("sync.jsonZlibBytesPerNote") < value("sync.jsonBytesPerNote"))
        #expect(value("push.wireBytesPerNote") > 0 && value("push.wireBytesPerNote") < value("push.rawBytesPerNote"))
        // A small edit costs some bytes, fewer than the whole note as JSON.
        for key in ["edit.titlePushBytes", "edit.titlePullBytes", "edit.bodyPushBytes", "edit.bodyPullBytes"] {
            #expect(value(key) > 0 && value(key) < value("edit.jsonWholeNoteBytes"), "\(key)")
        }
        // Nothing failed or went missing.
        #expect(value("concurrency.errors") == 0)
        #expect(value("concurrency.lost") == 0)
        #expect(value("concurrency.rejected") == 0)
        #expect(value("propagation.failures") == 0)
        #expect(value("propagation.trials") > 0)
        #expect(value("propagation.medianSeconds") > 0 && value("propagation.p99Seconds") >= value("propagation.medianSeconds"))
        #expect(value("concurrency.p99Seconds") > 0)
        #expect(value("concurrency.serverRSSKiB") > 0)
        #expect(value("sync.peakRSSSmallKiB") > 0 && value("sync.peakRSSBigKiB") > 0)
        #expect(value("growth.smallSeconds") > 0 && value("growth.bigSeconds") > 0)
        #expect(value("search.notes") > 0 && value("search.medianSeconds") > 0 && value("search.hits") > 0)
        // Every phase reported, and the markdown says where and how it ran.
        // The PostgreSQL phases run on the suite's throwaway server (scripts/with-postgres.sh).
        #expect(value("pg.push.notesPerSecond") > 0 && value("pg.push.rawNotesPerSecond") > 0)
        #expect(value("pg.push.threeOnOneNotesPerSecond") > 0 && value("pg.push.threeOnThreeNotesPerSecond") > 0)
        #expect(value("pg.sync.transferNotesPerSecond") > 0 && value("pg.sync.threeOnThreeNotesPerSecond") > 0)
        #expect(value("pg.concurrency.1.lost") == 0 && value("pg.concurrency.3.lost") == 0)
        #expect(Set(result.rows.map(\.phase)) == [
            "push", "initial sync", "small edit", "propagation", "concurrency", "growth", "search", "pg push", "pg sync", "pg concurrency",
        ])
        let md = try String(contentsOfFile: markdown, encoding: .utf8)
        #expect(md.contains("## Figures") && md.contains("uname -a") && md.contains("satchel-bench all --quick"))
    }
}
