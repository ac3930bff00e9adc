import SatchelClient
import SatchelProtocol
import Testing

/// `LiveSession`, live mode's decisions, with time and jitter passed in.
@Suite struct LiveSessionTests {
    static func reaction(_ r: LiveSession.Reaction) -> String {
        switch r {
        case .nothing: "nothing"
        case .sync: "sync"
        case .stop(let error): "stop \((error as? TransportError)?.code ?? "?")"
        }
    }

    static func wait(_ a: LiveSession.AfterConnection) -> Int64? {
        if case .reconnect(let millis) = a { millis } else { nil }
    }

    @Test func theGreetingAndEveryAdvanceSyncOtherHeartbeatsDoNot() {
        var live = LiveSession(heartbeatMillis: 10_000)
        live.connected(at: 0)
        let events: [LiveEvent] = [.heartbeat(serverTime: 1), .heartbeat(serverTime: 2), .advanced(space: "mission", head: 4), .revoked(message: "gone")]
        #expect(events.enumerated().map { Self.reaction(live.heard($1, at: Int64($0) * 1_000)) } == ["sync", "nothing", "sync", "stop token_revoked"])
        // A new connection's first heartbeat is a greeting again.
        live.connected(at: 9_000)
        #expect(Self.reaction(live.heard(.heartbeat(serverTime: 3), at: 9_500)) == "sync")
    }

    @Test func aLinkQuietForThreeHeartbeatsIsDeadUnlessASyncRuns() {
        var live = LiveSession(heartbeatMillis: 1_000)
        live.connected(at: 0)
        #expect(!live.isDead(at: 3_000))
        #expect(live.isDead(at: 3_001))
        live.sync(running: true, at: 3_001)
        #expect(!live.isDead(at: 60_000), "a long sync reads no events")
        live.sync(running: false, at: 60_000)
        #expect(!live.isDead(at: 62_000))
        #expect(live.isDead(at: 63_001))
    }

    @Test func reconnectsBackOffToAMinuteAndStartOverAfterAConnectionWasHeard() {
        var live = LiveSession(heartbeatMillis: 1_000)
        let offline = TransportError(.offline, "no route")
        var waits: [Int64] = []
        for _ in 0..<8 { waits.append(Self.wait(live.ended(offline, jitter: 1)) ?? -1) }
        #expect(waits == [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000])
        #expect(Self.wait(live.ended(offline, jitter: 0.5)) == 30_000)
        live.connected(at: 0)
        _ = live.heard(.heartbeat(serverTime: 0), at: 10)
        #expect(Self.wait(live.ended(offline, jitter: 1.5)) == 1_500)
    }

    @Test func refusalsAndACopiedDeviceStopLiveMode() {
        var live = LiveSession(heartbeatMillis: 1_000)
        for error: any Error in [TransportError(.unauthorized, code: "token_revoked", "revoked"), TransportError(.refused, code: "space_forbidden", "no"),
                                 ClientError(code: "device_copied", "copied"), CancellationError()] {
            #expect(Self.wait(live.ended(error, jitter: 1)) == nil, "\(error)")
        }
        // The server's own trouble (5xx) is retried.
        #expect(Self.wait(live.ended(TransportError(.offline, code: "insufficient_storage", "full"), jitter: 1)) == 1_000)
    }
}
