import Logging
import SatchelServerCore
import SatchelTesting

/// One server process of the simulation: `SyncService` behind the HTTP routes' request handling
/// (`SyncEndpoints`), over a store object of its own on the shared data, as each
/// `satchel-server serve --database` holds its own connections to one PostgreSQL database. Its
/// snapshot cache and live hub are its own, and start empty when it restarts.
struct SimulatedServer: Sendable {
    var store: MemoryServerStore
    var endpoints: SyncEndpoints

    init(store: MemoryServerStore, snapshotPageSize: Int, clock: SimulationClock) {
        self.store = store
        endpoints = Self.boot(store, clock: clock, snapshotPageSize: snapshotPageSize)
    }

    /// The service with its own clock, snapshot cache and live hub.
    static func boot(_ store: MemoryServerStore, clock: SimulationClock, snapshotPageSize: Int) -> SyncEndpoints {
        let service = SyncService(
            store: store, limits: Simulation.limits, snapshots: SnapshotCache(pageSize: snapshotPageSize),
            logger: Logger(label: "satchel-sim", factory: { _ in SwiftLogNoOpLogHandler() }), now: clock.read)
        return SyncEndpoints(service: service)
    }

    /// The process dies (its store object closed under it) and starts again over the same data.
    mutating func restart(snapshotPageSize: Int, clock: SimulationClock) {
        store.close()
        endpoints = Self.boot(store.reopen(), clock: clock, snapshotPageSize: snapshotPageSize)
    }
}
