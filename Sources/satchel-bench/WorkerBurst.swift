import Foundation
import SatchelClient
import SatchelProtocol
import SatchelTesting

extension Worker {
    // MARK: push bursts (several devices at once)

    /// A device pushing pre-built notes through HTTPTransport, started together with others: it
    /// says it is ready (hello done, frames built) by creating `readyFile` and pushes once
    /// `goFile` exists, so the measured stretches of several workers overlap.
    enum BurstJob {
        struct Spec: Codable {
            var url: String
            var account: Account
            var space: String
            var notes: Int
            var seed: UInt64
            var readyFile: String
            var goFile: String
        }
        struct Result: Codable {
            var window: Window
            var pushed: Int
            var rejected: Int
        }
    }

    static func burst(_ spec: BurstJob.Spec) async throws -> BurstJob.Result {
        let factory = NoteFactory(seed: spec.seed)
        let transport = try HTTPTransport(url: spec.url, token: spec.account.token)
        let device = DeviceID(unchecked: spec.account.device)
        let space = SpaceID(unchecked: spec.space)
        var clock = HybridLogicalClock()
        var rng = SplitMix64(seed: spec.seed ^ 0xB0B5)
        let mutations = (0..<spec.notes).map { i in
            let n = factory.note(i), t = physicalMillis
            return Mutation(
                id: MutationID(unchecked: "\(spec.account.device)-\(i)"), device: device, counter: UInt64(i + 1), clock: clock.now(physicalMillis: t),
                key: RecordKey(space: space, collection: .notes, record: .random(using: &rng)), baseVersion: 0, operation: .create,
                changes: [
                    "title": .set(.string(n.title)), "body": .set(.text(n.body)), "tags": .set(.set(n.tags)),
                    "createdAt": .set(.timestamp(t)), "updatedAt": .set(.timestamp(t)), "author": .set(.string(spec.account.user)),
                ])
        }
        let batches = stride(from: 0, to: mutations.count, by: 500).map { PushRequest(mutations: Array(mutations[$0..<min($0 + 500, mutations.count)])) }
        _ = try await transport.hello(HelloRequest(client: "satchel-bench"))
        FileManager.default.createFile(atPath: spec.readyFile, contents: nil)
        while !FileManager.default.fileExists(atPath: spec.goFile) { try await Task.sleep(for: .milliseconds(2)) }
        var pushed = 0, rejected = 0
        let (_, window) = try await Window.measure {
            for batch in batches {
                let response = try await transport.push(batch)
                pushed += response.results.filter { $0.status != .rejected }.count
                rejected += response.results.filter { $0.status == .rejected }.count
            }
        }
        return BurstJob.Result(window: window, pushed: pushed, rejected: rejected)
    }
}
