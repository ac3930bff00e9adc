import Foundation
import SatchelTestSupport
import Testing

/// The enrollment code can be given without it showing in the process list, and a joined
/// device's home is its owner's only.
@Suite(.serialized) struct CLISecretsTests {
    @Test func joinTakesTheCodeFromStdinOrTheEnvironmentAndKeepsTheHomePrivate() async throws {
        let world = try await ServerWorld(users: ["ana"], roles: ServerWorld.missionAndBriefing)
        defer { world.server.terminate() }

        let piped = CLIDevice(home: world.dir.file("piped"))
        let code = try await world.enrollmentCode(for: "ana")
        let joined = try await piped.ok("join", world.server.url, "-", "--label", "piped", stdin: code + "\n")
        #expect(joined.stdout.contains("joined \(world.server.url)"))
        try await piped.ok("sync")
        #expect(try permissions(piped.home) == 0o700)
        #expect(try permissions(piped.home + "/satchel.sqlite") == 0o600)

        let fromEnvironment = CLIDevice(home: world.dir.file("env"))
        let second = try await world.enrollmentCode(for: "ana")
        try await fromEnvironment.ok(["join", world.server.url, "--label", "env"], environment: ["SATCHEL_ENROLL_CODE": second])
        try await fromEnvironment.ok("sync")

        // Nothing on stdin, or no code anywhere: a usage error that says how to give one.
        let empty = try await CLIDevice(home: world.dir.file("empty")).run("join", world.server.url, "-", stdin: "")
        #expect(empty.status == 1, "\(empty)")
        #expect(empty.stderr.contains("no enrollment code on stdin"), "\(empty)")
        let none = try await CLIDevice(home: world.dir.file("none")).run("join", world.server.url)
        #expect(none.status == 1, "\(none)")
        #expect(none.stderr.contains("SATCHEL_ENROLL_CODE"), "\(none)")
    }
}
