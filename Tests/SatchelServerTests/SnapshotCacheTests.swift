import Foundation
import SatchelProtocol
import SatchelTesting
import SatchelTestSupport
import Testing
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite

/// Cached bootstrap pages go stale as notes change after they were compressed; a device that
/// bootstraps through them must still end equal to the server.
@Suite struct SnapshotCacheTests {
    @Test func aBootstrapThroughStaleCachedPagesConvergesWithTheServer() async throws {
        let dir = TemporaryDirectory()
        let store = try SQLiteServerStore(path: dir.file("server.sqlite"))
        try await store.provision(users: ["ana"], roles: ["mission": .writer])
        let device = DeviceInfo(id: "d-ana", user: "ana", label: "phone", createdAt: 1)
        let service = SyncService(store: store, snapshots: SnapshotCache(pageSize: 5), logger: .test, now: { 1_796_000_000_000 })
        var w = DeviceWriter("d-ana")
        _ = try await store.push((1...23).map { w.createNote("n\($0)", body: "note \($0)") })
        try await service.snapshots.extend("mission", store: store)
        #expect(service.snapshots.cachedRecords("mission") == 20, "4 full pages with a record after them")

        // After caching: edit notes in cached pages and delete two.
        func key(_ n: Int) -> RecordKey { RecordKey(space: "mission", collection: .notes, record: RecordID(unchecked: "n\(n)")) }
        for n in [2, 7, 21] {
            _ = try await store.push([w.mutation(.patch, key(n), base: try await store.record(key(n))!.version, ["title": .set(.string("edited \(n)"))])])
        }
        for n in [3, 12] {
            _ = try await store.push([w.mutation(.delete, key(n), base: try await store.record(key(n))!.version, [:])])
        }

        /// A new device bootstraps in pages of 5, applying whole records as SatchelClient does:
        /// replace unless it already holds that version or later.
        func bootstrap() async throws -> (cached: Int, converged: Bool) {
            let (head, horizon) = try await store.head(of: "mission")
            var held: [RecordKey: (version: Version, values: [FieldName: Value]?)] = [:]
            var after: Version = 0, cached = 0
            while true {
                let request = PullRequest(space: "mission", after: after, limit: 5, bootstrap: horizon)
                let fromCache = service.snapshots.frame(space: "mission", after: after, limit: 5, horizon: horizon)
                let frame = try await service.pull(request, device: device)
                if frame == fromCache { cached += 1 }
                guard case .pullResponse(let page) = try Frame.decode(frame, maxPayloadBytes: 1 << 20) else { throw TestFailure("not a page") }
                for c in page.changes where (held[c.key]?.version ?? 0) < c.version {
                    #expect(c.previousVersion == 0)
                    held[c.key] = (c.version, try c.apply(to: nil))
                }
                after = page.cursor
                if !page.hasMore { break }
            }
            #expect(after == head)
            let live = try await store.records(in: "mission", collection: .notes).filter { !$0.value.deleted }.mapValues(\.values)
            #expect(live.count == 21)
            return (cached, held.compactMapValues(\.values) == live)
        }

        // Stale pages are served and the tombstones after them delete what they hold.
        let stale = try await bootstrap()
        #expect(stale.cached == 4 && stale.converged)
        // Compaction drops those tombstones: the pages built before it must not be served.
        _ = try await store.compact("mission", through: try await store.head(of: "mission").head, dryRun: false)
        let compacted = try await bootstrap()
        #expect(compacted.cached == 0 && compacted.converged, "deleted notes came back from pages cached before compaction")
        // Built again at the new horizon, they are served again.
        try await service.snapshots.extend("mission", store: store)
        let rebuilt = try await bootstrap()
        #expect(rebuilt.cached == 4 && rebuilt.converged)
        await store.close()
    }
}
