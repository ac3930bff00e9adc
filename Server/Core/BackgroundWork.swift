public import Logging
public import SatchelProtocol
public import ServiceLifecycle

/// The server's work beside requests, as services of the application's service group: they
/// start with it and end at its graceful shutdown, never before (a service that returns early
/// would end the whole group), so failures are logged and the work goes on.
extension SyncService {
    /// The feed follower, the snapshot builder, the bookkeeping flush, and the store's own.
    public var backgroundServices: [any Service] {
        [FeedFollower(service: self), SnapshotBuilder(service: self), ActivityFlush(store: store, logger: logger)] + store.backgroundServices
    }
}

/// Acts on what the store's feed reports, whoever wrote it: tells live devices which spaces
/// advanced, closes revoked and disabled devices' connections, pokes a device asked to pull
/// again, and keeps the snapshot cache in step.
struct FeedFollower: Service {
    let service: SyncService

    func run() async throws {
        let events = service.store.feed.subscribe()
        try await cancelWhenGracefulShutdown {
            for await event in events {
                do {
                    try await handle(event)
                } catch {
                    service.logger.warning("store event not acted on", metadata: ["event": "\(event)", "error": "\(APIError(answering: error).code)"])
                }
            }
        }
        // The feed ended (the store closed): wait for the shutdown that closed it.
        try? await gracefulShutdown()
    }

    func handle(_ event: StoreEvent) async throws {
        let live = service.live
        switch event {
        case .advanced(let space, let head, let changes):
            live.publish(space: space, head: head)
            if service.snapshots.wrote(changes, to: space) { service.snapshotWork.continuation.yield(space) }
        case .compacted(let space, _):
            service.snapshots.drop(space)
        case .revoked(let device):
            let message = try await service.store.device(device).map(SyncService.revokedMessage) ?? "this device's access was withdrawn; ask your operator"
            live.revoke(device: device, message: message)
        case .userDisabled(let user):
            for d in try await service.store.devices(of: user) {
                live.revoke(device: d.id, message: "user '\(user)' was disabled by an operator; ask your operator")
            }
        case .resetRequested(let device, let space):
            live.poke(device: device, space: space, head: try await service.store.head(of: space).head)
        }
    }
}

/// Keeps the snapshot cache filled: every space once at start, then each space that gained a
/// page's worth of changes, once its writes pause.
struct SnapshotBuilder: Service {
    let service: SyncService

    func run() async throws {
        await cancelWhenGracefulShutdown { await service.buildSnapshots() }
        // Stopped by a store failure (logged): pulls read snapshots from the store instead.
        try? await gracefulShutdown()
    }
}

/// Writes buffered bookkeeping (last seen, pull progress) every `interval`, so the operator
/// commands on a data directory see what the running server noted within seconds.
struct ActivityFlush: Service {
    let store: any ServerStore
    let logger: Logger
    var interval: Duration = .seconds(2)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            // Ends quietly at shutdown (a thrown cancellation would fail the group); the store
            // writes what is left when it closes.
            while (try? await Task.sleep(for: interval)) != nil {
                do {
                    try await store.flushActivity()
                } catch {
                    logger.warning("bookkeeping not written; tried again later", metadata: ["error": "\(APIError(answering: error).code)"])
                }
            }
        }
    }
}
