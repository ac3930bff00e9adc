public import Logging
public import SatchelProtocol
import Synchronization

/// The server's request handling without HTTP: authentication, access control, limits, and the
/// calls into the store. The HTTP edge (`HTTPAPI`) decodes requests, calls this, encodes replies.
public final class SyncService: Sendable {
    public let store: any ServerStore
    public let limits: Limits
    /// Bulk pushes decoded and applied at once (see `Admission`); more would share no commit
    /// that these do not already fill.
    let pushAdmission = Admission(limit: 16)
    public let live: LiveHub
    public let serverName: String
    public let metrics: ServerMetrics
    public let snapshots: SnapshotCache
    /// Spaces with a page's worth of new changes for the snapshot cache.
    let snapshotWork = AsyncStream<SpaceID>.makeStream(bufferingPolicy: .bufferingNewest(64))
    public let logger: Logger
    let clock: Mutex<HybridLogicalClock>
    /// Physical time in milliseconds; injected so tests control it.
    public let now: @Sendable () -> Timestamp

    public init(store: any ServerStore, limits: Limits = .default, live: LiveHub = LiveHub(), metrics: ServerMetrics = ServerMetrics(), snapshots: SnapshotCache = SnapshotCache(), serverName: String = "satchel-server/0.1.0", logger: Logger, now: @escaping @Sendable () -> Timestamp) {
        self.store = store
        self.metrics = metrics
        self.snapshots = snapshots
        self.limits = limits
        self.live = live
        self.serverName = serverName
        self.logger = logger
        self.now = now
        self.clock = Mutex(HybridLogicalClock(maxSkewMillis: limits.maxClockSkewMillis))
    }

    // MARK: authentication

    /// The device behind an `Authorization: Bearer` header; refuses missing, unknown and revoked tokens.
    public func authenticate(authorization: String?) async throws -> DeviceInfo {
        // The scheme name is case-insensitive (RFC 9110 §11.1).
        guard let authorization, authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else { throw APIError.tokenMissing() }
        let token = String(authorization.dropFirst(7)).trimmingSpaces
        guard token.hasPrefix("sat_"), token.utf8.count < 100 else { throw APIError.tokenInvalid() }
        let hash = Credentials.hash(token: token)
        guard let device = try await store.device(tokenHash: hash) else { throw APIError.tokenInvalid() }
        if device.revokedAt != nil {
            throw APIError(code: "token_revoked", Self.revokedMessage(device))
        }
        if device.userDisabled {
            throw APIError(code: "user_disabled", "user '\(device.user)' was disabled by an operator; ask your operator")
        }
        return device
    }

    static func revokedMessage(_ device: DeviceInfo) -> String {
        "device '\(device.label)' was revoked on \(date(device.revokedAt ?? 0)); ask your operator to enroll it again"
    }

    /// The operator behind an `Authorization: Bearer sop_…` header.
    public func authenticateOperator(authorization: String?) async throws -> String {
        guard let authorization, authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else {
            throw APIError(code: "operator_token_missing", "the admin API needs an operator token: `Authorization: Bearer sop_…` (make one with `satchel-server operator-token create`)")
        }
        let token = String(authorization.dropFirst(7)).trimmingSpaces
        guard token.hasPrefix("sop_"), token.utf8.count < 100, let label = try await store.operatorToken(hash: Credentials.hash(token: token)) else {
            throw APIError(code: "operator_token_invalid", "the operator token is not valid on this server")
        }
        return label
    }

    /// Exchanges an enrollment code for a new device and its token (shown once, stored hashed).
    public func enroll(code: String, label: String?, client: String?) async throws -> (device: DeviceInfo, token: String) {
        var rng = SystemRandomNumberGenerator()
        return try await enroll(code: code, label: label, client: client, using: &rng)
    }

    /// Enrolls with the token and device id drawn from `rng` (the simulation's seeded one).
    public func enroll(code: String, label: String?, client: String?, using rng: inout some RandomNumberGenerator) async throws -> (device: DeviceInfo, token: String) {
        let token = Credentials.newToken(using: &rng)
        let id = DeviceID(unchecked: "d-" + DeviceID.random(using: &rng).rawValue)
        let label = label.map { String($0.prefix(100)) }
        // The store's refusals (`enrollment_invalid`, `_used`, `_expired`) get their statuses
        // from `ErrorStatus` at the edge, like every other error.
        let device = try await store.redeemEnrollment(
            codeHash: Credentials.hash(code: code), device: id, label: label, tokenHash: Credentials.hash(token: token),
            client: client.map { String($0.prefix(100)) }, now: now())
        logger.info("device enrolled", metadata: ["device": "\(device.id)", "user": "\(device.user)"])
        return (device, token)
    }

    // MARK: sync

    public func hello(_ request: HelloRequest, device: DeviceInfo) async throws -> HelloResponse {
        guard request.protocolVersion == satchelProtocolVersion else {
            throw APIError(
                code: "unsupported_protocol_version",
                "this server speaks protocol version \(satchelProtocolVersion), the client \(request.protocolVersion); update the client")
        }
        // Last-seen needs minute precision, not a durable write (an fsync) on every sync.
        let client = String(request.client.prefix(100)), physical = now()
        if device.client != client || (device.lastSeenAt ?? 0) < physical - 60_000 {
            try await store.touch(device.id, client: client, now: physical)
        }
        // Only to clients that ask: older ones refuse bytes after the spaces.
        let writes = request.features.contains(SatchelFeature.deviceState) ? try await store.writeState(of: device.id) : nil
        return HelloResponse(
            server: serverName, device: device.id, user: device.user, limits: limits, serverTime: now(),
            spaces: try await store.spaces(of: device.user), deviceState: writes)
    }

    public func push(_ request: PushRequest, device: DeviceInfo) async throws -> PushResponse {
        guard request.mutations.count <= limits.maxMutationsPerPush else {
            throw APIError(
                code: "too_many_mutations",
                "\(request.mutations.count) mutations in one push; this server takes at most \(limits.maxMutationsPerPush), so split the batch")
        }
        let access = Dictionary(uniqueKeysWithValues: try await store.spaces(of: device.user).map { ($0.space, $0.role) })
        let physical = now()
        var results = [MutationResult?](repeating: nil, count: request.mutations.count)
        var accepted: [(index: Int, mutation: Mutation)] = []
        for (i, m) in request.mutations.enumerated() {
            if let refusal = refusal(of: m, device: device, access: access, physical: physical) {
                results[i] = MutationResult(mutation: m.id, status: .rejected, version: 0, rejection: refusal)
            } else {
                accepted.append((i, m))
            }
        }
        if !accepted.isEmpty {
            let stored = try await store.push(accepted.map(\.mutation))
            for (slot, result) in zip(accepted, stored) { results[slot.index] = result }
        }
        let final = results.map { $0! }
        metrics.mutations(final)
        let refused = final.filter { $0.status == .rejected }
        if !refused.isEmpty { try await store.recordRejections(refused, device: device.id, now: physical) }
        let response = clock.withLock { clock -> PushResponse in
            for m in accepted.map(\.mutation) { _ = try? clock.observe(m.clock, physicalMillis: physical) }
            return PushResponse(results: final, clock: clock.now(physicalMillis: physical), reportsAsWritten: request.reportAsWritten)
        }
        // Live devices and the snapshot cache hear of it from the store's feed.
        return response
    }

    /// Keeps the snapshot cache filled until cancelled (`SnapshotBuilder`): every space once at
    /// start, then each space that gained a page's worth of changes, off the request path.
    func buildSnapshots() async {
        do {
            for space in try await store.allSpaces() { try await snapshots.extend(space, store: store) }
            for await space in snapshotWork.stream {
                try await snapshots.waitForQuiet(space, quiet: .milliseconds(500))
                try await snapshots.extend(space, store: store)
            }
        } catch is CancellationError {
        } catch {
            logger.warning("snapshot cache stopped", metadata: ["error": "\(error)"])
        }
    }

    /// Why a mutation is refused before it reaches the store: another device's, a space the
    /// device cannot write, or a clock too far ahead.
    func refusal(of m: Mutation, device: DeviceInfo, access: [SpaceID: Role], physical: Timestamp) -> Rejection? {
        guard m.device == device.id else {
            return Rejection(.wrongDevice, "mutation \(m.id) names device '\(m.device)' but was sent by '\(device.id)'")
        }
        guard let role = access[m.key.space] else {
            return Rejection(.forbidden, "user '\(device.user)' is not a member of space '\(m.key.space)'; ask its owner or your operator for access")
        }
        guard role.canWrite else {
            return Rejection(.forbidden, "user '\(device.user)' can only read space '\(m.key.space)'; ask its owner for writer access")
        }
        do {
            try clock.withLock { try $0.checkSkew(m.clock, physicalMillis: physical) }
        } catch {
            return error as? Rejection
        }
        return nil
    }

    /// A page of changes as a PullResponse frame (a cached one for snapshot pages made before).
    public func pull(_ request: PullRequest, device: DeviceInfo) async throws -> [UInt8] {
        let spaces = try await store.spaces(of: device.user)
        guard let space = spaces.first(where: { $0.space == request.space }) else {
            throw APIError(code: "space_forbidden", "user '\(device.user)' is not a member of space '\(request.space)'")
        }
        let limit = min(max(1, request.limit), limits.maxPageSize)
        // Starting over from 0 answers an operator's request to re-bootstrap.
        let resetRequested = try await store.resetRequested(device: device.id, space: request.space, clear: request.after == 0)
        let page: EncodedPage
        switch PullPlan.plan(request, horizon: space.horizon, resetRequested: resetRequested) {
        case .expired(let message):
            throw APIError(code: "cursor_expired", message)
        case .snapshot:
            if let frame = snapshots.frame(space: request.space, after: request.after, limit: limit, horizon: space.horizon) { return frame }
            if request.after == 0 && snapshots.wrote(0, to: request.space) { snapshotWork.continuation.yield(request.space) }
            page = try await store.snapshot(space: request.space, after: request.after, limit: limit)
        case .log:
            page = try await store.pull(space: request.space, after: request.after, limit: limit, omitting: request.omitOwnAsWritten ? device.id : nil)
        }
        // The operator's per-device view needs where each pull ended, not every page of it.
        if !page.hasMore {
            try await store.recordPull(device: device.id, space: request.space, cursor: page.cursor, now: now())
        }
        return Frame.encode(payload: PullResponse.encodePayload(
            space: request.space, encodedChanges: page.encodedChanges, cursor: page.cursor, hasMore: page.hasMore, head: page.head), type: 6)
    }

    /// The spaces a device is subscribed to for live events.
    public func liveSpaces(of device: DeviceInfo) async throws -> Set<SpaceID> {
        Set(try await store.spaces(of: device.user).map(\.space))
    }

    static func date(_ millis: Timestamp) -> String {
        // ISO date without Foundation: days since epoch to y-m-d (civil-from-days).
        let days = millis / 86_400_000
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)-\(two(m))-\(two(d))"
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
