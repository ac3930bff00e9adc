import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Folders and files only their owner can read (0700 and 0600): a device's home holds its token
/// and notes, a server's data directory every space and the token hashes.
///
/// Modes are set with `chmod` and by creating each database file ourselves, 0600, before SQLite
/// opens it, rather than by setting the umask around creation: the umask belongs to the whole
/// process, so changing it would race with every other thread creating files (the server's
/// request threads, the app that embeds the client). SQLite creates a database's -wal, -journal
/// and -shm files with the database file's own permissions (os_unix.c, `findCreateFileMode` and
/// `unixOpenSharedMemory`), so they are private too.
public enum PrivateFiles {
    /// Creates `directory` (and any missing parents) if needed, and leaves it and the files
    /// directly in it readable by their owner only: an existing home or data directory with
    /// looser modes (made by an older version, or by hand) is tightened. Subfolders and files of
    /// other owners are left alone.
    public static func prepare(directory: String) throws {
        let fm = FileManager.default
        // Missing parents get the usual modes (~/.local/share is not ours to close); the folder
        // itself is closed at once, while still empty.
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try tighten(directory)
        for name in try fm.contentsOfDirectory(atPath: directory) {
            let path = (directory as NSString).appendingPathComponent(name)
            var info = stat()
            // lstat: a symbolic link is not followed to a file that may not be ours to change.
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_uid == geteuid() else { continue }
            try tighten(path)
        }
    }

    /// Creates `file` empty with mode 0600 unless it exists.
    ///
    /// An existing file is never opened: closing any descriptor of a file drops every POSIX lock
    /// this process holds on it, so opening and closing a database that a connection of this
    /// process has open would release SQLite's locks behind its back (another process could then
    /// checkpoint and delete the WAL under it). O_EXCL leaves an existing file untouched.
    public static func create(file: String) throws {
        let fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 && errno == EEXIST { return }
        guard fd >= 0 else { throw failure("create", file) }
        close(fd)
    }

    /// Removes group and other permissions from `path`.
    static func tighten(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { throw failure("read the permissions of", path) }
        let mode = info.st_mode & 0o7777
        if mode & 0o077 != 0, chmod(path, mode & ~0o077) != 0 { throw failure("make private", path) }
    }

    static func failure(_ action: String, _ path: String) -> PrivateFileError {
        PrivateFileError(message: "cannot \(action) '\(path)' (\(String(cString: strerror(errno)))); check that this user owns it")
    }
}

/// A folder or file that could not be created or made private.
public struct PrivateFileError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}
