//! Retention at scale (issue 17): a retention policy's dry run and a monitor's evaluation,
//! as a person runs them — the `lethe` binary, one process per run — against a process that
//! does the same work with the fastest hand-written SQL, as ratios in one run, with the peak
//! memory of each process. Both sides see the same "now" (`LETHE_NOW` for Lethe), and their
//! answers are compared: a benchmark whose sides disagree stops with an error.
//!
//! - **Dry run** of a trash policy over the stale prospects: freeze the members in a table
//!   that stays (Lethe's snapshot), find the members a `restrict` child blocks with a sample
//!   of the lowest, and count the records the trash would reach per entity type.
//! - **Monitor run** over the same selection: find the members now and record who entered
//!   and who left against the stored members. Also against counting the selection twice
//!   with the fastest hand-written count, the bound the issue sets.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde_json::Value as Json;
use sqlx::{AssertSqlSafe, Row};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::lifecycle::{CONTACT_CHILDREN, RESTRICTS, TICKET_CHILDREN};
use crate::{CASES, HandPool, median, years_ago};

/// The name of the benchmark's policy, saved selection and monitor.
const NAME: &str = "bench-retention";

#[derive(Debug, clap::Args)]
pub struct RetentionArgs {
    /// A database built by `lethe demo` (a SQLite path or a postgres:// URL).
    #[arg(long)]
    db: String,
    /// Timed runs of each side; medians reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// The `lethe` binary (default: the one next to this benchmark).
    #[arg(long)]
    lethe: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct HandArgs {
    #[arg(long)]
    db: String,
    /// `dry-run`, `monitor`, or `count`.
    #[arg(long)]
    work: String,
    /// Which hand-written variant of the stale-prospects question (an index into its
    /// variants for the backend).
    #[arg(long)]
    variant: usize,
    /// "Now", RFC 3339, the same Lethe is given.
    #[arg(long)]
    now: String,
}

/// One process's run: its wall time, its peak resident memory, and what it printed.
pub(crate) struct Measured {
    pub(crate) seconds: f64,
    pub(crate) peak_mib: f64,
    pub(crate) stdout: String,
}

/// Runs `command` to its end, timing it and sampling its peak resident set (`VmHWM`, the
/// kernel's own high-water mark) every 5 ms while it runs.
pub(crate) fn measure(mut command: Command) -> anyhow::Result<Measured> {
    let started = Instant::now();
    let mut child = command
        .env("MALLOC_ARENA_MAX", crate::MALLOC_ARENA_MAX)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting a side")?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0.0_f64;
    let reader = {
        let mut stdout = child.stdout.take().context("the side's output")?;
        std::thread::spawn(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut text).map(|_| text)
        })
    };
    let errors = {
        let mut stderr = child.stderr.take().context("the side's errors")?;
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        })
    };
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kib) = text
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let seconds = started.elapsed().as_secs_f64();
    let stdout = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reading a side's output failed"))??;
    let stderr = errors.join().unwrap_or_default();
    ensure!(status.success(), "a side failed ({status}): {stderr}");
    Ok(Measured {
        seconds,
        peak_mib: peak_kib / 1024.0,
        stdout,
    })
}

pub(crate) fn lethe_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match given {
        Some(path) => Ok(path),
        None => Ok(std::env::current_exe()?.with_file_name("lethe")),
    }
}

/// `lethe --db DB ARGS…` at `now`.
fn lethe_command(lethe: &PathBuf, db: &str, now: &str, args: &[&str]) -> Command {
    let mut command = Command::new(lethe);
    command
        .env("LETHE_NOW", now)
        .env_remove("RUST_BACKTRACE")
        .env_remove("LETHE_LOG")
        .args(["--db", db])
        .args(args);
    command
}

fn hand_command(db: &str, work: &str, variant: usize, now: &str) -> anyhow::Result<Command> {
    let mut command = Command::new(std::env::current_exe()?);
    command.env_remove("RUST_BACKTRACE");
    command.args(["retention-hand", "--db", db, "--work", work, "--now", now]);
    command.arg("--variant").arg(variant.to_string());
    Ok(command)
}

/// Adds the policy, the saved selection and the monitor the first time (the monitor's
/// baseline is taken then), and copies the monitor's members for the hand-written side.
async fn prepare(lethe: &PathBuf, db: &str, now: &str, hand: &HandPool) -> anyhow::Result<()> {
    let filter = CASES[0].filter;
    let exists = |what: &str| -> anyhow::Result<bool> {
        Ok(lethe_command(lethe, db, now, &[what, "show", NAME])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?
            .success())
    };
    let add = |args: &[&str]| -> anyhow::Result<()> {
        measure(lethe_command(lethe, db, now, args)).map(|_| ())
    };
    if !exists("policy")? {
        add(&[
            "policy",
            "add",
            NAME,
            "--entity",
            "contact",
            "--filter",
            filter,
            "--action",
            "trash",
            "--schedule",
            "0 3 * * *",
            "--legal-basis",
            "the benchmark's stale prospects",
        ])?;
    }
    if !exists("selection")? {
        add(&["selection", "save", NAME, "contact", "--filter", filter])?;
    }
    if !exists("monitor")? {
        eprintln!("adding monitor {NAME}: its baseline is the selection's members now");
        add(&[
            "monitor",
            "add",
            NAME,
            "--selection",
            NAME,
            "--schedule",
            "@daily",
            "--on-leave",
        ])?;
    }
    hand.plain("DROP TABLE IF EXISTS bench_hand_member").await?;
    hand.plain("DROP TABLE IF EXISTS bench_hand_hit").await?;
    hand.plain("CREATE TABLE bench_hand_member (record_id BIGINT PRIMARY KEY)")
        .await?;
    hand.plain("CREATE TABLE bench_hand_hit (change TEXT NOT NULL, record_id BIGINT NOT NULL)")
        .await?;
    hand.plain(&format!(
        "INSERT INTO bench_hand_member SELECT mm.record_id FROM lethe_monitor_member mm \
         JOIN lethe_monitor m ON m.id = mm.monitor_id WHERE m.name = '{NAME}'"
    ))
    .await?;
    Ok(())
}

impl HandPool {
    async fn plain(&self, sql: &str) -> anyhow::Result<u64> {
        Ok(match self {
            HandPool::Sqlite(pool) => sqlx::query(AssertSqlSafe(sql))
                .execute(pool)
                .await?
                .rows_affected(),
            HandPool::Postgres(pool) => sqlx::query(AssertSqlSafe(sql))
                .execute(pool)
                .await?
                .rows_affected(),
        })
    }
}

/// Lethe's dry-run answer as `entity → records`, with `blocked`.
fn lethe_counts(dry_run: &str) -> anyhow::Result<BTreeMap<String, i64>> {
    let json: Json = serde_json::from_str(dry_run).context("reading lethe's dry run")?;
    let counts = &json["run"]["counts"];
    let mut out = BTreeMap::new();
    for entry in counts["acted_on"].as_array().context("acted_on")? {
        out.insert(
            entry["entity"].as_str().context("entity")?.to_owned(),
            entry["records"].as_i64().context("records")?,
        );
    }
    out.insert(
        "blocked".to_owned(),
        counts["blocked"].as_i64().context("blocked")?,
    );
    Ok(out)
}

pub async fn run(args: RetentionArgs) -> anyhow::Result<()> {
    let lethe = lethe_binary(args.lethe)?;
    let url = lethe_store::DatabaseUrl::parse(&args.db)?;
    let hand = HandPool::open(&url).await?;
    let now_instant = OffsetDateTime::now_utc().replace_nanosecond(0)?;
    let now = now_instant.format(&Rfc3339)?;
    prepare(&lethe, &args.db, &now, &hand).await?;
    let repeat = args.repeat.max(1);
    let db = args.db.as_str();

    // The fastest hand-written count of the stale prospects, over all variants.
    let variants = hand.variants(&CASES[0]).len();
    let mut best: Option<(usize, f64)> = None;
    for variant in 0..variants {
        let runs = (0..repeat)
            .map(|_| measure(hand_command(db, "count", variant, &now)?))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let seconds = median_seconds(&runs);
        if best.is_none_or(|(_, fastest)| seconds < fastest) {
            best = Some((variant, seconds));
        }
    }
    let Some((variant, count_seconds)) = best else {
        bail!("no hand-written variant of the stale-prospects question");
    };

    // Each work: Lethe's run and the hand-written one, alternating; their answers compared.
    let (lethe_runs, hand_runs, counts) = alternate(repeat, || {
        let ours = measure(lethe_command(
            &lethe,
            db,
            &now,
            &["policy", "dry-run", NAME, "--json"],
        ))?;
        let theirs = measure(hand_command(db, "dry-run", variant, &now)?)?;
        let (a, b) = (
            lethe_counts(&ours.stdout)?,
            serde_json::from_str(&theirs.stdout)?,
        );
        Ok((ours, theirs, a, b))
    })?;
    hand.plain("DROP TABLE IF EXISTS bench_frozen").await?;
    report("policy dry run (trash)", &lethe_runs, &hand_runs, &counts);

    let (lethe_runs, hand_runs, counts) = alternate(repeat, || {
        let ours = measure(lethe_command(
            &lethe,
            db,
            &now,
            &["monitor", "run", NAME, "--json"],
        ))?;
        let theirs = measure(hand_command(db, "monitor", variant, &now)?)?;
        let json: Json = serde_json::from_str(&ours.stdout)?;
        let mut a = BTreeMap::new();
        for change in ["entered", "left"] {
            a.insert(
                change.to_owned(),
                json["run"][change].as_i64().context("a count")?,
            );
        }
        let b = serde_json::from_str(&theirs.stdout)?;
        Ok((ours, theirs, a, b))
    })?;
    report("monitor run", &lethe_runs, &hand_runs, &counts);
    let monitor = median_seconds(&lethe_runs);
    println!(
        "monitor run against counting the selection twice (hand-written count {count_seconds:.3} s, variant {}): {:.2}",
        variant + 1,
        monitor / (2.0 * count_seconds)
    );
    hand.plain("DROP TABLE IF EXISTS bench_hand_member").await?;
    hand.plain("DROP TABLE IF EXISTS bench_hand_hit").await?;
    Ok(())
}

/// One side's answer: counts by name.
type Answer = BTreeMap<String, i64>;

/// Runs `one` (Lethe's run, the hand-written run, and their answers) `repeat` times, and
/// returns the runs of each side and the answer; stops when the answers differ.
fn alternate(
    repeat: usize,
    mut one: impl FnMut() -> anyhow::Result<(Measured, Measured, Answer, Answer)>,
) -> anyhow::Result<(Vec<Measured>, Vec<Measured>, Answer)> {
    let (mut lethe_runs, mut hand_runs, mut answer) = (Vec::new(), Vec::new(), Answer::new());
    for _ in 0..repeat.max(1) {
        let (ours, theirs, a, b) = one()?;
        ensure!(
            a == b,
            "the answers differ: lethe {a:?}, hand-written {b:?}"
        );
        lethe_runs.push(ours);
        hand_runs.push(theirs);
        answer = a;
    }
    Ok((lethe_runs, hand_runs, answer))
}

fn median_seconds(runs: &[Measured]) -> f64 {
    median(
        runs.iter()
            .map(|run| Duration::from_secs_f64(run.seconds))
            .collect(),
    )
    .as_secs_f64()
}

fn report(what: &str, lethe: &[Measured], hand: &[Measured], counts: &BTreeMap<String, i64>) {
    let peak = |runs: &[Measured]| runs.iter().map(|run| run.peak_mib).fold(0.0, f64::max);
    let (ours, theirs) = (median_seconds(lethe), median_seconds(hand));
    println!("## {what}");
    println!("counts: {counts:?}");
    println!(
        "lethe:        {ours:.3} s (median of {}), peak {:.0} MiB",
        lethe.len(),
        peak(lethe)
    );
    println!(
        "hand-written: {theirs:.3} s (median of {}), peak {:.0} MiB",
        hand.len(),
        peak(hand)
    );
    println!("ratio: {:.2}", ours / theirs);
}

/// One hand-written side, in its own process: prints its answer as JSON.
pub async fn hand_side(args: HandArgs) -> anyhow::Result<()> {
    let url = lethe_store::DatabaseUrl::parse(&args.db)?;
    let now = OffsetDateTime::parse(&args.now, &Rfc3339)?;
    let hand = HandPool::open(&url).await?;
    let variants = hand.variants(&CASES[0]);
    let count = *variants.get(args.variant).context("no such variant")?;
    let (three, two) = (years_ago(now, 3), years_ago(now, 2));
    if args.work == "count" {
        let members = hand.count(count, three, two).await?;
        println!("{}", serde_json::json!({ "members": members }));
        return Ok(());
    }
    let postgres = matches!(hand, HandPool::Postgres(_));
    // The question with its values written in, as the fastest hand-written SQL would.
    let literal = |at: OffsetDateTime| match postgres {
        true => format!("'{}'::timestamptz", lethe_store::format_timestamp(at)),
        false => format!("'{}'", lethe_store::format_timestamp(at)),
    };
    let stale = count
        .replacen(
            "SELECT COUNT(*) FROM contact c",
            "SELECT c.id FROM contact c",
            1,
        )
        .replace(if postgres { "$1" } else { "?1" }, &literal(three))
        .replace(if postgres { "$2" } else { "?2" }, &literal(two))
        .replace(if postgres { "$3" } else { "?3" }, "'prospect'")
        .replace(if postgres { "$4" } else { "?4" }, "'marketing'");
    let mut transaction = match &hand {
        HandPool::Sqlite(pool) => Transaction::Sqlite(pool.begin().await?),
        HandPool::Postgres(pool) => Transaction::Postgres(pool.begin().await?),
    };
    let answer = match args.work.as_str() {
        "dry-run" => dry_run(&mut transaction, &stale, postgres).await?,
        "monitor" => monitor(&mut transaction, &stale, postgres).await?,
        other => bail!("no such work: {other}"),
    };
    transaction.commit().await?;
    println!("{answer}");
    Ok(())
}

enum Transaction {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Transaction {
    async fn execute(&mut self, sql: &str) -> anyhow::Result<u64> {
        let query = sqlx::query(AssertSqlSafe(sql));
        Ok(match self {
            Transaction::Sqlite(tx) => query.execute(&mut **tx).await?.rows_affected(),
            Transaction::Postgres(tx) => sqlx::query(AssertSqlSafe(sql))
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        })
    }

    /// The first row's integer columns, for each row.
    async fn rows(&mut self, sql: &str, columns: usize) -> anyhow::Result<Vec<Vec<i64>>> {
        let mut out = Vec::new();
        match self {
            Transaction::Sqlite(tx) => {
                for row in sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut **tx).await? {
                    out.push(
                        (0..columns)
                            .map(|i| row.try_get::<i64, _>(i))
                            .collect::<Result<_, _>>()?,
                    );
                }
            }
            Transaction::Postgres(tx) => {
                for row in sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut **tx).await? {
                    out.push(
                        (0..columns)
                            .map(|i| row.try_get::<i64, _>(i))
                            .collect::<Result<_, _>>()?,
                    );
                }
            }
        }
        Ok(out)
    }

    async fn count(&mut self, sql: &str) -> anyhow::Result<i64> {
        Ok(self
            .rows(sql, 1)
            .await?
            .first()
            .and_then(|row| row.first().copied())
            .unwrap_or(0))
    }

    async fn commit(self) -> anyhow::Result<()> {
        match self {
            Transaction::Sqlite(tx) => tx.commit().await?,
            Transaction::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    /// A temporary table of the ids `rows` yields, gone at commit on PostgreSQL (made from
    /// the query there, which may then run in parallel) and with the process on SQLite;
    /// returns how many.
    async fn temporary(&mut self, name: &str, rows: &str, postgres: bool) -> anyhow::Result<u64> {
        if postgres {
            let kept = self
                .execute(&format!(
                    "CREATE TEMP TABLE {name} ON COMMIT DROP AS {rows}"
                ))
                .await?;
            self.execute(&format!("ALTER TABLE {name} ADD PRIMARY KEY (id)"))
                .await?;
            self.execute(&format!("ANALYZE {name}")).await?;
            return Ok(kept);
        }
        self.execute(&format!(
            "CREATE TEMP TABLE {name} (id INTEGER PRIMARY KEY)"
        ))
        .await?;
        self.execute(&format!("INSERT INTO {name} {rows}")).await
    }
}

/// What trashing the stale prospects would do, frozen in `bench_frozen` (which stays, as
/// Lethe's snapshot does): the same answer as Lethe's dry run.
async fn dry_run(tx: &mut Transaction, stale: &str, postgres: bool) -> anyhow::Result<Json> {
    let key = if postgres { "BIGINT" } else { "INTEGER" };
    tx.execute("DROP TABLE IF EXISTS bench_frozen").await?;
    tx.execute(&format!("CREATE TABLE bench_frozen (id {key} PRIMARY KEY)"))
        .await?;
    tx.execute(&format!("INSERT INTO bench_frozen {stale}"))
        .await?;
    if postgres {
        tx.execute("ANALYZE bench_frozen").await?;
    }
    // Blocked: a live restrict child. The lowest ten, with their blocking counts per rule.
    let live = |table: &str, on: &str| {
        format!("SELECT 1 FROM {table} r WHERE r.contact_id = {on} AND r.trash_batch_id IS NULL")
    };
    let any_restrict = RESTRICTS
        .iter()
        .map(|table| format!("EXISTS ({})", live(table, "f.id")))
        .collect::<Vec<_>>()
        .join(" OR ");
    let blocked = tx
        .temporary(
            "bench_blocked",
            &format!("SELECT f.id FROM bench_frozen f WHERE {any_restrict}"),
            postgres,
        )
        .await?;
    let per_rule = RESTRICTS
        .iter()
        .map(|table| format!("(SELECT COUNT(*) FROM {table} r WHERE r.contact_id = b.id AND r.trash_batch_id IS NULL)"))
        .collect::<Vec<_>>()
        .join(", ");
    let sample = tx
        .rows(
            &format!("SELECT b.id, {per_rule} FROM bench_blocked b ORDER BY b.id LIMIT 10"),
            1 + RESTRICTS.len(),
        )
        .await?;
    ensure!(
        sample.len() as u64 == blocked.min(10),
        "the blocked sample is short"
    );
    // The eligible members, and what their trash reaches.
    let eligible = tx
        .temporary(
            "bench_eligible",
            "SELECT id FROM bench_frozen WHERE id NOT IN (SELECT id FROM bench_blocked)",
            postgres,
        )
        .await?;
    let mut counts = BTreeMap::new();
    counts.insert("contact".to_owned(), i64::try_from(eligible)?);
    counts.insert("blocked".to_owned(), i64::try_from(blocked)?);
    let members = "SELECT id FROM bench_eligible";
    let tickets =
        format!("SELECT id FROM ticket WHERE trash_batch_id IS NULL AND contact_id IN ({members})");
    for table in CONTACT_CHILDREN {
        let n = tx
            .count(&format!("SELECT COUNT(*) FROM {table} WHERE trash_batch_id IS NULL AND contact_id IN ({members})"))
            .await?;
        counts.insert(table.to_owned(), n);
    }
    for table in TICKET_CHILDREN {
        let n = tx
            .count(&format!("SELECT COUNT(*) FROM {table} WHERE trash_batch_id IS NULL AND ticket_id IN ({tickets})"))
            .await?;
        counts.insert(table.to_owned(), n);
    }
    let attachments = tx
        .count(&format!(
            "SELECT COUNT(*) FROM attachment WHERE trash_batch_id IS NULL AND \
             ((owner_entity = 'contact' AND owner_id IN ({members})) OR (owner_entity = 'ticket' AND owner_id IN ({tickets})))"
        ))
        .await?;
    counts.insert("attachment".to_owned(), attachments);
    Ok(serde_json::to_value(counts)?)
}

/// A monitor's evaluation: the members now against the stored members
/// (`bench_hand_member`), the changes recorded (`bench_hand_hit`), the members updated.
async fn monitor(tx: &mut Transaction, stale: &str, postgres: bool) -> anyhow::Result<Json> {
    tx.temporary("bench_matching", stale, postgres).await?;
    let entered = tx
        .execute("INSERT INTO bench_hand_hit SELECT 'entered', id FROM bench_matching WHERE id NOT IN (SELECT record_id FROM bench_hand_member)")
        .await?;
    let left = tx
        .execute("INSERT INTO bench_hand_hit SELECT 'left', record_id FROM bench_hand_member WHERE record_id NOT IN (SELECT id FROM bench_matching)")
        .await?;
    if left > 0 {
        tx.execute(
            "DELETE FROM bench_hand_member WHERE record_id NOT IN (SELECT id FROM bench_matching)",
        )
        .await?;
    }
    if entered > 0 {
        tx.execute("INSERT INTO bench_hand_member SELECT id FROM bench_matching WHERE id NOT IN (SELECT record_id FROM bench_hand_member)").await?;
    }
    if !postgres {
        tx.execute("DROP TABLE bench_matching").await?;
    }
    Ok(serde_json::json!({ "entered": entered, "left": left }))
}
