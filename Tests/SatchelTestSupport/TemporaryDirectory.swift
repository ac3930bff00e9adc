import Foundation

/// A fresh temporary directory per test, removed afterwards.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String
    public init() {
        path = NSTemporaryDirectory() + "satchel-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
}

