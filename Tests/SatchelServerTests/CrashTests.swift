import Foundation
import SatchelTestSupport
import SatchelProtocol
import SatchelTesting
import Testing
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite

/// Kills the real server with kill -9 in the middle of pushes, again and again, restarts it on
/// the same data, and checks that every acknowledged mutation is there exactly once.
@Suite(.serialized) struct CrashTests {
    @Test func killNineMidPushLosesNothingAcknowledgedAndDoublesNothing() async throws {
        let world = try await ServerWorld(users: ["ana"])
        let data = world.data
        var server = world.server
        var device = try await HTTPDevice.enroll(url: server.url, code: try await world.enrollmentCode(for: "ana"), label: "crashy")
        var writer = DeviceWriter(device.id, physical: Int64(Date().timeIntervalSince1970 * 1000))
        var acknowledged: Set<MutationID> = []
        var sent: [Mutation] = []
        var rng = SystemRandomNumberGenerator()

        for round in 0..<12 {
            // Push batches until the kill lands; the kill comes at a random moment.
            let pusher = Task { [device, writer] in
                var w = writer
                var acked: [MutationID] = []
                var attempted: [Mutation] = []
                while !Task.isCancelled {
                    let batch = (0..<Int.random(in: 1...20)).map { i in w.createNote("r\(round)-\(w.counter)-\(i)") }
                    attempted += batch
                    guard let results = try? await device.push(batch, timeout: .seconds(5)) else { break }
                    acked += zip(batch, results).filter { $0.1.status == .applied }.map(\.0.id)
                }
                return (acked, attempted, w)
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 30...250, using: &rng)))
            server.kill9()
            let (acked, attempted, w) = await pusher.value
            pusher.cancel()
            acknowledged.formUnion(acked)
            sent += attempted
            writer = w
            server = try await ServerProcess(data: data)
            device.url = server.url
        }
        print("crash test: 12 kill -9 rounds, \(acknowledged.count) mutations acknowledged of \(sent.count) sent")
        #expect(acknowledged.count > 50, "the test should acknowledge a fair number of pushes (got \(acknowledged.count))")

        // Every acknowledged mutation is present exactly once.
        var changes = try await device.pullAll("mission")
        var count: [MutationID: Int] = [:]
        for c in changes { if let m = c.mutation { count[m, default: 0] += 1 } }
        for id in acknowledged { #expect(count[id] == 1, "acknowledged mutation \(id) appears \(count[id] ?? 0) times") }
        #expect(count.values.allSatisfy { $0 == 1 }, "a mutation was applied twice")

        // Retrying everything ever sent (as a device with lost responses would) changes nothing
        // for what was applied and applies the rest once.
        for chunk in stride(from: 0, to: sent.count, by: 200) {
            _ = try await device.push(Array(sent[chunk..<min(chunk + 200, sent.count)]))
        }
        changes = try await device.pullAll("mission")
        count = [:]
        for c in changes { if let m = c.mutation { count[m, default: 0] += 1 } }
        #expect(Set(count.keys) == Set(sent.map(\.id)))
        #expect(count.values.allSatisfy { $0 == 1 })
        _ = server.terminate()
    }
}
