import Logging
import PostgresNIO
public import SatchelProtocol
public import SatchelServerCore

/// Pushes, pulls, snapshots and what hello and the operator read of the change log.
extension PostgresServerStore {
    public func push(_ mutations: [Mutation]) async throws -> [MutationResult] {
        try checkOpen()
        return try await writer.write(mutations, asOperator: false)
    }

    public func operatorWrite(_ mutations: [Mutation]) async throws -> [MutationResult] {
        try checkOpen()
        return try await writer.write(mutations, asOperator: true)
    }

    public func pull(space: SpaceID, after: Version, limit: Int, omitting device: DeviceID?) async throws -> EncodedPage {
        // Rows left out still move the cursor past them: the page ends at the head.
        try await page(
            space, after: after, limit: limit,
            """
            SELECT version, data FROM changes WHERE space = \(space.rawValue) AND version > \(after)
              AND (\(device?.rawValue)::text IS NULL OR own_device IS DISTINCT FROM \(device?.rawValue)::text)
            ORDER BY version LIMIT \(limit + 1)
            """
        ) { row in
            let (version, data) = try row.decode((Int64, ByteBuffer).self)
            return (version, [UInt8](bytea: data))
        }
    }

    public func snapshot(space: SpaceID, after: Version, limit: Int) async throws -> EncodedPage {
        try await page(
            space, after: after, limit: limit,
            "SELECT version, collection, record, state FROM records WHERE space = \(space.rawValue) AND version > \(after) ORDER BY version LIMIT \(limit + 1)"
        ) { row in
            let (version, collection, record, state) = try row.decode((Int64, String, String, ByteBuffer).self)
            let key = RecordKey(space: space, collection: try CollectionName(collection), record: RecordID(unchecked: record))
            return (version, Change(snapshotOf: try RecordState(wireBytes: [UInt8](bytea: state)), key: key).wireBytes)
        }
    }

    /// Up to `limit` rows of `query` (which reads `limit + 1`, ordered by version), encoded by
    /// `encode`, with the space's head and the log's, all in one snapshot of the database
    /// (REPEATABLE READ), so a page read under writes is a consistent cut. A page with nothing
    /// after it ends at the log's head.
    private func page(
        _ space: SpaceID, after: Version, limit: Int, _ query: PostgresQuery, encode: @escaping (PostgresRow) throws -> (Version, [UInt8])
    ) async throws -> EncodedPage {
        try await withConnection { connection in
            try await PostgresTransaction.run(connection, logger: logger, begin: "START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY") { tx in
                // Cut by bytes too (always at least one change), so a page of large notes stays
                // far inside `maxPayloadBytes` and in bounded memory.
                var rows: [(Version, [UInt8])] = [], bytes = 0, hasMore = false
                for try await row in try await tx.query(query, logger: logger) {
                    if hasMore { continue }  // read to the end: the rows are already on their way
                    let (version, encoded) = try encode(row)
                    if rows.count == limit || (!rows.isEmpty && bytes + encoded.count > StoreDefaults.pageBytes) {
                        hasMore = true
                        continue
                    }
                    rows.append((version, encoded))
                    bytes += encoded.count
                }
                let (head, logHead) = try await Self.heads(space, tx, logger: logger)
                // A last page ends at the log's head (versions are shared by all spaces): so even
                // a device that pulled an empty space has a cursor above 0.
                return EncodedPage(
                    encodedChanges: rows.map(\.1), cursor: hasMore ? rows.last!.0 : max(logHead, after), hasMore: hasMore, head: head)
            }
        }
    }

    /// The space's head (its newest change, or its horizon when compaction removed them) and the
    /// last version handed out in any space.
    static func heads(_ space: SpaceID, _ connection: PostgresConnection, logger: Logger) async throws -> (space: Version, log: Version) {
        let row = try await connection.rows(
            """
            SELECT greatest((SELECT coalesce(max(version), 0) FROM changes WHERE space = \(space.rawValue)),
                            (SELECT coalesce(max(horizon), 0) FROM spaces WHERE id = \(space.rawValue))),
                   (SELECT version FROM log_head)
            """, logger: logger
        ).first
        guard let row else { return (0, 0) }
        return try row.decode((Int64, Int64).self)
    }

    public func writeState(of device: DeviceID) async throws -> DeviceWriteState? {
        try await rows(
            "SELECT counter, clock, id FROM mutations WHERE device = \(device.rawValue) AND counter IS NOT NULL ORDER BY counter DESC LIMIT 1"
        ).first.map { row in
            let (counter, clock, id) = try row.decode((Int64, Int64, String).self)
            return DeviceWriteState(counter: UInt64(bitPattern: counter), clock: HLC(rawValue: UInt64(bitPattern: clock)), mutation: MutationID(unchecked: id))
        }
    }

    public func head(of space: SpaceID) async throws -> (head: Version, horizon: Version) {
        // One statement: one snapshot.
        let row = try await rows(
            """
            SELECT greatest((SELECT coalesce(max(version), 0) FROM changes WHERE space = \(space.rawValue)), coalesce(s.horizon, 0)),
                   coalesce(s.horizon, 0)
            FROM (SELECT 1) AS one LEFT JOIN spaces s ON s.id = \(space.rawValue)
            """
        ).first
        guard let row else { return (0, 0) }
        let (head, horizon) = try row.decode((Int64, Int64).self)
        return (head, horizon)
    }

    public func records(in space: SpaceID, collection: CollectionName) async throws -> [RecordKey: RecordState] {
        var out: [RecordKey: RecordState] = [:]
        for row in try await rows("SELECT record, state FROM records WHERE space = \(space.rawValue) AND collection = \(collection.rawValue)") {
            let (record, state) = try row.decode((String, ByteBuffer).self)
            out[RecordKey(space: space, collection: collection, record: RecordID(unchecked: record))] = try RecordState(wireBytes: [UInt8](bytea: state))
        }
        return out
    }

    public func record(_ key: RecordKey) async throws -> RecordState? {
        try await rows(
            "SELECT state FROM records WHERE space = \(key.space.rawValue) AND collection = \(key.collection.rawValue) AND record = \(key.record.rawValue)"
        ).first.map { try RecordState(wireBytes: [UInt8](bytea: try $0.decode(ByteBuffer.self))) }
    }
}
