public import SatchelProtocol
public import SatchelServerCore
import Synchronization

/// The suite every `ServerStore` backend must pass unchanged, as plain async functions that
/// throw on a breach, so any test target (or a backend's own package) can run it with the test
/// library it likes. A backend provides a `ConformanceDatabase`; every check then runs on a new
/// one:
///
/// ```swift
/// @Test(arguments: StoreConformance.checks)
/// func conforms(_ check: StoreConformance.Check) async throws {
///     try await check.run(on: MyDatabase(path: temporaryFile()))
/// }
/// ```
public enum StoreConformance {
    public struct Check: Sendable, CustomStringConvertible {
        public let name: String
        let body: @Sendable (any ConformanceDatabase) async throws -> Void

        public var description: String { name }

        /// Runs the check on `database`, which must be new and empty.
        public func run(on database: any ConformanceDatabase) async throws { try await body(database) }
    }

    /// Every check, by concern.
    public static let checks: [Check] = identity + changeLog + retention + sharedDatabase
}

/// One database of a backend for the conformance suite, and store objects on it.
public protocol ConformanceDatabase: Sendable {
    /// The wall clock every store object of this database stamps changes with.
    var clock: ManualClock { get }
    /// A new store object on this database (the first call creates the database). Opening one
    /// after closing another stands for restarting the server.
    func open() async throws -> any ServerStore
}

/// The in-memory backend's database: the first store object, and others sharing its data.
public final class MemoryConformanceDatabase: ConformanceDatabase {
    public let clock = ManualClock()
    private let first = Mutex<MemoryServerStore?>(nil)

    public init() {}

    public func open() -> any ServerStore {
        first.withLock { first in
            let clock = clock
            guard let existing = first else {
                let store = MemoryServerStore(clock: { clock.now })
                first = store
                return store
            }
            return MemoryServerStore(sharing: existing)
        }
    }
}

/// A clock a test sets by hand (milliseconds since 1970).
public final class ManualClock: Sendable {
    private let millis: Atomic<Int64>

    public init(_ start: Timestamp = 1_796_000_000_000) { millis = Atomic(start) }

    public var now: Timestamp {
        get { millis.load(ordering: .sequentiallyConsistent) }
        set { millis.store(newValue, ordering: .sequentiallyConsistent) }
    }
}

/// A breach of a store's contract: what was expected, and where the check says so.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public let description: String
}

/// Fails the check unless `condition` holds.
func expect(_ condition: Bool, _ message: @autoclosure () -> String = "", fileID: String = #fileID, line: Int = #line) throws {
    guard !condition else { return }
    let note = message()
    throw ConformanceFailure(description: "\(fileID):\(line): expectation failed\(note.isEmpty ? "" : ": \(note)")")
}

/// Fails the check unless `a == b`, saying what each was.
func expectEqual<T: Equatable>(_ a: T, _ b: T, _ message: @autoclosure () -> String = "", fileID: String = #fileID, line: Int = #line) throws {
    try expect(a == b, "\(a) is not \(b)\(message().isEmpty ? "" : "; \(message())")", fileID: fileID, line: line)
}

/// Fails the check unless `body` throws a `StoreError` with `code`.
func expectThrows<T>(_ code: StoreError.Code, fileID: String = #fileID, line: Int = #line, _ body: () async throws -> T) async throws {
    do {
        _ = try await body()
    } catch let error as StoreError where error.code == code {
        return
    } catch {
        throw ConformanceFailure(description: "\(fileID):\(line): expected \(code.rawValue), got \(error)")
    }
    throw ConformanceFailure(description: "\(fileID):\(line): expected \(code.rawValue), nothing was thrown")
}

/// The value, or a failure of the check when it is nil.
func unwrap<T>(_ value: T?, fileID: String = #fileID, line: Int = #line) throws -> T {
    guard let value else { throw ConformanceFailure(description: "\(fileID):\(line): expected a value, got nil") }
    return value
}

extension StoreConformance {
    /// A check named after its function.
    static func check(_ name: String = #function, _ body: @escaping @Sendable (any ConformanceDatabase) async throws -> Void) -> Check {
        Check(name: String(name.prefix { $0 != "(" }), body: body)
    }

    /// A store with a mission (ana writes) and a briefing (ana reads).
    static func seeded(_ db: any ConformanceDatabase) async throws -> any ServerStore {
        let store = try await db.open()
        try await store.createSpace("mission", now: 1)
        try await store.createSpace("briefing", now: 1)
        try await store.createUser("ana", now: 1)
        try await store.setRole(.writer, user: "ana", space: "mission")
        try await store.setRole(.reader, user: "ana", space: "briefing")
        return store
    }
}
