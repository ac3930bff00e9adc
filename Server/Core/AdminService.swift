import Foundation
public import SatchelProtocol

/// A device as the admin API and `satchel-server device …` show it.
public struct AdminDevice: Codable, Hashable, Sendable {
    public var id: String
    public var user: String
    public var label: String
    public var client: String?
    public var firstSeen: String
    public var lastSeen: String?
    public var revokedAt: String?
    /// "active", "revoked" or "user disabled".
    public var status: String
}

/// The per-device view: why a device has not synced, what it has not pulled, what was refused.
public struct AdminDeviceDetail: Codable, Hashable, Sendable {
    public struct Space: Codable, Hashable, Sendable {
        public var space: String
        public var cursor: Int64
        public var notYetPulled: Int
        public var lastPull: String?
    }
    public struct Rejection: Codable, Hashable, Sendable {
        public var mutation: String
        public var code: String
        public var message: String
    }
    public var device: AdminDevice
    public var lastSuccessfulSync: String?
    public var spaces: [Space]
    public var rejected: [Rejection]
    public var openConflicts: [String]
}

public struct AdminUser: Codable, Hashable, Sendable {
    public var id: String
    public var added: String
    public var disabledAt: String?
    public var devices: Int
}

public struct AdminSpace: Codable, Hashable, Sendable {
    public var id: String
    public var head: Int64
    public var horizon: Int64
}

/// Operator actions, used by the admin HTTP API and by the local `satchel-server` commands alike.
public struct AdminService: Sendable {
    public let store: any ServerStore
    let now: @Sendable () -> Timestamp

    /// Live devices hear of what these actions change through the store's feed, whichever
    /// server (or operator command) runs them.
    public init(store: any ServerStore, now: @escaping @Sendable () -> Timestamp) {
        self.store = store
        self.now = now
    }

    static func iso(_ millis: Timestamp?) -> String? {
        millis.map { ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double($0) / 1000)) }
    }

    func summary(_ d: DeviceInfo) -> AdminDevice {
        AdminDevice(
            id: d.id.rawValue, user: d.user.rawValue, label: d.label, client: d.client, firstSeen: Self.iso(d.createdAt)!,
            lastSeen: Self.iso(d.lastSeenAt), revokedAt: Self.iso(d.revokedAt),
            status: d.revokedAt != nil ? "revoked" : d.userDisabled ? "user disabled" : "active")
    }

    public func devices(user: UserID?) async throws -> [AdminDevice] {
        try await store.devices(of: user).map(summary)
    }

    public func device(_ id: DeviceID) async throws -> AdminDeviceDetail {
        guard let info = try await store.device(id) else {
            throw StoreError(.unknownDevice, "device '\(id)' does not exist; `satchel-server device list` shows the devices")
        }
        let activity = try await store.activity(of: id)
        return AdminDeviceDetail(
            device: summary(info),
            lastSuccessfulSync: Self.iso(activity.spaces.compactMap(\.pulledAt).max()),
            spaces: activity.spaces.map { .init(space: $0.space.rawValue, cursor: $0.cursor, notYetPulled: $0.behind, lastPull: Self.iso($0.pulledAt)) },
            rejected: activity.rejected.map { .init(mutation: $0.mutation.rawValue, code: $0.rejection?.code.rawValue ?? "", message: $0.rejection?.message ?? "") },
            openConflicts: activity.openConflicts.map(\.description))
    }

    /// Revokes a device: its next request is refused and its live connection closes at once.
    public func revoke(_ id: DeviceID) async throws -> AdminDevice {
        // The store's feed closes its live connections, on every server of the database.
        try await store.revoke(id, now: now())
        guard let info = try await store.device(id) else { throw StoreError(.unknownDevice, "device '\(id)' vanished") }
        return summary(info)
    }

    public func users() async throws -> [AdminUser] {
        let devices = try await store.devices(of: nil)
        return try await store.users().map { u in
            AdminUser(id: u.id.rawValue, added: Self.iso(u.createdAt)!, disabledAt: Self.iso(u.disabledAt), devices: devices.filter { $0.user == u.id }.count)
        }
    }

    /// Disables a user: every device of theirs is refused and disconnected.
    public func disable(_ user: UserID) async throws -> AdminUser {
        try await store.disableUser(user, now: now())
        guard let u = try await users().first(where: { $0.id == user.rawValue }) else { throw StoreError(.unknownUser, "user '\(user)' vanished") }
        return u
    }

    public func spaces() async throws -> [AdminSpace] {
        var out: [AdminSpace] = []
        for s in try await store.allSpaces() {
            let (head, horizon) = try await store.head(of: s)
            out.append(AdminSpace(id: s.rawValue, head: head, horizon: horizon))
        }
        return out
    }
}
