public import SatchelProtocol

/// What `settleClock` found.
public enum ClockCheck: Hashable, Sendable {
    /// The device's clock agrees with the server's well enough.
    case fine
    /// The device's clock had run ahead (a wrong date, since fixed): it was set back, and this
    /// many queued writes were stamped again.
    case restamped(Int)
    /// The device's clock is this many milliseconds ahead of the server's: writes stamped now
    /// would be refused, so they wait, queued, until the date is fixed.
    case ahead(millis: Int64)
}

/// What `recoverIfWentBack` found.
public enum GoingBack: Hashable, Sendable {
    /// The store knows every write the server holds of it.
    case no
    /// It did not (restored from a backup): counter and clock moved on; pull every space again.
    case recovered
    /// It went back again soon after recovering: another machine holds a copy of this store and
    /// writes as this device. Nothing changed; the machine must join again under a new identity.
    case copied

    /// Going back again within this time of a recovery means a copy, not a second restore: two
    /// machines sharing an identity go back at nearly every sync, a restored one once.
    public static let copyWindowMillis: Int64 = 7 * 86_400_000
}

/// Recovering from what the device's own store cannot know: that it went back in time, and that
/// its clock ran ahead.
extension ReplicaStorage {
    /// Whether the server holds a write of this device that its store knows nothing of (`state`,
    /// from hello: the stored write with the highest counter): never answered for it, and not in
    /// the outbox waiting for a lost answer. Then the store was restored from a backup or copied
    /// from another machine. The counter and clock move past what the server holds, so no later
    /// write reuses a counter or sorts before one of the device's own, and the caller must pull
    /// every space again from 0, since the device's pulls left out its own writes it no longer has.
    ///
    /// A store restored from a backup goes back once. One that goes back again within
    /// `GoingBack.copyWindowMillis` of recovering shares its identity with another machine, whose
    /// writes it would take for its own (a merge counts a device's own earlier writes as seen,
    /// §4.1): `.copied`, and nothing changes.
    public mutating func recoverIfWentBack(_ state: DeviceWriteState?, physicalMillis: Int64) throws -> GoingBack {
        guard let state else { return .no }
        func wentBack(_ s: Self) throws -> DeviceState? {
            let device = try s.deviceState()
            guard state.counter > device.answeredCounter, try s.outboxHead(state.mutation) == nil else { return nil }
            return device
        }
        // Read first: nearly every sync finds nothing to do and should not write.
        guard try wentBack(self) != nil else { return .no }
        return try inTransaction { s in
            // Again inside the transaction: another process on this store may have answered it.
            guard var device = try wentBack(s) else { return .no }
            if device.recoveredAt > 0 && physicalMillis - device.recoveredAt < GoingBack.copyWindowMillis { return .copied }
            device.recoveredAt = physicalMillis
            device.counter = max(device.counter, state.counter)
            device.answeredCounter = state.counter
            device.clock = max(device.clock, state.clock)
            // Writes queued since the restore took counters the server holds for others. New
            // counters for every queued one at or below its mark: an entry the server stored
            // already (sent from the lost future) is still known by its id, which comes first.
            for var entry in try s.pendingEntries(limit: .max) where entry.mutation.counter <= state.counter {
                Self.renumber(&entry.mutation, &device, physicalMillis: physicalMillis)
                try s.updateOutbox(entry)
            }
            try s.saveDeviceState(device)
            return .recovered
        }
    }

    /// Gives a write the device's next counter and a new clock reading. A device uses each
    /// counter once (PROTOCOL.md §3), and with counters in clock order the clock of its highest
    /// stored counter is the latest clock the server holds of it (`DeviceWriteState`).
    static func renumber(_ m: inout Mutation, _ device: inout DeviceState, physicalMillis: Int64) {
        var clock = HybridLogicalClock(last: device.clock)
        device.counter += 1
        m.counter = device.counter
        m.clock = clock.now(physicalMillis: physicalMillis)
        device.clock = clock.last
    }

    /// Keeps the device's clock within the server's reach (PROTOCOL.md §2). `serverTime` is the
    /// server's physical time from hello, `physicalMillis` the device's now.
    ///
    /// While the device's own time is more than the allowed skew ahead of the server's, nothing
    /// changes: writes stamped now would be refused (`.ahead`). Once the time is right, a device
    /// clock that ran ahead (a write made while the date was wrong) is set back to the latest
    /// reading the server may hold of it, and the queued writes stamped beyond the skew, which
    /// the server can never have taken, are stamped again in their order, with new counters.
    public mutating func settleClock(serverTime: Timestamp, maxSkewMillis: Int64, physicalMillis: Int64, serverHolds: DeviceWriteState?) throws -> ClockCheck {
        let ahead = physicalMillis - serverTime
        let refusable = serverTime + maxSkewMillis
        if physicalMillis > refusable { return .ahead(millis: ahead) }
        guard try deviceState().clock.millis > refusable else { return .fine }
        return try inTransaction { s in
            var device = try s.deviceState()
            let pending = try s.pendingEntries(limit: .max)
            let first = pending.firstIndex { $0.mutation.clock.millis > refusable } ?? pending.endIndex
            // The latest reading the server may hold: its own time, the device's stored writes,
            // and the queued writes before the first that must be stamped again (they may be
            // stored already, their answer lost).
            var floor = max(HLC(millis: serverTime, counter: 0), serverHolds?.clock ?? .zero)
            for entry in pending[..<first] { floor = max(floor, entry.mutation.clock) }
            device.clock = floor
            for var entry in pending[first...] {
                Self.renumber(&entry.mutation, &device, physicalMillis: physicalMillis)
                try s.updateOutbox(entry)
            }
            try s.saveDeviceState(device)
            return .restamped(pending.count - first)
        }
    }

    /// Makes `device` this store's identity (a new enrollment of a device that joined before):
    /// every unsent write is sent under it, with a new id and counter, and the `spaces` are pulled
    /// again from 0, since the old identity's writes were left out of its pulls. Writes the server
    /// refused stay set aside as they were.
    public mutating func adoptIdentity(_ device: DeviceID, spaces: [SpaceID]) throws {
        try inTransaction { s in
            var state = (try? s.deviceState()) ?? DeviceState(device: device)
            state.device = device
            state.counter = 0
            state.answeredCounter = 0
            state.recoveredAt = 0
            for var entry in try s.pendingEntries(limit: .max) {
                state.counter += 1
                entry.mutation.id = s.newMutationID()
                entry.mutation.device = device
                entry.mutation.counter = state.counter
                try s.updateOutbox(entry)
            }
            try s.saveDeviceState(state)
            for space in spaces { try s.resetSpace(space) }
        }
    }
}
