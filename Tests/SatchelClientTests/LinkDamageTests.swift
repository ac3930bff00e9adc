import Foundation
import SatchelClient
import SatchelProtocol
import SatchelTestSupport
import Testing

/// An answer cut or damaged on its way back is link trouble: the sync fails as offline, the
/// write stays pending, and the next sync over a good link sends it again (the server, which
/// applied it the first time, applies it once).
@Suite(.serialized) struct LinkDamageTests {
    @Test(arguments: [DamagingProxy.Damage.truncate, .corrupt, .cutConnection])
    func aDamagedPushAnswerIsRetriedLaterNeverTakenAsARefusal(_ damage: DamagingProxy.Damage) async throws {
        let world = try await ServerWorld(roles: ServerWorld.missionAndBriefing)
        defer { world.server.terminate() }
        let proxy = try DamagingProxy(upstreamPort: world.server.port)
        defer { proxy.stop() }
        let ana = try SatchelClient(directory: world.dir.file("ana"))
        try await ana.join(url: proxy.url, code: try await world.enrollmentCode(for: "ana"), label: "ana-laptop")
        try await ana.sync()

        let key = try await ana.createNote(space: "mission", title: "Sent over a bad link", body: String(repeating: "Harbour visit notes. ", count: 50))
        proxy.damage(damage, answersTo: "/v1/push")
        let failure = await #expect(throws: TransportError.self) { try await ana.sync() }
        #expect(failure?.kind == .offline)
        #expect(failure?.code == "transfer_damaged")
        #expect(failure?.message.contains("cut or damaged in transit") == true, "\(String(describing: failure))")
        #expect(try await ana.status().pending == 1)
        #expect(try await ana.rejected().isEmpty)

        proxy.damage(nil)
        try await ana.sync()
        #expect(try await ana.status().pending == 0)
        #expect(try await ana.rejected().isEmpty)
        let bob = try await world.device("bob", "bob-phone")
        try await bob.sync()
        #expect(try await bob.record(key)?.view?["title"] == .string("Sent over a bad link"))
        await ana.close()
        await bob.close()
    }
}
