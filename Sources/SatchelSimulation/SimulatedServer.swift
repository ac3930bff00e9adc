import SatchelProtocol

/// The server as the simulation runs it: the in-memory `ChangeLog` (the reference model every
/// store follows) behind the push and pull routes, with a hybrid logical clock fed simulated time.
struct SimulatedServer: Sendable {
    var log = ChangeLog(schema: .standard)
    var clock = HybridLogicalClock()
    let limits = Limits.default

    /// Answers one decoded request from `device` at the server's physical time.
    mutating func handle(_ request: Message, from device: DeviceID, physicalMillis: Int64) -> Message {
        switch request {
        case .pushRequest(let push):
            guard push.mutations.count <= limits.maxMutationsPerPush else {
                return .error(ErrorResponse(code: "too_many_mutations", message: "at most \(limits.maxMutationsPerPush) mutations per push"))
            }
            var results: [MutationResult] = []
            results.reserveCapacity(push.mutations.count)
            for m in push.mutations {
                guard m.device == device else {
                    let error = ValidationError(.wrongDevice, "mutation \(m.id) names device \(m.device), not \(device)")
                    results.append(MutationResult(mutation: m.id, status: .rejected, version: 0, rejection: error))
                    continue
                }
                do {
                    try clock.checkSkew(m.clock, physicalMillis: physicalMillis)
                } catch {
                    results.append(MutationResult(mutation: m.id, status: .rejected, version: 0, rejection: error))
                    continue
                }
                _ = try? clock.observe(m.clock, physicalMillis: physicalMillis)
                results.append(log.push(m))
            }
            return .pushResponse(PushResponse(results: results, clock: clock.now(physicalMillis: physicalMillis), reportsAsWritten: push.reportAsWritten))

        case .pullRequest(let pull):
            let limit = min(max(pull.limit, 1), limits.maxPageSize)
            let page: (changes: [Change], hasMore: Bool)
            switch PullPlan.plan(pull, horizon: log.horizon, resetRequested: false) {
            case .expired(let message):
                return .error(ErrorResponse(code: "cursor_expired", message: message))
            case .snapshot:
                page = log.snapshot(space: pull.space, after: pull.after, limit: limit)
            case .log:
                page = log.pull(space: pull.space, after: pull.after, limit: limit, omitting: pull.omitOwnAsWritten ? device : nil)
            }
            // The last page ends at the head: every record up to it has been sent.
            let cursor = page.hasMore ? page.changes.last!.version : max(log.head, pull.after)
            return .pullResponse(PullResponse(space: pull.space, changes: page.changes, cursor: cursor, hasMore: page.hasMore, head: log.head))

        default:
            return .error(ErrorResponse(code: "wrong_message", message: "the simulated server takes push and pull requests only"))
        }
    }
}
