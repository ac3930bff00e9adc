public import SatchelProtocol
import Synchronization

/// Compressed bootstrap pages, made once and served to every device that pulls a space from
/// scratch, so a new device's transfer costs the server a lookup instead of deflating each page
/// on every request (zlib 6 manages about 8,000 notes per second per core).
///
/// A page holds the records whose versions lay in `(after, cursor]` when it was built, each as a
/// whole-record change. It stays a correct snapshot page while the space is not compacted:
/// versions only grow, so no record enters that range later, and a record changed since appears
/// again, newer, in a later page (devices keep the newer copy), its tombstone included. Once
/// compaction drops a tombstone, a cached live copy of that record would come back on new
/// devices with nothing after it to delete it, so a space's pages are kept with the horizon
/// they were built at and dropped when it moves. Only full pages are cached; the tail after the
/// last one is read live.
public final class SnapshotCache: Sendable {
    struct Page: Sendable {
        var cursor: Version
        var count: Int
        var frame: [UInt8]
    }

    /// Records per cached page: the client's default page size.
    public let pageSize: Int
    /// Beyond this many bytes of frames nothing more is cached.
    public let maxBytes: Int
    struct SpacePages: Sendable {
        var horizon: Version
        var byAfter: [Version: Page] = [:]
    }
    private let pages = Mutex<[SpaceID: SpacePages]>([:])
    /// Per space: the cursor the cached chain ends at, and changes written since it was extended.
    private let ends = Mutex<[SpaceID: (cursor: Version, pending: Int)]>([:])
    private let bytes = Atomic<Int>(0)
    /// When each space was last written, so pages are built once writes pause.
    private let lastWrite = Mutex<[SpaceID: ContinuousClock.Instant]>([:])

    public init(pageSize: Int = 500, maxBytes: Int = 256 << 20) {
        self.pageSize = pageSize
        self.maxBytes = maxBytes
    }

    /// The cached frame answering a snapshot pull of `space` after `after`, if one is cached for
    /// the space's current `horizon` and is no larger than `limit`.
    func frame(space: SpaceID, after: Version, limit: Int, horizon: Version) -> [UInt8]? {
        guard let cached = pages.withLock({ $0[space] }) else { return nil }
        guard cached.horizon == horizon else {
            drop(space)
            return nil
        }
        return cached.byAfter[after].flatMap { $0.count <= limit ? $0.frame : nil }
    }

    /// Forgets the pages of `space` (it was compacted); `extend` builds them again.
    func drop(_ space: SpaceID) {
        let removed = pages.withLock { $0.removeValue(forKey: space) }
        bytes.subtract(removed?.byAfter.values.reduce(0) { $0 + $1.frame.count } ?? 0, ordering: .relaxed)
        ends.withLock { $0[space] = (0, pageSize) }
    }

    /// Notes that `count` changes were written to `space`; returns whether a page's worth are
    /// waiting to be cached.
    func wrote(_ count: Int, to space: SpaceID) -> Bool {
        lastWrite.withLock { $0[space] = .now }
        return ends.withLock { ends in
            var end = ends[space] ?? (0, 0)
            end.pending += count
            ends[space] = end
            return end.pending >= pageSize
        }
    }

    /// Caches every full page of `space` after the end of its cached chain (`SyncService.buildSnapshots`
    /// calls it once writes pause; the simulation at seeded moments).
    public func extend(_ space: SpaceID, store: any ServerStore) async throws {
        // Read before the pages: a compaction in between labels them with the old horizon, and
        // they are dropped when first asked for, never served after it.
        let horizon = try await store.head(of: space).horizon
        if let cached = pages.withLock({ $0[space]?.horizon }), cached != horizon { drop(space) }
        var after = ends.withLock { $0[space]?.cursor ?? 0 }
        ends.withLock { $0[space] = (after, 0) }
        while bytes.load(ordering: .relaxed) < maxBytes {
            let page = try await store.snapshot(space: space, after: after, limit: pageSize)
            guard page.hasMore else { break }
            let payload = PullResponse.encodePayload(
                space: space, encodedChanges: page.encodedChanges, cursor: page.cursor, hasMore: true, head: page.head)
            let frame = Frame.encode(payload: payload, type: 6)
            let from = after
            pages.withLock {
                $0[space, default: SpacePages(horizon: horizon)].byAfter[from] = Page(cursor: page.cursor, count: page.encodedChanges.count, frame: frame)
            }
            bytes.add(frame.count, ordering: .relaxed)
            after = page.cursor
            ends.withLock { $0[space]?.cursor = after }
        }
    }

    /// Waits until `space` has had no write for `quiet`, so building pages (decoding states and
    /// deflating them) does not compete with a burst of pushes.
    func waitForQuiet(_ space: SpaceID, quiet: Duration) async throws {
        while true {
            let last = lastWrite.withLock { $0[space] } ?? .now - quiet
            let left = quiet - (.now - last)
            if left <= .zero { return }
            try await Task.sleep(for: left)
        }
    }

    /// How many records the cached pages of `space` hold (for metrics and tests).
    public func cachedRecords(_ space: SpaceID) -> Int {
        pages.withLock { $0[space]?.byAfter.values.reduce(0) { $0 + $1.count } ?? 0 }
    }

    public var cachedBytes: Int { bytes.load(ordering: .relaxed) }

    /// How many records all cached pages hold.
    public var totalCachedRecords: Int {
        pages.withLock { $0.values.reduce(0) { $0 + $1.byAfter.values.reduce(0) { $0 + $1.count } } }
    }
}
