import ArgumentParser
import Foundation
import SatchelProtocol
import SatchelServer
import SatchelServerCore
import SatchelServerSQLite

/// What `make run` does before serving: makes sure there is a space and a user to sync with and
/// prints a fresh code for a first device. Safe to run again: it only adds what is missing.
struct Quickstart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prepare a data directory for a first device and print how to join.",
        discussion: """
            Creates space 'field-notes' and user 'field' (a writer of it) if missing, and prints a
            new 24-hour enrollment code.

            Example:
              satchel-server quickstart --data ./satchel-data --url http://127.0.0.1:8080
            """)
    @OptionGroup var common: CommonOptions
    @Option(help: "The URL devices will use to reach the server.") var url = "http://127.0.0.1:8080"

    func run() async throws {
        let store = try await common.openStore()
        let space: SpaceID = "field-notes", user: UserID = "field"
        let now = nowMillis()
        if try await !store.allSpaces().contains(space) { try await store.createSpace(space, now: now) }
        do { try await store.createUser(user, now: now) } catch let e as StoreError where e.code == .userExists {}
        try await store.setRole(.writer, user: user, space: space)
        var rng = SystemRandomNumberGenerator()
        let code = Credentials.newEnrollmentCode(using: &rng)
        try await store.createEnrollment(codeHash: Credentials.hash(code: code), user: user, label: nil, expiresAt: now + 86_400_000, now: now)
        await store.close()
        emit(common, text: """
            Satchel is ready for a first device.
              space: \(space)   user: \(user) (writer)
              join from a device with:  satchel join \(url) \(code)
              (the code works once, for 24 hours; make more with `satchel-server enroll --user \(user)`)
            """, json: ["space": space.rawValue, "user": user.rawValue, "code": code, "url": url])
    }
}
