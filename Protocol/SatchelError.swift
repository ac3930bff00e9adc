/// The one shape of every Satchel error, whatever layer throws it (frames, the schema, the
/// store, the HTTP edge, the client, the CLI). It promises:
///
/// - `codeName`: a short stable name (`unknown_device`, `frame_truncated`) for programs, logs
///   and metrics. Once published a code keeps its meaning; the server maps it to an HTTP status
///   in one table (`ErrorStatus` in SatchelServer), so the same code always gets the same status.
/// - `message`: what went wrong and what to do about it, written for the person reading it.
///
/// Neither ever holds note bodies, tokens, passwords or enrollment codes: errors end up in
/// logs, terminals and other people's bug reports.
public protocol SatchelError: Error, CustomStringConvertible, Sendable {
    /// The stable code, as sent on the wire and written in logs (snake_case).
    var codeName: String { get }
    /// What went wrong and what to do about it, for a person.
    var message: String { get }
}

/// A `SatchelError` whose code is a value of its own type (`RejectionCode`, `FrameError.Code`,
/// `StoreError.Code`): its code's name and its description (`code: message`) come from it.
public protocol CodedError: SatchelError {
    associatedtype Code: RawRepresentable<String>
    var code: Code { get }
}

extension CodedError {
    public var codeName: String { code.rawValue }
    public var description: String { "\(code.rawValue): \(message)" }
}
