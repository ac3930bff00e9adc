import Foundation
import SatchelTestSupport
import SatchelProtocol
public import Testing
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite
public import SatchelTesting

/// The backends the suite runs on. Add one here and it runs every check.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case memory

    var testDescription: String { rawValue }

    /// A new database in `dir`.
    func database(_ dir: TemporaryDirectory) -> any ConformanceDatabase {
        switch self {
        case .sqlite: SQLiteConformanceDatabase(path: dir.file("server-\(UInt64.random(in: 0 ... .max)).sqlite"))
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
