public import SatchelProtocol

/// A client failure a user can act on: a stable `code` and a message that says what to do.
public struct ClientError: SatchelError, Hashable {
    public let code: String
    public let message: String

    public init(code: String, _ message: String) { (self.code, self.message) = (code, message) }

    public var codeName: String { code }
    public var description: String { message }

    static func notJoined() -> ClientError {
        ClientError(code: "not_joined", "this device has not joined a server yet; run `satchel join URL CODE` with a code from your operator")
    }
    static func copied() -> ClientError {
        ClientError(code: "device_copied", "another machine uses this device's identity (its home was copied there, or restored on both); the server stored none of the writes it refused for that. Join this machine on its own with a new code from your operator: `satchel join --again URL CODE` keeps its unsent notes")
    }
    static func notFound(_ what: String) -> ClientError {
        ClientError(code: "not_found", "no \(what) on this device; `satchel note list` shows the notes, `satchel search` finds entries")
    }
}
