import Foundation
import SatchelClient
import SatchelProtocol
import SatchelSQLite
import Synchronization
import SatchelTesting

// The device side of every phase runs in a separate process (`satchel-bench _worker JOB SPEC OUT`),
// so the orchestrator's process holds only the server: its CPU time and memory are the
// server's, and the worker's peak memory is the client's.

/// A measured stretch of a worker: monotonic instants (shared with the orchestrator) and the
/// worker's own CPU seconds in between.
struct Window: Codable, Sendable {
    var start: UInt64
    var end: UInt64
    var cpu: Double
    var seconds: Double { Double(end - start) / 1e9 }

    static func measure<T>(_ body: () async throws -> T) async rethrows -> (T, Window) {
        let c0 = processCPUSeconds(), t0 = monotonicNanos()
        let value = try await body()
        return (value, Window(start: t0, end: monotonicNanos(), cpu: processCPUSeconds() - c0))
    }
}

enum Worker {
    static func run(_ job: String, spec specPath: String, out outPath: String) async throws {
        let spec = try Data(contentsOf: URL(fileURLWithPath: specPath))
        let d = JSONDecoder()
        let result: Data
        let e = JSONEncoder()
        switch job {
        case "push": result = try e.encode(try await push(d.decode(PushJob.Spec.self, from: spec)))
        case "burst": result = try e.encode(try await burst(d.decode(BurstJob.Spec.self, from: spec)))
        case "sync": result = try e.encode(try await sync(d.decode(SyncJob.Spec.self, from: spec)))
        case "edit": result = try e.encode(try await edit(d.decode(EditJob.Spec.self, from: spec)))
        case "propagation": result = try e.encode(try await propagation(d.decode(PropagationJob.Spec.self, from: spec)))
        case "concurrency": result = try e.encode(try await concurrency(d.decode(ConcurrencyJob.Spec.self, from: spec)))
        case "probe": result = try e.encode(try await probe(d.decode(ProbeJob.Spec.self, from: spec)))
        case "growth": result = try e.encode(try await growth(d.decode(GrowthJob.Spec.self, from: spec)))
        case "search": result = try e.encode(try await search(d.decode(SearchJob.Spec.self, from: spec)))
        default: throw BenchError("unknown worker job '\(job)'")
        }
        try result.write(to: URL(fileURLWithPath: outPath))
    }

    static var physicalMillis: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    // MARK: push

    enum PushJob {
        struct Spec: Codable {
            var url: String
            var account: Account
            var rawAccount: Account
            var space: String
            var notes: Int
            var seed: UInt64
            var directory: String
        }
        struct Result: Codable {
            var local: Window
            /// From the start of the sync to the end of the last push batch (hello, pushes, acknowledgements).
            var push: Window
            var pushed: Int
            var rejected: Int
            var pushRoute: TransportStats.Route
            /// The whole sync, including pulling the device's own notes back.
            var sync: Window
            var pulledBack: Int
            var pullRoute: TransportStats.Route
            /// The same notes pushed as PushRequests through HTTPTransport, without the client's store.
            var raw: Window
            var rawPushed: Int
            var rawSent: Int
            var rawReceived: Int
            var rawUncompressed: Int
        }
    }

    static func push(_ spec: PushJob.Spec) async throws -> PushJob.Result {
        let factory = NoteFactory(seed: spec.seed)
        let stats = TransportStats()
        let client = try await DeviceFactory.client(directory: spec.directory + "/device", url: spec.url, account: spec.account, stats: stats)
        let space = SpaceID(unchecked: spec.space)
        let notes = (0..<spec.notes).map(factory.note)
        // A device in use: it has synced a note before (on a server that held nothing at all,
        // its first pull ends at cursor 0 and its next writes come back once in a snapshot).
        _ = try await client.createNote(space: space, title: "Kick-off", body: "First note of the mission.", tags: [])
        try await client.sync()
        // Local writes: each is its own transaction with the outbox entry and the search index.
        let (_, local) = try await Window.measure {
            for n in notes { try await client.createNote(space: space, title: n.title, body: n.body, tags: n.tags) }
        }
        final class Marks: Sendable { let pushEnd = Mutex<(UInt64, Double)?>(nil) }
        let marks = Marks()
        let syncCPU0 = processCPUSeconds()
        let (report, sync) = try await Window.measure {
            try await client.sync(pageSize: 500) { p in
                // The first progress of the pull phase comes right after the last push batch.
                if p.phase == .pulling || p.phase == .done {
                    marks.pushEnd.withLock { if $0 == nil { $0 = (monotonicNanos(), processCPUSeconds()) } }
                }
            }
        }
        let (pushEnd, pushCPU) = marks.pushEnd.withLock { $0 } ?? (sync.end, syncCPU0 + sync.cpu)
        let routes = stats.snapshot()
        await client.close()

        // The same notes through the transport alone (new record ids, another device).
        let transport = try HTTPTransport(url: spec.url, token: spec.rawAccount.token)
        let device = DeviceID(unchecked: spec.rawAccount.device)
        var clock = HybridLogicalClock()
        var rng = SplitMix64(seed: spec.seed ^ 0x5EED)
        let mutations = notes.enumerated().map { i, n in
            let t = physicalMillis
            return Mutation(
                id: MutationID(unchecked: "raw-\(i)"), device: device, counter: UInt64(i + 1), clock: clock.now(physicalMillis: t),
                key: RecordKey(space: space, collection: .notes, record: .random(using: &rng)), baseVersion: 0, operation: .create,
                changes: [
                    "title": .set(.string(n.title)), "body": .set(.text(n.body)), "tags": .set(.set(n.tags)),
                    "createdAt": .set(.timestamp(t)), "updatedAt": .set(.timestamp(t)), "author": .set(.string(spec.rawAccount.user)),
                ])
        }
        let batches = stride(from: 0, to: mutations.count, by: 500).map { PushRequest(mutations: Array(mutations[$0..<min($0 + 500, mutations.count)])) }
        let uncompressed = batches.reduce(0) { $0 + $1.wireBytes.count + Frame.headerSize }
        _ = try await transport.hello(HelloRequest(client: "satchel-bench"))
        let before = transport.bytes
        var rawPushed = 0
        let (_, raw) = try await Window.measure {
            for batch in batches {
                let response = try await transport.push(batch)
                rawPushed += response.results.filter { $0.status != .rejected }.count
            }
        }
        let after = transport.bytes
        return PushJob.Result(
            local: local, push: Window(start: sync.start, end: pushEnd, cpu: pushCPU - syncCPU0),
            pushed: report.pushed.applied + report.pushed.merged, rejected: report.pushed.rejected,
            pushRoute: routes["push"] ?? .init(), sync: sync, pulledBack: report.pulled, pullRoute: routes["pull"] ?? .init(),
            raw: raw, rawPushed: rawPushed, rawSent: after.sent - before.sent, rawReceived: after.received - before.received,
            rawUncompressed: uncompressed)
    }

}
