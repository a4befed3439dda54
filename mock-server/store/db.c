/* db.c — error text and statement helpers shared by the store's files. */
#include "store_internal.h"

#include "qx_log.h"

/* "<path>: <what>: <SQLite's message>". Called with the lock held, so the
 * connection's message is still the one of the failed call. */
void store_db_error(qxm_store *s, qx_error *err, const char *what)
{
    qx_error_set(err, "%s: %s: %s", s->name, what, sqlite3_errmsg(s->w.db));
}

/* The same for the connection reads use. */
void store_rd_error(qxm_store *s, qx_error *err, const char *what)
{
    qx_error_set(err, "%s: %s: %s", s->name, what, sqlite3_errmsg(s->rd->db));
}

/* Makes a used statement reusable and drops its bindings (which may point
 * into the caller's strings). */
void store_done(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

/* Runs a statement that returns no rows. Returns 0 or -1 with err set. */
int store_exec_stmt(qxm_store *s, enum stmt_id id, qx_error *err)
{
    sqlite3_stmt *stmt = s->w.st[id];
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        store_db_error(s, err, QXM_STATEMENTS[id].name);
    store_done(stmt);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

void store_rollback(qxm_store *s)
{
    qx_error ignored;
    /* After some errors SQLite has already rolled back; nothing to do then. */
    if (!sqlite3_get_autocommit(s->w.db) && store_exec_stmt(s, ST_ROLLBACK, &ignored) != 0)
        qx_log(QX_LOG_ERROR, "%s", ignored.text);
}

/* Binds text, or NULL for a NULL pointer. The text must outlive the step. */
int store_bind_text(sqlite3_stmt *stmt, int i, const char *text)
{
    if (text == NULL)
        return sqlite3_bind_null(stmt, i);
    return sqlite3_bind_text(stmt, i, text, -1, SQLITE_STATIC);
}
