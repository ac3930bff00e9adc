public import SatchelProtocol

/// Where a sync is, for a progress bar.
public struct SyncProgress: Hashable, Sendable {
    public enum Phase: String, Hashable, Sendable { case connecting, pushing, pulling, done }
    public var phase: Phase
    /// Mutations pushed so far, of how many were pending when the sync began.
    public var pushed: Int
    public var toPush: Int
    /// Changes pulled so far, and about how many there are in all (from the spaces' heads).
    public var pulled: Int
    public var toPull: Int
    /// Frame bytes sent and received so far (compressed).
    public var bytesSent: Int
    public var bytesReceived: Int
}

/// What a sync did.
public struct SyncReport: Hashable, Sendable {
    public var pushed = AcknowledgeSummary()
    public var pulled = 0
    /// Spaces pulled again from scratch (cursor older than the server's history, or a gap).
    public var rebootstrapped: [SpaceID] = []
    public var bytesSent = 0
    public var bytesReceived = 0
    /// Conflicts now open on this device.
    public var openConflicts = 0
    /// The server held writes of this device newer than its store (a home restored from a
    /// backup or copied): every space was pulled again, unsent work kept (`recoverIfWentBack`).
    public var restored = false
    /// Whether the device's clock agrees with the server's (`settleClock`).
    public var clock: ClockCheck = .fine
    /// Notes others wrote, changed or deleted that this sync brought, oldest first, at most
    /// `ArrivedNote.listed` of them (not those of a space pulled again from scratch).
    public var arrived: [ArrivedNote] = []
    /// How many notes arrived in all, listed or not.
    public var arrivedCount = 0
}

/// A note a sync brought, as a person reads it in the summary.
public struct ArrivedNote: Hashable, Sendable {
    public static let listed = 50
    public var key: RecordKey
    /// As the device shows it after the sync (nil: deleted).
    public var title: String?
    public var author: String?
    /// Whether the device had it before this sync.
    public var isNew: Bool

    public init(key: RecordKey, title: String? = nil, author: String? = nil, isNew: Bool) {
        (self.key, self.title, self.author, self.isNew) = (key, title, author, isNew)
    }
}

/// The device's sync state, for `satchel status` and an app's status line.
public struct SyncStatus: Hashable, Sendable {
    public var server: String?
    public var device: DeviceID?
    public var user: UserID?
    /// Milliseconds since 1970 of the last sync that finished.
    public var lastSuccess: Int64?
    /// Why the last attempt failed, if it did (e.g. offline), and when.
    public var lastError: String?
    public var lastErrorAt: Int64?
    public var pending: Int
    public var rejected: Int
    public var conflicts: Int
    public var spaces: [SpaceAccess]
}

/// A conflict the server recorded, as the user sees it.
public struct ConflictInfo: Hashable, Sendable {
    /// The conflict record's key (in the `conflicts` collection).
    public var id: RecordKey
    public var kind: ConflictKind?
    /// The record concerned and the field, if the conflict is about one field.
    public var record: RecordKey
    public var field: FieldName?
    /// The value that did not win, and the value now in the record.
    public var kept: Value
    public var winner: Value
    public var keptDevice: String?
}

/// How to resolve a conflict.
public enum Resolution: Hashable, Sendable {
    /// Keep the value now in the record (just dismiss the conflict).
    case keepWinner
    /// Put the set-aside value back.
    case restoreKept
    /// Write this value (e.g. a merge the user made).
    case value(Value)
    /// For a refused delete: delete the record after all.
    case delete
}
