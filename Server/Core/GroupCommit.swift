public import SatchelProtocol

/// A push waiting in a store's group-commit queue (SQLite's, PostgreSQL's).
public struct QueuedWrite: Sendable {
    public let mutations: [Mutation]
    public let asOperator: Bool
    public let reply: CheckedContinuation<[MutationResult], any Error>

    public init(mutations: [Mutation], asOperator: Bool, reply: CheckedContinuation<[MutationResult], any Error>) {
        self.mutations = mutations
        self.asOperator = asOperator
        self.reply = reply
    }

    /// Takes the writes for the next commit out of `queue`, as `GroupCommit.pick` orders them.
    public static func nextCommit(from queue: inout [QueuedWrite], budget: Int) -> [QueuedWrite] {
        let picked = GroupCommit.pick(sizes: queue.map(\.mutations.count), budget: budget)
        let taken = picked.map { queue[$0] }
        let chosen = Set(picked)
        queue = queue.indices.filter { !chosen.contains($0) }.map { queue[$0] }
        return taken
    }
}

/// Which queued pushes share the next commit.
public enum GroupCommit {
    /// Pushes of at most this many mutations (a note saved while online) go ahead of bulk
    /// uploads, so one person's edit does not wait for other devices' backlogs.
    public static let small = 16

    /// The indices of the pushes (given by their sizes, in arrival order) for the next commit:
    /// the oldest always, so nothing waits for ever; then the small ones; then the rest in
    /// arrival order, while the total stays within `budget` mutations.
    public static func pick(sizes: [Int], budget: Int) -> [Int] {
        guard !sizes.isEmpty else { return [] }
        var taken = [0], used = sizes[0]
        for smallPass in [true, false] {
            for i in sizes.indices.dropFirst() where (sizes[i] <= small) == smallPass && used + sizes[i] <= budget {
                taken.append(i)
                used += sizes[i]
            }
        }
        return taken
    }
}

/// What syncs note for the operator's view (last seen, pull progress), between the writes that
/// store it: bookkeeping a backend may hold briefly (`DeviceActivityStore`).
public struct Bookkeeping: Sendable {
    public struct Seen: Hashable, Sendable {
        public var client: String?
        public var at: Timestamp
        public init(client: String?, at: Timestamp) { (self.client, self.at) = (client, at) }
    }
    public var cursors: [PullMark] = []
    public var seen: [DeviceID: Seen] = [:]
    /// A write of them was asked for and has not run yet.
    public var flushAsked = false

    public init() {}

    /// Notes that `device` was seen: the latest time, a known client kept, as the written row merges.
    public mutating func touch(_ device: DeviceID, client: String?, now: Timestamp) {
        let earlier = seen[device]
        seen[device] = Seen(client: client ?? earlier?.client, at: max(now, earlier?.at ?? now))
    }

    /// Takes every note out, for a backend whose write of them may interleave with another
    /// (PostgreSQL's is asynchronous): each note is then written once. `putBack` on failure.
    public mutating func takeAll() -> Bookkeeping {
        let taken = self
        self = Bookkeeping()
        return taken
    }

    /// Returns notes taken by `takeAll` whose write failed, merged with those noted since.
    public mutating func putBack(_ taken: Bookkeeping) {
        cursors = taken.cursors + cursors
        for (device, note) in taken.seen {
            let later = seen[device]
            seen[device] = Seen(client: later?.client ?? note.client, at: max(later?.at ?? note.at, note.at))
        }
    }

    /// Forgets what `written` (an earlier copy of this) held and was written since: notes are
    /// appended, and a device seen again since keeps its newer note.
    public mutating func remove(written: Bookkeeping) {
        flushAsked = false
        cursors.removeFirst(written.cursors.count)
        for (device, note) in written.seen where seen[device] == note { seen[device] = nil }
    }
}

/// A device's pull progress, noted for the operator's view.
public struct PullMark: Sendable {
    public let device: DeviceID
    public let space: SpaceID
    public let cursor: Version
    public let at: Timestamp

    public init(device: DeviceID, space: SpaceID, cursor: Version, at: Timestamp) {
        self.device = device
        self.space = space
        self.cursor = cursor
        self.at = at
    }
}
