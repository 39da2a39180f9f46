//! Lethe's own tables (users, tokens, deletion batches, jobs, history, selections and
//! snapshots, claims, secrets, the applied schema) and their migrations, run by sqlx's
//! migrator. The SQL of each version is a file per backend under `migrations/`; a migration,
//! once released, is never edited: changes are new versions.
//!
//! Databases made before Lethe used sqlx's migrator recorded versions 1 to 8 in
//! `lethe_migration`; they are adopted in place the first time they are opened, in the same
//! lock that guards the migrations. The old table stays as it was, so that the Lethe that
//! made the database can still open it (it finds its versions applied).

use std::borrow::Cow;

use sea_query::{Alias, Expr, ExprTrait, Query};
use sqlx::migrate::{Migrate, MigrateError, Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, Pool, SqlSafeStr};

use crate::dialect::{Backend, Dialect, begin_write};
use crate::error::StoreError;

/// Every system migration: version, name, SQLite text, PostgreSQL text.
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "users, tokens, deletion batches, jobs, history, schema state",
        include_str!("../migrations/sqlite/0001_users_tokens_batches_jobs_history.sql"),
        include_str!("../migrations/postgres/0001_users_tokens_batches_jobs_history.sql"),
    ),
    (
        2,
        "saved selections and snapshots",
        include_str!("../migrations/sqlite/0002_selections_snapshots.sql"),
        include_str!("../migrations/postgres/0002_selections_snapshots.sql"),
    ),
    (
        3,
        "lifecycle: batch roots, job scheduling, skipped members, notifications, erased files, secrets",
        include_str!("../migrations/sqlite/0003_lifecycle.sql"),
        include_str!("../migrations/postgres/0003_lifecycle.sql"),
    ),
    (
        4,
        "erased files: the record each file belonged to",
        include_str!("../migrations/sqlite/0004_erased_file_owner.sql"),
        include_str!("../migrations/postgres/0004_erased_file_owner.sql"),
    ),
    (
        5,
        "history: numbered entries, and the fingerprint of the key that seals them",
        include_str!("../migrations/sqlite/0005_history_seq_seal.sql"),
        include_str!("../migrations/postgres/0005_history_seq_seal.sql"),
    ),
    (
        6,
        "claims: one confirmation, one operation",
        include_str!("../migrations/sqlite/0006_claims.sql"),
        include_str!("../migrations/postgres/0006_claims.sql"),
    ),
    (
        7,
        "users: removal",
        include_str!("../migrations/sqlite/0007_user_removal.sql"),
        include_str!("../migrations/postgres/0007_user_removal.sql"),
    ),
    (
        8,
        "deletion batches: the purge that left them held",
        include_str!("../migrations/sqlite/0008_batch_held_by_job.sql"),
        include_str!("../migrations/postgres/0008_batch_held_by_job.sql"),
    ),
    (
        9,
        "users: a password to sign in",
        include_str!("../migrations/sqlite/0009_user_password.sql"),
        include_str!("../migrations/postgres/0009_user_password.sql"),
    ),
    (
        10,
        "sign-in sessions and wrong passwords",
        include_str!("../migrations/sqlite/0010_sessions.sql"),
        include_str!("../migrations/postgres/0010_sessions.sql"),
    ),
    (
        11,
        "deliveries: e-mail addresses, channel choices, webhooks, the outbox",
        include_str!("../migrations/sqlite/0011_deliveries.sql"),
        include_str!("../migrations/postgres/0011_deliveries.sql"),
    ),
    (
        12,
        "retention policies and their runs",
        include_str!("../migrations/sqlite/0012_retention_policies.sql"),
        include_str!("../migrations/postgres/0012_retention_policies.sql"),
    ),
    (
        13,
        "monitors: their subscribers, members, runs and hits",
        include_str!("../migrations/sqlite/0013_monitors.sql"),
        include_str!("../migrations/postgres/0013_monitors.sql"),
    ),
    (
        14,
        "erasure and access requests, and what fulfilled them",
        include_str!("../migrations/sqlite/0014_requests.sql"),
        include_str!("../migrations/postgres/0014_requests.sql"),
    ),
    (
        15,
        "retention policies: a saved selection as source; scheduled runs claimed, then finished",
        include_str!("../migrations/sqlite/0015_policy_claims.sql"),
        include_str!("../migrations/postgres/0015_policy_claims.sql"),
    ),
    (
        16,
        "the outbox: delivered messages found by when",
        include_str!("../migrations/sqlite/0016_outbox_delivered.sql"),
        include_str!("../migrations/postgres/0016_outbox_delivered.sql"),
    ),
];

/// The table the migrator records applied versions in.
const TABLE: &str = "lethe_system_migration";

/// Where versions were recorded before Lethe used sqlx's migrator.
const LEGACY_TABLE: &str = "lethe_migration";

/// Serialises the adoption of a legacy table among instances starting at once (PostgreSQL).
const ADOPT_LOCK: i64 = 0x006c_6574_6d69;

/// The newest system migration this build knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |migration| migration.0)
}

fn migrator(backend: Backend) -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|(version, name, sqlite, postgres)| {
            let sql = match backend {
                Backend::Sqlite => *sqlite,
                Backend::Postgres => *postgres,
            };
            Migration::new(
                *version,
                Cow::Borrowed(*name),
                MigrationType::Simple,
                AssertSqlSafe(sql).into_sql_str(),
                false,
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.dangerous_set_table_name(TABLE);
    migrator
}

fn migrate_error(error: MigrateError) -> StoreError {
    match error {
        MigrateError::Execute(inner) | MigrateError::ExecuteMigration(inner, _) => {
            StoreError::Database(inner)
        }
        MigrateError::VersionMissing(version) => StoreError::IncompatibleSchema(vec![format!(
            "this database has Lethe's system migration {version}, which this version of Lethe does not know: it was made by a newer Lethe; use that version"
        )]),
        other => StoreError::Internal(format!("migrating Lethe's own tables: {other}")),
    }
}

/// Applies the system migrations not yet applied. On SQLite the whole run holds the write
/// lock, so two processes starting at once take turns; on PostgreSQL the migrator takes an
/// advisory lock.
pub async fn migrate<DB: Dialect>(pool: &Pool<DB>) -> Result<(), StoreError>
where
    DB::Connection: Migrate,
{
    let migrator = migrator(DB::BACKEND);
    match DB::BACKEND {
        Backend::Sqlite => {
            let mut transaction = begin_write(pool).await?;
            adopt_legacy::<DB>(&mut transaction, &migrator).await?;
            migrator
                .run(&mut transaction)
                .await
                .map_err(migrate_error)?;
            transaction.commit().await?;
        }
        Backend::Postgres => {
            let mut transaction = begin_write(pool).await?;
            DB::execute_plain(
                &mut transaction,
                format!("SELECT pg_advisory_xact_lock({ADOPT_LOCK})"),
            )
            .await?;
            adopt_legacy::<DB>(&mut transaction, &migrator).await?;
            transaction.commit().await?;
            migrator.run(pool).await.map_err(migrate_error)?;
        }
    }
    Ok(())
}

async fn table_exists<DB: Dialect>(
    connection: &mut DB::Connection,
    table: &str,
) -> Result<bool, StoreError> {
    let name = || Expr::col(Alias::new("name"));
    let mut query = Query::select();
    query.expr(Expr::val(1));
    match DB::BACKEND {
        Backend::Sqlite => query
            .from(Alias::new("sqlite_master"))
            .and_where(Expr::col(Alias::new("type")).eq("table"))
            .and_where(name().eq(table)),
        Backend::Postgres => query
            .from((Alias::new("information_schema"), Alias::new("tables")))
            .and_where(Expr::col(Alias::new("table_name")).eq(table))
            .and_where(Expr::col(Alias::new("table_schema")).eq(Expr::cust("current_schema()"))),
    };
    let (sql, values) = DB::build(&query);
    Ok(DB::fetch_optional(connection, sql, values).await?.is_some())
}

/// Records the versions a database made before sqlx's migrator applied, with the checksums of
/// the same migrations, once: the migrator then goes on from there. The old table is left
/// for the older Lethe.
async fn adopt_legacy<DB: Dialect>(
    connection: &mut DB::Connection,
    migrator: &Migrator,
) -> Result<(), StoreError>
where
    DB::Connection: Migrate,
{
    if !table_exists::<DB>(connection, LEGACY_TABLE).await?
        || table_exists::<DB>(connection, TABLE).await?
    {
        return Ok(());
    }
    connection
        .ensure_migrations_table(TABLE)
        .await
        .map_err(migrate_error)?;
    let (sql, values) = DB::build(
        Query::select()
            .column(Alias::new("version"))
            .from(Alias::new(LEGACY_TABLE)),
    );
    let applied = DB::fetch_all(connection, sql, values).await?;
    for row in &applied {
        let Some(version) = crate::rows::int::<DB>(row, 0)? else {
            continue;
        };
        let Some(migration) = migrator
            .iter()
            .find(|migration| migration.version == version)
        else {
            return Err(migrate_error(MigrateError::VersionMissing(version)));
        };
        let mut insert = Query::insert();
        insert
            .into_table(Alias::new(TABLE))
            .columns(
                [
                    "version",
                    "description",
                    "success",
                    "checksum",
                    "execution_time",
                ]
                .map(Alias::new),
            )
            .values_panic([
                Expr::val(version),
                Expr::val(migration.description.as_ref()),
                Expr::val(true),
                Expr::val(migration.checksum.to_vec()),
                Expr::val(0i64),
            ]);
        let (sql, values) = DB::build(&insert);
        DB::execute(connection, sql, values).await?;
    }
    tracing::info!(
        versions = applied.len(),
        "adopted the system migrations recorded in {LEGACY_TABLE}"
    );
    Ok(())
}
