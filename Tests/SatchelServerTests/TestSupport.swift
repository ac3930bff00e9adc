import Foundation
import SatchelTestSupport
import Logging
import SatchelProtocol
@testable import SatchelServer
@testable import SatchelServerCore
@testable import SatchelServerSQLite

extension Logger {
    static let test: Logger = {
        var l = Logger(label: "satchel-test")
        l.logLevel = .warning
        return l
    }()
}
