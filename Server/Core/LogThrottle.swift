import Synchronization

/// Keeps a repeated log line to one per `interval`: the first occurrence logs at once; later
/// ones within the interval are counted and reported by the next line that is written.
public final class LogThrottle: Sendable {
    private let state = Mutex<(last: ContinuousClock.Instant?, held: Int)>((nil, 0))
    public let interval: Duration

    public init(interval: Duration = .seconds(10)) {
        self.interval = interval
    }

    /// Calls `log` with how many occurrences the line stands for, or not at all.
    public func occurred(_ log: (Int) -> Void) {
        let now = ContinuousClock.now
        let times: Int? = state.withLock { s in
            if let last = s.last, now - last < interval {
                s.held += 1
                return nil
            }
            defer { s = (now, 0) }
            return s.held + 1
        }
        if let times { log(times) }
    }
}
