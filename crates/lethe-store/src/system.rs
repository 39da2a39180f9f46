//! Lethe's own tables (users, tokens, deletion batches, jobs, history, the applied schema)
//! and their append-only migrations. The SQL is fixed text, one version per backend where the
//! dialects differ. A migration, once released, is never edited: changes are new versions.

use sea_query::ExprTrait;
use sqlx::Pool;

use crate::dialect::{Backend, Dialect};
use crate::error::StoreError;

struct SystemMigration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[SystemMigration] = &[
    SystemMigration {
        version: 1,
        name: "users, tokens, deletion batches, jobs, history, schema state",
        sqlite: r#"
CREATE TABLE lethe_user (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'user')),
    created_at TEXT NOT NULL
);
CREATE TABLE lethe_token (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES lethe_user (id),
    token_hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);
CREATE INDEX ix_lethe_token_user_id ON lethe_token (user_id);
CREATE TABLE lethe_deletion_batch (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    created_by INTEGER REFERENCES lethe_user (id),
    reason TEXT,
    state TEXT NOT NULL
);
CREATE TABLE lethe_job (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    payload TEXT NOT NULL,
    cursor TEXT,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER,
    result TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    created_by INTEGER REFERENCES lethe_user (id),
    started_at TEXT,
    finished_at TEXT,
    lease_owner TEXT,
    lease_expires_at TEXT
);
CREATE INDEX ix_lethe_job_state ON lethe_job (state);
CREATE TABLE lethe_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor_id INTEGER,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE lethe_schema_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    schema_toml TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"#,
        postgres: r#"
CREATE TABLE lethe_user (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'user')),
    created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE lethe_token (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES lethe_user (id),
    token_hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX ix_lethe_token_user_id ON lethe_token (user_id);
CREATE TABLE lethe_deletion_batch (
    id BIGSERIAL PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    created_by BIGINT REFERENCES lethe_user (id),
    reason TEXT,
    state TEXT NOT NULL
);
CREATE TABLE lethe_job (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    payload JSONB NOT NULL,
    cursor JSONB,
    done BIGINT NOT NULL DEFAULT 0,
    total BIGINT,
    result JSONB,
    error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    created_by BIGINT REFERENCES lethe_user (id),
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    lease_owner TEXT,
    lease_expires_at TIMESTAMPTZ
);
CREATE INDEX ix_lethe_job_state ON lethe_job (state);
CREATE TABLE lethe_history (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    actor_id BIGINT,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT,
    details JSONB NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE lethe_schema_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    schema_toml TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
"#,
    },
    SystemMigration {
        version: 2,
        name: "saved selections and snapshots",
        sqlite: r#"
CREATE TABLE lethe_selection (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    entity TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('dynamic', 'static', 'combined')),
    filter_text TEXT,
    operator TEXT CHECK (operator IN ('union', 'intersection', 'difference')),
    description TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    created_by INTEGER REFERENCES lethe_user (id),
    updated_at TEXT NOT NULL
);
CREATE TABLE lethe_selection_member (
    selection_id INTEGER NOT NULL REFERENCES lethe_selection (id) ON DELETE CASCADE,
    record_id INTEGER NOT NULL,
    PRIMARY KEY (selection_id, record_id)
);
CREATE TABLE lethe_selection_part (
    selection_id INTEGER NOT NULL REFERENCES lethe_selection (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    part_id INTEGER NOT NULL REFERENCES lethe_selection (id),
    PRIMARY KEY (selection_id, position)
);
CREATE INDEX ix_lethe_selection_part_part_id ON lethe_selection_part (part_id);
CREATE TABLE lethe_snapshot (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    scope TEXT NOT NULL,
    source TEXT NOT NULL,
    member_count INTEGER NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    created_by INTEGER REFERENCES lethe_user (id)
);
CREATE TABLE lethe_snapshot_member (
    snapshot_id INTEGER NOT NULL REFERENCES lethe_snapshot (id) ON DELETE CASCADE,
    record_id INTEGER NOT NULL,
    PRIMARY KEY (snapshot_id, record_id)
);
"#,
        postgres: r#"
CREATE TABLE lethe_selection (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    entity TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('dynamic', 'static', 'combined')),
    filter_text TEXT,
    operator TEXT CHECK (operator IN ('union', 'intersection', 'difference')),
    description TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    created_by BIGINT REFERENCES lethe_user (id),
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE lethe_selection_member (
    selection_id BIGINT NOT NULL REFERENCES lethe_selection (id) ON DELETE CASCADE,
    record_id BIGINT NOT NULL,
    PRIMARY KEY (selection_id, record_id)
);
CREATE TABLE lethe_selection_part (
    selection_id BIGINT NOT NULL REFERENCES lethe_selection (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    part_id BIGINT NOT NULL REFERENCES lethe_selection (id),
    PRIMARY KEY (selection_id, position)
);
CREATE INDEX ix_lethe_selection_part_part_id ON lethe_selection_part (part_id);
CREATE TABLE lethe_snapshot (
    id BIGSERIAL PRIMARY KEY,
    entity TEXT NOT NULL,
    scope TEXT NOT NULL,
    source TEXT NOT NULL,
    member_count BIGINT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    created_by BIGINT REFERENCES lethe_user (id)
);
CREATE TABLE lethe_snapshot_member (
    snapshot_id BIGINT NOT NULL REFERENCES lethe_snapshot (id) ON DELETE CASCADE,
    record_id BIGINT NOT NULL,
    PRIMARY KEY (snapshot_id, record_id)
);
"#,
    },
    SystemMigration {
        version: 3,
        name: "lifecycle: batch roots, job scheduling, skipped members, notifications, erased files, secrets",
        sqlite: r#"
ALTER TABLE lethe_deletion_batch ADD COLUMN entity TEXT;
ALTER TABLE lethe_deletion_batch ADD COLUMN snapshot_id INTEGER;
ALTER TABLE lethe_deletion_batch ADD COLUMN job_id INTEGER;
ALTER TABLE lethe_job ADD COLUMN not_before TEXT;
ALTER TABLE lethe_job ADD COLUMN batch_size INTEGER NOT NULL DEFAULT 5000;
CREATE INDEX ix_lethe_job_state_not_before ON lethe_job (state, not_before);
CREATE TABLE lethe_job_skip (
    job_id INTEGER NOT NULL REFERENCES lethe_job (id) ON DELETE CASCADE,
    record_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    entity TEXT,
    count INTEGER NOT NULL DEFAULT 1,
    reason TEXT NOT NULL
);
CREATE INDEX ix_lethe_job_skip_job_record ON lethe_job_skip (job_id, record_id);
CREATE TABLE lethe_notification (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES lethe_user (id),
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    job_id INTEGER,
    read_at TEXT
);
CREATE INDEX ix_lethe_notification_user ON lethe_notification (user_id, id);
CREATE TABLE lethe_erased_file (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL,
    storage_key TEXT NOT NULL
);
CREATE TABLE lethe_secret (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    hash_key TEXT NOT NULL
);
"#,
        postgres: r#"
ALTER TABLE lethe_deletion_batch ADD COLUMN entity TEXT;
ALTER TABLE lethe_deletion_batch ADD COLUMN snapshot_id BIGINT;
ALTER TABLE lethe_deletion_batch ADD COLUMN job_id BIGINT;
ALTER TABLE lethe_job ADD COLUMN not_before TIMESTAMPTZ;
ALTER TABLE lethe_job ADD COLUMN batch_size BIGINT NOT NULL DEFAULT 5000;
CREATE INDEX ix_lethe_job_state_not_before ON lethe_job (state, not_before);
CREATE TABLE lethe_job_skip (
    job_id BIGINT NOT NULL REFERENCES lethe_job (id) ON DELETE CASCADE,
    record_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    entity TEXT,
    count BIGINT NOT NULL DEFAULT 1,
    reason TEXT NOT NULL
);
CREATE INDEX ix_lethe_job_skip_job_record ON lethe_job_skip (job_id, record_id);
CREATE TABLE lethe_notification (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES lethe_user (id),
    at TIMESTAMPTZ NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    job_id BIGINT,
    read_at TIMESTAMPTZ
);
CREATE INDEX ix_lethe_notification_user ON lethe_notification (user_id, id);
CREATE TABLE lethe_erased_file (
    id BIGSERIAL PRIMARY KEY,
    job_id BIGINT NOT NULL,
    storage_key TEXT NOT NULL
);
CREATE TABLE lethe_secret (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    hash_key TEXT NOT NULL
);
"#,
    },
    SystemMigration {
        version: 4,
        name: "erased files: the record each file belonged to",
        sqlite: r#"
ALTER TABLE lethe_erased_file ADD COLUMN entity TEXT;
ALTER TABLE lethe_erased_file ADD COLUMN record_id INTEGER;
"#,
        postgres: r#"
ALTER TABLE lethe_erased_file ADD COLUMN entity TEXT;
ALTER TABLE lethe_erased_file ADD COLUMN record_id BIGINT;
"#,
    },
    SystemMigration {
        version: 5,
        name: "history: numbered entries, and the fingerprint of the key that seals them",
        sqlite: r#"
ALTER TABLE lethe_history ADD COLUMN seq INTEGER;
UPDATE lethe_history SET seq = numbered.n
    FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n FROM lethe_history) AS numbered
    WHERE lethe_history.id = numbered.id;
CREATE UNIQUE INDEX ux_lethe_history_seq ON lethe_history (seq);
CREATE TABLE lethe_history_seal (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key_fingerprint TEXT NOT NULL,
    seal TEXT NOT NULL
);
"#,
        postgres: r#"
ALTER TABLE lethe_history ADD COLUMN seq BIGINT;
UPDATE lethe_history SET seq = numbered.n
    FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n FROM lethe_history) AS numbered
    WHERE lethe_history.id = numbered.id;
CREATE UNIQUE INDEX ux_lethe_history_seq ON lethe_history (seq);
CREATE TABLE lethe_history_seal (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key_fingerprint TEXT NOT NULL,
    seal TEXT NOT NULL
);
"#,
    },
    SystemMigration {
        version: 6,
        name: "claims: one confirmation, one operation",
        sqlite: r#"
CREATE TABLE lethe_claim (
    subject TEXT PRIMARY KEY,
    job_id INTEGER NOT NULL
);
"#,
        postgres: r#"
CREATE TABLE lethe_claim (
    subject TEXT PRIMARY KEY,
    job_id BIGINT NOT NULL
);
"#,
    },
    SystemMigration {
        version: 7,
        name: "users: removal",
        sqlite: r#"
ALTER TABLE lethe_user ADD COLUMN removed_at TEXT;
"#,
        postgres: r#"
ALTER TABLE lethe_user ADD COLUMN removed_at TIMESTAMPTZ;
"#,
    },
    SystemMigration {
        version: 8,
        name: "deletion batches: the purge that left them held",
        sqlite: r#"
ALTER TABLE lethe_deletion_batch ADD COLUMN held_by_job INTEGER;
"#,
        postgres: r#"
ALTER TABLE lethe_deletion_batch ADD COLUMN held_by_job BIGINT;
"#,
    },
];

/// The newest system migration this build knows.
pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |migration| migration.version)
}

/// Applies the system migrations not yet applied, each in its own transaction.
pub(crate) async fn migrate<DB: Dialect>(pool: &Pool<DB>) -> Result<(), StoreError> {
    let mut connection = pool.acquire().await?;
    let create = match DB::BACKEND {
        Backend::Sqlite => {
            "CREATE TABLE IF NOT EXISTS lethe_migration (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        }
        Backend::Postgres => {
            "CREATE TABLE IF NOT EXISTS lethe_migration (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        }
    };
    DB::execute_plain(&mut connection, create.to_owned()).await?;
    drop(connection);

    for migration in MIGRATIONS {
        let mut transaction = pool.begin().await?;
        // Taking a write lock first makes concurrent starts of several instances wait for
        // each other instead of applying the same migration twice.
        if DB::BACKEND == Backend::Postgres {
            DB::execute_plain(
                &mut transaction,
                "LOCK TABLE lethe_migration IN EXCLUSIVE MODE".to_owned(),
            )
            .await?;
        }
        let (sql, values) = DB::build(
            sea_query::Query::select()
                .expr(sea_query::Expr::col(sea_query::Alias::new("version")).count())
                .from(sea_query::Alias::new("lethe_migration"))
                .and_where(
                    sea_query::Expr::col(sea_query::Alias::new("version")).eq(migration.version),
                ),
        );
        let row = DB::fetch_optional(&mut transaction, sql, values).await?;
        let applied = match row {
            Some(row) => DB::decode(&row, 0, &lethe_schema::ValueType::Integer)?,
            None => crate::Value::Integer(0),
        };
        if applied != crate::Value::Integer(0) {
            transaction.rollback().await?;
            continue;
        }
        let body = match DB::BACKEND {
            Backend::Sqlite => migration.sqlite,
            Backend::Postgres => migration.postgres,
        };
        DB::execute_plain(&mut transaction, body.to_owned()).await?;
        let (sql, values) = DB::build(
            sea_query::Query::insert()
                .into_table(sea_query::Alias::new("lethe_migration"))
                .columns([
                    sea_query::Alias::new("version"),
                    sea_query::Alias::new("name"),
                ])
                .values_panic([
                    sea_query::Expr::val(migration.version),
                    sea_query::Expr::val(migration.name),
                ]),
        );
        DB::execute(&mut transaction, sql, values).await?;
        transaction.commit().await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied system migration"
        );
    }
    Ok(())
}
