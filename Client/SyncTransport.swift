public import SatchelProtocol

/// How a client reaches its server. `HTTPTransport` is the implementation for real servers;
/// tests and apps may provide others (the simulation drives an in-memory server).
public protocol SyncTransport: Sendable {
    func hello(_ request: HelloRequest) async throws -> HelloResponse
    func push(_ request: PushRequest) async throws -> PushResponse
    func pull(_ request: PullRequest) async throws -> PullResponse
    /// Opens the live connection; the stream ends (or throws) when the connection does.
    func live() async throws -> AsyncThrowingStream<LiveEvent, any Error>
}

/// Why talking to the server failed, in words a field user can act on.
public struct TransportError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable {
        /// No connection: no network, DNS failure, refused, timed out. Retry later.
        case offline
        /// The server refused the device's credentials (unknown or revoked token). Enroll again.
        case unauthorized
        /// The server refused the request (limits, access); `code` says why.
        case refused
        /// The cursor is older than the server's history: the space must be bootstrapped again.
        case cursorExpired
        /// The server answered something that is not a valid response.
        case badResponse
    }

    public let kind: Kind
    /// The server's error code when it sent one (e.g. `token_revoked`).
    public let code: String?
    public let message: String

    public init(_ kind: Kind, code: String? = nil, _ message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
