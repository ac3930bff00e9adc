#include <sqlite3.h>

// FTS5 auxiliary function `matched(table)`: how many of the query's phrases occur in the row.
// Search ranks best matches by it before bm25 ("the count of matched words weighing first");
// FTS5 has no built-in for it, and an auxiliary function can only be registered through the
// C struct of function pointers that `fts5_api` is, which Swift cannot build directly.
static void satchel_fts5_matched(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx,
                                 int count, sqlite3_value **values) {
    (void)count;
    (void)values;
    int phrases = api->xPhraseCount(fts);
    int matched = 0;
    for (int i = 0; i < phrases; i++) {
        Fts5PhraseIter iter;
        int column = -1, offset = -1;
        if (api->xPhraseFirst(fts, i, &iter, &column, &offset) == SQLITE_OK && column >= 0) matched++;
    }
    sqlite3_result_int(ctx, matched);
}

// Registers `matched` on a connection; SQLITE_OK, or an error code if FTS5 is missing.
static inline int satchel_fts5_register(sqlite3 *db) {
    fts5_api *api = 0;
    sqlite3_stmt *statement = 0;
    int rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &statement, 0);
    if (rc != SQLITE_OK) return rc;
    sqlite3_bind_pointer(statement, 1, (void *)&api, "fts5_api_ptr", 0);
    sqlite3_step(statement);
    rc = sqlite3_finalize(statement);
    if (rc != SQLITE_OK) return rc;
    if (api == 0) return SQLITE_ERROR;
    return api->xCreateFunction(api, "matched", 0, satchel_fts5_matched, 0);
}
