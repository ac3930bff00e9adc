/// At most `limit` holders at once; the others wait in arrival order.
///
/// Pushes take a place before their frame is inflated and decoded: each holds up to
/// `maxPayloadBytes` of mutations in memory until its group commit is answered, so a burst of
/// devices waits its turn as compressed bytes instead of all at once as decoded notes.
actor Admission {
    private var available: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { available = limit }

    /// Runs `body` holding a place.
    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        if available > 0 {
            available -= 1
        } else {
            await withCheckedContinuation { waiting.append($0) }
        }
        defer {
            if waiting.isEmpty { available += 1 } else { waiting.removeFirst().resume() }
        }
        return try await body()
    }
}
