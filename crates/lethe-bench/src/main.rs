//! `lethe-bench`: measures Lethe's operations against the fastest hand-written SQL for the
//! same question on the same database with the same connection settings, and prints the
//! ratio, measured in one run (BENCHMARKS.md).
//!
//! ```sh
//! cargo run --release -p lethe-bench -- select --db demo.db --repeat 5
//! cargo run --release -p lethe-bench -- lifecycle --db demo.db --files-dir demo-files
//! cargo run --release -p lethe-bench -- retention --db demo.db
//! ```

mod export;
mod import;
mod lifecycle;
mod pages;
mod retention;
mod suite;

use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use lethe_filter::{RelativeTime, TimeBase, TimeUnit};
use lethe_schema::Schema;
use lethe_store::{Clock, DatabaseUrl, KeySource, Scope, Store, StoreOptions, format_timestamp};
use sqlx::{AssertSqlSafe, Row};
use time::OffsetDateTime;

/// glibc malloc's arena count for every side (Lethe's and the hand-written SQL's), the same
/// the `lethe` binary gives itself (see `limit_malloc_arenas` in lethe-cli), unless the
/// environment already sets `MALLOC_ARENA_MAX`.
pub(crate) const MALLOC_ARENA_MAX: &str = "2";

#[derive(Debug, Parser)]
#[command(
    name = "lethe-bench",
    about = "Lethe against hand-written SQL, as ratios."
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Selection counts (SPEC §4) against hand-written SQL.
    Select {
        /// A database built by `lethe demo` (a SQLite path or a postgres:// URL).
        #[arg(long)]
        db: String,
        /// Timed runs of each side; the median is reported.
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        /// Print the plan of Lethe's query and of every hand-written variant, then stop.
        #[arg(long)]
        explain: bool,
        /// Time each side (Lethe, and every hand-written variant) in a process of its own,
        /// after one warm-up run there, so no side inherits the other's connections or page
        /// cache.
        #[arg(long)]
        isolate: bool,
    },
    /// One side of `select --isolate`, in its own process (started by `select`).
    #[command(hide = true)]
    SelectSide {
        #[arg(long)]
        db: String,
        /// Index into the cases.
        #[arg(long)]
        case: usize,
        /// `lethe`, or the index of a hand-written variant.
        #[arg(long)]
        side: String,
        #[arg(long)]
        repeat: usize,
        /// "Now" as Unix seconds, the same for every side.
        #[arg(long)]
        now: i64,
    },
    /// Trash, restore and purge of a large member set (jobs) against hand-written SQL, one
    /// contact per transaction, and reads over HTTP while the purge runs.
    Lifecycle(lifecycle::LifecycleArgs),
    /// One side of `lifecycle`, in its own process (started by `lifecycle`).
    #[command(hide = true)]
    LifecycleSide(lifecycle::SideArgs),
    /// Everything for one backend: builds the demo data set if it is not there, then the
    /// selection counts and trash, restore and purge, each against hand-written SQL.
    Suite(suite::SuiteArgs),
    /// The pages at scale: `lethe serve`'s answer times against the hand-written SQL for
    /// the same questions.
    Pages(pages::PagesArgs),
    /// A retention policy's dry run and a monitor's run, as the `lethe` binary runs them,
    /// against processes running the hand-written SQL for the same work.
    Retention(retention::RetentionArgs),
    /// One hand-written side of `retention`, in its own process (started by `retention`).
    #[command(hide = true)]
    RetentionHand(retention::HandArgs),
    /// `lethe export` of a selection, with and without related records, against the
    /// database's own bulk export of the same rows (`sqlite3 -csv`, `COPY … TO STDOUT`).
    Export(export::ExportArgs),
    /// `lethe import` of generated contacts against the database's own bulk load.
    Import(import::ImportArgs),
}

/// One question, asked through Lethe's filter language and as hand-written SQL. The hand
/// side has variants (literals, bound values); the fastest is the one compared, so the ratio
/// is against the best a person could write. Placeholders: 1 and 2 are the instants three
/// and two years before now, 3 is "prospect" and 4 is "marketing".
struct Case {
    name: &'static str,
    filter: &'static str,
    sqlite: &'static [&'static str],
    postgres: &'static [&'static str],
}

const STALE_SQLITE_LITERAL: &str = "SELECT COUNT(*) FROM contact c WHERE c.trash_batch_id IS NULL AND c.category = 'prospect' AND c.created_at < ?1 \
     AND NOT EXISTS (SELECT 1 FROM consent s WHERE s.contact_id = c.id AND s.purpose = 'marketing' AND s.trash_batch_id IS NULL) \
     AND NOT EXISTS (SELECT 1 FROM activity a WHERE a.contact_id = c.id AND a.happened_at > ?2 AND a.trash_batch_id IS NULL)";
const STALE_SQLITE_BOUND: &str = "SELECT COUNT(*) FROM contact c WHERE c.trash_batch_id IS NULL AND c.category = ?3 AND c.created_at < ?1 \
     AND NOT EXISTS (SELECT 1 FROM consent s WHERE s.contact_id = c.id AND s.purpose = ?4 AND s.trash_batch_id IS NULL) \
     AND NOT EXISTS (SELECT 1 FROM activity a WHERE a.contact_id = c.id AND a.happened_at > ?2 AND a.trash_batch_id IS NULL)";
/// The unary `+` keeps SQLite from walking the `created_at` index, which it otherwise
/// prefers here although the `category` index is several times faster.
const STALE_SQLITE_CATEGORY_INDEX: &str = "SELECT COUNT(*) FROM contact c WHERE c.trash_batch_id IS NULL AND c.category = 'prospect' AND +c.created_at < ?1 \
     AND NOT EXISTS (SELECT 1 FROM consent s WHERE s.contact_id = c.id AND s.purpose = 'marketing' AND s.trash_batch_id IS NULL) \
     AND NOT EXISTS (SELECT 1 FROM activity a WHERE a.contact_id = c.id AND a.happened_at > ?2 AND a.trash_batch_id IS NULL)";
const STALE_POSTGRES_LITERAL: &str = "SELECT COUNT(*) FROM contact c WHERE c.trash_batch_id IS NULL AND c.category = 'prospect' AND c.created_at < $1 \
     AND NOT EXISTS (SELECT 1 FROM consent s WHERE s.contact_id = c.id AND s.purpose = 'marketing' AND s.trash_batch_id IS NULL) \
     AND NOT EXISTS (SELECT 1 FROM activity a WHERE a.contact_id = c.id AND a.happened_at > $2 AND a.trash_batch_id IS NULL)";
const STALE_POSTGRES_BOUND: &str = "SELECT COUNT(*) FROM contact c WHERE c.trash_batch_id IS NULL AND c.category = $3 AND c.created_at < $1 \
     AND NOT EXISTS (SELECT 1 FROM consent s WHERE s.contact_id = c.id AND s.purpose = $4 AND s.trash_batch_id IS NULL) \
     AND NOT EXISTS (SELECT 1 FROM activity a WHERE a.contact_id = c.id AND a.happened_at > $2 AND a.trash_batch_id IS NULL)";

const CASES: [Case; 2] = [
    Case {
        name: "stale prospects: created > 3 y ago, no activity in 2 y, no marketing consent",
        filter: r#"category = "prospect" and created_at < now - 3y and not exists consent(purpose = "marketing") and none activity(happened_at > now - 2y)"#,
        sqlite: &[
            STALE_SQLITE_LITERAL,
            STALE_SQLITE_BOUND,
            STALE_SQLITE_CATEGORY_INDEX,
        ],
        postgres: &[STALE_POSTGRES_LITERAL, STALE_POSTGRES_BOUND],
    },
    Case {
        name: "duplicate(email): contacts sharing a trimmed, lower-cased e-mail",
        filter: "duplicate(email)",
        // One grouped pass: the size of every group with more than one member, summed.
        sqlite: &[
            "SELECT COALESCE(SUM(n), 0) FROM (SELECT COUNT(*) AS n FROM contact WHERE trash_batch_id IS NULL \
             AND lower(trim(email)) <> '' GROUP BY lower(trim(email)) HAVING COUNT(*) > 1)",
        ],
        // Under the "C" collation PostgreSQL's lower() folds ASCII only, which is both the
        // documented key and several times cheaper per row than the database's locale.
        postgres: &[
            "SELECT COALESCE(SUM(n), 0)::bigint FROM (SELECT COUNT(*) AS n FROM contact WHERE trash_batch_id IS NULL \
             AND lower(btrim(email)) <> '' GROUP BY lower(btrim(email)) HAVING COUNT(*) > 1) g",
            "SELECT COALESCE(SUM(n), 0)::bigint FROM (SELECT COUNT(*) AS n FROM contact WHERE trash_batch_id IS NULL \
             AND lower(btrim(email) COLLATE \"C\") <> '' GROUP BY lower(btrim(email) COLLATE \"C\") HAVING COUNT(*) > 1) g",
        ],
    },
];

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn years_ago(now: OffsetDateTime, years: i64) -> OffsetDateTime {
    RelativeTime {
        base: TimeBase::Now,
        amount: -years,
        unit: TimeUnit::Years,
    }
    .resolve(now)
}

enum HandPool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl HandPool {
    /// A pool with the same settings Lethe uses, so only the SQL differs.
    async fn open(url: &DatabaseUrl) -> anyhow::Result<HandPool> {
        Ok(match url {
            DatabaseUrl::Sqlite(path) => {
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .busy_timeout(Duration::from_secs(30))
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .pragma("secure_delete", "on")
                    .pragma("cache_size", "-32768")
                    .pragma(
                        "soft_heap_limit",
                        (lethe_store::DEFAULT_SQLITE_HEAP_MIB * 1024 * 1024).to_string(),
                    );
                HandPool::Sqlite(
                    sqlx::sqlite::SqlitePoolOptions::new()
                        .max_connections(8)
                        .connect_with(options)
                        .await?,
                )
            }
            DatabaseUrl::Postgres(raw) => HandPool::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(sqlx::postgres::PgConnectOptions::from_str(raw)?)
                    .await?,
            ),
        })
    }

    /// The database's plan for one hand-written variant, one line per plan row.
    async fn plan(
        &self,
        sql: &'static str,
        three: OffsetDateTime,
        two: OffsetDateTime,
    ) -> anyhow::Result<Vec<String>> {
        Ok(match self {
            HandPool::Sqlite(pool) => {
                let text = format!("EXPLAIN QUERY PLAN {sql}");
                let mut query = sqlx::query(AssertSqlSafe(text.as_str()));
                if sql.contains("?1") {
                    query = query
                        .bind(format_timestamp(three))
                        .bind(format_timestamp(two));
                }
                if sql.contains("?3") {
                    query = query.bind("prospect").bind("marketing");
                }
                let rows = query.fetch_all(pool).await?;
                rows.iter()
                    .map(|row| row.try_get::<String, _>(3))
                    .collect::<Result<_, _>>()?
            }
            HandPool::Postgres(pool) => {
                let text = format!("EXPLAIN {sql}");
                let mut query = sqlx::query(AssertSqlSafe(text.as_str()));
                if sql.contains("$1") {
                    query = query.bind(three).bind(two);
                }
                if sql.contains("$3") {
                    query = query.bind("prospect").bind("marketing");
                }
                let rows = query.fetch_all(pool).await?;
                rows.iter()
                    .map(|row| row.try_get::<String, _>(0))
                    .collect::<Result<_, _>>()?
            }
        })
    }

    async fn count(
        &self,
        sql: &'static str,
        three: OffsetDateTime,
        two: OffsetDateTime,
    ) -> anyhow::Result<i64> {
        Ok(match self {
            HandPool::Sqlite(pool) => {
                let mut query = sqlx::query(AssertSqlSafe(sql));
                if sql.contains("?1") {
                    query = query
                        .bind(format_timestamp(three))
                        .bind(format_timestamp(two));
                }
                if sql.contains("?3") {
                    query = query.bind("prospect").bind("marketing");
                }
                query.fetch_one(pool).await?.try_get(0)?
            }
            HandPool::Postgres(pool) => {
                let mut query = sqlx::query(AssertSqlSafe(sql));
                if sql.contains("$1") {
                    query = query.bind(three).bind(two);
                }
                if sql.contains("$3") {
                    query = query.bind("prospect").bind("marketing");
                }
                query.fetch_one(pool).await?.try_get(0)?
            }
        })
    }

    fn variants(&self, case: &Case) -> &'static [&'static str] {
        match self {
            HandPool::Sqlite(_) => case.sqlite,
            HandPool::Postgres(_) => case.postgres,
        }
    }
}

/// Prints the plans of both sides for every question (`--explain`).
async fn explain_select(store: &Store, hand: &HandPool, now: OffsetDateTime) -> anyhow::Result<()> {
    let (three, two) = (years_ago(now, 3), years_ago(now, 2));
    for case in &CASES {
        let filter = store.parse_filter("contact", case.filter)?;
        let explanation = store.explain(&filter, Scope::Active).await?;
        println!("## {}\n### Lethe\n{}", case.name, explanation.sql);
        for line in &explanation.plan {
            println!("    {line}");
        }
        for (index, sql) in hand.variants(case).iter().enumerate() {
            println!("### hand-written variant {}\n{sql}", index + 1);
            for line in hand.plan(sql, three, two).await? {
                println!("    {line}");
            }
        }
    }
    Ok(())
}

/// What the benchmark opens a store with: as the command line does, the history key of a
/// PostgreSQL database is the one in the user's home folder, so the two can share a copy.
pub(crate) fn options(url: &DatabaseUrl, clock: Clock) -> StoreOptions {
    let history_key = match url {
        DatabaseUrl::Sqlite(_) => None,
        DatabaseUrl::Postgres(_) => std::env::var_os("HOME")
            .filter(|home| !home.is_empty())
            .map(|home| KeySource::in_home(std::path::Path::new(&home))),
    };
    StoreOptions {
        history_key,
        ..StoreOptions::with_clock(clock)
    }
}

async fn bench_select(db: &str, repeat: usize, explain: bool) -> anyhow::Result<()> {
    let url = DatabaseUrl::parse(db)?;
    let now = OffsetDateTime::now_utc();
    let store = Store::open(
        &url,
        Schema::default_crm(),
        &options(&url, Clock::fixed(now)),
    )
    .await
    .context("opening the database")?;
    let hand = HandPool::open(&url)
        .await
        .context("opening the database for hand-written SQL")?;
    if explain {
        return explain_select(&store, &hand, now).await;
    }
    let (three, two) = (years_ago(now, 3), years_ago(now, 2));
    println!("| backend | question | matches | Lethe (ms) | hand SQL (ms) | ratio |");
    println!("|---|---|---:|---:|---:|---:|");
    for case in &CASES {
        let filter = store.parse_filter("contact", case.filter)?;
        let variants = hand.variants(case);
        // Warm the caches for both sides, and check they agree.
        let ours = store.count_matching(&filter, Scope::Active).await?;
        for sql in variants {
            let theirs = hand.count(sql, three, two).await?;
            anyhow::ensure!(
                i64::try_from(ours)? == theirs,
                "{}: Lethe counted {ours}, hand-written SQL {theirs}",
                case.name
            );
        }
        let mut lethe_times = Vec::new();
        let mut variant_times = vec![Vec::new(); variants.len()];
        for _ in 0..repeat.max(1) {
            let started = Instant::now();
            store.count_matching(&filter, Scope::Active).await?;
            lethe_times.push(started.elapsed());
            for (index, sql) in variants.iter().enumerate() {
                let started = Instant::now();
                hand.count(sql, three, two).await?;
                variant_times[index].push(started.elapsed());
            }
        }
        let variant_medians: Vec<Duration> = variant_times.into_iter().map(median).collect();
        for (index, time) in variant_medians.iter().enumerate() {
            eprintln!(
                "  {}: hand-written variant {} took {:.0} ms",
                case.name,
                index + 1,
                time.as_secs_f64() * 1000.0
            );
        }
        let hand_times: Vec<Duration> = variant_medians.into_iter().min().into_iter().collect();
        let (lethe, hand_time) = (median(lethe_times), median(hand_times));
        println!(
            "| {} | {} | {ours} | {:.0} | {:.0} | {:.2} |",
            store.backend().as_str(),
            case.name,
            lethe.as_secs_f64() * 1000.0,
            hand_time.as_secs_f64() * 1000.0,
            lethe.as_secs_f64() / hand_time.as_secs_f64()
        );
    }
    Ok(())
}

/// Times one side of one case in this process: a warm-up run, then `repeat` timed runs;
/// prints `{"count": …, "ms": […]}`.
async fn select_side(
    db: &str,
    case: usize,
    side: &str,
    repeat: usize,
    now: i64,
) -> anyhow::Result<()> {
    let url = DatabaseUrl::parse(db)?;
    let now = OffsetDateTime::from_unix_timestamp(now)?;
    let case = CASES.get(case).context("no such case")?;
    let mut times = Vec::new();
    let count: i64;
    if side == "lethe" {
        let options = options(&url, Clock::fixed(now));
        let store = Store::open(&url, Schema::default_crm(), &options).await?;
        let filter = store.parse_filter("contact", case.filter)?;
        count = i64::try_from(store.count_matching(&filter, Scope::Active).await?)?;
        for _ in 0..repeat.max(1) {
            let started = Instant::now();
            store.count_matching(&filter, Scope::Active).await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    } else {
        let variant: usize = side
            .parse()
            .context("a side is `lethe` or a variant number")?;
        let hand = HandPool::open(&url).await?;
        let sql = *hand
            .variants(case)
            .get(variant)
            .context("no such variant")?;
        let (three, two) = (years_ago(now, 3), years_ago(now, 2));
        count = hand.count(sql, three, two).await?;
        for _ in 0..repeat.max(1) {
            let started = Instant::now();
            hand.count(sql, three, two).await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    println!(
        "{}",
        serde_json::json!({"count": count, "ms": times, "peak_mib": lifecycle::peak_mib()})
    );
    Ok(())
}

/// `select --isolate`: every side in its own process, one after the other.
async fn bench_select_isolated(db: &str, repeat: usize) -> anyhow::Result<()> {
    let url = DatabaseUrl::parse(db)?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let hand = HandPool::open(&url).await?;
    let backend = match url {
        DatabaseUrl::Sqlite(_) => "sqlite",
        DatabaseUrl::Postgres(_) => "postgres",
    };
    let run_side = |case: usize, side: String| -> anyhow::Result<(i64, f64, f64)> {
        let mut command = std::process::Command::new(std::env::current_exe()?);
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            command.env("MALLOC_ARENA_MAX", MALLOC_ARENA_MAX);
        }
        let output = command
            .args([
                "select-side",
                "--db",
                db,
                "--case",
                &case.to_string(),
                "--side",
                &side,
            ])
            .args(["--repeat", &repeat.to_string(), "--now", &now.to_string()])
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "side {side} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&output.stdout)?;
        let mut times: Vec<f64> = json["ms"]
            .as_array()
            .context("no times")?
            .iter()
            .filter_map(serde_json::Value::as_f64)
            .collect();
        times.sort_by(f64::total_cmp);
        let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
        Ok((
            json["count"].as_i64().unwrap_or(-1),
            median,
            json["peak_mib"].as_f64().unwrap_or(f64::NAN),
        ))
    };
    println!(
        "| backend | question | matches | Lethe (ms) | Lethe peak (MiB) | fastest hand SQL (ms) | hand peak (MiB) | ratio |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for (index, case) in CASES.iter().enumerate() {
        let (ours, lethe, lethe_peak) = run_side(index, "lethe".to_owned())?;
        let mut fastest = f64::INFINITY;
        let mut fastest_peak = f64::NAN;
        for variant in 0..hand.variants(case).len() {
            let (theirs, time, peak) = run_side(index, variant.to_string())?;
            anyhow::ensure!(
                ours == theirs,
                "{}: Lethe counted {ours}, hand-written variant {} {theirs}",
                case.name,
                variant + 1
            );
            eprintln!(
                "  {}: hand-written variant {} took {time:.0} ms",
                case.name,
                variant + 1
            );
            if time < fastest {
                fastest = time;
                fastest_peak = peak;
            }
        }
        println!(
            "| {backend} | {} | {ours} | {lethe:.0} | {lethe_peak:.0} | {fastest:.0} | {fastest_peak:.0} | {:.2} |",
            case.name,
            lethe / fastest
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `RUST_LOG=sqlx::query=debug` shows every statement with its time, for profiling.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    match Args::parse().command {
        Command::Select {
            db,
            repeat,
            explain,
            isolate: false,
        } => bench_select(&db, repeat, explain).await,
        Command::Select {
            db,
            repeat,
            isolate: true,
            ..
        } => bench_select_isolated(&db, repeat).await,
        Command::SelectSide {
            db,
            case,
            side,
            repeat,
            now,
        } => select_side(&db, case, &side, repeat, now).await,
        Command::Lifecycle(args) => lifecycle::run(args).await,
        Command::LifecycleSide(args) => lifecycle::side(args).await,
        Command::Suite(args) => suite::run_suite(args).await,
        Command::Pages(args) => pages::run(args).await,
        Command::Retention(args) => retention::run(args).await,
        Command::RetentionHand(args) => retention::hand_side(args).await,
        Command::Export(args) => export::run(args).await,
        Command::Import(args) => import::run(args).await,
    }
}
