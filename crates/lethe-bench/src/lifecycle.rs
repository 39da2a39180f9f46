//! `lethe-bench lifecycle`: trash, restore and purge of a large member set through Lethe's
//! jobs, against the fastest hand-written set-based SQL for the same data change (one
//! transaction, and batches) and against one contact per transaction, each on its own copy
//! of the data set; plus the latency of record reads over HTTP while the purge runs.
//!
//! Every side runs in its own process (`lifecycle-side`, spawned by this one), so each has its
//! own memory and, on SQLite, its own page cache. Peak memory is the resident set's high-water
//! mark (`VmHWM`), reset before each operation (`/proc/self/clear_refs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use lethe_schema::Schema;
use lethe_store::{
    Actor, DatabaseUrl, Job, JobRunner, MemberPick, PickSource, Role, Scope, Snapshot, Store,
    format_timestamp,
};
use serde_json::{Value as Json, json};
use sqlx::{AssertSqlSafe, Row};

/// About 300,000 of the 1,000,000 demo contacts.
pub const DEFAULT_FILTER: &str = r#"category = "prospect" and created_at < 2022-07-01T00:00:00Z"#;

#[derive(Debug, clap::Args)]
pub struct LifecycleArgs {
    /// A database built by `lethe demo` (a SQLite path or a postgres:// URL). It is never
    /// changed: every side works on its own copy.
    #[arg(long)]
    db: String,
    /// The contacts to trash, restore and purge (Lethe's filter language).
    #[arg(long, default_value = DEFAULT_FILTER)]
    contacts_filter: String,
    /// Contacts in the one-contact-per-transaction sample (extrapolated to the whole set).
    #[arg(long, default_value_t = 5_000)]
    sample: u64,
    /// Contacts per transaction of the batched hand-written SQL.
    #[arg(long, default_value_t = 10_000)]
    hand_batch: u64,
    /// Members per transaction of Lethe's jobs (default: the store's default).
    #[arg(long)]
    lethe_batch: Option<u64>,
    /// The data set's attachment files folder: copied for Lethe's purge (which removes the
    /// erased records' files). Without it the purge gets an empty temporary folder.
    #[arg(long)]
    files_dir: Option<PathBuf>,
    /// Where the copies of the data set go (SQLite); removed afterwards.
    #[arg(long, default_value = "/tmp")]
    work_dir: PathBuf,
    /// Concurrent HTTP readers while the purge runs (each paced, see `--read-pause-ms`).
    #[arg(long, default_value_t = 4)]
    readers: usize,
    /// Pause of each reader between two requests.
    #[arg(long, default_value_t = 10)]
    read_pause_ms: u64,
    /// Which sides to run: `lethe`, `hand` (trash/restore in one transaction, in batches and
    /// one at a time, then purge in one transaction), `hand-purge` (purge one at a time and
    /// in batches).
    #[arg(long, value_delimiter = ',', default_value = "lethe,hand,hand-purge")]
    parts: Vec<String>,
}

/// One side, in its own process, on a copy made by the parent.
#[derive(Debug, clap::Args)]
pub struct SideArgs {
    #[arg(long)]
    role: String,
    #[arg(long)]
    db: String,
    #[arg(long)]
    contacts_filter: String,
    #[arg(long)]
    sample: u64,
    #[arg(long)]
    hand_batch: u64,
    #[arg(long)]
    lethe_batch: Option<u64>,
    #[arg(long)]
    files_dir: PathBuf,
    #[arg(long)]
    readers: usize,
    #[arg(long)]
    read_pause_ms: u64,
}

// ---------------------------------------------------------------------------------------
// Memory and time.

fn reset_peak() {
    // Linux: "5" resets the resident set's high-water mark to the current resident set.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

pub(crate) fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn secs(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

// ---------------------------------------------------------------------------------------
// Copies of the data set.

enum DbCopy {
    Sqlite(PathBuf),
    Postgres { admin: String, name: String },
}

fn sqlite_side_files(path: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [path.to_path_buf(), with("-wal"), with("-shm")]
}

/// `postgres://user@host:port/name?query` with another database name.
fn postgres_url_with_database(raw: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match raw.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (raw, None),
    };
    let (server, _) = base
        .rsplit_once('/')
        .filter(|(server, _)| server.contains("://"))
        .with_context(|| "the PostgreSQL URL names no database".to_owned())?;
    Ok(match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    })
}

impl DbCopy {
    async fn make(
        url: &DatabaseUrl,
        raw: &str,
        role: &str,
        work_dir: &Path,
    ) -> anyhow::Result<(DbCopy, String)> {
        let started = Instant::now();
        let made = match url {
            DatabaseUrl::Sqlite(source) => {
                let target = work_dir.join(format!(
                    "lethe-bench-lifecycle-{}-{role}.db",
                    std::process::id()
                ));
                let [source_db, source_wal, _] = sqlite_side_files(source);
                let [target_db, target_wal, _] = sqlite_side_files(&target);
                ensure!(source_db.exists(), "{} does not exist", source_db.display());
                let wal_len = std::fs::metadata(&source_wal).map(|m| m.len()).unwrap_or(0);
                tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    std::fs::copy(&source_db, &target_db)?;
                    if wal_len > 0 {
                        std::fs::copy(&source_wal, &target_wal)?;
                    }
                    Ok(())
                })
                .await??;
                let display = target.display().to_string();
                (DbCopy::Sqlite(target), display)
            }
            DatabaseUrl::Postgres(_) => {
                let options = sqlx::postgres::PgConnectOptions::from_str(raw)?;
                let source = options
                    .get_database()
                    .context("the PostgreSQL URL names no database")?
                    .to_owned();
                let name = format!("lethe_bench_lifecycle_{}", role.replace('-', "_"));
                let admin = postgres_url_with_database(raw, "postgres")?;
                let mut connection =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await?;
                sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
                    .execute(&mut connection)
                    .await?;
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "CREATE DATABASE {name} TEMPLATE {source}"
                )))
                .execute(&mut connection)
                .await
                .with_context(|| format!("copying {source} (nobody may be connected to it)"))?;
                sqlx::Connection::close(connection).await?;
                let url = postgres_url_with_database(raw, &name)?;
                (DbCopy::Postgres { admin, name }, url)
            }
        };
        eprintln!(
            "[{role}] copy of the data set made in {:.1} s: {}",
            started.elapsed().as_secs_f64(),
            made.1
        );
        Ok(made)
    }

    async fn remove(self) -> anyhow::Result<()> {
        match self {
            DbCopy::Sqlite(path) => {
                for file in sqlite_side_files(&path) {
                    match std::fs::remove_file(&file) {
                        Ok(()) => {}
                        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                        Err(error) => {
                            return Err(error).context(format!("removing {}", file.display()));
                        }
                    }
                }
            }
            DbCopy::Postgres { admin, name } => {
                let mut connection =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await?;
                sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
                    .execute(&mut connection)
                    .await?;
                sqlx::Connection::close(connection).await?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The parent: copies, one process per side, the comparison.

fn print_plan() -> anyhow::Result<()> {
    let schema = Schema::default_crm();
    for operation in [lethe_plan::Operation::Trash, lethe_plan::Operation::Purge] {
        let plan = lethe_plan::plan(&schema, "contact", operation)?;
        eprintln!("Lethe's plan for {operation:?} of contacts:");
        for reach in &plan.cascade {
            eprintln!("  cascade  {}", reach.describe(&plan.root));
        }
        for check in &plan.checks {
            let kind = match &check.kind {
                lethe_plan::CheckKind::Restrict => "restrict".to_owned(),
                lethe_plan::CheckKind::Precondition(precondition) => {
                    format!("precondition ({})", precondition.reason)
                }
            };
            eprintln!("  check    {} [{kind}]", check.target.describe(&plan.root));
        }
        for rewrite in &plan.rewrites {
            eprintln!(
                "  rewrite  {} [{:?}]",
                rewrite.target.describe(&plan.root),
                rewrite.rule
            );
        }
    }
    Ok(())
}

async fn spawn_side(
    args: &LifecycleArgs,
    role: &str,
    db: &str,
    files: &Path,
) -> anyhow::Result<Json> {
    let exe = std::env::current_exe()?;
    let mut command = tokio::process::Command::new(exe);
    command.arg("lifecycle-side");
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // Every side runs with the malloc setting the `lethe` binary gives itself.
        command.env("MALLOC_ARENA_MAX", crate::MALLOC_ARENA_MAX);
    }
    if let Some(size) = args.lethe_batch {
        command.args(["--lethe-batch", &size.to_string()]);
    }
    let output = command
        .args(["--role", role, "--db", db])
        .args(["--contacts-filter", &args.contacts_filter])
        .args(["--sample", &args.sample.to_string()])
        .args(["--hand-batch", &args.hand_batch.to_string()])
        .arg("--files-dir")
        .arg(files)
        .args(["--readers", &args.readers.to_string()])
        .args(["--read-pause-ms", &args.read_pause_ms.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()?
        .wait_with_output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "the {role} side failed ({})",
        output.status
    );
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("RESULT "))
        .with_context(|| format!("the {role} side printed no result"))?;
    Ok(serde_json::from_str(line)?)
}

pub async fn run(args: LifecycleArgs) -> anyhow::Result<()> {
    let url = DatabaseUrl::parse(&args.db)?;
    print_plan()?;
    let mut results = serde_json::Map::new();
    for role in &args.parts {
        ensure!(
            ["lethe", "hand", "hand-purge"].contains(&role.as_str()),
            "unknown part {role}: lethe, hand or hand-purge"
        );
        let (copy, db) = DbCopy::make(&url, &args.db, role, &args.work_dir).await?;
        let files = args.work_dir.join(format!(
            "lethe-bench-lifecycle-files-{}-{role}",
            std::process::id()
        ));
        let prepared = prepare_files(&args, role, &files);
        let outcome = match prepared {
            Ok(()) => spawn_side(&args, role, &db, &files).await,
            Err(error) => Err(error),
        };
        let _ = std::fs::remove_dir_all(&files);
        copy.remove().await?;
        results.insert(role.clone(), outcome?);
    }
    let results = Json::Object(results);
    let backend = match url {
        DatabaseUrl::Sqlite(_) => "sqlite",
        DatabaseUrl::Postgres(_) => "postgres",
    };
    report(backend, &args, &results)?;
    println!(
        "\n```json\n{}\n```",
        serde_json::to_string_pretty(&results)?
    );
    Ok(())
}

fn prepare_files(args: &LifecycleArgs, role: &str, target: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(target);
    match (&args.files_dir, role) {
        (Some(source), "lethe") => {
            let started = Instant::now();
            let status = std::process::Command::new("cp")
                .arg("-a")
                .arg(source)
                .arg(target)
                .status()?;
            ensure!(status.success(), "copying {} failed", source.display());
            eprintln!(
                "[{role}] attachment files copied to {} in {:.1} s",
                target.display(),
                started.elapsed().as_secs_f64()
            );
        }
        _ => std::fs::create_dir_all(target)?,
    }
    Ok(())
}

/// Per entity type, without zero entries.
fn counts(json: &Json, key: &str) -> BTreeMap<String, u64> {
    json.get(key)
        .and_then(Json::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(entity, count)| count.as_u64().map(|count| (entity.clone(), count)))
                .filter(|(_, count)| *count > 0)
                .collect()
        })
        .unwrap_or_default()
}

fn add_counts(
    left: &BTreeMap<String, u64>,
    right: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    let mut sum = left.clone();
    for (entity, count) in right {
        *sum.entry(entity.clone()).or_default() += count;
    }
    sum
}

fn check_same(
    what: &str,
    lethe: &BTreeMap<String, u64>,
    hand: &BTreeMap<String, u64>,
) -> anyhow::Result<()> {
    ensure!(
        lethe == hand,
        "{what}: Lethe changed {lethe:?}, the hand-written SQL {hand:?}"
    );
    eprintln!("{what}: the same rows changed on both sides: {lethe:?}");
    Ok(())
}

fn total(counts: &BTreeMap<String, u64>) -> u64 {
    counts.values().sum()
}

fn seconds_of(json: &Json, path: &[&str]) -> Option<f64> {
    let mut at = json;
    for key in path {
        at = at.get(key)?;
    }
    at.get("seconds").and_then(Json::as_f64)
}

fn peak_of(json: &Json, path: &[&str]) -> Option<f64> {
    let mut at = json;
    for key in path {
        at = at.get(key)?;
    }
    at.get("peak_mib").and_then(Json::as_f64)
}

fn fmt(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "–".to_owned(), |value| format!("{value:.digits$}"))
}

fn report(backend: &str, args: &LifecycleArgs, results: &Json) -> anyhow::Result<()> {
    let lethe = results.get("lethe");
    let hand = results.get("hand");
    let hand_purge = results.get("hand-purge");
    let members = [lethe, hand, hand_purge]
        .into_iter()
        .flatten()
        .find_map(|side| side.get("members").and_then(Json::as_u64))
        .unwrap_or(0);
    let sample = [hand, hand_purge]
        .into_iter()
        .flatten()
        .find_map(|side| side.get("sample").and_then(Json::as_u64))
        .unwrap_or(args.sample);
    // Same data change on both sides, or the run fails.
    if let (Some(lethe), Some(hand)) = (lethe, hand) {
        for (lethe_op, hand_op) in [
            ("trash", "trash_one_transaction"),
            ("trash", "trash_batches"),
            ("restore", "restore_one_transaction"),
            ("restore", "restore_batches"),
            ("purge", "purge_one_transaction"),
        ] {
            let (Some(ours), Some(theirs)) = (lethe.get(lethe_op), hand.get(hand_op)) else {
                continue;
            };
            check_same(
                &format!("{lethe_op} / {hand_op} (records)"),
                &counts(ours, "counts"),
                &counts(theirs, "counts"),
            )?;
            if lethe_op == "purge" {
                check_same(
                    "purge / purge_one_transaction (links anonymised)",
                    &counts(ours, "rewritten"),
                    &counts(theirs, "rewritten"),
                )?;
            }
        }
    }
    if let (Some(lethe), Some(hand_purge)) = (lethe, hand_purge)
        && let (Some(ours), Some(one), Some(batches)) = (
            lethe.get("purge"),
            hand_purge.get("purge_one_at_a_time"),
            hand_purge.get("purge_batches"),
        )
    {
        check_same(
            "purge / one at a time + batches (records)",
            &counts(ours, "counts"),
            &add_counts(&counts(one, "counts"), &counts(batches, "counts")),
        )?;
        check_same(
            "purge / one at a time + batches (links anonymised)",
            &counts(ours, "rewritten"),
            &add_counts(&counts(one, "rewritten"), &counts(batches, "rewritten")),
        )?;
    }

    let extrapolate = |seconds: Option<f64>| {
        seconds.map(|seconds| seconds * members as f64 / sample.max(1) as f64)
    };
    println!(
        "\n{backend}: {members} contacts picked; Lethe batch size {} (purge {}); hand batches of {}; one at a time measured on {sample} contacts and extrapolated",
        args.lethe_batch.unwrap_or(if backend == "postgres" {
            lethe_store::DEFAULT_POSTGRES_BATCH_SIZE
        } else {
            lethe_store::DEFAULT_BATCH_SIZE
        }),
        args.lethe_batch
            .unwrap_or(lethe_store::DEFAULT_PURGE_BATCH_SIZE),
        args.hand_batch
    );
    println!(
        "| backend | operation | records changed | Lethe (s) | Lethe peak (MiB) | hand, one tx (s) | hand, batches (s) | fastest hand peak (MiB) | one at a time, extrapolated (s) | Lethe / fastest hand | one at a time / Lethe |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for operation in ["trash", "restore", "purge"] {
        let ours = lethe.and_then(|side| side.get(operation));
        let changed = ours.map(|ours| total(&counts(ours, "counts")));
        let lethe_time = lethe.and_then(|side| seconds_of(side, &[operation]));
        let lethe_peak = lethe.and_then(|side| peak_of(side, &[operation]));
        let (one_tx, one_tx_peak, batches, batches_peak, single) = match operation {
            "purge" => {
                let scale = |seconds: Option<f64>| {
                    let done = hand_purge
                        .and_then(|side| side.get("purge_batches"))
                        .and_then(|batch| batch.get("members_left"))
                        .and_then(Json::as_u64)
                        .unwrap_or(members);
                    seconds.map(|seconds| seconds * members as f64 / done.max(1) as f64)
                };
                (
                    hand.and_then(|side| seconds_of(side, &["purge_one_transaction"])),
                    hand.and_then(|side| peak_of(side, &["purge_one_transaction"])),
                    scale(hand_purge.and_then(|side| seconds_of(side, &["purge_batches"]))),
                    hand_purge.and_then(|side| peak_of(side, &["purge_batches"])),
                    extrapolate(
                        hand_purge.and_then(|side| seconds_of(side, &["purge_one_at_a_time"])),
                    ),
                )
            }
            _ => (
                hand.and_then(|side| seconds_of(side, &[&format!("{operation}_one_transaction")])),
                hand.and_then(|side| peak_of(side, &[&format!("{operation}_one_transaction")])),
                hand.and_then(|side| seconds_of(side, &[&format!("{operation}_batches")])),
                hand.and_then(|side| peak_of(side, &[&format!("{operation}_batches")])),
                extrapolate(
                    hand.and_then(|side| {
                        seconds_of(side, &[&format!("{operation}_one_at_a_time")])
                    }),
                ),
            ),
        };
        let (fastest, fastest_peak) = match (one_tx, batches) {
            (Some(a), Some(b)) if b < a => (Some(b), batches_peak),
            (Some(a), _) => (Some(a), one_tx_peak),
            (None, b) => (b, batches_peak),
        };
        let ratio = lethe_time.zip(fastest).map(|(ours, theirs)| ours / theirs);
        let speedup = lethe_time.zip(single).map(|(ours, theirs)| theirs / ours);
        println!(
            "| {backend} | {operation} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            changed.map_or_else(|| "–".to_owned(), |n| n.to_string()),
            fmt(lethe_time, 1),
            fmt(lethe_peak, 0),
            fmt(one_tx, 1),
            fmt(batches, 1),
            fmt(fastest_peak, 0),
            fmt(single, 0),
            fmt(ratio, 2),
            fmt(speedup, 1),
        );
    }
    if let Some(purge) = lethe.and_then(|side| side.get("purge")) {
        let batches = purge.get("batches_seconds").and_then(Json::as_f64);
        let physical = purge.get("physical_seconds").and_then(Json::as_f64);
        println!(
            "\nLethe purge: {} s in batches, {} s for the physical erasure (files, checkpoint/scan or VACUUM FULL) and finishing",
            fmt(batches, 1),
            fmt(physical, 1)
        );
        // Like with like: the data change against the hand data change, and the data change
        // plus the physical step against the hand SQL followed by its own physical step.
        let hand_one_tx = hand.and_then(|side| seconds_of(side, &["purge_one_transaction"]));
        let hand_physical = hand.and_then(|side| seconds_of(side, &["physical_after_purge"]));
        let what = hand
            .and_then(|side| side.get("physical_after_purge"))
            .and_then(|step| step.get("what"))
            .and_then(Json::as_str)
            .unwrap_or("–");
        let ratio = |ours: Option<f64>, theirs: Option<f64>| {
            ours.zip(theirs).map(|(ours, theirs)| ours / theirs)
        };
        let hand_total = hand_one_tx.zip(hand_physical).map(|(a, b)| a + b);
        let lethe_total = lethe.and_then(|side| seconds_of(side, &["purge"]));
        println!(
            "Hand-written physical step after its one-transaction purge ({what}): {} s. Batches alone / hand one transaction: {}; whole purge / (hand one transaction + its physical step, {} s): {}",
            fmt(hand_physical, 1),
            fmt(ratio(batches, hand_one_tx), 2),
            fmt(hand_total, 1),
            fmt(ratio(lethe_total, hand_total), 2),
        );
    }
    if let Some(live) = lethe.and_then(|side| side.get("liveness")) {
        println!(
            "\n| reads (GET /api/v1/records/contact/{{id}}) | requests | errors | p50 (ms) | p99 (ms) | max (ms) |"
        );
        println!("|---|---:|---:|---:|---:|---:|");
        for (label, key) in [
            ("idle", "idle"),
            ("during the purge (whole job)", "during_purge"),
            ("during the purge's batches", "during_batches"),
            ("during the physical erasure", "during_physical"),
        ] {
            if let Some(stats) = live.get(key) {
                println!(
                    "| {label} | {} | {} | {} | {} | {} |",
                    stats.get("requests").and_then(Json::as_u64).unwrap_or(0),
                    stats.get("errors").and_then(Json::as_u64).unwrap_or(0),
                    fmt(stats.get("p50_ms").and_then(Json::as_f64), 1),
                    fmt(stats.get("p99_ms").and_then(Json::as_f64), 1),
                    fmt(stats.get("max_ms").and_then(Json::as_f64), 1),
                );
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The sides.

pub async fn side(args: SideArgs) -> anyhow::Result<()> {
    let result = match args.role.as_str() {
        "lethe" => lethe_side(&args).await?,
        "hand" => hand_side(&args).await?,
        "hand-purge" => hand_purge_side(&args).await?,
        other => bail!("unknown role {other}"),
    };
    println!("RESULT {result}");
    Ok(())
}

/// Opens the copy with the current store (its migrations run) and freezes the members.
async fn open_and_pick(args: &SideArgs) -> anyhow::Result<(Store, Snapshot, f64)> {
    let url = DatabaseUrl::parse(&args.db)?;
    let options = crate::options(&url, lethe_store::Clock::system());
    let store = Store::open(&url, Schema::default_crm(), &options).await?;
    let started = Instant::now();
    store.migrate().await.context("migrating the copy")?;
    eprintln!(
        "[{}] migrations of the copy: {:.1} s",
        args.role,
        started.elapsed().as_secs_f64()
    );
    let filter = store.parse_filter("contact", &args.contacts_filter)?;
    let pick = MemberPick {
        entity: "contact".to_owned(),
        source: PickSource::Filter(filter),
        all_matching: true,
        include: Vec::new(),
        exclude: Vec::new(),
        scope: Scope::Active,
    };
    let started = Instant::now();
    let snapshot = store
        .create_snapshot(&pick, "lifecycle benchmark", None)
        .await?;
    let seconds = secs(started.elapsed());
    eprintln!(
        "[{}] snapshot {} of {} contacts in {seconds} s",
        args.role, snapshot.id, snapshot.member_count
    );
    Ok((store, snapshot, seconds))
}

fn job_json(job: &Job, seconds: f64, peak: f64) -> Json {
    json!({
        "job": job.id,
        "seconds": seconds,
        "peak_mib": (peak * 10.0).round() / 10.0,
        "done": job.done,
        "counts": job.counts,
        "rewritten": job.rewritten,
        "blocked": job.blocked,
        "skipped": job.skipped,
    })
}

async fn lethe_side(args: &SideArgs) -> anyhow::Result<Json> {
    let (store, snapshot, snapshot_seconds) = open_and_pick(args).await?;
    let mut settings = store.settings();
    settings.files_dir = Some(args.files_dir.clone());
    store.set_settings(settings);
    let actor = Actor::operator();
    let runner = JobRunner::default();
    let role = &args.role;

    let trash = async |store: &Store| -> anyhow::Result<(Job, f64, f64)> {
        reset_peak();
        let started = Instant::now();
        let job = store
            .start_trash(
                snapshot.id,
                Some("lifecycle benchmark"),
                &actor,
                args.lethe_batch,
            )
            .await?;
        let job = store.run_job(job.id, &runner, &mut |_| {}).await?;
        let seconds = secs(started.elapsed());
        ensure!(job.is_finished(), "the trash job ended {}", job.state);
        Ok((job, seconds, peak_mib()))
    };

    let (trashed, seconds, peak) = trash(&store).await?;
    eprintln!(
        "[{role}] trash: {seconds} s, {:?}, blocked {}",
        trashed.counts, trashed.blocked
    );
    let trash_json = job_json(&trashed, seconds, peak);
    let batch = trashed
        .batch_id
        .context("the trash job has no deletion batch")?;

    reset_peak();
    let started = Instant::now();
    let job = store
        .start_restore(batch, None, &actor, args.lethe_batch)
        .await?;
    let restored = store.run_job(job.id, &runner, &mut |_| {}).await?;
    let seconds = secs(started.elapsed());
    ensure!(
        restored.is_finished(),
        "the restore job ended {}",
        restored.state
    );
    eprintln!("[{role}] restore: {seconds} s, {:?}", restored.counts);
    let restore_json = job_json(&restored, seconds, peak_mib());

    let (trashed_again, seconds, peak) = trash(&store).await?;
    eprintln!("[{role}] trash again: {seconds} s");
    let trash_again_json = job_json(&trashed_again, seconds, peak);
    let batch = trashed_again
        .batch_id
        .context("the trash job has no deletion batch")?;

    // The HTTP server on loopback, and ids of active contacts outside the set to read.
    let (_, token) = store.add_user("bench-reader", Role::Admin).await?;
    let ids = Arc::new(active_ids(&args.db, snapshot.id).await?);
    let (listener, address) = lethe_http::bind("127.0.0.1:0".parse()?).await?;
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(lethe_http::serve(listener, store.clone(), async move {
        let _ = server_stopped.await;
    }));
    let base = format!("http://{address}");
    let load = Load {
        base,
        token,
        ids,
        readers: args.readers,
        pause: Duration::from_millis(args.read_pause_ms),
    };
    let idle = load
        .run(Arc::new(AtomicBool::new(false)), Duration::from_secs(15))
        .await?;
    let idle_json = latency_json(idle.iter().map(|sample| sample.1), idle_errors(&idle));
    eprintln!("[{role}] reads while idle: {idle_json}");

    reset_peak();
    let stop = Arc::new(AtomicBool::new(false));
    let readers = {
        let load = load.clone();
        let stop = stop.clone();
        tokio::spawn(async move { load.run(stop, Duration::from_secs(3_600)).await })
    };
    let load_started = Instant::now();
    let started = Instant::now();
    let job = store
        .request_purge(
            batch,
            &actor,
            Some(time::Duration::ZERO),
            false,
            None,
            args.lethe_batch,
        )
        .await?;
    let mut batches_done: Option<Instant> = None;
    let mut progress = |job: &Job| {
        if batches_done.is_none() && job.total > 0 && job.done >= job.total {
            batches_done = Some(Instant::now());
        }
    };
    let purged = store.run_job(job.id, &runner, &mut progress).await;
    let ended = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let samples = readers.await??;
    let purged = purged?;
    ensure!(purged.is_finished(), "the purge job ended {}", purged.state);
    let seconds = secs(ended - started);
    let batches_end = batches_done.unwrap_or(ended);
    let mut purge_json = job_json(&purged, seconds, peak_mib());
    purge_json["batches_seconds"] = json!(secs(batches_end - started));
    purge_json["physical_seconds"] = json!(secs(ended - batches_end));
    purge_json["receipt"] = purged.receipt.clone().unwrap_or(Json::Null);
    eprintln!(
        "[{role}] purge: {seconds} s ({} s after the last batch), {:?}, rewritten {:?}, blocked {}",
        secs(ended - batches_end),
        purged.counts,
        purged.rewritten,
        purged.blocked
    );
    let split = batches_end - load_started;
    let during_batches: Vec<_> = samples
        .iter()
        .filter(|sample| sample.0 < split)
        .cloned()
        .collect();
    let during_physical: Vec<_> = samples
        .iter()
        .filter(|sample| sample.0 >= split)
        .cloned()
        .collect();
    let liveness = json!({
        "readers": args.readers,
        "pause_ms": args.read_pause_ms,
        "idle": idle_json,
        "during_purge": latency_json(samples.iter().map(|sample| sample.1), idle_errors(&samples)),
        "during_batches": latency_json(during_batches.iter().map(|sample| sample.1), idle_errors(&during_batches)),
        "during_physical": latency_json(during_physical.iter().map(|sample| sample.1), idle_errors(&during_physical)),
    });
    eprintln!(
        "[{role}] reads during the purge: {}",
        liveness["during_purge"]
    );
    let _ = stop_server.send(());
    let _ = server.await;
    store.close().await;
    Ok(json!({
        "members": snapshot.member_count,
        "snapshot_seconds": snapshot_seconds,
        "batch_size": args.lethe_batch.unwrap_or(store.default_batch_size()),
        "purge_batch_size": args.lethe_batch.unwrap_or(lethe_store::DEFAULT_PURGE_BATCH_SIZE),
        "trash": trash_json,
        "restore": restore_json,
        "trash_again": trash_again_json,
        "purge": purge_json,
        "liveness": liveness,
    }))
}

/// Up to 5,000 random active contacts outside the picked set.
async fn active_ids(db: &str, snapshot: i64) -> anyhow::Result<Vec<i64>> {
    let url = DatabaseUrl::parse(db)?;
    let pool = crate::HandPool::open(&url).await?;
    let sql = format!(
        "SELECT id FROM contact WHERE trash_batch_id IS NULL AND id > 0 AND id NOT IN \
         (SELECT record_id FROM lethe_snapshot_member WHERE snapshot_id = {snapshot}) \
         ORDER BY random() LIMIT 5000"
    );
    let ids: Vec<i64> = match &pool {
        crate::HandPool::Sqlite(pool) => {
            let ids = sqlx::query_scalar(AssertSqlSafe(sql))
                .fetch_all(pool)
                .await?;
            pool.close().await;
            ids
        }
        crate::HandPool::Postgres(pool) => {
            let ids = sqlx::query_scalar(AssertSqlSafe(sql))
                .fetch_all(pool)
                .await?;
            pool.close().await;
            ids
        }
    };
    ensure!(!ids.is_empty(), "no active contact outside the set to read");
    Ok(ids)
}

/// A bounded read load: `readers` tasks, each one request at a time with a pause between.
#[derive(Clone)]
struct Load {
    base: String,
    token: String,
    ids: Arc<Vec<i64>>,
    readers: usize,
    pause: Duration,
}

/// When a request started (since the load started), its latency (`None`: it failed).
type Sample = (Duration, Option<Duration>);

/// The most requests one run keeps.
const MAX_REQUESTS: usize = 500_000;

impl Load {
    async fn run(&self, stop: Arc<AtomicBool>, limit: Duration) -> anyhow::Result<Vec<Sample>> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for reader in 0..self.readers {
            let (client, load, stop) = (client.clone(), self.clone(), stop.clone());
            tasks.spawn(async move {
                let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ ((reader as u64 + 1) << 17);
                let mut samples = Vec::new();
                while !stop.load(Ordering::Relaxed)
                    && started.elapsed() < limit
                    && samples.len() < MAX_REQUESTS / load.readers.max(1)
                {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let id = load.ids[(state % load.ids.len() as u64) as usize];
                    let at = started.elapsed();
                    let sent = Instant::now();
                    let answer = client
                        .get(format!("{}/api/v1/records/contact/{id}", load.base))
                        .bearer_auth(&load.token)
                        .send()
                        .await;
                    let ok = match answer {
                        Ok(answer) if answer.status().is_success() => answer.bytes().await.is_ok(),
                        _ => false,
                    };
                    samples.push((at, ok.then(|| sent.elapsed())));
                    tokio::time::sleep(load.pause).await;
                }
                samples
            });
        }
        let mut all = Vec::new();
        while let Some(samples) = tasks.join_next().await {
            all.extend(samples?);
        }
        Ok(all)
    }
}

fn idle_errors(samples: &[Sample]) -> usize {
    samples.iter().filter(|sample| sample.1.is_none()).count()
}

fn latency_json(samples: impl Iterator<Item = Option<Duration>>, errors: usize) -> Json {
    let mut ok: Vec<Duration> = samples.flatten().collect();
    ok.sort();
    let at = |quantile: f64| {
        (!ok.is_empty()).then(|| {
            let index = ((ok.len() as f64 * quantile).ceil() as usize).clamp(1, ok.len()) - 1;
            (ok[index].as_secs_f64() * 10_000.0).round() / 10.0
        })
    };
    json!({
        "requests": ok.len() + errors,
        "errors": errors,
        "p50_ms": at(0.5),
        "p99_ms": at(0.99),
        "max_ms": ok.last().map(|max| (max.as_secs_f64() * 10_000.0).round() / 10.0),
    })
}

// ---------------------------------------------------------------------------------------
// Hand-written SQL.

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

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Trash,
    Restore,
    Purge,
}

/// What a statement's row count means.
enum Tally {
    Changed(&'static str),
    Rewritten(&'static str),
    Nothing,
}

/// The cascade children of a contact, linked by `contact_id`.
const CONTACT_CHILDREN: [&str; 6] = [
    "consent",
    "activity",
    "note",
    "message",
    "ticket",
    "campaign_membership",
];
/// The cascade children of a ticket, linked by `ticket_id`.
const TICKET_CHILDREN: [&str; 2] = ["ticket_comment", "survey_rating"];
/// Children that restrict deleting a contact.
const RESTRICTS: [&str; 4] = ["deal", "project", "invoice", "time_entry"];

struct HandSql {
    batch: i64,
    now: String,
}

impl HandSql {
    /// The statements of one transaction; with `ranged`, `$1 < contact id <= $2`.
    fn statements(&self, op: Op, ranged: bool, postgres: bool) -> Vec<(Tally, String)> {
        let b = self.batch;
        let range = |column: &str| {
            if ranged {
                format!(" AND {column} > $1 AND {column} <= $2")
            } else {
                String::new()
            }
        };
        let set = format!(
            "trash_batch_id = {b}, trashed_at = '{}', trashed_by = NULL",
            self.now
        );
        // In batches, the batch test must not steer the planner to the trash index (which
        // would walk the whole deletion batch for every range: quadratic on PostgreSQL); the
        // id range finds the rows, as in Lethe's own batches. On PostgreSQL not in one
        // transaction either: its statistics, taken before anything was trashed, put one row
        // in a deletion batch, and the plan then rescans the batch's contacts for each of its
        // tickets (measured: minutes for one statement, against a hash join).
        let batch_test = if ranged || postgres {
            "trash_batch_id + 0"
        } else {
            "trash_batch_id"
        };
        let clear = "trash_batch_id = NULL, trashed_at = NULL, trashed_by = NULL";
        let mut out = Vec::new();
        match op {
            Op::Trash => {
                let unblocked: String = RESTRICTS
                    .iter()
                    .map(|table| {
                        format!(
                            " AND NOT EXISTS (SELECT 1 FROM {table} x WHERE x.contact_id = contact.id AND x.trash_batch_id IS NULL)"
                        )
                    })
                    .collect();
                out.push((
                    Tally::Changed("contact"),
                    format!(
                        "UPDATE contact SET {set} WHERE trash_batch_id IS NULL AND id IN (SELECT id FROM bench_member WHERE 1 = 1{}){unblocked}",
                        range("id")
                    ),
                ));
                let contacts = format!(
                    "SELECT id FROM contact WHERE {batch_test} = {b}{}",
                    range("id")
                );
                for table in CONTACT_CHILDREN {
                    out.push((
                        Tally::Changed(table),
                        format!("UPDATE {table} SET {set} WHERE trash_batch_id IS NULL AND contact_id IN ({contacts})"),
                    ));
                }
                let tickets = format!(
                    "SELECT id FROM ticket WHERE {batch_test} = {b} AND contact_id IN ({contacts})"
                );
                for table in TICKET_CHILDREN {
                    out.push((
                        Tally::Changed(table),
                        format!("UPDATE {table} SET {set} WHERE trash_batch_id IS NULL AND ticket_id IN ({tickets})"),
                    ));
                }
                out.push((
                    Tally::Changed("attachment"),
                    format!("UPDATE attachment SET {set} WHERE trash_batch_id IS NULL AND owner_entity = 'contact' AND owner_id IN ({contacts})"),
                ));
                out.push((
                    Tally::Changed("attachment"),
                    format!("UPDATE attachment SET {set} WHERE trash_batch_id IS NULL AND owner_entity = 'ticket' AND owner_id IN ({tickets})"),
                ));
            }
            Op::Restore if !ranged => {
                for table in std::iter::once("contact")
                    .chain(CONTACT_CHILDREN)
                    .chain(TICKET_CHILDREN)
                    .chain(["attachment"])
                {
                    out.push((
                        Tally::Changed(table),
                        format!("UPDATE {table} SET {clear} WHERE trash_batch_id = {b}"),
                    ));
                }
            }
            Op::Restore => {
                // Children first: they are found through parents still in the batch.
                let contacts = format!(
                    "SELECT id FROM contact WHERE {batch_test} = {b}{}",
                    range("id")
                );
                let tickets = format!(
                    "SELECT id FROM ticket WHERE {batch_test} = {b} AND contact_id IN ({contacts})"
                );
                for table in TICKET_CHILDREN {
                    out.push((
                        Tally::Changed(table),
                        format!("UPDATE {table} SET {clear} WHERE {batch_test} = {b} AND ticket_id IN ({tickets})"),
                    ));
                }
                out.push((
                    Tally::Changed("attachment"),
                    format!("UPDATE attachment SET {clear} WHERE {batch_test} = {b} AND owner_entity = 'ticket' AND owner_id IN ({tickets})"),
                ));
                out.push((
                    Tally::Changed("attachment"),
                    format!("UPDATE attachment SET {clear} WHERE {batch_test} = {b} AND owner_entity = 'contact' AND owner_id IN ({contacts})"),
                ));
                for table in CONTACT_CHILDREN {
                    out.push((
                        Tally::Changed(table),
                        format!("UPDATE {table} SET {clear} WHERE {batch_test} = {b} AND contact_id IN ({contacts})"),
                    ));
                }
                out.push((
                    Tally::Changed("contact"),
                    format!(
                        "UPDATE contact SET {clear} WHERE {batch_test} = {b}{}",
                        range("id")
                    ),
                ));
            }
            Op::Purge => {
                let unblocked: String = RESTRICTS
                    .iter()
                    .map(|table| {
                        format!(
                            " AND NOT EXISTS (SELECT 1 FROM {table} x WHERE x.contact_id = c.id)"
                        )
                    })
                    .collect();
                out.push((Tally::Nothing, "DELETE FROM bench_erased".to_owned()));
                out.push((
                    Tally::Nothing,
                    format!(
                        "INSERT INTO bench_erased (id) SELECT c.id FROM contact c WHERE c.{batch_test} = {b} \
                         AND c.id IN (SELECT id FROM bench_member WHERE 1 = 1{}){unblocked} \
                         AND NOT EXISTS (SELECT 1 FROM activity a WHERE a.contact_id = c.id AND a.kind = 'task' AND a.status NOT IN ('removed', 'verified'))",
                        range("id")
                    ),
                ));
                if postgres && !ranged {
                    out.push((Tally::Nothing, "ANALYZE bench_erased".to_owned()));
                }
                let erased = "SELECT id FROM bench_erased";
                let placeholder = lethe_store::PLACEHOLDER_ID;
                out.push((
                    Tally::Rewritten("ticket_comment"),
                    format!("UPDATE ticket_comment SET contact_id = {placeholder}, body = '[comment by a deleted user]' WHERE contact_id IN ({erased})"),
                ));
                out.push((
                    Tally::Rewritten("survey_rating"),
                    format!("UPDATE survey_rating SET contact_id = {placeholder}, comment = NULL WHERE contact_id IN ({erased})"),
                ));
                let tickets = format!("SELECT id FROM ticket WHERE contact_id IN ({erased})");
                out.push((
                    Tally::Changed("attachment"),
                    format!("DELETE FROM attachment WHERE owner_entity = 'ticket' AND owner_id IN ({tickets})"),
                ));
                for table in TICKET_CHILDREN {
                    out.push((
                        Tally::Changed(table),
                        format!("DELETE FROM {table} WHERE ticket_id IN ({tickets})"),
                    ));
                }
                out.push((
                    Tally::Changed("attachment"),
                    format!("DELETE FROM attachment WHERE owner_entity = 'contact' AND owner_id IN ({erased})"),
                ));
                for table in CONTACT_CHILDREN.iter().rev() {
                    out.push((
                        Tally::Changed(table),
                        format!("DELETE FROM {table} WHERE contact_id IN ({erased})"),
                    ));
                }
                out.push((
                    Tally::Changed("contact"),
                    format!("DELETE FROM contact WHERE id IN ({erased})"),
                ));
            }
        }
        out
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

async fn hand_side(args: &SideArgs) -> anyhow::Result<Json> {
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

async fn hand_purge_side(args: &SideArgs) -> anyhow::Result<Json> {
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
