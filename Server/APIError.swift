/// A request-level failure: an HTTP status, a stable code and a message a person can act on.
/// The HTTP edge turns it into a response; the core never touches HTTP types.
public struct APIError: Error, Hashable, Sendable, CustomStringConvertible {
    public let status: Int
    public let code: String
    public let message: String

    public init(status: Int, code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(status) \(code): \(message)" }

    static func tokenMissing() -> APIError {
        APIError(status: 401, code: "token_missing", "this request needs a device token: send `Authorization: Bearer <token>` (run `satchel join` to get one)")
    }
    static func tokenInvalid() -> APIError {
        APIError(status: 401, code: "token_invalid", "the device token is not valid on this server; enroll the device again with a new code from your operator")
    }
    static func tooLarge(_ what: String, limit: Int, hint: String = "send fewer mutations per push") -> APIError {
        APIError(status: 413, code: "request_too_large", "\(what) is over this server's limit of \(limit) bytes; \(hint)")
    }
}
