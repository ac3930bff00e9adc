import ArgumentParser
import SatchelClient
import SatchelProtocol

/// The documented exit codes (see the root command's help).
enum ExitStatus: Int32 {
    case ok = 0
    case usage = 1
    case notFound = 2
    case offline = 3
    case notEnrolled = 4
    case refused = 5
    case local = 6
}

/// An error the CLI itself raises, with the exit status it ends in.
struct CLIError: SatchelError {
    var status: ExitStatus
    var message: String

    init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    /// The CLI's own errors are told apart by their exit status, so that is their code.
    var codeName: String {
        switch status {
        case .ok: "ok"
        case .usage: "usage"
        case .notFound: "not_found"
        case .offline: "offline"
        case .notEnrolled: "not_enrolled"
        case .refused: "refused"
        case .local: "local"
        }
    }

    var description: String { message }
}

/// An error of the CLI or the library as a message for people and an exit status. The library's
/// errors are written for people already, so their messages are printed as they are.
struct Failure {
    var status: ExitStatus
    var message: String
    /// The error's stable name (`not_found`, `read_only_space`, `token_revoked`) for `--json`.
    var code: String

    init(status: ExitStatus, message: String, code: String = "local") {
        self.status = status
        self.message = message
        self.code = code
    }

    /// Nil for errors that are not Satchel's (ArgumentParser's own, or unexpected ones).
    init?(_ error: any Error) {
        code = (error as? any SatchelError)?.codeName ?? "usage"
        switch error {
        case let e as CLIError:
            (status, message) = (e.status, e.message)
        case let e as ArgumentParser.ValidationError:
            (status, message) = (.usage, e.message)
        case let e as ClientError:
            switch e.code {
            case "not_found": status = .notFound
            case "not_joined", "device_copied": status = .notEnrolled
            default: status = .usage
            }
            message = e.message
        case let e as TransportError:
            switch e.kind {
            case .offline: status = .offline
            case .unauthorized: status = .notEnrolled
            case .refused, .cursorExpired, .badResponse: status = .refused
            }
            message = e.message
        case let e as SatchelProtocol.Rejection:
            (status, message) = (e.code == .recordNotFound ? .notFound : .usage, e.message)
        default:
            return nil
        }
    }
}

/// ArgumentParser's validation error (exit 1, with usage), by a name that says what it is beside the protocol's
/// `Rejection` (a value the schema refuses).
typealias UsageError = ArgumentParser.ValidationError
