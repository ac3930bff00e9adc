/// The protocol version this module speaks. Any change to a message layout bumps it.
public let satchelProtocolVersion: UInt16 = 1

/// A device's role in a space.
public enum Role: String, Hashable, Sendable, CaseIterable, Comparable {
    /// May pull.
    case reader
    /// May pull and push.
    case writer
    /// May pull, push and manage the space's members.
    case owner

    public var canWrite: Bool { self != .reader }
    public static func < (a: Role, b: Role) -> Bool { a.wireByte < b.wireByte }
}

/// The server's limits, announced in hello so clients stay inside them.
public struct Limits: Hashable, Sendable {
    /// Largest request body accepted, as sent (compressed).
    public var maxRequestBytes: Int
    /// Largest decompressed frame payload accepted or sent.
    public var maxPayloadBytes: Int
    /// Most mutations in one push.
    public var maxMutationsPerPush: Int
    /// Most changes in one pull page.
    public var maxPageSize: Int
    /// How far ahead of the server's clock a device's clock may be.
    public var maxClockSkewMillis: Int64

    /// The most mutation bytes one push may carry: its frame must fit `maxRequestBytes` even
    /// when sent uncompressed, and its payload `maxPayloadBytes`. A client cuts its batches by
    /// this as well as by `maxMutationsPerPush`; a single mutation over it can never be pushed.
    public var maxPushMutationBytes: Int {
        // The frame header (13 bytes), the array count and the flags fit in 64.
        max(0, min(maxRequestBytes, maxPayloadBytes) - 64)
    }

    public init(maxRequestBytes: Int = 4 << 20, maxPayloadBytes: Int = 16 << 20, maxMutationsPerPush: Int = 1000, maxPageSize: Int = 1000, maxClockSkewMillis: Int64 = 5 * 60 * 1000) {
        self.maxRequestBytes = maxRequestBytes
        self.maxPayloadBytes = maxPayloadBytes
        self.maxMutationsPerPush = maxMutationsPerPush
        self.maxPageSize = maxPageSize
        self.maxClockSkewMillis = maxClockSkewMillis
    }

    public static let `default` = Limits()
}

/// A space a device may use, with its role and how far its log reaches.
public struct SpaceAccess: Hashable, Sendable {
    public var space: SpaceID
    public var role: Role
    /// The latest version in the space.
    public var head: Version
    /// The oldest cursor the server can still serve changes after; an older cursor must
    /// re-bootstrap the space (pull after 0).
    public var horizon: Version

    public init(space: SpaceID, role: Role, head: Version, horizon: Version) {
        self.space = space
        self.role = role
        self.head = head
        self.horizon = horizon
    }
}

/// Device → server: opens a session.
public struct HelloRequest: Hashable, Sendable {
    public var protocolVersion: UInt16
    /// Client software and version, e.g. "satchel-cli/0.1.0"; shown to operators.
    public var client: String

    /// Optional features the client understands (§14). Not in the frame: sent as the HTTP header
    /// `Satchel-Features`, which servers that predate a feature ignore.
    public var features: Set<String> = []

    public init(protocolVersion: UInt16 = satchelProtocolVersion, client: String, features: Set<String> = []) {
        self.protocolVersion = protocolVersion
        self.client = client
        self.features = features
    }
}

/// Optional protocol features, named in the `Satchel-Features` HTTP header (PROTOCOL.md §14).
public enum SatchelFeature {
    /// Push and pull flags for own writes applied as written (§5).
    public static let asWritten = "as-written"
    /// The hello answer says what the server holds of the device's own writes (§3).
    public static let deviceState = "device-state"
}

/// What the server holds of a device's own writes: the stored mutation with the highest counter
/// from the device, and its clock. A device that was never answered for it and does not know its
/// id went back in time (its store was restored from a backup or copied): it recovers before it
/// writes again (§3).
public struct DeviceWriteState: Hashable, Sendable {
    public var counter: UInt64
    public var clock: HLC
    public var mutation: MutationID

    public init(counter: UInt64, clock: HLC, mutation: MutationID) {
        self.counter = counter
        self.clock = clock
        self.mutation = mutation
    }
}

/// Server → device: who it is, what it may use, and the limits.
public struct HelloResponse: Hashable, Sendable {
    public var protocolVersion: UInt16
    public var server: String
    public var device: DeviceID
    public var user: UserID
    public var limits: Limits
    /// The server's physical time in milliseconds, so a device can warn about its own clock.
    public var serverTime: Timestamp
    public var spaces: [SpaceAccess]
    /// Whether the server understands the as-written flags (§5). Not in the frame: servers
    /// that do say so with the HTTP header `Satchel-Features: as-written` (§14), because a
    /// server that predates them refuses any message that carries them.
    public var asWrittenSupported = false
    /// What the server holds of this device's writes; sent (after `spaces`) only when the
    /// request listed `device-state` in `Satchel-Features` and the server stored a write of the
    /// device. Nil from servers that predate it.
    public var deviceState: DeviceWriteState?

    public init(protocolVersion: UInt16 = satchelProtocolVersion, server: String, device: DeviceID, user: UserID, limits: Limits, serverTime: Timestamp, spaces: [SpaceAccess], deviceState: DeviceWriteState? = nil) {
        self.deviceState = deviceState
        self.protocolVersion = protocolVersion
        self.server = server
        self.device = device
        self.user = user
        self.limits = limits
        self.serverTime = serverTime
        self.spaces = spaces
    }
}

/// Device → server: a batch of mutations, applied in order; each gets its own result.
public struct PushRequest: Hashable, Sendable {
    /// Payloads over this many bytes are bulk uploads: the reference server admits them in
    /// turns, and the reference client deflates them at a faster level. Smaller ones (a few
    /// notes saved online) skip the queue.
    public static let bulkPayloadBytes = 64 << 10

    public var mutations: [Mutation]
    /// Asks the server to say which results are as written (`MutationResult.asWritten`).
    public var reportAsWritten: Bool
    public init(mutations: [Mutation], reportAsWritten: Bool = false) {
        self.mutations = mutations
        self.reportAsWritten = reportAsWritten
    }
}

/// Server → device: one result per pushed mutation, in the same order.
public struct PushResponse: Hashable, Sendable {
    public var results: [MutationResult]
    /// The server's clock after the push; devices observe it.
    public var clock: HLC
    /// Whether the results' `asWritten` flags are sent (the request asked for them).
    public var reportsAsWritten: Bool
    public init(results: [MutationResult], clock: HLC, reportsAsWritten: Bool = false) {
        self.results = results
        self.clock = clock
        self.reportsAsWritten = reportsAsWritten
    }
}

/// Device → server: changes of one space after a cursor.
public struct PullRequest: Hashable, Sendable {
    public var space: SpaceID
    /// The last version the device has applied for this space (0 to bootstrap).
    public var after: Version
    /// At most this many changes (the server may send fewer).
    public var limit: Int
    /// Set while the device pulls the space from scratch: the space's horizon when that
    /// bootstrap began. The server then sends each record's current state (a snapshot) instead
    /// of the change log, and refuses to go on (`cursor_expired`) if the space was compacted
    /// since, because tombstones the device needs may be gone. Nil for incremental pulls.
    public var bootstrap: Version?
    /// Leave out the changes that reproduce this device's own writes exactly: the device
    /// confirmed them when the push was acknowledged (`MutationResult.asWritten`). Log pulls only.
    public var omitOwnAsWritten: Bool

    public init(space: SpaceID, after: Version, limit: Int, bootstrap: Version? = nil, omitOwnAsWritten: Bool = false) {
        self.space = space
        self.after = after
        self.limit = limit
        self.bootstrap = bootstrap
        self.omitOwnAsWritten = omitOwnAsWritten
    }
}

/// Server → device: a page of changes.
public struct PullResponse: Hashable, Sendable {
    public var space: SpaceID
    public var changes: [Change]
    /// The cursor to store with these changes and send as `after` next time.
    public var cursor: Version
    /// Whether more changes follow this page.
    public var hasMore: Bool
    /// The space's latest version when the page was read (for progress).
    public var head: Version

    public init(space: SpaceID, changes: [Change], cursor: Version, hasMore: Bool, head: Version) {
        self.space = space
        self.changes = changes
        self.cursor = cursor
        self.hasMore = hasMore
        self.head = head
    }
}

/// Server → device over the live connection.
public enum LiveEvent: Hashable, Sendable {
    /// The space has changes up to `head`: pull.
    case advanced(space: SpaceID, head: Version)
    /// Sent every few seconds; a device that misses several treats the link as dead.
    case heartbeat(serverTime: Timestamp)
    /// The device's token was revoked; the connection closes after this.
    case revoked(message: String)
}

/// Any failed request: a stable code and a message a person can act on.
public struct ErrorResponse: Hashable, Sendable, Error {
    public var code: String
    public var message: String
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// Every message that travels in a frame, tagged with its type.
public enum Message: Hashable, Sendable {
    case helloRequest(HelloRequest)
    case helloResponse(HelloResponse)
    case pushRequest(PushRequest)
    case pushResponse(PushResponse)
    case pullRequest(PullRequest)
    case pullResponse(PullResponse)
    case live(LiveEvent)
    case error(ErrorResponse)

    /// The type byte of a push request's frame.
    public static let pushRequestType: UInt8 = 3

    /// The type byte in the frame header.
    public var type: UInt8 {
        switch self {
        case .helloRequest: 1
        case .helloResponse: 2
        case .pushRequest: Self.pushRequestType
        case .pushResponse: 4
        case .pullRequest: 5
        case .pullResponse: 6
        case .live: 7
        case .error: 8
        }
    }
}
