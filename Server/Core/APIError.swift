import Foundation
import Logging
public import SatchelProtocol

/// A request-level failure: a stable code and a message a person can act on. The HTTP edge
/// turns it into a response with the code's status; the core never touches HTTP types.
public struct APIError: SatchelError, Hashable {
    public let code: String
    public let message: String

    public init(code: String, _ message: String) { (self.code, self.message) = (code, message) }

    /// The code's HTTP status, from the one table (`ErrorStatus`).
    public var status: Int { ErrorStatus.of(code) }
    public var codeName: String { code }
    public var description: String { "\(status) \(code): \(message)" }

    public static func tokenMissing() -> APIError {
        APIError(code: "token_missing", "this request needs a device token: send `Authorization: Bearer <token>` (run `satchel join` to get one)")
    }
    public static func tokenInvalid() -> APIError {
        APIError(code: "token_invalid", "the device token is not valid on this server; enroll the device again with a new code from your operator")
    }
    /// The store could not write: the disk holding the data directory is full. The transaction
    /// was rolled back, so nothing of the request took effect and sending it again is safe.
    public static func insufficientStorage() -> APIError {
        APIError(
            code: "insufficient_storage",
            "the server's disk is full, so nothing of this request was applied; the server's operator must free space on it; try again later")
    }
    /// The answer for any error: its code, its message and, through `ErrorStatus`, its status.
    /// Only Satchel's own errors are written to be shown; anything else is an internal error,
    /// since its text might quote what a device sent.
    public init(answering error: any Error) {
        switch error {
        case let api as APIError: self = api
        case let backend as any BackendFailure where backend.isDiskFull: self = .insufficientStorage()
        case let store as StoreError where store.code == .closed:
            // "the store is closed" means nothing to a device; this is what it can act on.
            self = APIError(code: store.codeName, "the server is shutting down; try again in a moment")
        case let known as any SatchelError: self = APIError(code: known.codeName, known.message)
        default: self = APIError(code: "internal_error", "the server failed to handle the request; it is logged, try again later")
        }
    }

    public static func tooLarge(_ what: String, limit: Int, hint: String = "send fewer mutations per push") -> APIError {
        APIError(code: "request_too_large", "\(what) is over this server's limit of \(limit) bytes; \(hint)")
    }
}

/// Logs the failures that are the server's own trouble as the HTTP edge answers them: a full disk
/// (an operator must act, so the line says where, at most once per 10 s with a count of the
/// rest) and unexpected errors. Refusals of a client's request are the client's to read.
public struct FailureLog: Sendable {
    let logger: Logger
    /// The folder the store writes to, for the line about a full disk.
    let dataDirectory: String?
    let diskFull = LogThrottle()

    public init(service: SyncService) {
        logger = service.logger
        dataDirectory = (service.store as? any FileBackedStore)?.directory
    }

    /// The answer for `error`, logged if it is the server's trouble.
    public func answer(_ error: any Error) -> APIError {
        let api = APIError(answering: error)
        switch api.code {
        case "insufficient_storage":
            diskFull.occurred { times in
                logger.error(
                    "disk full: the store cannot write, requests that write fail with 507 and change nothing until space is freed on the disk holding the data directory",
                    metadata: ["data": "\(dataDirectory ?? "?")", "failed": "\(times)"])
            }
        case "internal_error":
            // Backend errors say what failed without bound values; others only their type,
            // since an unknown error's text might quote what a device sent.
            let what = (error as? any BackendFailure)?.logDescription ?? "\(type(of: error))"
            logger.error("request failed", metadata: ["error": "\(what)"])
        default:
            break
        }
        return api
    }
}
