import Foundation
import SatchelTestSupport
import SatchelProtocol
public import Testing
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite
import SatchelServerPostgres
import Synchronization
public import SatchelTesting

/// The backends the suite runs on. Add one here and it runs every check.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgres
    case memory

    var testDescription: String { rawValue }

    /// A new database in `dir`.
    func database(_ dir: TemporaryDirectory) -> any ConformanceDatabase {
        switch self {
        case .sqlite: SQLiteConformanceDatabase(path: dir.file("server-\(UInt64.random(in: 0 ... .max)).sqlite"))
        case .postgres: PostgresConformanceDatabase()
        case .memory: MemoryConformanceDatabase()
        }
    }
}

/// The conformance suite (`StoreConformance` in SatchelTesting), every check on every backend.
@Suite struct StoreConformanceTests {
    let dir = TemporaryDirectory()

    @Test(arguments: Backend.allCases, StoreConformance.checks)
    func conforms(_ backend: Backend, _ check: StoreConformance.Check) async throws {
        try await check.run(on: backend.database(dir))
    }
}

extension StoreConformance.Check: CustomTestStringConvertible {
    public var testDescription: String { name }
}

/// The SQLite backend's database for the suite: a file, and a store object per `open()`.
final class SQLiteConformanceDatabase: ConformanceDatabase {
    let clock = ManualClock()
    let path: String
    init(path: String) { self.path = path }

    func open() throws -> any ServerStore {
        let clock = clock
        return try SQLiteServerStore(path: path, clock: { clock.now })
    }
}

/// The PostgreSQL backend's database for the suite: a new database on the test server, created
/// by the first `open()`, and a store object (a pool of its own, as a server instance has) per call.
final class PostgresConformanceDatabase: ConformanceDatabase {
    let clock = ManualClock()
    private let url = Mutex<Task<String, any Error>?>(nil)

    func open() async throws -> any ServerStore {
        let created = url.withLock { url in
            if let url { return url }
            let task = Task { try await TestPostgres.createDatabase() }
            url = task
            return task
        }
        let clock = clock
        return try await TestPostgres.open(try await created.value, clock: { clock.now })
    }
}
