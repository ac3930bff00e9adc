import ArgumentParser
import Foundation
import SatchelClient
import SatchelProtocol

/// Options every command takes: where the device's data is, and whether to print JSON.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The device's data folder. [env: SATCHEL_HOME] (default: $XDG_DATA_HOME/satchel or ~/.local/share/satchel)",
            valueName: "dir"))
    var home: String?

    @Flag(name: .long, help: "Print stable JSON (sorted keys) instead of text.")
    var json = false

    @Flag(name: .long, help: "Times in UTC instead of this computer's time zone (JSON is always UTC).")
    var utc = false

    func validate() throws {
        if let home, home.isEmpty { throw UsageError("--home needs a folder; leave it out to use the default") }
    }

    /// --home, then $SATCHEL_HOME, then $XDG_DATA_HOME/satchel, then ~/.local/share/satchel.
    var homeDirectory: String {
        let env = ProcessInfo.processInfo.environment
        if let home { return (home as NSString).expandingTildeInPath }
        if let home = env["SATCHEL_HOME"], !home.isEmpty { return (home as NSString).expandingTildeInPath }
        if let xdg = env["XDG_DATA_HOME"], xdg.hasPrefix("/") { return (xdg as NSString).appendingPathComponent("satchel") }
        return (NSHomeDirectory() as NSString).appendingPathComponent(".local/share/satchel")
    }

    /// Opens the device's store, runs `body` and closes the store whether `body` throws or not.
    func withClient<T>(_ body: (SatchelClient) async throws -> T) async throws -> T {
        let client: SatchelClient
        do {
            client = try SatchelClient(directory: homeDirectory)
        } catch {
            throw CLIError(.local, "cannot open the device's data in '\(homeDirectory)' (\(error)); check --home or $SATCHEL_HOME")
        }
        do {
            let result = try await body(client)
            await client.close()
            return result
        } catch {
            await client.close()
            throw error
        }
    }
}

/// Parses an identifier argument, with the library's message on failure (exit 1).
func parseID<Kind>(_ type: Identifier<Kind>.Type, _ raw: String) throws -> Identifier<Kind> {
    do {
        return try Identifier<Kind>(raw)
    } catch {
        throw UsageError(error.message)
    }
}

extension SatchelClient {
    /// The record `id` (or an unambiguous prefix of 4+ characters) names.
    func lookup(_ id: String) throws -> RecordKey {
        do {
            return try find(id)
        } catch let error as ClientError where error.code == "not_found" && id.count < 4 {
            throw CLIError(.notFound, "no record '\(id)' on this device; give the whole id or at least 4 characters of it")
        }
    }

    /// The deleted note `id` (or an unambiguous prefix) names.
    func findDeleted(_ id: String) throws -> RecordKey {
        let key: RecordKey
        do {
            key = try find(id, deleted: true)
        } catch let error as ClientError where error.code == "not_found" {
            if let live = try? find(id), live.collection == .notes {
                throw CLIError(.usage, "note \(live.record) is not deleted; nothing to restore")
            }
            throw CLIError(.notFound, "no deleted note '\(id)' on this device; give the id `satchel note rm` printed (at least 4 characters of it)")
        }
        guard key.collection == .notes else {
            throw CLIError(.notFound, "'\(id)' is \(CollectionNoun.withArticle(key.collection)), not a note; only notes can be restored")
        }
        return key
    }

    /// The record `id` (or an unambiguous prefix) names, which must be in `collection`.
    func find(_ id: String, in collection: CollectionName, noun: String) throws -> RecordKey {
        let key = try lookup(id)
        guard key.collection == collection else {
            throw CLIError(.notFound, "'\(id)' is \(CollectionNoun.withArticle(key.collection)), not \(noun); `satchel show \(id)` shows any record")
        }
        return key
    }
}

enum CollectionNoun {
    static func of(_ c: CollectionName) -> String {
        switch c {
        case .notes: "note"
        case .entries: "entry"
        case .conflicts: "conflict"
        default: c.rawValue
        }
    }

    static func withArticle(_ c: CollectionName) -> String {
        switch c {
        case .notes: "a note"
        case .entries: "a briefing entry"
        case .conflicts: "a conflict"
        default: "a record of '\(c.rawValue)'"
        }
    }
}
