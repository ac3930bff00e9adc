public import SatchelProtocol

/// Live mode's decisions with no I/O: which events start a sync, when a quiet link counts as
/// dead, how long to wait before connecting again, and when to give up. `SatchelClient.watch`
/// runs it with the live connection and a clock; time (monotonic milliseconds) and randomness
/// (the jitter) are passed in.
public struct LiveSession: Sendable {
    public enum Reaction: Sendable {
        case nothing
        /// Sync now (the server greeted the connection, or said a space advanced).
        case sync
        /// Stop live mode with this error (the device was revoked).
        case stop(any Error)
    }

    public enum AfterConnection: Sendable {
        /// Connect again after this long.
        case reconnect(afterMillis: Int64)
        /// Retrying will not help (revoked, refused, not a Satchel server, a copied device).
        case stop
    }

    /// A link that misses this many heartbeats is treated as dead.
    public static let missedHeartbeats: Int64 = 3
    /// Reconnects back off from 1 s to 60 s, doubling, with ±50% jitter.
    public static let backoffSeconds: ClosedRange<Double> = 1...60

    public let heartbeatMillis: Int64
    private var backoff = LiveSession.backoffSeconds.lowerBound
    private var heard = false
    private var syncing = false
    private var lastHeard: Int64 = 0

    public init(heartbeatMillis: Int64) {
        self.heartbeatMillis = heartbeatMillis
    }

    /// A new live connection is up.
    public mutating func connected(at now: Int64) {
        heard = false
        syncing = false
        lastHeard = now
    }

    /// An event arrived on the connection.
    public mutating func heard(_ event: LiveEvent, at now: Int64) -> Reaction {
        lastHeard = now
        let first = !heard
        heard = true
        switch event {
        case .revoked(let message): return .stop(TransportError(.unauthorized, code: "token_revoked", message))
        case .advanced: return .sync
        // The server's greeting: subscribed, so every later change will be announced; sync now.
        case .heartbeat where first: return .sync
        case .heartbeat: return .nothing
        }
    }

    /// A long sync (a backlog, a first bootstrap) reads no events: the link is not called dead
    /// while it runs, and the silence counts from its end.
    public mutating func sync(running: Bool, at now: Int64) {
        syncing = running
        lastHeard = now
    }

    /// Whether the link has been quiet for longer than `missedHeartbeats` heartbeats.
    public func isDead(at now: Int64) -> Bool {
        !syncing && now - lastHeard > heartbeatMillis * Self.missedHeartbeats
    }

    /// The connection ended with `error`: wait and connect again, or stop. A connection that
    /// was heard from starts the backoff again from 1 s. `jitter` is drawn in 0.5...1.5.
    public mutating func ended(_ error: any Error, jitter: Double) -> AfterConnection {
        switch error {
        case let transport as TransportError where transport.kind != .offline: return .stop
        case is ClientError, is CancellationError: return .stop
        default: break
        }
        if heard { backoff = Self.backoffSeconds.lowerBound }
        heard = false
        let wait = Int64(backoff * jitter * 1000)
        backoff = min(Self.backoffSeconds.upperBound, backoff * 2)
        return .reconnect(afterMillis: wait)
    }
}
