import Foundation
import SatchelClient
import SatchelTestSupport
import Testing

/// The permission bits of `path` (0o600 and the like).
func permissions(_ path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
}

/// A device's home holds its token and notes: readable by its owner only.
@Suite struct PrivateHomeTests {
    @Test func aNewHomeIsTheOwnersOnlyWithItsDatabaseAndSQLiteFiles() async throws {
        let dir = TemporaryDirectory()
        let home = dir.file("home")
        let client = try SatchelClient(directory: home)
        try await client.setCredentials(url: "http://127.0.0.1:9", device: "d-private", user: "ana", token: "sat_secret")
        _ = try await client.createNote(space: "mission", title: "private")
        #expect(try permissions(home) == 0o700)
        // While the store is open its -wal and -shm files exist; all are the owner's only.
        for name in ["satchel.sqlite", "satchel.sqlite-wal", "satchel.sqlite-shm"] {
            let file = (home as NSString).appendingPathComponent(name)
            let bits = try permissions(file)
            #expect(bits == 0o600, "\(name) has mode \(String(bits, radix: 8))")
        }
        await client.close()
    }

    @Test func anExistingHomeWithLooserModesIsTightenedWhenOpened() async throws {
        let dir = TemporaryDirectory()
        let home = dir.file("home")
        try await SatchelClient(directory: home).close()
        // As an older version (or a careless copy) left it: readable by everyone.
        chmod(home, 0o755)
        chmod((home as NSString).appendingPathComponent("satchel.sqlite"), 0o644)
        let client = try SatchelClient(directory: home)
        #expect(try permissions(home) == 0o700)
        #expect(try permissions((home as NSString).appendingPathComponent("satchel.sqlite")) == 0o600)
        await client.close()
    }
}
