import Foundation
import SatchelSQLite
import Testing

/// The permission bits of `path` (0o600 and the like).
func mode(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
}

@Suite struct PrivateFilesTests {
    @Test func aNewDatabaseAndItsWALAndSharedMemoryFilesAreTheOwnersOnly() throws {
        try withTemporaryPath { path in
            let db = try Database(path: path)
            try db.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            // The connection is open: the -wal and -shm files exist now.
            for file in [path, path + "-wal", path + "-shm"] {
                #expect(FileManager.default.fileExists(atPath: file), "\(file) should exist while the database is open")
                let bits = try mode(file)
                #expect(bits == 0o600, "\(file) has mode \(String(bits, radix: 8))")
            }
            db.close()
        }
    }

    @Test func preparingAFolderCreatesItPrivateAndTightensWhatIsInIt() throws {
        let root = NSTemporaryDirectory() + "satchel-private-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let fresh = root + "/a/b/home"
        try PrivateFiles.prepare(directory: fresh)
        #expect(try mode(fresh) == 0o700)

        // A home made by an older version: a folder and files anyone could read.
        let old = root + "/old"
        try FileManager.default.createDirectory(atPath: old, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        for name in ["satchel.sqlite", "satchel.sqlite-wal", "satchel.sqlite-shm"] {
            FileManager.default.createFile(atPath: old + "/" + name, contents: Data("x".utf8), attributes: [.posixPermissions: 0o644])
        }
        FileManager.default.createFile(atPath: old + "/script", contents: nil, attributes: [.posixPermissions: 0o755])
        try PrivateFiles.prepare(directory: old)
        #expect(try mode(old) == 0o700)
        for name in ["satchel.sqlite", "satchel.sqlite-wal", "satchel.sqlite-shm"] { #expect(try mode(old + "/" + name) == 0o600) }
        // Only group and other bits go: the owner keeps what it had.
        #expect(try mode(old + "/script") == 0o700)
        // Contents are kept.
        #expect(FileManager.default.contents(atPath: old + "/satchel.sqlite") == Data("x".utf8))
    }

    @Test func aBackupMadeWithVacuumIntoAPrivateFileStaysPrivate() throws {
        try withTemporaryPath { path in
            let db = try Database(path: path)
            try db.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            let copy = path + ".copy"
            try PrivateFiles.create(file: copy)
            try db.run("VACUUM INTO ?", copy)
            #expect(try mode(copy) == 0o600)
            #expect(try Database(path: copy).integer("SELECT count(*) FROM t") == 1)
            try? FileManager.default.removeItem(atPath: copy)
        }
    }
}
