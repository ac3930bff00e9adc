public import SatchelProtocol

/// A local write waiting for, or answered by, the server.
public struct OutboxEntry: Hashable, Sendable {
    public enum State: Hashable, Sendable {
        /// Not yet acknowledged by the server.
        case pending
        /// Acknowledged; kept until a pull brings the record to `version`, so the view keeps
        /// showing the write meanwhile.
        case acknowledged(version: Version)
        /// Refused by the server; set aside with the reason, never sent again.
        case rejected(Rejection)
    }

    /// Local order (0 until stored).
    public var seq: Int64
    public var mutation: Mutation
    /// The full text of every text field it writes as a diff (the diff's result), to rebuild the
    /// view and to resend the whole text if the server cannot apply the diff. Text sent whole is
    /// in the mutation itself.
    public var texts: [FieldName: String]
    public var state: State

    public init(seq: Int64 = 0, mutation: Mutation, texts: [FieldName: String] = [:], state: State = .pending) {
        self.seq = seq
        self.mutation = mutation
        self.texts = texts
        self.state = state
    }

    public var isRejected: Bool { if case .rejected = state { true } else { false } }

    /// What the write sets, as the user wrote it: whole values, a text sent as a diff in full,
    /// a set edit as the elements it adds. A refused write is shown with these, so nothing a
    /// person typed disappears from view.
    public var writtenValues: [FieldName: Value] {
        var values: [FieldName: Value] = [:]
        for (name, change) in mutation.changes {
            switch change {
            case .set(let value): values[name] = value
            case .textDiff: if let text = texts[name] { values[name] = .text(text) }
            case .setDelta(let add, _): values[name] = add
            }
        }
        return values
    }
}

/// What acknowledging a write needs of its outbox entry, read without decoding its changes or
/// texts (a bulk push acknowledges hundreds at once).
public struct OutboxHead: Hashable, Sendable {
    public var seq: Int64
    public var counter: UInt64
    public var key: RecordKey
    public var operation: Mutation.Operation
    public var baseVersion: Version
    public var isRejected: Bool

    public init(seq: Int64, counter: UInt64, key: RecordKey, operation: Mutation.Operation, baseVersion: Version, isRejected: Bool) {
        self.seq = seq
        self.counter = counter
        self.key = key
        self.operation = operation
        self.baseVersion = baseVersion
        self.isRejected = isRejected
    }

    public init(_ entry: OutboxEntry) {
        self.init(seq: entry.seq, counter: entry.mutation.counter, key: entry.mutation.key, operation: entry.mutation.operation,
                  baseVersion: entry.mutation.baseVersion, isRejected: entry.isRejected)
    }
}

/// A record as the device holds it: what the server confirmed, and the view (confirmed plus the
/// device's own unconfirmed writes) that the user sees and searches.
public struct LocalRecord: Hashable, Sendable {
    public var key: RecordKey
    /// The server version of `confirmed` (0: the server has not confirmed anything yet).
    public var confirmedVersion: Version
    /// The values the server confirmed; nil when it has none or the record is deleted there.
    public var confirmed: [FieldName: Value]?
    /// What the user sees; nil when the record is deleted (or does not exist) for the user.
    public var view: [FieldName: Value]?

    public init(key: RecordKey, confirmedVersion: Version = 0, confirmed: [FieldName: Value]? = nil, view: [FieldName: Value]? = nil) {
        self.key = key
        self.confirmedVersion = confirmedVersion
        self.confirmed = confirmed
        self.view = view
    }
}

/// The device's identity and counters, kept with its data.
public struct DeviceState: Hashable, Sendable {
    public var device: DeviceID
    /// The last mutation counter used.
    public var counter: UInt64
    /// The last hybrid-logical-clock reading.
    public var clock: HLC
    /// The highest counter among its writes the server has answered: a write the server holds
    /// above it that the outbox does not know was written by a later copy of this store
    /// (`recoverIfWentBack`).
    public var answeredCounter: UInt64
    /// When (device time, ms) this store last found it went back and recovered (0: never;
    /// `recoverIfWentBack`).
    public var recoveredAt: Int64

    public init(device: DeviceID, counter: UInt64 = 0, clock: HLC = .zero, answeredCounter: UInt64 = 0, recoveredAt: Int64 = 0) {
        self.device = device
        self.counter = counter
        self.clock = clock
        self.answeredCounter = answeredCounter
        self.recoveredAt = recoveredAt
    }
}
