//! The hand-written SQL side: one connection with Lethe's settings, the same members in a
//! table of their own, and each operation run in one transaction, in batches and one contact
//! at a time, timed, with the rows it changed.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use lethe_schema::Schema;
use lethe_store::{DatabaseUrl, format_timestamp};
use serde_json::{Value as Json, json};
use sqlx::{AssertSqlSafe, Row};

use super::hand_sql::{CONTACT_CHILDREN, HandSql, Op, TICKET_CHILDREN, Tally};
use super::{SideArgs, open_and_pick, peak_mib, reset_peak, secs};

enum Conn {
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

impl Conn {
    /// One connection with the same settings as Lethe's pool.
    async fn open(db: &str) -> anyhow::Result<Conn> {
        let url = DatabaseUrl::parse(db)?;
        Ok(match crate::HandPool::open(&url).await? {
            crate::HandPool::Sqlite(pool) => Conn::Sqlite(pool.acquire().await?),
            crate::HandPool::Postgres(pool) => Conn::Postgres(pool.acquire().await?),
        })
    }

    fn postgres(&self) -> bool {
        matches!(self, Conn::Postgres(_))
    }

    /// Runs one statement with `$1`/`$2` bound to the range, when given; rows changed.
    async fn exec(&mut self, sql: &str, range: Option<(i64, i64)>) -> anyhow::Result<u64> {
        Ok(match self {
            Conn::Sqlite(connection) => {
                let sql = sql.replace('$', "?");
                let mut query = sqlx::query(AssertSqlSafe(sql));
                if let Some((lo, hi)) = range {
                    query = query.bind(lo).bind(hi);
                }
                query.execute(&mut **connection).await?.rows_affected()
            }
            Conn::Postgres(connection) => {
                let mut query = sqlx::query(AssertSqlSafe(sql.to_owned()));
                if let Some((lo, hi)) = range {
                    query = query.bind(lo).bind(hi);
                }
                query.execute(&mut **connection).await?.rows_affected()
            }
        })
    }

    async fn plain(&mut self, sql: &str) -> anyhow::Result<()> {
        match self {
            Conn::Sqlite(connection) => {
                sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                    .execute(&mut **connection)
                    .await?;
            }
            Conn::Postgres(connection) => {
                sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                    .execute(&mut **connection)
                    .await?;
            }
        }
        Ok(())
    }

    async fn int(&mut self, sql: &str, bound: Option<i64>) -> anyhow::Result<Vec<i64>> {
        Ok(match self {
            Conn::Sqlite(connection) => {
                let sql = sql.replace('$', "?");
                let mut query = sqlx::query(AssertSqlSafe(sql));
                if let Some(bound) = bound {
                    query = query.bind(bound);
                }
                query
                    .fetch_all(&mut **connection)
                    .await?
                    .iter()
                    .map(|row| row.try_get::<i64, _>(0))
                    .collect::<Result<_, _>>()?
            }
            Conn::Postgres(connection) => {
                let mut query = sqlx::query(AssertSqlSafe(sql.to_owned()));
                if let Some(bound) = bound {
                    query = query.bind(bound);
                }
                query
                    .fetch_all(&mut **connection)
                    .await?
                    .iter()
                    .map(|row| row.try_get::<i64, _>(0))
                    .collect::<Result<_, _>>()?
            }
        })
    }

    async fn begin(&mut self) -> anyhow::Result<()> {
        let sql = if self.postgres() {
            "BEGIN"
        } else {
            "BEGIN IMMEDIATE"
        };
        self.plain(sql).await
    }
}

/// Transactions of `size` members each, `(lo, hi]`, over the first `limit` members.
async fn ranges(conn: &mut Conn, size: u64, limit: Option<u64>) -> anyhow::Result<Vec<(i64, i64)>> {
    let mut out = Vec::new();
    let (mut lo, mut cursor, mut in_range, mut seen) = (i64::MIN, i64::MIN, 0u64, 0u64);
    'pages: loop {
        let page = conn
            .int(
                "SELECT id FROM bench_member WHERE id > $1 ORDER BY id LIMIT 10000",
                Some(cursor),
            )
            .await?;
        let Some(&last) = page.last() else { break };
        for id in page {
            if limit.is_some_and(|limit| seen >= limit) {
                break 'pages;
            }
            seen += 1;
            in_range += 1;
            cursor = id;
            if in_range == size {
                out.push((lo, id));
                lo = id;
                in_range = 0;
            }
        }
        cursor = last;
    }
    if in_range > 0 {
        out.push((lo, cursor));
    }
    Ok(out)
}

async fn hand_op(
    conn: &mut Conn,
    sql: &HandSql,
    role: &str,
    name: &str,
    op: Op,
    batching: Option<(u64, Option<u64>)>,
) -> anyhow::Result<Json> {
    reset_peak();
    let started = Instant::now();
    let ranges = match batching {
        Some((size, limit)) => Some(ranges(conn, size, limit).await?),
        None => None,
    };
    let statements = sql.statements(op, ranges.is_some(), conn.postgres());
    let mut changed: BTreeMap<&str, u64> = BTreeMap::new();
    let mut rewritten: BTreeMap<&str, u64> = BTreeMap::new();
    let mut transactions = 0u64;
    let transaction_ranges: Vec<Option<(i64, i64)>> = match &ranges {
        Some(ranges) => ranges.iter().copied().map(Some).collect(),
        None => vec![None],
    };
    for range in transaction_ranges {
        conn.begin().await?;
        for (tally, statement) in &statements {
            let rows = conn
                .exec(statement, range)
                .await
                .with_context(|| format!("{name}: {statement}"))?;
            match tally {
                Tally::Changed(entity) => *changed.entry(entity).or_default() += rows,
                Tally::Rewritten(entity) => *rewritten.entry(entity).or_default() += rows,
                Tally::Nothing => {}
            }
        }
        conn.plain("COMMIT").await?;
        transactions += 1;
    }
    let seconds = secs(started.elapsed());
    let peak = peak_mib();
    eprintln!(
        "[{role}] {name}: {seconds} s in {transactions} transaction(s), {changed:?}, rewritten {rewritten:?}"
    );
    Ok(json!({
        "seconds": seconds,
        "peak_mib": (peak * 10.0).round() / 10.0,
        "transactions": transactions,
        "counts": changed,
        "rewritten": rewritten,
    }))
}

/// The copy opened by the store (migrations), the members frozen the same way as Lethe's,
/// then copied into `bench_member` for the hand-written SQL, and a deletion batch.
async fn hand_setup(args: &SideArgs) -> anyhow::Result<(Conn, HandSql, u64)> {
    let (store, snapshot, _) = open_and_pick(args).await?;
    store.close().await;
    let mut conn = Conn::open(&args.db).await?;
    let key = if conn.postgres() {
        "bigint PRIMARY KEY"
    } else {
        "INTEGER PRIMARY KEY"
    };
    conn.plain(&format!("CREATE TABLE bench_member (id {key})"))
        .await?;
    conn.plain(&format!(
        "INSERT INTO bench_member (id) SELECT record_id FROM lethe_snapshot_member WHERE snapshot_id = {}",
        snapshot.id
    ))
    .await?;
    conn.plain(&format!("CREATE TEMP TABLE bench_erased (id {key})"))
        .await?;
    if conn.postgres() {
        conn.plain("ANALYZE bench_member").await?;
    }
    let now = format_timestamp(time::OffsetDateTime::now_utc());
    let batch = conn
        .int(
            &format!(
                "INSERT INTO lethe_deletion_batch (created_at, reason, state) VALUES ('{now}', 'hand-written SQL benchmark', 'trashed') RETURNING id"
            ),
            None,
        )
        .await?
        .first()
        .copied()
        .context("no deletion batch id")?;
    Ok((conn, HandSql { batch, now }, snapshot.member_count))
}

pub(super) async fn hand_side(args: &SideArgs) -> anyhow::Result<Json> {
    let (mut conn, sql, members) = hand_setup(args).await?;
    let role = &args.role;
    let batches = Some((args.hand_batch, None));
    let single = Some((1, Some(args.sample)));
    let mut out = serde_json::Map::new();
    out.insert("members".into(), json!(members));
    out.insert("sample".into(), json!(args.sample.min(members)));
    for (name, op, batching) in [
        ("trash_one_transaction", Op::Trash, None),
        ("restore_one_transaction", Op::Restore, None),
        ("trash_batches", Op::Trash, batches),
        ("restore_batches", Op::Restore, batches),
        ("trash_one_at_a_time", Op::Trash, single),
        ("restore_one_at_a_time", Op::Restore, single),
        ("trash_again_one_transaction", Op::Trash, None),
        ("purge_one_transaction", Op::Purge, None),
    ] {
        let result = hand_op(&mut conn, &sql, role, name, op, batching).await?;
        out.insert(name.into(), result);
    }
    // The physical step a careful hand-written purge would take too: on SQLite (with
    // secure_delete on, as here) emptying the write-ahead log into the database; on
    // PostgreSQL rewriting the tables with personal fields that the purge changed, one after
    // the other, as Lethe's default `LETHE_PG_REWRITE=personal` does.
    let started = Instant::now();
    let what = if conn.postgres() {
        let schema = Schema::default_crm();
        let personal: Vec<&str> = std::iter::once("contact")
            .chain(CONTACT_CHILDREN)
            .chain(TICKET_CHILDREN)
            .chain(["attachment"])
            .filter(|table| {
                schema
                    .entity(table)
                    .is_some_and(|entity| entity.personal_columns().next().is_some())
            })
            .collect();
        for table in &personal {
            conn.plain(&format!("VACUUM FULL {table}")).await?;
        }
        format!("VACUUM FULL {}", personal.join(", "))
    } else {
        conn.plain("PRAGMA wal_checkpoint(TRUNCATE)").await?;
        "PRAGMA wal_checkpoint(TRUNCATE)".to_owned()
    };
    let seconds = secs(started.elapsed());
    eprintln!("[{role}] physical step after the purge ({what}): {seconds} s");
    out.insert(
        "physical_after_purge".into(),
        json!({"seconds": seconds, "what": what}),
    );
    Ok(Json::Object(out))
}

pub(super) async fn hand_purge_side(args: &SideArgs) -> anyhow::Result<Json> {
    let (mut conn, sql, members) = hand_setup(args).await?;
    let role = &args.role;
    let mut out = serde_json::Map::new();
    out.insert("members".into(), json!(members));
    out.insert("sample".into(), json!(args.sample.min(members)));
    let trash = hand_op(
        &mut conn,
        &sql,
        role,
        "trash_one_transaction",
        Op::Trash,
        None,
    )
    .await?;
    out.insert("trash_one_transaction".into(), trash);
    let single = hand_op(
        &mut conn,
        &sql,
        role,
        "purge_one_at_a_time",
        Op::Purge,
        Some((1, Some(args.sample))),
    )
    .await?;
    out.insert("purge_one_at_a_time".into(), single);
    let mut batches = hand_op(
        &mut conn,
        &sql,
        role,
        "purge_batches",
        Op::Purge,
        Some((args.hand_batch, None)),
    )
    .await?;
    batches["members_left"] = json!(members.saturating_sub(args.sample));
    out.insert("purge_batches".into(), batches);
    Ok(Json::Object(out))
}
