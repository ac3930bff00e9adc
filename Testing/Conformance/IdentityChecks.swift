import SatchelProtocol
import SatchelServerCore

/// Spaces, users, memberships, enrollment and devices (`IdentityStore`, `DeviceActivityStore`).
extension StoreConformance {
    static let identity: [Check] = [
        check("spacesUsersAndRoles", spacesUsersAndRoles),
        check("spacesEveryoneReadsAndRecordListing", spacesEveryoneReadsAndRecordListing),
        check("enrollmentCodesWorkOnceAndExpire", enrollmentCodesWorkOnceAndExpire),
        check("revokedDevicesStayKnownButMarked", revokedDevicesStayKnownButMarked),
    ]

    @Sendable static func spacesUsersAndRoles(_ db: any ConformanceDatabase) async throws {
        let store = try await seeded(db)
        try await expectThrows(.spaceExists) { try await store.createSpace("mission", now: 2) }
        try await expectThrows(.userExists) { try await store.createUser("ana", now: 2) }
        try await expectThrows(.unknownUser) { try await store.setRole(.writer, user: "nobody", space: "mission") }
        try await expectThrows(.unknownSpace) { try await store.setRole(.writer, user: "ana", space: "nowhere") }
        try expect(try await store.spaces(of: "ana").map(\.space) == ["briefing", "mission"])
        try expect(try await store.spaces(of: "ana").map(\.role) == [.reader, .writer])
        try await store.setRole(nil, user: "ana", space: "briefing")
        try expect(try await store.spaces(of: "ana").map(\.space) == ["mission"])
        try expect(try await store.allSpaces() == ["briefing", "mission"])
        await store.close()
    }

    @Sendable static func spacesEveryoneReadsAndRecordListing(_ db: any ConformanceDatabase) async throws {
        let store = try await seeded(db)
        try await store.createUser("bob", now: 1)
        try expect(try await store.spaces(of: "bob").isEmpty)
        try await store.setEveryoneReads("briefing", true)
        try expect(try await store.spaces(of: "bob").map(\.space) == ["briefing"])
        try expect(try await store.spaces(of: "bob").map(\.role) == [.reader])
        // An explicit membership still wins.
        try await store.setRole(.owner, user: "bob", space: "briefing")
        try expect(try await store.spaces(of: "bob").map(\.role) == [.owner])
        var w = DeviceWriter("d-1")
        _ = try await store.push([w.createNote("n1"), w.createNote("n2"), w.createNote("b1", space: "briefing")])
        try expect(Set(try await store.records(in: "mission", collection: .notes).keys.map(\.record)) == ["n1", "n2"])
        await store.close()
    }

    @Sendable static func enrollmentCodesWorkOnceAndExpire(_ db: any ConformanceDatabase) async throws {
        let store = try await seeded(db)
        try await store.createEnrollment(codeHash: [1, 2, 3], user: "ana", label: "ana-laptop", expiresAt: 1000, now: 10)
        let device = try await store.redeemEnrollment(codeHash: [1, 2, 3], device: "d-1", label: nil, tokenHash: [9, 9], client: "test/1", now: 20)
        try expect(device.user == "ana" && device.label == "ana-laptop")
        try await expectThrows(.enrollmentUsed) { try await store.redeemEnrollment(codeHash: [1, 2, 3], device: "d-2", label: nil, tokenHash: [8], client: nil, now: 30) }
        try await store.createEnrollment(codeHash: [4], user: "ana", label: nil, expiresAt: 100, now: 10)
        try await expectThrows(.enrollmentExpired) { try await store.redeemEnrollment(codeHash: [4], device: "d-3", label: nil, tokenHash: [7], client: nil, now: 100) }
        try await expectThrows(.enrollmentInvalid) { try await store.redeemEnrollment(codeHash: [5], device: "d-4", label: nil, tokenHash: [6], client: nil, now: 10) }
        try await expectThrows(.unknownUser) { try await store.createEnrollment(codeHash: [6], user: "ghost", label: nil, expiresAt: 100, now: 10) }
        try expect(try await store.device(tokenHash: [9, 9])?.id == "d-1")
        try expect(try await store.device(tokenHash: [8]) == nil)
        await store.close()
    }

    @Sendable static func revokedDevicesStayKnownButMarked(_ db: any ConformanceDatabase) async throws {
        let store = try await seeded(db)
        try await store.createEnrollment(codeHash: [1], user: "ana", label: nil, expiresAt: 1000, now: 10)
        _ = try await store.redeemEnrollment(codeHash: [1], device: "d-1", label: "x", tokenHash: [2], client: nil, now: 20)
        try await store.touch("d-1", client: "satchel-cli/0.2", now: 50)
        try expect(try await store.device("d-1")?.lastSeenAt == 50)
        try expect(try await store.device("d-1")?.client == "satchel-cli/0.2")
        try expect(try await store.device(tokenHash: [2])?.lastSeenAt == 50)
        try expect(try await store.devices(of: "ana").map(\.lastSeenAt) == [50])
        // An older note never moves it back, before or after it is written.
        try await store.touch("d-1", client: nil, now: 52)
        try await store.touch("d-1", client: nil, now: 40)
        try expect(try await store.device("d-1")?.lastSeenAt == 52)
        try expect(try await store.device("d-1")?.client == "satchel-cli/0.2")
        try await store.touch("d-1", client: nil, now: 40)
        try expect(try await store.devices(of: "ana").map(\.lastSeenAt) == [52])
        try await store.touch("d-1", client: nil, now: 55)
        try await store.revoke("d-1", now: 60)
        try expect(try await store.device(tokenHash: [2])?.revokedAt == 60)
        try expect(try await store.device(tokenHash: [2])?.userDisabled == false)
        try await store.disableUser("ana", now: 70)
        try expect(try await store.device(tokenHash: [2])?.userDisabled == true)
        try await expectThrows(.unknownDevice) { try await store.revoke("d-nope", now: 60) }
        // Noted last-seen times are written by the time the store closes.
        await store.close()
        let reopened = try await db.open()
        try expect(try await reopened.device("d-1")?.lastSeenAt == 55)
        try expect(try await reopened.device("d-1")?.client == "satchel-cli/0.2")
        await reopened.close()
    }
}
