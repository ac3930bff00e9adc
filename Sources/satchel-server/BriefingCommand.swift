import ArgumentParser
import Foundation
import SatchelProtocol
import SatchelServer
import SatchelServerCore
import SatchelServerSQLite
import SatchelBriefing

struct BriefingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "briefing", abstract: "Manage the mission briefing (read-only reference data).",
        subcommands: [Load.self])

    struct Load: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load the briefing dataset into the 'briefing' space, which every user can read.",
            discussion: """
                Loading again applies only what changed (new, changed and removed entries), as
                ordinary changes that sync to every device. Devices can never change the briefing.

                Examples:
                  satchel-server briefing load                          # Data/china-briefing.json
                  satchel-server briefing load updated-briefing.json --data /var/lib/satchel
                """)
        @OptionGroup var common: CommonOptions
        @Argument(help: "The dataset file (JSON, see Data/README.md).") var file: String?

        func run() async throws {
            let path = file ?? Self.defaultDataset()
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw ValidationError("cannot read '\(path)'; give the dataset file, e.g. satchel-server briefing load Data/china-briefing.json")
            }
            let store = try await common.openStore()
            let report: Briefing.LoadReport
            do {
                report = try await Briefing.load(path, into: store, now: nowMillis())
            } catch let error as SatchelProtocol.Rejection {
                await store.close()
                FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
                throw ExitCode(1)
            }
            await store.close()
            emit(common, text: "briefing: \(report.entries) entries (\(report.created) new, \(report.changed) changed, \(report.removed) removed); space '\(Briefing.space)' is at version \(report.head)",
                 json: ["entries": report.entries, "created": report.created, "changed": report.changed, "removed": report.removed, "version": report.head, "space": Briefing.space.rawValue])
        }

        /// `Data/china-briefing.json` in the working directory, else next to the sources this was built from.
        static func defaultDataset() -> String {
            let local = "Data/china-briefing.json"
            if FileManager.default.fileExists(atPath: local) { return local }
            return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(local).path
        }
    }
}
