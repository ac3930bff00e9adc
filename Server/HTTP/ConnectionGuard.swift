#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HummingbirdCore
import Logging
import SatchelServerCore
import NIOCore
import Synchronization

/// Bounds on the server's connections, so idle or slow clients cannot hold it: every socket costs
/// a file descriptor, and at the descriptor limit a server can accept no one, not even to log.
public struct ConnectionLimits: Sendable {
    /// How long a new connection may take to send its first request's head; one that sends half
    /// a head and waits (a slowloris) is closed then.
    public var headTimeout: Duration
    /// How long a connection may sit between requests before it is closed. A later request's head
    /// must also arrive within it (a head in progress is not activity). Live WebSocket connections
    /// are exempt: they carry heartbeats and are how devices hear about changes.
    public var idleTimeout: Duration
    /// Connections open at once (live ones included); more are closed as they arrive, with a
    /// warning in the log.
    public var maxConnections: Int

    public init(headTimeout: Duration = .seconds(30), idleTimeout: Duration = .seconds(75), maxConnections: Int = 1000) {
        self.headTimeout = headTimeout
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
    }

    /// 75 s idle outlasts the 60 s for which HTTP clients (AsyncHTTPClient, browsers) keep an idle
    /// connection, so a client reusing one rarely meets a server that just closed it.
    public static let `default` = ConnectionLimits()

    /// File descriptors kept for everything but connections: SQLite's files for the writer, the
    /// readers and the checkpointer, the lock, the event loops, backups, the log.
    static let reservedDescriptors = 100

    /// Raises the process's open-file limit to its hard limit (at most 65,536) and returns the
    /// limits with `maxConnections` lowered to what fits beside the reserve, if it must be.
    func fittingOpenFileLimit() -> (limits: ConnectionLimits, openFiles: Int) {
        #if os(Linux)
        let resource = Int32(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return (self, -1) }
        let wanted = min(limit.rlim_max, 65_536)
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted
            _ = setrlimit(resource, &limit)
            _ = getrlimit(resource, &limit)
        }
        let openFiles = Int(limit.rlim_cur)
        var fitted = self
        fitted.maxConnections = max(1, min(maxConnections, openFiles - Self.reservedDescriptors))
        return (fitted, openFiles)
    }
}

/// A child channel with the server's connection limits around `Base` (the HTTP/WebSocket one):
/// connections over `maxConnections` are closed at once, and a connection's first request head
/// must arrive within `headTimeout`. Hummingbird's own idle timeout, set on `Base`, covers the
/// time between requests; its connection limit only stops accepting (clients then wait in the
/// kernel's backlog, unanswered and unlogged), which is why this closes them instead.
struct GuardedChannel<Base: ServerChildChannel>: ServerChildChannel {
    struct Value: ServerChildChannelValue {
        /// Nil for a connection refused at the limit.
        let base: Base.Value?
        let channel: any Channel
    }

    let base: Base
    let limits: ConnectionLimits
    let open = Counter()
    let refusals = LogThrottle()
    let slowHeads = LogThrottle()

    final class Counter: Sendable {
        let value = Atomic(0)
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        // Counted from acceptance until closed, whatever it becomes (HTTP or live).
        let count = open.value.add(1, ordering: .relaxed).newValue
        let open = self.open
        channel.closeFuture.whenComplete { _ in open.value.subtract(1, ordering: .relaxed) }
        guard count <= limits.maxConnections else {
            refusals.occurred { times in
                logger.warning(
                    "connection limit reached: new connections are closed at once; raise --max-connections (each watching device holds one) or find who holds them",
                    metadata: ["open": "\(count - 1)", "max-connections": "\(limits.maxConnections)", "refused": "\(times)"])
            }
            return channel.eventLoop.makeSucceededFuture(Value(base: nil, channel: channel))
        }
        let timeout = limits.headTimeout, slowHeads = self.slowHeads
        do {
            try channel.pipeline.syncOperations.addHandler(
                HeadTimeout(timeout: timeout) {
                    slowHeads.occurred { times in
                        logger.info("closed connections that sent no whole request head in time", metadata: ["head-timeout": "\(timeout)", "closed": "\(times)"])
                    }
                }, position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return base.setup(channel: channel, logger: logger).map { Value(base: $0, channel: channel) }
    }

    func handle(value: Value, logger: Logger) async {
        guard let inner = value.base else {
            // Refused: closed here, once the channel is registered and active.
            try? await value.channel.close()
            return
        }
        await base.handle(value: inner, logger: logger)
    }
}

/// Closes a connection whose first request head has not arrived within `timeout`, then leaves
/// the pipeline once the head is in. It sits ahead of the HTTP decoder, because before the first
/// head the WebSocket-upgrade pipeline has no idle handler at all.
///
/// The head's bytes are held back until it is whole, and a connection that runs out of time is
/// ended as if the client had stopped sending: the decoder has seen nothing, so the upgrade
/// handler ends quietly instead of reporting a half-parsed request as an error each time.
final class HeadTimeout: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// More than the decoder accepts in a head (80 KiB): past it the bytes go on, for the decoder
    /// to refuse.
    static let maxHeldBytes = 96 * 1024

    private let timeout: Duration
    private let onTimeout: @Sendable () -> Void
    private var deadline: Scheduled<Void>?
    private var scanner = HeadScanner()
    private var held: [ByteBuffer] = []
    private var heldBytes = 0
    /// A broken WebSocket handshake was answered: the connection is closing, nothing goes on.
    private var refused = false

    init(timeout: Duration, onTimeout: @escaping @Sendable () -> Void) {
        self.timeout = timeout
        self.onTimeout = onTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let onTimeout = self.onTimeout
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) {
            onTimeout()
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refused { return }
        guard deadline != nil else { return context.fireChannelRead(data) }
        let buffer = unwrapInboundIn(data)
        held.append(buffer)
        heldBytes += buffer.readableBytes
        let complete = scanner.scan(buffer.readableBytesView)
        guard complete || heldBytes > Self.maxHeldBytes else { return }
        deadline?.cancel()
        deadline = nil
        // A broken WebSocket handshake is answered here, since past this point it would not be.
        switch complete ? UpgradeCheck.verdict(forHead: held.lazy.flatMap { $0.readableBytesView }) : .pass {
        case .pass:
            break
        case .refuse(let response):
            held = []
            refused = true
            // Ended as a timed-out head is: the decoder behind has seen nothing.
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: response))).assumeIsolated().whenComplete { _ in
                context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
                context.close(promise: nil)
            }
            return
        case .ignoreUpgrade:
            held = [ByteBuffer(bytes: UpgradeCheck.removingUpgrade(from: Array(held.lazy.flatMap { $0.readableBytesView })))]
        }
        for buffer in held { context.fireChannelRead(wrapInboundOut(buffer)) }
        held = []
        context.fireChannelReadComplete()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// Finds the end of an HTTP/1 request head in bytes as they arrive: the first empty line after
/// the request line. Empty lines before a request line are skipped (RFC 9112 §2.2), and a bare
/// LF ends a line too, as lenient parsers allow: the scanner must never miss a head the HTTP
/// decoder accepts, or a served connection would be closed.
struct HeadScanner {
    private var started = false
    private var lineEmpty = true

    /// True once the head is complete.
    mutating func scan(_ bytes: some Sequence<UInt8>) -> Bool {
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\n"):
                if started && lineEmpty { return true }
                lineEmpty = true
            case UInt8(ascii: "\r"):
                continue
            default:
                started = true
                lineEmpty = false
            }
        }
        return false
    }
}
