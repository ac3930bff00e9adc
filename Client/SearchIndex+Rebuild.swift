import SatchelProtocol
import SatchelSQLite

extension SearchIndex {
    /// Replaces the index with one in the current format, built from every record's view.
    /// Runs inside a migration's transaction: a device killed half-way has its old index and
    /// schema version back at the next open, and rebuilds again.
    static func rebuild(_ db: Database) throws {
        precondition(db.isInTransaction, "the search index is rebuilt inside a transaction")
        try db.execute("DROP TABLE IF EXISTS search")
        try db.execute(createTable)
        try db.scan(
            "SELECT id, space, collection, record, view FROM records WHERE view IS NOT NULL AND collection != ? ORDER BY id",
            arguments: [CollectionName.conflicts.rawValue]
        ) { row in
            let key = RecordKey(
                space: SpaceID(unchecked: row.string(at: 1)), collection: Name(stringLiteral: row.string(at: 2)),
                record: RecordID(unchecked: row.string(at: 3)))
            try update(db, id: row.int64(at: 0), key: key, view: try FieldValues.decode(row.blob(at: 4)))
            return true
        }
    }
}
