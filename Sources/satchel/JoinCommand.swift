import ArgumentParser
import Foundation
import SatchelClient

struct JoinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract: "Enroll this device with a server, using a one-time code from your operator.",
        discussion: """
            The device's credentials are stored in its data folder (--home). One folder
            joins one server; use another --home to join a second. With --again a
            device that joined before takes a new identity, keeping its unsent notes:
            when a sync says another machine uses this device's identity (a copied
            home), or after the operator revoked it and gave you a new code.

            A code given as an argument shows in the process list (`ps`) while joining: on a
            shared machine give `-` and type or pipe it in, or set SATCHEL_ENROLL_CODE.

            Example:
              satchel join https://sync.example.org K7QM-4TZP-XW2H --label ana-laptop
              satchel join https://sync.example.org - < code.txt      # the code from stdin
              SATCHEL_ENROLL_CODE=K7QM-4TZP-XW2H satchel join https://sync.example.org
              satchel join https://sync.example.org K7QM-4TZP-XW2H --ca-file mission-ca.pem
              satchel join --again https://sync.example.org Q3MX-8RTV-7KHD
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The server's address, e.g. https://sync.example.org.") var url: String
    @Argument(help: ArgumentHelp("The enrollment code your operator gave you; `-` reads it from stdin. [env: SATCHEL_ENROLL_CODE]", valueName: "code"))
    var code: String?
    @Option(help: ArgumentHelp("How operators see this device (default: this computer's host name).", valueName: "name"))
    var label: String?
    @Option(name: .customLong("ca-file"), help: ArgumentHelp("A PEM file of CA certificates to trust for this server.", valueName: "pem"))
    var caFile: String?
    @Flag(help: "Join again under a new identity, keeping unsent notes (after a copied home or a revocation).")
    var again = false

    func validate() throws {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme), parsed.host != nil else {
            throw UsageError("'\(url)' is not a server address; give it with http:// or https://, e.g. https://sync.example.org")
        }
        if let code, code.trimmingCharacters(in: .whitespaces).isEmpty { throw UsageError("give the enrollment code from your operator, e.g. K7QM-4TZP-XW2H") }
        if let label, label.trimmingCharacters(in: .whitespaces).isEmpty { throw UsageError("--label needs a name, e.g. --label ana-laptop") }
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw UsageError("cannot read the CA file '\(caFile)'; check the path your operator gave you")
        }
    }

    /// The code from the argument, stdin (`-`) or SATCHEL_ENROLL_CODE.
    func enrollmentCode() throws -> String {
        let given: String?
        switch code {
        case "-":
            given = readLine(strippingNewline: true)
        case nil:
            given = ProcessInfo.processInfo.environment["SATCHEL_ENROLL_CODE"]
        case let code?:
            given = code
        }
        guard let trimmed = given?.trimmingCharacters(in: .whitespaces), !trimmed.isEmpty else {
            throw UsageError(code == "-"
                ? "no enrollment code on stdin; type or pipe in the code from your operator, e.g. `satchel join URL - < code.txt`"
                : "give the enrollment code from your operator: as an argument, `-` to read it from stdin, or in SATCHEL_ENROLL_CODE")
        }
        return trimmed
    }

    func run() async throws {
        let label = self.label ?? Self.hostName()
        let code = try enrollmentCode()
        let (device, user) = try await global.withClient { client in
            do {
                return try await client.join(url: url, code: code, label: label, caFile: caFile, again: again)
            } catch let error as TransportError where error.kind == .offline {
                // The library words this for sync ("your changes are kept"); joining has none.
                let reason = error.message.components(separatedBy: "; your changes").first ?? error.message
                throw CLIError(.offline, "\(reason); check the address and the connection, then run `satchel join` again (the code was not used up)")
            }
        }
        if global.json {
            Output.json(.object(["server": .string(url), "device": .string(device.rawValue), "user": .string(user.rawValue), "label": .string(label)]))
        } else {
            Output.line("joined \(url) as device \(device) (user \(user), label \(label))")
            Output.line("next: `satchel sync` fetches your spaces")
        }
    }

    static func hostName() -> String {
        let name = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? ""
        return name.isEmpty || name == "localhost" ? "satchel-device" : name
    }
}
