public import SatchelProtocol
import Synchronization

/// Tells connected devices which of their spaces advanced. Each live connection subscribes with
/// its device and spaces and receives events on its own stream; a slow connection holds at most
/// the 64 newest events (older ones are dropped: a later `advanced` supersedes them), so memory
/// stays bounded.
public final class LiveHub: Sendable {
    struct Subscriber {
        var device: DeviceID
        var spaces: Set<SpaceID>
        var continuation: AsyncStream<LiveEvent>.Continuation
    }

    private let subscribers = Mutex<[Int: Subscriber]>([:])
    private let nextID = Atomic<Int>(0)

    public init() {}

    /// A stream of events for `device` about `spaces`, and a token to end the subscription.
    public func subscribe(device: DeviceID, spaces: Set<SpaceID>) -> (id: Int, events: AsyncStream<LiveEvent>) {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream<LiveEvent>.makeStream(bufferingPolicy: .bufferingNewest(64))
        subscribers.withLock { $0[id] = Subscriber(device: device, spaces: spaces, continuation: continuation) }
        return (id, stream)
    }

    public func unsubscribe(_ id: Int) {
        let s = subscribers.withLock { $0.removeValue(forKey: id) }
        s?.continuation.finish()
    }

    /// Tells every subscriber of `space` that it now reaches `head`.
    public func publish(space: SpaceID, head: Version) {
        let targets = subscribers.withLock { $0.values.filter { $0.spaces.contains(space) } }
        for s in targets { s.continuation.yield(.advanced(space: space, head: head)) }
    }

    /// Tells `device`'s connections (only) that `space` reaches `head`: an operator asked it to
    /// pull the space again.
    public func poke(device: DeviceID, space: SpaceID, head: Version) {
        let targets = subscribers.withLock { $0.values.filter { $0.device == device } }
        for s in targets { s.continuation.yield(.advanced(space: space, head: head)) }
    }

    /// Sends `event` to subscription `id` only (its heartbeats), if it is still subscribed.
    public func send(_ event: LiveEvent, to id: Int) {
        let target = subscribers.withLock { $0[id] }
        target?.continuation.yield(event)
    }

    /// Sends `revoked` to every connection of `device` and ends them.
    public func revoke(device: DeviceID, message: String) {
        let targets = subscribers.withLock { subs in
            let ids = subs.filter { $0.value.device == device }.map(\.key)
            return ids.compactMap { subs.removeValue(forKey: $0) }
        }
        for s in targets {
            s.continuation.yield(.revoked(message: message))
            s.continuation.finish()
        }
    }

    /// How many live connections are open.
    public var connectionCount: Int { subscribers.withLock { $0.count } }
}
