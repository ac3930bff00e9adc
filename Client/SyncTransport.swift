public import SatchelProtocol

/// How a client reaches its server. `HTTPTransport` is the implementation for real servers;
/// tests and apps may provide others (the simulation drives an in-memory server).
public protocol SyncTransport: Sendable {
    func hello(_ request: HelloRequest) async throws -> HelloResponse
    func push(_ request: PushRequest) async throws -> PushResponse
    /// Sends a push encoded beforehand (see `EncodedPush`).
    func push(_ encoded: EncodedPush) async throws -> PushResponse
    func pull(_ request: PullRequest) async throws -> PullResponse
    /// Opens the live connection; the stream ends (or throws) when the connection does.
    func live() async throws -> AsyncThrowingStream<LiveEvent, any Error>
}

/// A push request with its frame, encoded (and compressed) ahead of sending: a client encodes the
/// next batch while the server applies the one before.
public struct EncodedPush: Sendable {
    public let request: PushRequest
    public let frame: [UInt8]

    public init(_ request: PushRequest) {
        self.request = request
        frame = Frame.encode(.pushRequest(request))
    }
}

extension SyncTransport {
    /// Transports that send messages rather than frames push the request itself.
    public func push(_ encoded: EncodedPush) async throws -> PushResponse { try await push(encoded.request) }
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
