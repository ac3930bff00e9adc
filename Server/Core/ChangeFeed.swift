public import SatchelProtocol
import Synchronization

/// Something a store committed that running servers act on: live devices are told, the snapshot
/// cache is extended or dropped, a revoked device's connection is closed.
public enum StoreEvent: Hashable, Sendable {
    /// `changes` changes committed in `space`, which now reaches `head`.
    case advanced(space: SpaceID, head: Version, changes: Int)
    /// The space was compacted: cursors below `horizon` must bootstrap again.
    case compacted(space: SpaceID, horizon: Version)
    case revoked(device: DeviceID)
    case userDisabled(user: UserID)
    /// An operator asked the device to pull `space` again (`requestReset`).
    case resetRequested(device: DeviceID, space: SpaceID)
}

/// An operator event as a backend stores it for every server of its database (a row of
/// `feed_events`): SQLite and PostgreSQL keep the same kinds and fields.
public struct StoredEvent: Hashable, Sendable {
    public var kind: String
    public var space: String?
    public var device: String?
    public var user: String?
    public var version: Version?

    /// The row for `event`; nil for `advanced`, which backends read from the change log itself.
    public init?(_ event: StoreEvent) {
        switch event {
        case .advanced: return nil
        case .compacted(let s, let horizon): self.init(kind: "compacted", space: s.rawValue, version: horizon)
        case .revoked(let d): self.init(kind: "revoked", device: d.rawValue)
        case .userDisabled(let u): self.init(kind: "user_disabled", user: u.rawValue)
        case .resetRequested(let d, let s): self.init(kind: "reset_requested", space: s.rawValue, device: d.rawValue)
        }
    }

    public init(kind: String, space: String? = nil, device: String? = nil, user: String? = nil, version: Version? = nil) {
        self.kind = kind
        self.space = space
        self.device = device
        self.user = user
        self.version = version
    }

    /// The event the row holds; nil for kinds this server does not know (written by a newer one).
    public var event: StoreEvent? {
        switch (kind, space, device, user) {
        case ("compacted", let s?, _, _): .compacted(space: SpaceID(unchecked: s), horizon: version ?? 0)
        case ("revoked", _, let d?, _): .revoked(device: DeviceID(unchecked: d))
        case ("user_disabled", _, _, let u?): .userDisabled(user: UserID(unchecked: u))
        case ("reset_requested", let s?, let d?, _): .resetRequested(device: DeviceID(unchecked: d), space: SpaceID(unchecked: s))
        default: nil
        }
    }
}

/// The one change feed of a database: every write path (push, operator writes and the briefing,
/// compaction, revocation, disable, re-bootstrap requests, from any store object or process)
/// reaches it from the commit, so what subscribers hear is what is visible.
///
/// A store publishes after its commit; a backend shared with other writers also publishes what
/// they committed (the SQLite store tails its database). Each subscriber has a buffer of its own:
/// one that falls more than `bufferLimit` events behind loses the oldest (a later `advanced`
/// supersedes an earlier one; live connections also check their token every heartbeat).
public final class ChangeFeed: Sendable {
    private let subscribers = Mutex<[Int: AsyncStream<StoreEvent>.Continuation]>([:])
    private let nextID = Atomic<Int>(0)
    public let bufferLimit: Int

    public init(bufferLimit: Int = 4096) {
        self.bufferLimit = bufferLimit
    }

    /// Events published from now on, until the stream's consumer stops iterating.
    public func subscribe() -> AsyncStream<StoreEvent> {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream<StoreEvent>.makeStream(bufferingPolicy: .bufferingNewest(bufferLimit))
        continuation.onTermination = { [weak self] _ in self?.remove(id) }
        subscribers.withLock { $0[id] = continuation }
        return stream
    }

    public func publish(_ events: [StoreEvent]) {
        guard !events.isEmpty else { return }
        let targets = subscribers.withLock { Array($0.values) }
        for continuation in targets {
            for event in events { continuation.yield(event) }
        }
    }

    public func publish(_ event: StoreEvent) { publish([event]) }

    /// Ends every subscription (the store closed).
    public func finish() {
        let targets = subscribers.withLock { subs in defer { subs.removeAll() }; return Array(subs.values) }
        for continuation in targets { continuation.finish() }
    }

    private func remove(_ id: Int) {
        _ = subscribers.withLock { $0.removeValue(forKey: id) }
    }
}

/// Wakes a waiting loop at once (a commit happened) or lets it wake by itself after a timeout
/// (to look for other writers' commits). Signals while nobody waits are kept as one.
public final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    public init() {}

    public func signal() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard let w = s.waiter else {
                s.pending = true
                return nil
            }
            s.waiter = nil
            return w
        }
        waiter?.resume()
    }

    /// Returns when signalled (at once if signalled since the last wait), after `timeout`, or
    /// when the task is cancelled.
    public func wait(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForSignal() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForSignal() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    // Cancelled before the waiter was set: the handler found nothing to resume.
                    if s.pending || Task.isCancelled {
                        s.pending = false
                        return true
                    }
                    s.waiter = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s in defer { s.waiter = nil }; return s.waiter }
            waiter?.resume()
        }
    }
}
