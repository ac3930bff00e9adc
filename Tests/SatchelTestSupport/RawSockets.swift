import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP socket on loopback, for tests that must speak raw bytes: half a request head,
/// idle connections, a proxy that damages answers.
public final class TCPSocket: @unchecked Sendable {
    // @unchecked: a socket is used by one thread at a time (its test, or its proxy thread).
    public let fd: Int32

    init(fd: Int32) { self.fd = fd }
    deinit { close() }

    /// Connects to 127.0.0.1:`port`.
    public static func connect(port: Int) throws -> TCPSocket {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket(): \(String(cString: strerror(errno)))") }
        var address = loopback(port: port)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            Glibc.close(fd)
            throw TestFailure("connect to port \(port): \(String(cString: strerror(errno)))")
        }
        return TCPSocket(fd: fd)
    }

    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private var closed = false
    public func close() {
        if !closed { Glibc.close(fd) }
        closed = true
    }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestFailure("send: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }

    public enum ReadResult: Equatable, Sendable {
        case data([UInt8])
        /// The peer closed the connection (or reset it).
        case closed
        case timedOut
    }

    /// What arrives within `timeout`.
    public func read(timeout: Duration, max: Int = 64 * 1024) -> ReadResult {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let millis = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        guard poll(&poller, 1, millis) > 0 else { return .timedOut }
        var buffer = [UInt8](repeating: 0, count: max)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, max, 0) }
        return n > 0 ? .data(Array(buffer[..<n])) : .closed
    }

    /// Waits for the peer to close, discarding anything it sends; how long that took, or nil if
    /// it was still open after `limit`.
    public func waitForClose(within limit: Duration) -> Duration? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < limit {
            switch read(timeout: limit - (ContinuousClock.now - start)) {
            case .closed: return ContinuousClock.now - start
            case .data: continue
            case .timedOut: return nil
            }
        }
        return nil
    }

    /// Reads one HTTP/1.1 message (head and a Content-Length body); nil if the peer closed first.
    public func readHTTPMessage(timeout: Duration = .seconds(30)) throws -> HTTPMessage? {
        var bytes = pending
        pending = []
        func fill() throws -> Bool {
            switch read(timeout: timeout) {
            case .data(let more): bytes += more; return true
            case .closed: return false
            case .timedOut: throw TestFailure("no HTTP message within \(timeout)")
            }
        }
        var headEnd: Int?
        while headEnd == nil {
            headEnd = bytes.indices.dropLast(3).first { bytes[$0] == 13 && bytes[$0 + 1] == 10 && bytes[$0 + 2] == 13 && bytes[$0 + 3] == 10 }
            if headEnd == nil, try !fill() {
                if bytes.isEmpty { return nil }
                throw TestFailure("the connection closed inside an HTTP head")
            }
        }
        let head = String(decoding: bytes[..<headEnd!], as: UTF8.self)
        var message = HTTPMessage(head: head, body: [])
        if message.header("transfer-encoding") != nil { throw TestFailure("chunked messages are not supported here: \(message.startLine)") }
        let length = Int(message.header("content-length") ?? "0") ?? 0
        var rest = Array(bytes[(headEnd! + 4)...])
        while rest.count < length {
            guard try fill() else { throw TestFailure("the connection closed inside an HTTP body") }
            rest = Array(bytes[(headEnd! + 4)...])
        }
        message.body = Array(rest[..<length])
        pending = Array(rest[length...])
        return message
    }

    /// Bytes read past the last message (after a 101, the first WebSocket frames).
    public private(set) var pending: [UInt8] = []
}

/// An HTTP/1.1 request or response as bytes: its head's lines and its body.
public struct HTTPMessage: Sendable {
    public var head: String
    public var body: [UInt8]

    public var startLine: String { String(head.split(separator: "\r\n", omittingEmptySubsequences: false).first ?? "") }
    /// The status of a response ("HTTP/1.1 507 Insufficient Storage" is 507).
    public var status: Int? { startLine.split(separator: " ").dropFirst().first.flatMap { Int($0) } }
    /// The path of a request ("POST /v1/push HTTP/1.1" is "/v1/push").
    public var path: String? { startLine.split(separator: " ").dropFirst().first.map(String.init) }

    public func header(_ name: String) -> String? {
        for line in head.split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].lowercased() == name.lowercased() { return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }

    /// The head with `name` set to `value` (added if missing).
    public mutating func setHeader(_ name: String, _ value: String) {
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        if let i = lines.indices.dropFirst().first(where: { lines[$0].lowercased().hasPrefix(name.lowercased() + ":") }) {
            lines[i] = "\(name): \(value)"
        } else {
            lines.append("\(name): \(value)")
        }
        head = lines.joined(separator: "\r\n")
    }

    public var bytes: [UInt8] { Array((head + "\r\n\r\n").utf8) + body }
}

/// A listening socket on 127.0.0.1 and a free port.
public final class TCPListener: @unchecked Sendable {
    public let fd: Int32
    public let port: Int

    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = TCPSocket.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else { throw TestFailure("cannot listen on loopback: \(String(cString: strerror(errno)))") }
        var actual = sockaddr_in()
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &size) } }
        port = Int(UInt16(bigEndian: actual.sin_port))
    }

    /// The next connection, or nil once the listener is closed.
    public func accept() -> TCPSocket? {
        let client = Glibc.accept(fd, nil, nil)
        return client >= 0 ? TCPSocket(fd: client) : nil
    }

    public func close() {
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }
}

/// An HTTP/1.1 proxy on loopback in front of a real server, for tests of what a bad link does:
/// it records every answer's status and, while told to, damages the answers to one path.
public final class DamagingProxy: @unchecked Sendable {
    // @unchecked: the settings and records are only touched under `lock`.
    public enum Damage: Sendable {
        /// The body is cut in half and Content-Length says so: the HTTP exchange is whole, the frame is not.
        case truncate
        /// One byte in the middle of the body is flipped.
        case corrupt
        /// The head and half the body go out, then the connection is closed.
        case cutConnection
    }

    private let listener: TCPListener
    private let upstream: Int
    private let lock = NSLock()
    private var damage: (path: String, kind: Damage)?
    private var seen: [(path: String, status: Int)] = []

    public var url: String { "http://127.0.0.1:\(listener.port)" }

    public init(upstreamPort: Int) throws {
        listener = try TCPListener()
        upstream = upstreamPort
        Thread.detachNewThread { [self] in
            while let client = listener.accept() {
                Thread.detachNewThread { self.serve(client) }
            }
        }
    }

    /// From now on, damage the answers to requests for `path` (nil: pass everything).
    public func damage(_ kind: Damage?, answersTo path: String = "/v1/push") {
        lock.withLock { damage = kind.map { (path, $0) } }
    }

    /// The answers so far: the path asked for and the status the server gave.
    public var answers: [(path: String, status: Int)] { lock.withLock { seen } }

    public func stop() { listener.close() }

    private func serve(_ client: TCPSocket) {
        guard let server = try? TCPSocket.connect(port: upstream) else { return }
        while let request = try? client.readHTTPMessage(), let path = request.path {
            guard (try? server.send(request.bytes)) != nil, var response = try? server.readHTTPMessage() else { return }
            let kind: Damage? = lock.withLock {
                seen.append((path, response.status ?? 0))
                return damage.flatMap { $0.path == path ? $0.kind : nil }
            }
            switch kind {
            case nil:
                break
            case .truncate:
                response.body = Array(response.body.prefix(response.body.count / 2))
                response.setHeader("Content-Length", "\(response.body.count)")
            case .corrupt:
                if !response.body.isEmpty { response.body[response.body.count / 2] ^= 0x5A }
            case .cutConnection:
                let bytes = response.bytes
                try? client.send(Array(bytes.prefix(bytes.count - response.body.count / 2)))
                return
            }
            guard (try? client.send(response.bytes)) != nil else { return }
        }
    }
}
