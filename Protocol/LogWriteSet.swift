/// What a planned batch of mutations writes, for the backend to write in the transaction it
/// read in: all of it, or (rolled back) none.
public struct LogWriteSet: Hashable, Sendable {
    /// A change appended to the log, with the device whose write it reproduces exactly, if any
    /// (left out of that device's pulls, see `ChangeLogStorage.append`).
    public struct AppendedChange: Hashable, Sendable {
        public var change: Change
        public var asWrittenBy: DeviceID?
    }

    /// A record's state: its current one in `records`, a replaced one in `history`.
    public struct RecordWrite: Hashable, Sendable {
        public var key: RecordKey
        public var state: RecordState
    }

    /// A mutation's result to save (`ChangeLogStorage.saveResult`).
    public struct SavedResult: Hashable, Sendable {
        public var mutation: Mutation
        public var result: MutationResult
        public var counted: Bool
    }

    /// The changes appended, in version order, from the head read plus one.
    public var changes: [AppendedChange] = []
    /// Each record touched, once, with its state after the batch; in the order first touched.
    public var records: [RecordWrite] = []
    /// The states the batch replaced, kept as merge bases; oldest first.
    public var history: [RecordWrite] = []
    /// Results to save, in the order the mutations came.
    public var results: [SavedResult] = []
    /// The head after the batch: the last change's version, or the head read when none.
    public var head: Version

    public init(head: Version) { self.head = head }
}
