import Foundation
import SatchelClient
import SatchelProtocol
import SatchelSQLite
import SatchelTestSupport
import Testing

/// The real server on a real, small tmpfs that fills up: it answers 507 `insufficient_storage`,
/// logs where, keeps everything it acknowledged, and takes pushes again once space is freed; the
/// device keeps its writes pending and sends them then.
@Suite(.serialized) struct FullDiskTests {
    @Test(.enabled(if: Tmpfs.canMount, "mounting a tmpfs is not permitted here (it needs root or CAP_SYS_ADMIN): the full-disk test is skipped"))
    func aFullDiskAnswers507ChangesNothingAndRecoversOnceSpaceIsFreed() async throws {
        let disk = try Tmpfs(size: "8m")
        defer { disk.unmount() }
        // Taken first, so that deleting it later frees space on a disk that is otherwise full.
        let filler = disk.file("filler")
        FileManager.default.createFile(atPath: filler, contents: Data(repeating: 0xA5, count: 2 << 20))

        let logDir = TemporaryDirectory()
        let log = logDir.file("server.log")  // on the ordinary disk: the full one cannot take it
        let world = try await ServerWorld(data: disk.file("data"), logFile: log)
        let dir = world.dir, data = world.data, server = world.server
        defer { _ = server.terminate() }
        // Ana syncs through a proxy that records the statuses; Bob checks what the server kept.
        let proxy = try DamagingProxy(upstreamPort: server.port)
        defer { proxy.stop() }
        let ana = try SatchelClient(directory: dir.file("ana"))
        try await ana.join(url: proxy.url, code: try await world.enrollmentCode(for: "ana"), label: "ana-laptop")
        let bob = try SatchelClient(directory: dir.file("bob"))
        try await bob.join(url: server.url, code: try await world.enrollmentCode(for: "bob"), label: "bob-phone")

        // Push notes of hard-to-compress text until the disk is full.
        var acknowledged: [RecordKey] = []
        var failure: (any Error)?
        var batch: [RecordKey] = []
        // Bob's small notes, each stored just before Ana's push (while the disk still takes them).
        var fromBob: [RecordKey] = []
        for round in 0..<200 {
            let small = try await bob.createNote(space: "mission", title: "Bob's round \(round)")
            if (try? await bob.sync()) != nil { fromBob.append(small) }
            batch = []
            for i in 0..<4 {
                let body = (0..<1_500).map { _ in String(UInt64.random(in: 0 ... .max), radix: 36) }.joined(separator: " ")
                batch.append(try await ana.createNote(space: "mission", title: "round \(round) note \(i)", body: body))
            }
            do {
                try await ana.sync()
                acknowledged += batch
            } catch {
                failure = error
                break
            }
        }
        let error = try #require(failure as? TransportError, "the disk never filled, or the sync failed otherwise: \(String(describing: failure))")
        print("full disk: \(acknowledged.count) notes acknowledged before the disk filled")
        #expect(acknowledged.count >= 8, "the disk filled too soon for the test to mean much")

        // The answer: 507 insufficient_storage, which the device takes as "later", not "refused".
        #expect(proxy.answers.last(where: { $0.path == "/v1/push" })?.status == 507)
        #expect(error.kind == .offline)
        #expect(error.code == "insufficient_storage")
        #expect(error.message.contains("disk is full") && error.message.contains("nothing of this request was applied"), "\(error.message)")
        #expect(try await ana.status().pending == batch.count)
        #expect(try await ana.rejected().isEmpty)
        // The failed push did not stop the pull: Ana has every note of Bob's that was stored.
        #expect(!fromBob.isEmpty)
        for key in fromBob { #expect(try await ana.record(key) != nil, "Bob's note \(key.record) was not pulled by the sync whose push failed") }

        // One line at error level, saying where.
        let logText = try String(contentsOfFile: log, encoding: .utf8)
        let lines = logText.split(separator: "\n").filter { $0.contains("disk full") }
        #expect(lines.count == 1, "log:\n\(logText)")
        #expect(lines.first?.contains("error") == true && lines.first?.contains(data) == true, "log:\n\(logText)")

        // Everything acknowledged is there, nothing of the failed push is, and the file is whole.
        // (Bob's own last note may wait for space too: his sync then pulls, and says so.)
        _ = try? await bob.sync()
        for key in acknowledged { #expect(try await bob.record(key) != nil, "acknowledged note \(key.record) is missing") }
        for key in batch { #expect(try await bob.record(key) == nil, "note \(key.record) of the refused push was stored") }
        let database = (data as NSString).appendingPathComponent("satchel.sqlite")
        #expect(try integrity(database) == ["ok"])

        // Space freed: the device's next sync sends what was kept, and the server takes it.
        try FileManager.default.removeItem(atPath: filler)
        let report = try await ana.sync()
        #expect(report.pushed.applied == batch.count)
        #expect(try await ana.status().pending == 0)
        try await bob.sync()
        for key in acknowledged + batch { #expect(try await bob.record(key) != nil, "note \(key.record) is missing after recovery") }
        #expect(server.terminate() == 0)
        #expect(try integrity(database) == ["ok"])
        await ana.close()
        await bob.close()
    }

    func integrity(_ path: String) throws -> [String] {
        let db = try Database(configuration: DatabaseConfiguration(path: path, readOnly: true))
        defer { db.close() }
        return try db.query("PRAGMA integrity_check") { $0.string(at: 0) }
    }
}
