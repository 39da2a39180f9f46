//! `lethe-bench lifecycle`: trash, restore and purge of a large member set through Lethe's
//! jobs, against the fastest hand-written set-based SQL for the same data change (one
//! transaction, and batches) and against one contact per transaction, each on its own copy
//! of the data set; plus the latency of record reads over HTTP while the purge runs.
//!
//! Every side runs in its own process (`lifecycle-side`, spawned by this one), so each has its
//! own memory and, on SQLite, its own page cache. Peak memory is the resident set's high-water
//! mark (`VmHWM`), reset before each operation (`/proc/self/clear_refs`).
//!
//! This file holds the arguments, the parent (one copy and one process per side) and the
//! dispatch of a side; the copies are made in `copy.rs`, Lethe's side runs in `lethe.rs`
//! (with the HTTP read load of `load.rs`), the hand-written SQL side in `hand.rs` (its
//! statements in `hand_sql.rs`), and `report.rs` checks both sides changed the same rows and
//! prints the comparison.

mod copy;
mod hand;
mod hand_sql;
pub(crate) use hand_sql::{CONTACT_CHILDREN, RESTRICTS, TICKET_CHILDREN};
mod lethe;
mod load;
mod report;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use lethe_schema::Schema;
use lethe_store::{DatabaseUrl, MemberPick, PickSource, Scope, Snapshot, Store};
use serde_json::Value as Json;

use copy::DbCopy;
use hand::{hand_purge_side, hand_side};
use lethe::lethe_side;
use report::report;

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
/// The active contacts the benchmark's filter selects.
fn pick(store: &Store, args: &SideArgs) -> anyhow::Result<MemberPick> {
    let filter = store.parse_filter("contact", &args.contacts_filter)?;
    Ok(MemberPick {
        entity: "contact".to_owned(),
        source: PickSource::Filter(filter),
        all_matching: true,
        include: Vec::new(),
        exclude: Vec::new(),
        scope: Scope::Active,
    })
}

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
    let started = Instant::now();
    let snapshot = store
        .create_snapshot(&pick(&store, args)?, "lifecycle benchmark", None)
        .await?;
    let seconds = secs(started.elapsed());
    eprintln!(
        "[{}] snapshot {} of {} contacts in {seconds} s",
        args.role, snapshot.id, snapshot.member_count
    );
    Ok((store, snapshot, seconds))
}
