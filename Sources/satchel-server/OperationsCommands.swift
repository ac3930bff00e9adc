import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import SatchelProtocol
import SatchelServer
import SatchelServerCore
import SatchelServerSQLite
import SatchelServerPostgres

struct Compact: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drop change history and tombstones older than the retention period.",
        discussion: """
            Each space keeps its change log from its horizon on. Compacting moves the horizon to
            the newest change written more than --older-than ago and drops the changes, tombstones
            and merge bases before it. Devices that last synced before the new horizon pull the
            space again from a snapshot on their next sync; their unsent notes stay and are sent.

            Examples:
              satchel-server compact --dry-run              # what 30 days of retention would drop
              satchel-server compact --older-than 7d --space mission-cn-2026
              satchel-server compact --server https://sync.example.org --json
            """)
    @OptionGroup var common: CommonOptions
    @OptionGroup var target: TargetOptions
    @Option(help: ArgumentHelp("Keep changes written within this period (s, m, h or d; 0s keeps none).", valueName: "duration"))
    var olderThan = "30d"
    @Option(help: "Only this space (default: every space).") var space: String?
    @Flag(help: "Report what would be dropped; change nothing.") var dryRun = false

    func run() async throws {
        let retention = try parseDuration(olderThan, allowZero: true)
        let reports: [CompactionReport]
        if target.server != nil {
            var query = "older-than-ms=\(retention)&dry-run=\(dryRun)"
            if let space { query += "&space=\(space)" }
            reports = try await target.remote("POST", "/v1/admin/compact?\(query)", as: [CompactionReport].self)
        } else {
            let s = try space.map { try parseID(SpaceID.self, $0) }
            reports = try await local(common) { try await $0.compact(space: s, olderThan: retention, dryRun: dryRun) }
        }
        if common.json { return printJSON(reports) }
        let verb = dryRun ? "would drop" : "dropped"
        for r in reports {
            print("\(r.space): history from version \(r.previousHorizon) → \(r.horizon); \(verb) \(r.changes) changes, \(r.tombstones) tombstones, \(r.history) merge bases")
        }
        if dryRun { print("(dry run: nothing changed)") }
    }
}

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent copy of the server's database to FILE while it keeps serving.",
        discussion: """
            The copy is one snapshot (SQLite VACUUM INTO): writes made while it runs are either
            all in it or not at all. Through --server the server makes the copy and streams it.

            Examples:
              satchel-server backup /var/backups/satchel-$(date +%F).sqlite
              satchel-server backup nightly.sqlite --server https://sync.example.org
            """)
    @OptionGroup var common: CommonOptions
    @OptionGroup var target: TargetOptions
    @Argument(help: "The file to write; it must not exist.") var file: String

    func run() async throws {
        guard !FileManager.default.fileExists(atPath: file) else {
            throw ValidationError("'\(file)' already exists; choose a new file name")
        }
        if target.server != nil {
            try await target.download("/v1/admin/backup", to: file)
        } else {
            if let url = try common.databaseURL() { refuseFileCopy("backup", url) }
            let store = try await common.openStore()
            defer { Task { await store.close() } }
            guard let files = store as? any FileBackedStore else { fail("this store is not kept in files; back it up with its database's own tools") }
            try await operatorAction { try await files.backup(to: file) }
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        emit(common, text: "backup written to \(file) (\(size) bytes)", json: ["file": file, "bytes": size])
    }
}

struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replace the data directory's database with a backup (the server must be stopped).",
        discussion: """
            Checks the backup (integrity, that it is a Satchel database, schema version), keeps
            the current database as satchel.sqlite.before-restore-<time>, and puts the backup in
            place. Every device then pulls its spaces again on its next sync, keeping its unsent
            notes: changes made after the backup was taken are gone from the server unless a
            device still has them unsent.

            On PostgreSQL (--database) the database is restored with pg_restore, and then
            `restore --after-pg-restore` tells every device to pull again.

            Examples:
              satchel-server restore /var/backups/satchel-2026-11-28.sqlite --data /var/lib/satchel
              satchel-server restore --after-pg-restore --database postgres://satchel@db:5432/satchel
            """)
    @OptionGroup var common: CommonOptions
    @Argument(help: "A file made by `satchel-server backup`.") var file: String?
    @Flag(name: .customLong("after-pg-restore"), help: "With --database: the database was just restored with pg_restore; make every device pull every space again.")
    var afterPGRestore = false

    func run() async throws {
        if let url = try common.databaseURL() {
            guard afterPGRestore, file == nil else { refuseFileCopy("restore", url) }
            let store = try await common.openStore()
            guard let postgres = store as? PostgresServerStore else { fail("--after-pg-restore is for a PostgreSQL database") }
            let devices = try await operatorAction { try await postgres.requestResetEverywhere(now: nowMillis()) }
            await store.close()
            return emit(common, text: "\(devices) devices will pull their spaces again on their next sync", json: ["devicesToRebootstrap": devices])
        }
        guard let file, !afterPGRestore else {
            throw ValidationError(afterPGRestore ? "--after-pg-restore needs --database (a PostgreSQL URL)" : "name the backup file to restore")
        }
        let configuration = ServerConfiguration(dataDirectory: try common.dataDirectory())
        let report = try await operatorAction { try await SatchelServerSQLite.Restore.restore(backup: file, intoDataDirectory: configuration.dataDirectory, now: nowMillis()) }
        if common.json { return printJSON(report) }
        print("restored \(configuration.databasePath) from \(file)")
        if let kept = report.previousKeptAt { print("the replaced database is kept at \(kept)") }
        print("\(report.devicesToRebootstrap) devices will pull their spaces again on their next sync")
    }
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every record of a space as JSON.",
        discussion: """
            Records that are deleted are left out. Timestamps are ISO 8601; sets are arrays.

            Examples:
              satchel-server export --space mission-cn-2026 > mission.json
              satchel-server export --space briefing --output briefing.json --server https://sync.example.org
            """)
    @OptionGroup var common: CommonOptions
    @OptionGroup var target: TargetOptions
    @Option(help: "The space to export.") var space: String
    @Option(help: "Write to this file instead of standard output.") var output: String?

    func run() async throws {
        let export: SpaceExport
        if target.server != nil {
            _ = try parseID(SpaceID.self, space)
            export = try await target.remote("GET", "/v1/admin/spaces/\(space)/export", as: SpaceExport.self)
        } else {
            let s = try parseID(SpaceID.self, space)
            export = try await local(common) { try await $0.export(s) }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let data = try encoder.encode(export)
        if let output {
            try data.write(to: URL(fileURLWithPath: output), options: .atomic)
            FileHandle.standardError.write(Data("exported \(export.records.count) records of \(export.space) to \(output)\n".utf8))
        } else {
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        }
    }
}

extension DeviceCommand {
    struct Rebootstrap: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a device pull a space again from the start on its next sync.",
            discussion: """
                For a device whose copy looks wrong. It keeps its unsent notes and sends them.

                Example:
                  satchel-server device rebootstrap d-01hq3v9k2m8x7c4n5p6r7s8t9v --space mission-cn-2026
                """)
        @OptionGroup var common: CommonOptions
        @OptionGroup var target: TargetOptions
        @Argument(help: "The device id.") var id: String
        @Option(help: "The space to pull again.") var space: String

        func run() async throws {
            let device: AdminDevice
            if target.server != nil {
                device = try await target.remote("POST", "/v1/admin/devices/\(id)/rebootstrap?space=\(space)", as: AdminDevice.self)
            } else {
                let d = try parseID(DeviceID.self, id), s = try parseID(SpaceID.self, space)
                device = try await local(common) { try await $0.rebootstrap(d, space: s) }
            }
            if common.json { return printJSON(device) }
            print("device \(device.id) (\(device.label)) will pull \(space) again on its next sync")
        }
    }
}

extension TargetOptions {
    /// Streams a binary admin answer into `file` (written beside it, then renamed).
    func download(_ path: String, to file: String) async throws {
        guard let server else { preconditionFailure("download() without --server") }
        let request = try authorizedRequest("POST", path)
        let partial = file + ".partial"
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(3600))
            guard response.status == .ok else {
                let body = try await response.body.collect(upTo: 1 << 20)
                let json = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
                fail((json?["error"] as? [String: Any])?["message"] as? String ?? "HTTP \(response.status.code)")
            }
            // A backup holds every space and the token hashes: its owner's only.
            _ = FileManager.default.createFile(atPath: partial, contents: nil, attributes: [.posixPermissions: 0o600])
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: partial))
            for try await chunk in response.body { try handle.write(contentsOf: Data(chunk.readableBytesView)) }
            try handle.synchronize()
            try handle.close()
            try FileManager.default.moveItem(atPath: partial, toPath: file)
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            fail("backup from \(server) failed (\(error)); nothing was written to \(file)")
        }
    }
}

/// `backup` and `restore` copy the embedded store's file; a PostgreSQL database is copied with
/// PostgreSQL's own tools (pg_dump keeps the servers serving while it runs). Says how.
func refuseFileCopy(_ command: String, _ url: String) -> Never {
    let location = try? PostgresLocation(url: url)
    let shown = location.map { "\($0)" } ?? url
    let name = location?.database ?? "satchel"
    if command == "backup" {
        fail("""
            `backup` copies the embedded SQLite store's file; this store is PostgreSQL (\(shown)). Back it up with pg_dump, while the servers run:
              pg_dump --format=custom --file=\(name)-$(date +%F).dump '\(shown)'
            """)
    }
    fail("""
        `restore` replaces the embedded SQLite store's file; this store is PostgreSQL (\(shown)). Restore it with pg_restore:
          1. stop every satchel-server using the database
          2. pg_restore --clean --if-exists --dbname='\(shown)' \(name)-YYYY-MM-DD.dump
          3. satchel-server restore --after-pg-restore --database '\(shown)'   (every device pulls again, keeping its unsent notes)
          4. start the servers
        """)
}
