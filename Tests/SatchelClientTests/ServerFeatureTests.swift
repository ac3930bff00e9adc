import Foundation
import SatchelClient
import SatchelProtocol
import SatchelTestSupport
import Testing

/// A server that predates the as-written flags refuses any message carrying them, so a client
/// sends them only to a server whose hello said it understands them.
@Suite struct ServerFeatureTests {
    /// A server in memory that records what it was sent and applies every write as written.
    final class RecordingServer: SyncTransport {
        let supportsAsWritten: Bool
        let sent = Locked<(pushes: [PushRequest], pulls: [PullRequest])>(([], []))
        let version = Locked<Version>(10)
        init(supportsAsWritten: Bool) { self.supportsAsWritten = supportsAsWritten }

        func hello(_ request: HelloRequest) async throws -> HelloResponse {
            var r = HelloResponse(server: "test", device: "d-1", user: "ana", limits: Limits(), serverTime: 1_796_000_000_000,
                                  spaces: [SpaceAccess(space: "mission", role: .writer, head: version.withLock { $0 }, horizon: 0)])
            r.asWrittenSupported = supportsAsWritten
            return r
        }
        func push(_ request: PushRequest) async throws -> PushResponse {
            sent.withLock { $0.pushes.append(request) }
            let results = request.mutations.map { m in
                MutationResult(mutation: m.id, status: .applied, version: version.withLock { $0 += 1; return $0 }, asWritten: request.reportAsWritten)
            }
            return PushResponse(results: results, clock: HLC(millis: 1_796_000_000_000, counter: 0), reportsAsWritten: request.reportAsWritten)
        }
        func pull(_ request: PullRequest) async throws -> PullResponse {
            sent.withLock { $0.pulls.append(request) }
            let head = version.withLock { $0 }
            return PullResponse(space: request.space, changes: [], cursor: head, hasMore: false, head: head)
        }
        func live() async throws -> AsyncThrowingStream<LiveEvent, any Error> { AsyncThrowingStream { $0.finish() } }
    }

    @Test(arguments: [false, true])
    func theFlagsGoOnlyToServersThatSaySoInTheirHello(_ supported: Bool) async throws {
        let dir = TemporaryDirectory()
        let server = RecordingServer(supportsAsWritten: supported)
        let client = try SatchelClient(directory: dir.path, transport: { _, _, _ in server })
        try await client.setCredentials(url: "http://127.0.0.1:1", device: "d-1", user: "ana", token: "sat_x")
        try await client.sync()  // the first pull of the space
        let note = try await client.createNote(space: "mission", title: "Flags")
        try await client.sync()
        let sent = server.sent.withLock { $0 }
        #expect(sent.pushes.count == 1)
        #expect(sent.pushes.allSatisfy { $0.reportAsWritten == supported })
        #expect(sent.pulls.count == 2)
        #expect(sent.pulls.allSatisfy { $0.omitOwnAsWritten == false } || supported)
        #expect(sent.pulls.last?.omitOwnAsWritten == supported)
        // Confirmed at once only on the server's word; otherwise it waits for a pull.
        #expect(try await client.status().pending == 0)
        #expect(try await client.record(note)?.confirmedVersion == (supported ? 11 : 0))
        await client.close()
    }
}
