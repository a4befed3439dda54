/*
 * sql.c — every SQL text of the store: the schema, its migrations, the
 * statements prepared once per connection, and the histogram's (see
 * store_internal.h for the parameter numbering).
 */
#include "store_internal.h"

/* What retention adds (version 3): the tombstones of evicted runs and
 * journal entries, oldest found by tombstones_evicted, and the store's
 * counters (runs evicted since the store was created, tombstones kept). */
#define RETENTION_TABLES                                                                           \
    "CREATE TABLE tombstones ("                                                                    \
    "  id TEXT NOT NULL,"                                                                          \
    "  kind TEXT NOT NULL CHECK (kind IN ('run', 'request')),"                                     \
    "  evicted_ms INTEGER NOT NULL,"                                                               \
    "  PRIMARY KEY (id, kind));"                                                                   \
    "CREATE INDEX tombstones_evicted ON tombstones (evicted_ms);"                                  \
    "CREATE TABLE store_counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;"       \
    "INSERT INTO store_counters (name, n) VALUES ('" QXM_COUNTER_RUNS_EVICTED "', 0),"             \
    " ('" QXM_COUNTER_TOMBSTONES "', 0);"

#define SUMMARY_ROW "flags & " JOURNAL_STR(JOURNAL_FLAG_SUMMARY) " <> 0"

/*
 * A run's identity values, lowercased, for run_identities: every string
 * "id" of the payload's identityMap (each namespace an array of {"id"}),
 * and the event data's email, extRef and externalId. seq and doc are the
 * run's seq and stored text; from and where (ending in "," and "AND", or
 * empty) join the runs table for a whole-table fill. Used by the streamed
 * import and the upgrade; a run stored one at a time has its values read
 * from its parsed document by runs.c (add_identities), which must agree
 * (test_store checks both on the same documents).
 */
#define IDENTITIES_OF(seq, doc, from, where)                                                       \
    "INSERT OR IGNORE INTO run_identities (run_seq, value)"                                        \
    " SELECT " seq ", lower(json_extract(e.value, '$.id')) FROM " from " json_each(" doc           \
    ", '$.payload.identityMap') AS ns, json_each(ns.value) AS e"                                   \
    " WHERE " where " ns.type = 'array' AND e.type = 'object'"                                     \
    " AND json_type(e.value, '$.id') = 'text' AND json_extract(e.value, '$.id') <> ''"             \
    " UNION ALL SELECT " seq ", lower(d.value) FROM " from " json_each(" doc                       \
    ", '$.eventData') AS d"                                                                        \
    " WHERE " where " d.key IN ('email', 'extRef', 'externalId') AND d.type = 'text'"              \
    " AND d.value <> ''"

/* What the bounded journal adds (version 4): the client's address, the
 * headers kept (a JSON object, credentials never among them), the body's
 * first bytes and its length as sent, flags (JOURNAL_FLAG_*) and how many
 * requests a summary entry stands for; and the count of entries evicted. */
#define JOURNAL_COLUMNS                                                                            \
    "  client TEXT,"                                                                               \
    "  headers TEXT,"                                                                              \
    "  body TEXT,"                                                                                 \
    "  body_len INTEGER,"                                                                          \
    "  flags INTEGER NOT NULL DEFAULT 0,"                                                          \
    "  count INTEGER NOT NULL DEFAULT 1"
#define JOURNAL_COUNTER                                                                            \
    "INSERT OR IGNORE INTO store_counters (name, n) VALUES ('" QXM_COUNTER_JOURNAL_EVICTED "', "   \
    "0);"

/* What search adds (version 5):
 * - run_identities: each run's identity values, lowercased (see
 *   IDENTITIES_OF), for GET /runs?identity=. A substring cannot use a
 *   b-tree, so a search scans this table — a few short rows per run, never
 *   the run documents. Keyed by run first, which is how eviction deletes.
 * - requests_id: GET /requests/{id} (ST_GET_REQUEST) finds an entry by its
 *   request id rather than by scanning the journal.
 * - requests_summary: the summary entries only (a few per client and
 *   minute), so that the unfiltered journal's request count
 *   (ST_JOURNAL_SUMMARISED) reads them, not every entry's row past its body.
 * The journal's filters (ST_LIST_REQUESTS*) have no index: the journal is
 * bounded (journalMax), its filter columns come before the headers and body
 * in each row, and every index would cost each journalled request. Measured
 * (SQLite 3.40, 100,000 entries with 600-byte bodies, an 84 MB file): a
 * filtered count or a page of a rare match ~50 ms, the unfiltered count
 * through requests_summary under 1 ms, an entry by id under 1 ms; an
 * identity search over 200,000 runs (400,000 values) ~40 ms. Recording a
 * run's three identities adds ~3-5 us to the ~35 us a run takes to store
 * (40,000 runs in batches of 32, file store); reading them in SQL from the
 * stored text (IDENTITIES_OF) took ~30 us more, hence runs.c's own reader. */
#define SEARCH_TABLES                                                                              \
    "CREATE TABLE run_identities ("                                                                \
    "  run_seq INTEGER NOT NULL,"                                                                  \
    "  value TEXT NOT NULL,"                                                                       \
    "  PRIMARY KEY (run_seq, value)) WITHOUT ROWID;"                                               \
    "CREATE INDEX requests_id ON requests (id);"                                                   \
    "CREATE INDEX requests_summary ON requests (count) WHERE " SUMMARY_ROW ";"

/* The statuses a run row may have; the migration from version 5 writes the
 * same text. */
#define STATUS_CHECK "status = 'RUNNING' OR status IN ('SUCCESS', 'FAILURE')"

const char QXM_SCHEMA_SQL[] =
    "CREATE TABLE runs ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT UNIQUE NOT NULL,"
    "  workflow_id TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (" STATUS_CHECK "),"
    "  final_status TEXT NOT NULL CHECK (final_status IN ('SUCCESS', 'FAILURE')),"
    "  received_ms INTEGER NOT NULL,"
    "  due_ms INTEGER NOT NULL,"
    "  finished_ms INTEGER,"
    "  payload_hash INTEGER,"
    "  doc TEXT NOT NULL,"
    "  duplicate_of TEXT,"
    "  entered_ms INTEGER NOT NULL);"
    "CREATE INDEX runs_workflow ON runs (workflow_id, seq, received_ms);"
    "CREATE INDEX runs_status ON runs (status, seq, received_ms);"
    "CREATE INDEX runs_workflow_status ON runs (workflow_id, status, seq, received_ms);"
    "CREATE INDEX runs_received ON runs (received_ms, status);"
    "CREATE INDEX runs_due ON runs (due_ms) WHERE status = 'RUNNING';"
    "CREATE INDEX runs_payload ON runs (workflow_id, payload_hash, received_ms);"
    "CREATE TABLE run_counts ("
    "  workflow_id TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  PRIMARY KEY (workflow_id, status)) WITHOUT ROWID;"
    "CREATE TRIGGER runs_recounted AFTER UPDATE OF workflow_id, status ON runs BEGIN"
    "  UPDATE run_counts SET n = n - 1"
    "    WHERE workflow_id = OLD.workflow_id AND status = OLD.status;"
    "  INSERT INTO run_counts (workflow_id, status, n) VALUES (NEW.workflow_id, NEW.status, 1)"
    "    ON CONFLICT (workflow_id, status) DO UPDATE SET n = n + 1;"
    "END;"
    "CREATE TABLE requests ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT,"
    "  received_ms INTEGER NOT NULL,"
    "  method TEXT,"
    "  path TEXT,"
    "  http_status INTEGER NOT NULL,"
    "  reason TEXT,"
    "  workflow_id TEXT,"
    "  run_id TEXT,"
    "  entered_ms INTEGER NOT NULL," JOURNAL_COLUMNS
    ");" RETENTION_TABLES JOURNAL_COUNTER SEARCH_TABLES "PRAGMA user_version = 6;";

/* From version 1: the duplicate's id became a column (found at insert, in
 * the committing transaction); the insert trigger on run_counts gave way to
 * one tally per batch; runs_payload is rebuilt, as stores created before it
 * carried received_ms kept an index that made the duplicate lookup sort.
 * Payloads are hashed differently since (see hash_json): a request repeating
 * a payload recorded before the upgrade is not marked as its duplicate. */
const char QXM_MIGRATE_1_SQL[] =
    "ALTER TABLE runs ADD COLUMN duplicate_of TEXT;"
    "DROP TRIGGER IF EXISTS runs_counted;"
    "DROP INDEX IF EXISTS runs_payload;"
    "CREATE INDEX runs_payload ON runs (workflow_id, payload_hash, received_ms);"
    "PRAGMA user_version = 2;";

/* From version 2: the time each run and journal entry entered the store,
 * which retention counts from. Rows already there entered "now", at the
 * upgrade: the column's default, the upgrade time (%lld, twice), is what
 * SQLite reads for them without rewriting a single row, however large the
 * store (an UPDATE would copy every run document through the WAL). New
 * rows always bind their own time. DDL takes no parameters, so the number
 * (ours, never input) is printed into the text. */
const char QXM_MIGRATE_2_SQL[] =
    "ALTER TABLE runs ADD COLUMN entered_ms INTEGER NOT NULL DEFAULT %lld;"
    "ALTER TABLE requests ADD COLUMN entered_ms INTEGER NOT NULL DEFAULT %lld;" RETENTION_TABLES
    "PRAGMA user_version = 3;";

/* From version 3: the bounded journal's columns (JOURNAL_COLUMNS, one
 * ALTER each: SQLite adds one column at a time, without rewriting a row) and
 * its counter. Rows already there have no client, headers or body. */
const char QXM_MIGRATE_3_SQL[] =
    "ALTER TABLE requests ADD COLUMN client TEXT;"
    "ALTER TABLE requests ADD COLUMN headers TEXT;"
    "ALTER TABLE requests ADD COLUMN body TEXT;"
    "ALTER TABLE requests ADD COLUMN body_len INTEGER;"
    "ALTER TABLE requests ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE requests ADD COLUMN count INTEGER NOT NULL DEFAULT 1;" JOURNAL_COUNTER
    "PRAGMA user_version = 4;";

/* From version 4: search (SEARCH_TABLES), the identities of the runs
 * already stored read from their documents once, here. */
const char QXM_MIGRATE_4_SQL[] =
    SEARCH_TABLES IDENTITIES_OF("r.seq", "r.doc", "runs AS r,", "") ";PRAGMA user_version = 5;";

/* From version 5: runs.status's CHECK as STATUS_CHECK instead of
 * "status IN ('RUNNING', 'SUCCESS', 'FAILURE')". SQLite tests a constant IN
 * list of three or more through a temporary b-tree it builds for every
 * insert (~10k instructions a run on the committer, a 4 KiB page zeroed
 * among them); an equality and an IN of two are compared in place. The
 * file's format does not change, so the table's text is rewritten where it
 * is kept, as SQLite documents for a change of constraints only (ALTER
 * TABLE, "making other kinds of table schema changes"), and the schema
 * cookie moves on (%d: one more than it was) so that every connection reads
 * the schema again. */
const char QXM_MIGRATE_5_SQL[] =
    "PRAGMA writable_schema = ON;"
    "UPDATE sqlite_schema SET sql = replace(sql,"
    " 'CHECK (status IN (''RUNNING'', ''SUCCESS'', ''FAILURE''))',"
    " 'CHECK (status = ''RUNNING'' OR status IN (''SUCCESS'', ''FAILURE''))')"
    " WHERE type = 'table' AND name = 'runs';"
    "PRAGMA schema_version = %d;"
    "PRAGMA writable_schema = OFF;"
    "PRAGMA user_version = 6;";

/*
 * Eviction, one batch at a time (evict.c): ?1 the cutoff (entered at or
 * before it), ?2 the batch size, ?3 now (the tombstones' time). The batch
 * is what is past the cutoff among the ?2 oldest rows by seq; within one
 * transaction the same subquery selects the same rows for each statement.
 * A tombstone already there (an id evicted, imported again, evicted again)
 * is renewed.
 *
 * No index on entered_ms: it grows with seq (both are taken under the
 * writer's lock), so the oldest rows by seq are the first to expire, and
 * every stored run would otherwise pay for one more index (callgrind: +5k
 * instructions a run, +0.8k without). Should the wall clock step back, a
 * row is evicted at most that step late: rows before it hold the batch.
 */
#define EVICT_RUNS                                                                                 \
    "SELECT seq FROM (SELECT seq, entered_ms FROM runs ORDER BY seq LIMIT ?2)"                     \
    " WHERE entered_ms <= ?1"
#define EVICT_REQUESTS                                                                             \
    "SELECT seq FROM (SELECT seq, entered_ms FROM requests ORDER BY seq LIMIT ?2)"                 \
    " WHERE entered_ms <= ?1"

/* The journal's columns as entry_json (journal.c) reads them, and its
 * filters: ?3 status, ?4 workflow id, ?5 a substring of the reason (any
 * case), ?6 since (inclusive), ?7 until (exclusive); NULL: any. */
#define REQUEST_COLUMNS                                                                            \
    "seq, id, received_ms, method, path, http_status, reason, workflow_id, run_id, client,"        \
    " headers, body, body_len, flags, count"
#define JOURNAL_WHERE                                                                              \
    "(?3 IS NULL OR http_status = ?3) AND (?4 IS NULL OR workflow_id = ?4)"                        \
    " AND (?5 IS NULL OR instr(lower(reason), lower(?5)) > 0)"                                     \
    " AND received_ms >= ?6 AND received_ms < ?7"
#define IDENTITY_MATCH "SELECT run_seq FROM run_identities WHERE instr(value, lower(?8)) > 0"
#define WORKFLOW_STATUS "(?1 IS NULL OR workflow_id = ?1) AND (?2 IS NULL OR status = ?2)"

const qxm_stmt_def QXM_STATEMENTS[ST_N] = {
    [ST_BEGIN] = {"begin", "BEGIN IMMEDIATE"},
    [ST_COMMIT] = {"commit", "COMMIT"},
    [ST_ROLLBACK] = {"rollback", "ROLLBACK"},
    [ST_INSERT_RUN] = {"insert run",
                       "INSERT INTO runs (id, workflow_id, status, final_status, received_ms,"
                       " due_ms, finished_ms, payload_hash, doc, duplicate_of, entered_ms)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"},
    [ST_COUNT_ADD] = {"count runs",
                      "INSERT INTO run_counts (workflow_id, status, n) VALUES (?1, ?2, ?3)"
                      " ON CONFLICT (workflow_id, status) DO UPDATE SET n = n + excluded.n"},
    [ST_GET_RUN] = {"get run", "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?1"},
    [ST_FINISH_DUE] = {"finish due runs",
                       "UPDATE runs INDEXED BY runs_due SET status = final_status,"
                       " finished_ms = due_ms WHERE status = 'RUNNING' AND due_ms <= ?1"},
    [ST_NEXT_DUE] = {"next due run",
                     "SELECT MIN(due_ms) FROM runs INDEXED BY runs_due WHERE status = 'RUNNING'"},
    [ST_LIST_ALL] = {"list runs", "SELECT " RUN_COLUMNS " FROM runs NOT INDEXED WHERE " PAGE_ASC},
    [ST_LIST_ALL_DESC] = {"list runs newest first",
                          "SELECT " RUN_COLUMNS " FROM runs NOT INDEXED WHERE " PAGE_DESC},
    /* The window's seqs come sorted from the covering index, then only the
     * page's rows are read; a rowid scan would first read every row older
     * than a recent window. */
    [ST_LIST_TIME] = {"list runs in a time window",
                      "SELECT " RUN_COLUMNS " FROM runs WHERE seq IN (SELECT seq FROM runs"
                      " INDEXED BY runs_received WHERE " PAGE_ASC ") ORDER BY seq"},
    [ST_LIST_TIME_DESC] = {"list runs in a time window newest first",
                           "SELECT " RUN_COLUMNS " FROM runs WHERE seq IN (SELECT seq FROM runs"
                           " INDEXED BY runs_received WHERE " PAGE_DESC ") ORDER BY seq DESC"},
    [ST_LIST_WORKFLOW] = {"list runs of a workflow",
                          "SELECT " RUN_COLUMNS " FROM runs INDEXED BY runs_workflow"
                          " WHERE workflow_id = ?1 AND " PAGE_ASC},
    [ST_LIST_WORKFLOW_DESC] = {"list runs of a workflow newest first",
                               "SELECT " RUN_COLUMNS " FROM runs INDEXED BY runs_workflow"
                               " WHERE workflow_id = ?1 AND " PAGE_DESC},
    [ST_LIST_STATUS] = {"list runs by status",
                        "SELECT " RUN_COLUMNS " FROM runs INDEXED BY runs_status"
                        " WHERE status = ?2 AND " PAGE_ASC},
    [ST_LIST_STATUS_DESC] = {"list runs by status newest first",
                             "SELECT " RUN_COLUMNS " FROM runs INDEXED BY runs_status"
                             " WHERE status = ?2 AND " PAGE_DESC},
    [ST_LIST_WORKFLOW_STATUS] = {"list runs of a workflow by status",
                                 "SELECT " RUN_COLUMNS " FROM runs INDEXED BY runs_workflow_status"
                                 " WHERE workflow_id = ?1 AND status = ?2 AND " PAGE_ASC},
    [ST_LIST_WORKFLOW_STATUS_DESC] = {"list runs of a workflow by status newest first",
                                      "SELECT " RUN_COLUMNS
                                      " FROM runs INDEXED BY runs_workflow_status"
                                      " WHERE workflow_id = ?1 AND status = ?2 AND " PAGE_DESC},
    /* A search by identity (?8) reads the matching runs' seqs from
     * run_identities, then only those rows. */
    [ST_LIST_IDENTITY] = {"list runs by identity",
                          "SELECT " RUN_COLUMNS " FROM runs WHERE seq IN (" IDENTITY_MATCH
                          ") AND " WORKFLOW_STATUS " AND " PAGE_ASC},
    [ST_LIST_IDENTITY_DESC] = {"list runs by identity newest first",
                               "SELECT " RUN_COLUMNS " FROM runs WHERE seq IN (" IDENTITY_MATCH
                               ") AND " WORKFLOW_STATUS " AND " PAGE_DESC},
    [ST_COUNT_IDENTITY] = {"count runs by identity",
                           "SELECT COUNT(*) FROM runs WHERE seq IN (" IDENTITY_MATCH
                           ") AND " WORKFLOW_STATUS " AND " WINDOW},
    /* One value as runs.c (add_identities) reads it from a document being
     * stored; lowered here as IDENTITIES_OF lowers. */
    [ST_ADD_IDENTITY] = {"record a run's identity",
                         "INSERT OR IGNORE INTO run_identities (run_seq, value)"
                         " VALUES (?1, lower(?2))"},
    [ST_LAST_RUN_SEQ] = {"last run", "SELECT COALESCE(MAX(seq), 0) FROM runs"},
    [ST_COUNT_TOTAL] = {"count runs",
                        "SELECT COALESCE(SUM(n), 0) FROM run_counts"
                        " WHERE (?1 IS NULL OR workflow_id = ?1) AND (?2 IS NULL OR status = ?2)"
                        " AND (?5 = 0 OR status <> 'RUNNING')"},
    [ST_COUNT_TIME] = {"count runs in a time window",
                       "SELECT COUNT(*) FROM runs INDEXED BY runs_received WHERE " WINDOW},
    [ST_COUNT_WORKFLOW] = {"count runs of a workflow",
                           "SELECT COUNT(*) FROM runs INDEXED BY runs_workflow_status"
                           " WHERE workflow_id = ?1 AND " WINDOW},
    [ST_COUNT_STATUS] = {"count runs by status", "SELECT COUNT(*) FROM runs INDEXED BY runs_status"
                                                 " WHERE status = ?2 AND " WINDOW},
    [ST_COUNT_WORKFLOW_STATUS] = {"count runs of a workflow by status",
                                  "SELECT COUNT(*) FROM runs INDEXED BY runs_workflow_status"
                                  " WHERE workflow_id = ?1 AND status = ?2 AND " WINDOW},
    [ST_STATUS_COUNTS] = {"status counts", "SELECT status, SUM(n) FROM run_counts GROUP BY status"},
    [ST_FIND_DUPLICATE] = {"find duplicate run",
                           "SELECT id FROM runs INDEXED BY runs_payload"
                           " WHERE workflow_id = ?1 AND payload_hash = ?2 AND received_ms >= ?3"
                           " ORDER BY received_ms DESC, seq DESC LIMIT 1"},
    [ST_ADD_REQUEST] = {"journal request",
                        "INSERT INTO requests (id, received_ms, method, path, http_status, reason,"
                        " workflow_id, run_id, entered_ms, client, headers, body, body_len, flags)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"},
    [ST_LIST_REQUESTS] = {"list journal", "SELECT " REQUEST_COLUMNS
                                          " FROM requests WHERE seq > ?1 AND " JOURNAL_WHERE
                                          " ORDER BY seq LIMIT ?2"},
    [ST_LIST_REQUESTS_DESC] = {"list journal newest first",
                               "SELECT " REQUEST_COLUMNS
                               " FROM requests WHERE seq < ?1 AND " JOURNAL_WHERE
                               " ORDER BY seq DESC LIMIT ?2"},
    [ST_COUNT_REQUESTS] =
        {"count journal entries",
         "SELECT COUNT(*), COALESCE(SUM(count), 0) FROM requests WHERE " JOURNAL_WHERE},
    [ST_JOURNAL_SUMMARISED] = {"count summarised requests",
                               "SELECT COALESCE(SUM(count - 1), 0) FROM requests"
                               " INDEXED BY requests_summary WHERE " SUMMARY_ROW},
    [ST_GET_REQUEST] = {"get journal entry",
                        "SELECT " REQUEST_COLUMNS " FROM requests INDEXED BY requests_id"
                        " WHERE id = ?1 ORDER BY seq DESC LIMIT 1"},
    /* A summary entry stands for ?2 more requests (0 rows: it was evicted). */
    [ST_FOLD_REQUEST] = {"count requests into their summary",
                         "UPDATE requests SET count = count + ?2 WHERE seq = ?1"},
    /* The ?1 oldest entries, for the journal's bounds; each gives back its
     * size, so the store's running total follows without a SUM. */
    [ST_TRIM_REQUESTS] = {"evict the oldest journal entries",
                          "DELETE FROM requests WHERE seq IN (SELECT seq FROM requests"
                          " ORDER BY seq LIMIT ?1) RETURNING " JOURNAL_ENTRY_BYTES ", seq"},
    [ST_JOURNAL_SIZE] = {"measure the journal", "SELECT COUNT(*), COALESCE(SUM(" JOURNAL_ENTRY_BYTES
                                                "), 0) FROM requests"},
    [ST_DELETE_RUNS] = {"delete runs", "DELETE FROM runs"},
    [ST_DELETE_COUNTS] = {"delete run counts", "DELETE FROM run_counts"},
    [ST_DELETE_IDENTITIES] = {"delete run identities", "DELETE FROM run_identities"},
    [ST_DELETE_REQUESTS] = {"delete journal", "DELETE FROM requests"},
    [ST_DELETE_TOMBSTONES] = {"delete tombstones", "DELETE FROM tombstones"},
    [ST_EVICT_RUN_TOMBSTONES] = {"tombstone evicted runs",
                                 "INSERT OR IGNORE INTO tombstones (id, kind, evicted_ms)"
                                 " SELECT id, 'run', ?3 FROM runs WHERE seq IN (" EVICT_RUNS ")"},
    [ST_EVICT_RUN_RENEW] = {"renew tombstones of evicted runs",
                            "UPDATE tombstones SET evicted_ms = ?3 WHERE kind = 'run' AND id IN"
                            " (SELECT id FROM runs WHERE seq IN (" EVICT_RUNS "))"},
    [ST_EVICT_RUN_COUNTS] = {"uncount evicted runs",
                             "INSERT INTO run_counts (workflow_id, status, n)"
                             " SELECT workflow_id, status, -COUNT(*) FROM runs"
                             " WHERE seq IN (" EVICT_RUNS ") GROUP BY workflow_id, status"
                             " ON CONFLICT (workflow_id, status) DO UPDATE SET n = n + excluded.n"},
    [ST_EVICT_RUN_IDENTITIES] = {"forget evicted runs' identities",
                                 "DELETE FROM run_identities WHERE run_seq IN (" EVICT_RUNS ")"},
    [ST_EVICT_RUNS] = {"evict runs", "DELETE FROM runs WHERE seq IN (" EVICT_RUNS ")"},
    [ST_EVICT_REQUEST_TOMBSTONES] = {"tombstone evicted journal entries",
                                     "INSERT OR IGNORE INTO tombstones (id, kind, evicted_ms)"
                                     " SELECT id, 'request', ?3 FROM requests"
                                     " WHERE id IS NOT NULL AND seq IN (" EVICT_REQUESTS ")"},
    [ST_EVICT_REQUEST_RENEW] = {"renew tombstones of evicted journal entries",
                                "UPDATE tombstones SET evicted_ms = ?3 WHERE kind = 'request'"
                                " AND id IN (SELECT id FROM requests WHERE seq IN (" EVICT_REQUESTS
                                "))"},
    [ST_EVICT_REQUESTS] = {"evict journal entries",
                           "DELETE FROM requests WHERE seq IN (" EVICT_REQUESTS ")"
                           " RETURNING " JOURNAL_ENTRY_BYTES ", seq"},
    /* The oldest tombstones evicted at or before ?1, at most ?2. */
    [ST_DROP_TOMBSTONES] = {"drop tombstones",
                            "DELETE FROM tombstones WHERE rowid IN (SELECT rowid FROM tombstones"
                            " INDEXED BY tombstones_evicted WHERE evicted_ms <= ?1"
                            " ORDER BY evicted_ms LIMIT ?2)"},
    [ST_FIND_TOMBSTONE] = {"find tombstone",
                           "SELECT evicted_ms FROM tombstones WHERE id = ?1 AND kind = ?2"},
    [ST_COUNTER_GET] = {"read counter", "SELECT n FROM store_counters WHERE name = ?1"},
    [ST_COUNTER_ADD] = {"add to counter", "UPDATE store_counters SET n = n + ?2 WHERE name = ?1"},
    [ST_ZERO_TOMBSTONE_COUNT] = {"zero the tombstone count",
                                 "UPDATE store_counters SET n = 0"
                                 " WHERE name = '" QXM_COUNTER_TOMBSTONES "'"},
};

/*
 * The run-history page's totals and chart (GET /_qx/v1/stats): one GROUP BY
 * over a covering index — runs_received (received_ms, status), or for one
 * workflow runs_workflow_status (workflow_id, status, seq, received_ms) — so
 * no run document is read however many runs are stored. Parameters as for
 * listing (?1..?5, see WINDOW) and ?6 the bucket width; a bucket starts at
 * received_ms rounded down to a multiple of ?6 (written with % twice so that
 * times before 1970 round down too). Prepared per call beside its only user
 * rather than in STATEMENTS: microseconds, against a scan of the window.
 */
#define HISTOGRAM_SELECT                                                                           \
    "SELECT received_ms - ((received_ms % ?6) + ?6) % ?6 AS bucket, SUM(status = 'SUCCESS'),"      \
    " SUM(status = 'FAILURE'), SUM(status = 'RUNNING') FROM runs"
#define HISTOGRAM_WHERE "(?2 IS NULL OR status = ?2) AND " WINDOW " GROUP BY bucket ORDER BY bucket"

const char QXM_HISTOGRAM_SQL[] =
    HISTOGRAM_SELECT " INDEXED BY runs_received WHERE " HISTOGRAM_WHERE;
const char QXM_HISTOGRAM_WORKFLOW_SQL[] =
    HISTOGRAM_SELECT " INDEXED BY runs_workflow_status WHERE workflow_id = ?1 AND " HISTOGRAM_WHERE;

/* A streamed import's staging (runs.c): a temporary table of the writer
 * connection, the rows of each import under its id, moved into runs at
 * commit. */
const char QXM_IMPORT_SCHEMA_SQL[] = "CREATE TEMP TABLE IF NOT EXISTS import_staging ("
                                     "  import_id INTEGER NOT NULL,"
                                     "  line INTEGER NOT NULL,"
                                     "  id TEXT NOT NULL,"
                                     "  workflow_id TEXT NOT NULL,"
                                     "  status TEXT NOT NULL,"
                                     "  final_status TEXT NOT NULL,"
                                     "  received_ms INTEGER NOT NULL,"
                                     "  due_ms INTEGER NOT NULL,"
                                     "  finished_ms INTEGER,"
                                     "  payload_hash INTEGER,"
                                     "  doc TEXT NOT NULL,"
                                     "  PRIMARY KEY (import_id, line),"
                                     "  UNIQUE (import_id, id))";
const char QXM_IMPORT_ADD_SQL[] =
    "INSERT INTO temp.import_staging (import_id, line, id, workflow_id, status, final_status,"
    " received_ms, due_ms, finished_ms, payload_hash, doc)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
const char QXM_IMPORT_CLASH_SQL[] =
    "SELECT s.line, s.id FROM temp.import_staging s WHERE s.import_id = ?1"
    " AND EXISTS (SELECT 1 FROM main.runs r WHERE r.id = s.id) ORDER BY s.line LIMIT 1";
const char QXM_IMPORT_MOVE_SQL[] =
    "INSERT INTO main.runs (id, workflow_id, status, final_status, received_ms, due_ms,"
    " finished_ms, payload_hash, doc, duplicate_of, entered_ms)"
    " SELECT id, workflow_id, status, final_status, received_ms, due_ms, finished_ms,"
    " payload_hash, doc, NULL, ?2 FROM temp.import_staging WHERE import_id = ?1 ORDER BY line";
const char QXM_IMPORT_COUNT_SQL[] =
    "INSERT INTO main.run_counts (workflow_id, status, n)"
    " SELECT workflow_id, status, COUNT(*) FROM temp.import_staging WHERE import_id = ?1"
    " GROUP BY workflow_id, status"
    " ON CONFLICT (workflow_id, status) DO UPDATE SET n = n + excluded.n";
/* The identities of the runs an import moved in: those past seq ?1. */
const char QXM_IMPORT_IDENTITIES_SQL[] =
    IDENTITIES_OF("r.seq", "r.doc", "main.runs AS r,", "r.seq > ?1 AND");
const char QXM_IMPORT_DELETE_SQL[] = "DELETE FROM temp.import_staging WHERE import_id = ?1";
