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

            Example:
              satchel join https://sync.example.org K7QM-4TZP-XW2H --label ana-laptop
              satchel join https://sync.example.org K7QM-4TZP-XW2H --ca-file mission-ca.pem
              satchel join --again https://sync.example.org Q3MX-8RTV-7KHD
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The server's address, e.g. https://sync.example.org.") var url: String
    @Argument(help: "The enrollment code your operator gave you.") var code: String
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
        if code.trimmingCharacters(in: .whitespaces).isEmpty { throw UsageError("give the enrollment code from your operator, e.g. K7QM-4TZP-XW2H") }
        if let label, label.trimmingCharacters(in: .whitespaces).isEmpty { throw UsageError("--label needs a name, e.g. --label ana-laptop") }
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw UsageError("cannot read the CA file '\(caFile)'; check the path your operator gave you")
        }
    }

    func run() async throws {
        let label = self.label ?? Self.hostName()
        let (device, user) = try await global.withClient { client in
            do {
                return try await client.join(url: url, code: code.trimmingCharacters(in: .whitespaces), label: label, caFile: caFile, again: again)
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
