import Foundation

/// The path of one of the package's executables (`satchel`, `satchel-server`, `satchel-driver`,
/// `satchel-bench`): beside the test bundle, where `swift build --build-tests` puts them, or
/// else in the package's debug build folder.
public func builtProduct(_ name: String) -> String {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidate = dir.appendingPathComponent(name).path
    if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug/\(name)").path
}
