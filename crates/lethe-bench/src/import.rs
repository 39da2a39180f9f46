//! `lethe-bench import`: `lethe import contact FILE.csv` of N generated contacts into a
//! freshly migrated database, end to end as a user runs it, against the database's own bulk
//! load of the same file into the same table (`sqlite3`'s `.import` into a temporary table,
//! PostgreSQL's `\copy`, then one `INSERT … SELECT` with the timestamps filled in), in one
//! run; both sides' record counts must agree.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, ensure};

use crate::retention::{Measured, lethe_binary, measure};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Where the databases go: a folder for SQLite files, or a PostgreSQL server URL
    /// (`postgres://user@host:port`), on which two databases are made and dropped.
    #[arg(long)]
    on: String,
    /// Contacts in the file.
    #[arg(long, default_value_t = 100_000)]
    rows: u64,
    /// The `lethe` binary (default: the one next to this benchmark).
    #[arg(long)]
    lethe: Option<PathBuf>,
}

/// The file's columns: the contact fields an address book export has.
const COLUMNS: [&str; 7] = [
    "first_name",
    "last_name",
    "email",
    "phone",
    "job_title",
    "category",
    "legal_basis",
];

/// Writes `rows` contacts (some fields quoted, some empty, like a spreadsheet's export).
fn write_file(path: &Path, rows: u64) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "{}", COLUMNS.join(","))?;
    let categories = ["prospect", "customer", "lost"];
    let bases = ["consent", "contract", "legitimate_interest", "none"];
    for row in 0..rows {
        let phone = if row % 3 == 0 {
            String::new()
        } else {
            format!("+47 {:08}", row * 7 % 100_000_000)
        };
        writeln!(
            out,
            "Person{row},\"Family, {}\",person{row}@example.org,{phone},Title {},{},{}",
            row % 977,
            row % 13,
            categories[(row % 3) as usize],
            bases[(row % 4) as usize],
        )?;
    }
    out.flush()?;
    Ok(())
}

/// A fresh, migrated database of the default schema: its `--db` value.
fn fresh(lethe: &Path, on: &str, name: &str) -> anyhow::Result<String> {
    let db = if is_postgres(on) {
        let server = on.trim_end_matches('/');
        psql(
            &format!("{server}/postgres"),
            &format!("DROP DATABASE IF EXISTS {name}"),
        )?;
        psql(
            &format!("{server}/postgres"),
            &format!("CREATE DATABASE {name}"),
        )?;
        format!("{server}/{name}")
    } else {
        std::fs::create_dir_all(on)?;
        let path = Path::new(on).join(format!("{name}.db"));
        for suffix in ["", "-wal", "-shm"] {
            std::fs::remove_file(format!("{}{suffix}", path.display())).ok();
        }
        path.display().to_string()
    };
    let status = Command::new(lethe)
        .env_remove("LETHE_LOG")
        .args(["--db", &db, "migrate"])
        .output()?;
    ensure!(
        status.status.success(),
        "migrating {db}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    Ok(db)
}

fn is_postgres(on: &str) -> bool {
    on.starts_with("postgres://") || on.starts_with("postgresql://")
}

fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let output = Command::new("psql")
        .args([
            "--no-psqlrc",
            "--quiet",
            "-v",
            "ON_ERROR_STOP=1",
            url,
            "-c",
            sql,
        ])
        .output()
        .context("running psql")?;
    ensure!(
        output.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// The database's own bulk load of `file` into `contact`.
fn hand_command(db: &str, file: &Path) -> Command {
    let columns = COLUMNS.join(", ");
    let typed: Vec<String> = COLUMNS
        .iter()
        .map(|column| format!("{column} TEXT"))
        .collect();
    if is_postgres(db) {
        let mut command = Command::new("psql");
        command
            .args(["--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1", db])
            .args(["-c", "BEGIN"])
            .args(["-c", &format!("CREATE TEMP TABLE incoming ({})", typed.join(", "))])
            .args([
                "-c",
                &format!(
                    "\\copy incoming FROM '{}' WITH (FORMAT csv, HEADER)",
                    file.display()
                ),
            ])
            .args([
                "-c",
                &format!(
                    "INSERT INTO contact (created_at, updated_at, {columns}) SELECT now(), now(), first_name, last_name, email, NULLIF(phone, ''), job_title, category, legal_basis FROM incoming"
                ),
            ])
            .args(["-c", "COMMIT"]);
        command
    } else {
        let mut command = Command::new("sqlite3");
        command
            .args(["-bail", db, "PRAGMA journal_mode = WAL", "BEGIN"])
            .arg(format!("CREATE TEMP TABLE incoming ({})", typed.join(", ")))
            .args([".mode csv"])
            .arg(format!(".import --skip 1 {} incoming", file.display()))
            .arg(format!(
                "INSERT INTO contact (created_at, updated_at, {columns}) SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), first_name, last_name, email, NULLIF(phone, ''), job_title, category, legal_basis FROM incoming"
            ))
            .arg("COMMIT");
        command
    }
}

/// Contacts in a database (the built-in placeholder aside).
fn contacts(db: &str) -> anyhow::Result<u64> {
    let sql = "SELECT COUNT(*) FROM contact WHERE email LIKE 'person%'";
    let output = if is_postgres(db) {
        Command::new("psql")
            .args(["--no-psqlrc", "-At", db, "-c", sql])
            .output()?
    } else {
        Command::new("sqlite3").args([db, sql]).output()?
    };
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .with_context(|| format!("counting contacts in {db}"))
}

pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    let lethe = lethe_binary(args.lethe.clone())?;
    let scratch = std::env::temp_dir().join("lethe-bench-import");
    std::fs::create_dir_all(&scratch)?;
    let file = scratch.join("contacts.csv");
    write_file(&file, args.rows)?;
    let ours_db = fresh(&lethe, &args.on, "lethe_bench_import_lethe")?;
    let hand_db = fresh(&lethe, &args.on, "lethe_bench_import_hand")?;

    let mut command = Command::new(&lethe);
    command
        .env_remove("LETHE_LOG")
        .args(["--db", &ours_db, "import", "contact"])
        .arg(&file)
        .arg("--json");
    let ours: Measured = measure(command)?;
    let theirs: Measured = measure(hand_command(&hand_db, &file))?;
    let (ours_rows, hand_rows) = (contacts(&ours_db)?, contacts(&hand_db)?);
    ensure!(
        ours_rows == args.rows && hand_rows == args.rows,
        "the sides disagree: Lethe imported {ours_rows}, the database {hand_rows}, of {}",
        args.rows
    );
    println!(
        "| import | rows | Lethe (s) | Lethe rows/s | Lethe peak (MiB) | database's own (s) | its rows/s | ratio |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    println!(
        "| {} contacts from CSV | {} | {:.2} | {:.0} | {:.0} | {:.2} | {:.0} | {:.2} |",
        if is_postgres(&args.on) {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        args.rows,
        ours.seconds,
        args.rows as f64 / ours.seconds,
        ours.peak_mib,
        theirs.seconds,
        args.rows as f64 / theirs.seconds,
        ours.seconds / theirs.seconds
    );
    if is_postgres(&args.on) {
        let server = args.on.trim_end_matches('/');
        for name in ["lethe_bench_import_lethe", "lethe_bench_import_hand"] {
            psql(
                &format!("{server}/postgres"),
                &format!("DROP DATABASE IF EXISTS {name}"),
            )?;
        }
    }
    std::fs::remove_dir_all(&scratch).ok();
    Ok(())
}
