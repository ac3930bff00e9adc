import Foundation

/// A value shared between a test and the tasks, threads or callbacks it starts: the one lock
/// box the tests use. `@unchecked Sendable` because every access goes through the lock.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    public init(_ value: Value) { stored = value }

    /// The value now; setting it replaces it.
    public var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }

    /// Reads and changes the value in one step (`counter.withLock { $0 += 1 }`).
    @discardableResult
    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        try lock.withLock { try body(&stored) }
    }
}
