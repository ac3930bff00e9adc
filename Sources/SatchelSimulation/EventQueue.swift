import SatchelServerCore

/// A request or an answer in flight between a device and the server, as the bytes of its frame
/// with what HTTP would carry beside them (route, status, `Satchel-Features`).
struct Envelope: Sendable {
    /// The device, its session and the exchange within it.
    var device: Int, session: Int, exchange: Int
    var toServer: Bool
    var route: SyncEndpoints.Route
    var bytes: [UInt8]
    /// An answer's HTTP status.
    var status = 200
    /// A request's `Satchel-Features` header, or the features an answer names.
    var features: [String] = []
    /// Order of sending, to count deliveries that overtook earlier messages.
    var sendOrder = 0
}

enum SimulationEvent: Sendable {
    case deliver(Envelope)
    /// The device stops waiting for the answer to `exchange` of session `session`.
    case timeout(device: Int, session: Int, exchange: Int)
}

/// Pending events ordered by time, then by scheduling order: a binary min-heap.
struct EventQueue: Sendable {
    private struct Item: Sendable {
        var time: Int64
        var order: UInt64
        var event: SimulationEvent
        func precedes(_ other: Item) -> Bool { (time, order) < (other.time, other.order) }
    }

    private var heap: [Item] = []
    private var scheduled: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }

    /// Whether any pending event satisfies `predicate`.
    func contains(where predicate: (SimulationEvent) -> Bool) -> Bool { heap.contains { predicate($0.event) } }
    var nextTime: Int64? { heap.first?.time }

    mutating func schedule(_ event: SimulationEvent, at time: Int64) {
        heap.append(Item(time: time, order: scheduled, event: event))
        scheduled += 1
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].precedes(heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    /// Removes and returns the earliest event if it is due at or before `limit`.
    mutating func pop(notAfter limit: Int64) -> (time: Int64, event: SimulationEvent)? {
        guard let first = heap.first, first.time <= limit else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count, heap[l].precedes(heap[m]) { m = l }
                if r < heap.count, heap[r].precedes(heap[m]) { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        return (first.time, first.event)
    }
}
