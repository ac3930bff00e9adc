import Foundation
import SatchelTestSupport
import Testing

/// The permission bits of `path` (0o600 and the like).
func permissions(_ path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
}

/// The server's data stays its operator's: private files, and an operator token that can be
/// given without showing in `ps`.
@Suite(.serialized) struct PrivateDataTests {
    @Test func theDataDirectoryAndEveryFileInItAreTheOwnersOnlyEvenIfMadeLooserBefore() async throws {
        let dir = TemporaryDirectory()
        let data = dir.file("data")
        try await ServerProcess.run(["space", "create", "mission", "--data", data])
        #expect(try permissions(data) == 0o700)
        #expect(try permissions(data + "/satchel.sqlite") == 0o600)

        // Loosened by hand (or left so by an older version): serving tightens it again.
        chmod(data, 0o755)
        chmod(data + "/satchel.sqlite", 0o644)
        let server = try await ServerProcess(data: data)
        defer { _ = server.terminate() }
        #expect(try permissions(data) == 0o700)
        for name in ["satchel.sqlite", "satchel.sqlite-wal", "satchel.sqlite-shm", "satchel.lock"] {
            let bits = try permissions(data + "/" + name)
            #expect(bits == 0o600, "\(name) has mode \(String(bits, radix: 8))")
        }
        // A backup holds everything the database does.
        try await ServerProcess.run(["backup", dir.file("nightly.sqlite"), "--data", data])
        #expect(try permissions(dir.file("nightly.sqlite")) == 0o600)
    }

    @Test func theOperatorTokenComesFromAFileStdinOrTheEnvironmentNotOnlyTheCommandLine() async throws {
        let s = try await AdminTests.Setup()
        defer { s.server.terminate() }
        let list = ["device", "list", "--server", s.server.url, "--json"]
        let tokenFile = s.dir.file("operator-token")
        FileManager.default.createFile(atPath: tokenFile, contents: Data((s.token + "\n").utf8), attributes: [.posixPermissions: 0o600])

        for output in [
            try await ServerProcess.run(list + ["--token-file", tokenFile]),
            try await ServerProcess.run(list + ["--token-file", "-"], stdin: s.token + "\n"),
            try await ServerProcess.run(list, environment: ["SATCHEL_OPERATOR_TOKEN": s.token]),
        ] {
            let devices = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]]
            #expect(devices?.first?["label"] as? String == "ana-phone")
        }
        await #expect(throws: (any Error).self) { try await ServerProcess.run(list + ["--token-file", s.dir.file("missing")]) }
        await #expect(throws: (any Error).self) { try await ServerProcess.run(list) }
    }
}
