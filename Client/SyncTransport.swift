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

/// A push request as a frame, encoded (and compressed) ahead of sending: a client encodes the
/// next batch while the server applies the one before.
public struct EncodedPush: Sendable {
    /// How many mutations it carries.
    public let count: Int
    public let frame: [UInt8]
    /// The payload's size before compression.
    public var payloadBytes: Int { Frame.declaredPayloadSize(frame) ?? 0 }

    /// From mutations already encoded (as the outbox keeps them): a push request's payload is
    /// their count, the encodings one after another, then the flags (PROTOCOL.md §6), so nothing
    /// is decoded and encoded again.
    public init(encodedMutations: [[UInt8]], reportAsWritten: Bool) {
        var w = WireWriter(capacity: encodedMutations.reduce(16) { $0 + $1.count })
        w.varint(encodedMutations.count)
        for m in encodedMutations { w.append(m) }
        if reportAsWritten { w.varint(1) }
        count = encodedMutations.count
        frame = Frame.encode(payload: w.bytes, type: Message.pushRequestType, compression: Self.compression(forPayload: w.bytes.count))
    }

    /// The request itself, for transports that send messages rather than frames.
    public func request() throws -> PushRequest {
        guard case .pushRequest(let r) = try Frame.decode(frame, maxPayloadBytes: .max) else { preconditionFailure("an EncodedPush holds a push request") }
        return r
    }

    /// zlib level 6 for ordinary pushes; level 4 for bulk uploads, where it costs about half
    /// the CPU for about 6% more bytes (BENCHMARKS.md, push).
    static func compression(forPayload bytes: Int) -> Frame.Compression {
        bytes > PushRequest.bulkPayloadBytes ? Frame.Compression(level: 4) : .default
    }
}

extension SyncTransport {
    /// Transports that send messages rather than frames push the request itself.
    public func push(_ encoded: EncodedPush) async throws -> PushResponse { try await push(try encoded.request()) }
}

/// Why talking to the server failed, in words a field user can act on.
public struct TransportError: SatchelError, Hashable {
    public enum Kind: String, Hashable, Sendable {
        /// No connection (no network, DNS failure, refused, timed out: `code` nil), an answer cut
        /// or damaged in transit (`code` "transfer_damaged"), or a server that cannot serve for
        /// now (HTTP 5xx: the server's code, e.g. "insufficient_storage" when its disk is full,
        /// or "http_502" for an answer that is not a frame). Nothing was refused: retry later.
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

    /// The server's code when it sent one, else the kind's name (`offline`, `cursor_expired`…).
    public var codeName: String {
        if let code { return code }
        switch kind {
        case .offline: return "offline"
        case .unauthorized: return "unauthorized"
        case .refused: return "refused"
        case .cursorExpired: return "cursor_expired"
        case .badResponse: return "bad_response"
        }
    }

    public var description: String { message }
}
