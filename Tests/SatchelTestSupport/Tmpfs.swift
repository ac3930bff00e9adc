import Foundation

/// A small tmpfs mounted for one test, so a disk really fills; unmounted when the test is done.
/// Mounting needs root (or CAP_SYS_ADMIN): tests using it are enabled by `Tmpfs.canMount`.
public final class Tmpfs: @unchecked Sendable {
    // @unchecked: `mounted` is only changed by the test that owns it.
    public let path: String
    private var mounted = true

    /// Mounts a tmpfs of `size` (such as "4m") on a fresh folder.
    public init(size: String) throws {
        path = NSTemporaryDirectory() + "satchel-tmpfs-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let (status, output) = Self.run("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=\(size),mode=0700", "tmpfs", path])
        guard status == 0 else {
            try? FileManager.default.removeItem(atPath: path)
            throw TestFailure("cannot mount a tmpfs on \(path): \(output)")
        }
    }

    deinit { unmount() }

    /// Unmounts it (lazily, should a process still hold a file there) and removes the folder.
    public func unmount() {
        guard mounted else { return }
        mounted = false
        _ = Self.run("/usr/bin/umount", ["-l", path])
        try? FileManager.default.removeItem(atPath: path)
    }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Whether this process may mount a tmpfs (tried once with a tiny one).
    public static let canMount: Bool = {
        guard let probe = try? Tmpfs(size: "64k") else { return false }
        probe.unmount()
        return true
    }()

    static func run(_ tool: String, _ arguments: [String]) -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (-1, "\(error)") }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
