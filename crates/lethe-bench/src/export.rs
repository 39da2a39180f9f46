//! Export at scale (issue 18): `lethe export` as a person runs it — the `lethe` binary
//! writing a file — against the database's own bulk export of the same rows (`sqlite3 -csv`,
//! PostgreSQL's `COPY … TO STDOUT` through `psql`), as ratios in one run, with the peak
//! memory of each process. The selection is the members' filter; "with related records" adds,
//! on both sides, every record that points at the members (the default schema's relations
//! written out by hand for the database's side, one file per entity). The counts of both
//! sides are compared: a benchmark whose sides disagree stops with an error.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, ensure};
use lethe_schema::{Schema, builtin};
use serde_json::Value as Json;

use crate::retention::{Measured, lethe_binary, measure};

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// A database built by `lethe demo` (a SQLite path or a postgres:// URL).
    #[arg(long)]
    db: String,
    /// The members, in Lethe's filter language.
    #[arg(long, default_value = r#"category != "prospect""#)]
    filter: String,
    /// The same members as an SQL condition on `contact` (the database's side).
    #[arg(long, default_value = "category <> 'prospect'")]
    condition: String,
    /// Where the exported files go (removed afterwards).
    #[arg(long, default_value = "/tmp/lethe-bench-export")]
    out: PathBuf,
    /// The `lethe` binary (default: the one next to this benchmark).
    #[arg(long)]
    lethe: Option<PathBuf>,
}

/// The relations of the default schema that point at a contact, written out: for each
/// related entity, the condition (on its table) that it points at a member kept in `m`,
/// directly or through the records that do. `live` is each step's state. An entity reached
/// by several paths takes the union of one select per path: an `OR` of `IN` subqueries is
/// run by PostgreSQL as a subquery per row once the members outgrow `work_mem` (minutes),
/// which is no one's fastest SQL.
fn related_conditions(live: &str) -> Vec<(&'static str, String)> {
    let of = |table: &str, column: &str| {
        format!("SELECT id FROM {table} WHERE {column} IN (SELECT id FROM m) AND {live}")
    };
    let tickets = of("ticket", "contact_id");
    let projects = of("project", "contact_id");
    let deals = of("deal", "contact_id");
    let invoices = of("invoice", "contact_id");
    let direct = "contact_id IN (SELECT id FROM m)".to_owned();
    let united = |table: &str, paths: &[String]| {
        let selects: Vec<String> = paths
            .iter()
            .map(|path| format!("SELECT id FROM {table} WHERE {path}"))
            .collect();
        format!("id IN ({})", selects.join(" UNION "))
    };
    vec![
        ("consent", direct.clone()),
        ("deal", direct.clone()),
        ("project", direct.clone()),
        ("activity", direct.clone()),
        ("note", direct.clone()),
        ("message", direct.clone()),
        ("ticket", direct.clone()),
        (
            "ticket_comment",
            united(
                "ticket_comment",
                &[direct.clone(), format!("ticket_id IN ({tickets})")],
            ),
        ),
        (
            "survey_rating",
            united(
                "survey_rating",
                &[direct.clone(), format!("ticket_id IN ({tickets})")],
            ),
        ),
        ("invoice", direct.clone()),
        (
            "time_entry",
            united(
                "time_entry",
                &[direct.clone(), format!("project_id IN ({projects})")],
            ),
        ),
        ("campaign_membership", direct),
        (
            "attachment",
            united(
                "attachment",
                &[
                    "owner_entity = 'contact' AND owner_id IN (SELECT id FROM m)".to_owned(),
                    format!("owner_entity = 'deal' AND owner_id IN ({deals})"),
                    format!("owner_entity = 'project' AND owner_id IN ({projects})"),
                    format!("owner_entity = 'ticket' AND owner_id IN ({tickets})"),
                    format!("owner_entity = 'invoice' AND owner_id IN ({invoices})"),
                ],
            ),
        ),
    ]
}

/// The columns Lethe exports of `entity`, in its order.
fn columns(schema: &Schema, entity: &str) -> anyhow::Result<String> {
    let entity = schema
        .entity(entity)
        .with_context(|| format!("no entity {entity} in the schema"))?;
    Ok([
        builtin::ID,
        builtin::CREATED_AT,
        builtin::CREATED_BY,
        builtin::UPDATED_AT,
    ]
    .into_iter()
    .chain(entity.column_names())
    .collect::<Vec<_>>()
    .join(", "))
}

/// The database's side: the statements that write each entity's file, after `m` holds the
/// members. `related` adds the related entities.
fn hand_exports(
    schema: &Schema,
    condition: &str,
    related: bool,
) -> anyhow::Result<Vec<(String, String)>> {
    let live = "trash_batch_id IS NULL";
    let members = if related {
        "id IN (SELECT id FROM m)".to_owned()
    } else {
        members_condition(condition)
    };
    let mut exports = vec![(
        "contact".to_owned(),
        format!(
            "SELECT {} FROM contact WHERE {members} ORDER BY id",
            columns(schema, "contact")?
        ),
    )];
    if related {
        for (entity, reached) in related_conditions(live) {
            exports.push((
                entity.to_owned(),
                format!(
                    "SELECT {} FROM {entity} WHERE {reached} AND {live} ORDER BY id",
                    columns(schema, entity)?
                ),
            ));
        }
    }
    Ok(exports)
}

/// The members: active contacts that meet `condition` (the placeholder, id 0, is no one).
fn members_condition(condition: &str) -> String {
    format!("({condition}) AND trash_batch_id IS NULL AND id <> 0")
}

/// The members kept in the temporary table `m`, as the database's side starts (with
/// related records, which several statements find from them).
fn members_sql(condition: &str) -> String {
    format!(
        "CREATE TEMP TABLE m AS SELECT id FROM contact WHERE {}",
        members_condition(condition)
    )
}

/// The database's own bulk export, one process: `sqlite3` or `psql`.
fn hand_command(
    db: &str,
    condition: &str,
    related: bool,
    files: &[(String, String)],
    out: &Path,
) -> Command {
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        let mut command = Command::new("psql");
        command
            .args(["--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1", db])
            .args(["-c", "BEGIN ISOLATION LEVEL REPEATABLE READ"]);
        if related {
            command
                .args(["-c", &members_sql(condition)])
                .args(["-c", "ALTER TABLE m ADD PRIMARY KEY (id)"])
                .args(["-c", "ANALYZE m"]);
        }
        for (entity, sql) in files {
            let file = out.join(format!("{entity}.csv"));
            command.args([
                "-c",
                &format!(
                    "\\copy ({sql}) TO '{}' WITH (FORMAT csv, HEADER)",
                    file.display()
                ),
            ]);
        }
        command.args(["-c", "COMMIT"]);
        command
    } else {
        let mut command = Command::new("sqlite3");
        command.args(["-bail", db, ".headers on", ".mode csv", "BEGIN"]);
        if related {
            command.arg(format!(
                "{}; CREATE UNIQUE INDEX temp.m_id ON m (id)",
                members_sql(condition)
            ));
        }
        for (entity, sql) in files {
            let file = out.join(format!("{entity}.csv"));
            command.arg(format!(".output {}", file.display())).arg(sql);
        }
        command.args([".output stdout", "COMMIT"]);
        command
    }
}

/// How many rows each side wrote, by entity, from Lethe's summary.
fn lethe_counts(summary: &Json) -> Vec<(String, u64)> {
    let mut counts = vec![(
        "contact".to_owned(),
        summary["records"].as_u64().unwrap_or(0),
    )];
    if let Some(related) = summary["related"].as_object() {
        counts.extend(
            related
                .iter()
                .map(|(entity, read)| (entity.clone(), read.as_u64().unwrap_or(0))),
        );
    }
    counts
}

/// Data lines of a CSV file the database wrote (records, not physical lines: a quoted
/// field may hold line breaks).
fn csv_rows(path: &Path) -> anyhow::Result<u64> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows = 0;
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record)? {
        rows += 1;
    }
    Ok(rows)
}

fn file_mib(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |meta| meta.len() as f64 / 1_048_576.0)
}

pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let lethe = lethe_binary(args.lethe.clone())?;
    let schema = Schema::default_crm();
    std::fs::create_dir_all(&args.out)?;
    println!(
        "| export | records | Lethe (s) | Lethe peak (MiB) | Lethe file (MiB) | database's own (s) | its peak (MiB) | its files (MiB) | ratio |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (name, format, related) in [
        ("selection, CSV", "csv", false),
        ("selection with related records, NDJSON", "ndjson", true),
        ("selection with related records, zip of CSV", "csv", true),
    ] {
        let extension = match (format, related) {
            ("csv", true) => "zip",
            (format, _) => format,
        };
        let file = args.out.join(format!("lethe.{extension}"));
        let mut command = Command::new(&lethe);
        command
            .env_remove("LETHE_LOG")
            .args(["--db", &args.db, "export", "contact", &args.filter])
            .args(["--format", format, "-o"])
            .arg(&file)
            .arg("--json");
        if related {
            command.arg("--related");
        }
        let ours: Measured = measure(command)?;
        let summary: Json = serde_json::from_str(ours.stdout.trim())
            .with_context(|| format!("Lethe's summary: {}", ours.stdout))?;
        let lethe_mib = file_mib(&file);
        std::fs::remove_file(&file).ok();

        let hand_dir = args.out.join("hand");
        std::fs::create_dir_all(&hand_dir)?;
        let files = hand_exports(&schema, &args.condition, related)?;
        let theirs = measure(hand_command(
            &args.db,
            &args.condition,
            related,
            &files,
            &hand_dir,
        ))?;
        let mut hand_mib = 0.0;
        let mut total = 0;
        for (entity, expected) in lethe_counts(&summary) {
            let path = hand_dir.join(format!("{entity}.csv"));
            let rows = csv_rows(&path)?;
            ensure!(
                rows == expected,
                "the sides disagree on {entity}: Lethe exported {expected}, the database {rows}"
            );
            hand_mib += file_mib(&path);
            total += rows;
        }
        std::fs::remove_dir_all(&hand_dir).ok();
        println!(
            "| {name} | {total} | {:.2} | {:.0} | {lethe_mib:.0} | {:.2} | {:.0} | {hand_mib:.0} | {:.2} |",
            ours.seconds,
            ours.peak_mib,
            theirs.seconds,
            theirs.peak_mib,
            ours.seconds / theirs.seconds
        );
    }
    std::fs::remove_dir_all(&args.out).ok();
    Ok(())
}
