import Foundation
import Hummingbird
import HummingbirdTesting
import SatchelProtocol
import SatchelTesting
import SatchelTestSupport
import Testing
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite

/// The push route: bulk uploads take turns for memory (`Admission`), while a push of a few notes
/// saved online goes straight on, even when every place is taken.
@Suite struct AdmissionRouteTests {
    /// Places in the admission queue held until released.
    actor Holders {
        private(set) var holding = 0
        private var release: [CheckedContinuation<Void, Never>] = []
        func hold() async {
            holding += 1
            await withCheckedContinuation { release.append($0) }
        }
        func releaseAll() {
            for r in release { r.resume() }
            release.removeAll()
        }
    }

    @Test func aSmallPushGoesAheadWhileBulkUploadsWaitForAPlace() async throws {
        let f = try await RouterFixture()
        let holders = Holders()
        let places = 16
        let held = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<places { group.addTask { try await f.service.pushAdmission.run { await holders.hold() } } }
                try await group.waitForAll()
            }
        }
        while await holders.holding < places { try await Task.sleep(for: .milliseconds(5)) }

        try await f.app.test(.router) { client in
            let (device, token) = try await client.device(f)
            var w = DeviceWriter(device, physical: RouterFixture.now)
            let longBody = String(repeating: "Battery plants around the lithium mines, visited on day two. ", count: 20)
            let bulk = (0..<80).map { w.createNote("bulk-\($0)", body: longBody) }
            let small = [w.createNote("small")]
            #expect(PushRequest(mutations: bulk).wireBytes.count > PushRequest.bulkPayloadBytes)
            #expect(PushRequest(mutations: small).wireBytes.count <= PushRequest.bulkPayloadBytes)

            let bulkDone = Locked(false)
            async let bulkResponse = { () async throws -> TestResponse in
                let r = try await client.push(token, bulk)
                bulkDone.value = true
                return r
            }()
            try await Task.sleep(for: .milliseconds(50))
            // Were it queued too, it would wait for the holders, who are let go only by this
            // watchdog: the check is that the small push is answered while every place is still
            // held, however slow a loaded machine makes that answer. The watchdog only keeps a
            // broken build from hanging the suite.
            let timedOut = Locked(false)
            let watchdog = Task {
                try await Task.sleep(for: .seconds(120))
                timedOut.value = true
                await holders.releaseAll()
            }
            let smallResponse = try await client.push(token, small)
            watchdog.cancel()
            #expect(timedOut.value == false, "the small push waited for a place")
            guard case .pushResponse(let answer)? = smallResponse.message else { Issue.record("no push response: \(smallResponse.status)"); return }
            #expect(answer.results.map(\.status) == [.applied])
            // The bulk upload still waits for a place.
            #expect(bulkDone.value == false)

            await holders.releaseAll()
            guard case .pushResponse(let bulkAnswer)? = try await bulkResponse.message else { Issue.record("no bulk push response"); return }
            #expect(bulkAnswer.results.count == bulk.count && bulkAnswer.results.allSatisfy { $0.status == .applied })
        }
        try await held.value
        #expect(try await f.store.head(of: "mission").head == 81)
    }
}
