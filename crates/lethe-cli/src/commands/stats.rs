//! `lethe stats`: the consolidated table (SPEC §6, after APRO CRM) — per entity type, the
//! records and the attached-file volume that are active, trashed and pending purge. Numbers
//! pending purge are marked with `!` (and red, when stdout is a terminal and `NO_COLOR` is
//! not set): those records are erased for good when their grace period ends.

use std::io::IsTerminal;

use lethe_store::{FileStats, StateCounts, Stats};

use super::Context;
use crate::cli::StatsArgs;
use crate::output::print_json;

pub async fn run(context: &Context, args: StatsArgs) -> anyhow::Result<()> {
    let store = context.open().await?;
    let stats = store.stats().await?;
    if context.json() {
        print_json(&serde_json::to_value(&stats)?);
        return Ok(());
    }
    let colour = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    print!("{}", render(&stats, args.bytes, colour));
    Ok(())
}

const RED: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";

/// The table as text. Every cell is padded before it is coloured, so colour never shifts a
/// column.
fn render(stats: &Stats, exact_bytes: bool, colour: bool) -> String {
    let bytes = |n: u64| {
        if exact_bytes {
            n.to_string()
        } else {
            lethe_store::human_bytes(n)
        }
    };
    let file_cell = |count: u64, size: u64| format!("{count} / {}", bytes(size));
    // A pending-purge cell: marked when it is not zero.
    let pending = |text: String, nonzero: bool, width: usize| -> String {
        let marked = format!("{text:>width$}{}", if nonzero { "!" } else { " " });
        if nonzero && colour {
            format!("{RED}{marked}{RESET}")
        } else {
            marked
        }
    };

    struct Line {
        name: String,
        records: StateCounts,
        files: Option<FileStats>,
    }
    let mut lines: Vec<Line> = stats
        .entities
        .iter()
        .map(|line| Line {
            name: if line.holds_files {
                format!("{}*", line.entity)
            } else {
                line.entity.clone()
            },
            records: line.records,
            files: line.files,
        })
        .collect();
    lines.push(Line {
        name: "total".to_owned(),
        records: stats.totals.records,
        files: Some(stats.totals.files),
    });

    let name_width = lines
        .iter()
        .map(|line| line.name.len())
        .max()
        .unwrap_or(0)
        .max(6);
    let number_width = lines
        .iter()
        .map(|line| {
            line.records
                .active
                .max(line.records.trashed)
                .max(line.records.pending_purge)
                .max(line.records.held)
        })
        .max()
        .unwrap_or(0)
        .to_string()
        .len()
        .max("pending purge".len());
    let file_width = lines
        .iter()
        .filter_map(|line| line.files)
        .flat_map(|files| {
            [
                file_cell(files.count.active, files.bytes.active),
                file_cell(files.count.trashed, files.bytes.trashed),
                file_cell(files.count.pending_purge, files.bytes.pending_purge),
                file_cell(files.count.held, files.bytes.held),
            ]
        })
        .map(|cell| cell.len())
        .max()
        .unwrap_or(0)
        .max("pending purge".len());

    // Every cell is its text right-aligned in its column, then a marker slot (`!` or a
    // space); cells are two spaces apart, the record and file groups three.
    let row = |name: &str, records: [(String, bool); 4], files: [(String, bool); 4]| {
        let mut text = format!("{name:<name_width$}");
        for (index, (value, marked)) in records.into_iter().enumerate() {
            text.push_str(if index == 0 { "  " } else { " " });
            text.push_str(&pending(value, marked, number_width));
        }
        for (index, (value, marked)) in files.into_iter().enumerate() {
            text.push_str(if index == 0 { "  " } else { " " });
            text.push_str(&pending(value, marked, file_width));
        }
        text.truncate(text.trim_end().len());
        text.push('\n');
        text
    };
    let plain = |text: &str| (text.to_owned(), false);
    let records_span = 4 * (number_width + 2) - 1;
    let mut out = format!(
        "{:name_width$}  {:<records_span$}  attached files (number / volume)\n",
        "", "records"
    );
    out.push_str(&row(
        "entity",
        [
            plain("active"),
            plain("trashed"),
            plain("pending purge"),
            plain("held"),
        ],
        [
            plain("active"),
            plain("trashed"),
            plain("pending purge"),
            plain("held"),
        ],
    ));
    for (index, line) in lines.iter().enumerate() {
        if index + 1 == lines.len() {
            let rule = name_width + 2 + records_span + 2 + 4 * (file_width + 2) - 2;
            out.push_str(&"-".repeat(rule));
            out.push('\n');
        }
        let records = &line.records;
        let record_cells = [
            plain(&records.active.to_string()),
            plain(&records.trashed.to_string()),
            (records.pending_purge.to_string(), records.pending_purge > 0),
            plain(&records.held.to_string()),
        ];
        let file_cells = match &line.files {
            Some(files) => [
                plain(&file_cell(files.count.active, files.bytes.active)),
                plain(&file_cell(files.count.trashed, files.bytes.trashed)),
                (
                    file_cell(files.count.pending_purge, files.bytes.pending_purge),
                    files.count.pending_purge > 0 || files.bytes.pending_purge > 0,
                ),
                plain(&file_cell(files.count.held, files.bytes.held)),
            ],
            None => [plain("-"), plain("-"), plain("-"), plain("-")],
        };
        out.push_str(&row(&line.name, record_cells, file_cells));
    }
    out.push_str(&held_lines(stats));
    out.push_str(
        "\n! pending purge: erased for good when the purge's grace period ends.\n\
         held: kept in the trash by a rule after a purge (`lethe job show` says why); restorable.\n\
         * holds the files itself: its files by their own state; other lines count the files\n  \
         attached to their records by the state of the owning record.\n",
    );
    out
}

/// Why the held records are held: each held batch with the rules that keep its members.
fn held_lines(stats: &Stats) -> String {
    if stats.held.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nHeld in the trash by a rule:\n");
    for batch in &stats.held {
        let entity = batch.entity.as_deref().unwrap_or("record");
        out.push_str(&format!(
            "  deletion batch {} (purge job {}; `lethe job show {}` lists each {entity}):\n",
            batch.batch, batch.purge_job, batch.purge_job
        ));
        for reason in &batch.reasons {
            let by = match reason.blocked_by.as_deref() {
                Some(by) if by != entity => format!(" by {by} records"),
                _ => String::new(),
            };
            out.push_str(&format!(
                "    {} {entity}(s) held{by}: {}\n",
                reason.members, reason.reason
            ));
        }
    }
    let more = stats.held_batches.saturating_sub(stats.held.len() as u64);
    if more > 0 {
        out.push_str(&format!(
            "  and {more} older held deletion batch(es), not listed here.\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_like_people_write_them() {
        assert_eq!(lethe_store::human_bytes(0), "0 B");
        assert_eq!(lethe_store::human_bytes(1023), "1023 B");
        assert_eq!(lethe_store::human_bytes(1536), "1.5 KiB");
        assert_eq!(lethe_store::human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }

    #[test]
    fn held_batches_are_listed_with_the_rules_that_hold_them() {
        let reason = |blocked_by: &str, reason: &str, members| lethe_store::HeldReason {
            blocked_by: Some(blocked_by.to_owned()),
            reason: reason.to_owned(),
            members,
        };
        let mut stats = Stats {
            entities: Vec::new(),
            totals: Default::default(),
            held: vec![lethe_store::HeldBatch {
                batch: 7,
                entity: Some("contact".to_owned()),
                purge_job: 12,
                reasons: vec![
                    reason("contact", "an open task may not be purged", 2),
                    reason("invoice", "invoice.contact_id restricts deleting it", 1),
                ],
            }],
            held_batches: 3,
        };
        let text = held_lines(&stats);
        assert!(text.contains("deletion batch 7 (purge job 12;"), "{text}");
        assert!(
            text.contains("    2 contact(s) held: an open task may not be purged\n"),
            "{text}"
        );
        assert!(
            text.contains("    1 contact(s) held by invoice records: invoice.contact_id"),
            "{text}"
        );
        assert!(
            text.contains("and 2 older held deletion batch(es)"),
            "{text}"
        );
        stats.held.clear();
        stats.held_batches = 0;
        assert_eq!(held_lines(&stats), "");
    }
}
