/// A client failure a user can act on: a stable `code` and a message that says what to do.
public struct ClientError: Error, Hashable, Sendable, CustomStringConvertible {
    public let code: String
    public let message: String

    public init(code: String, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    static func notJoined() -> ClientError {
        ClientError(code: "not_joined", "this device has not joined a server yet; run `satchel join URL CODE` with a code from your operator")
    }
    static func notFound(_ what: String) -> ClientError {
        ClientError(code: "not_found", "no \(what) on this device; `satchel note list` shows the notes, `satchel search` finds entries")
    }
}
