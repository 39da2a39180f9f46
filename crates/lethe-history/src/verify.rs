//! Checking the history: recompute every seal, find gaps in the numbering, and compare with
//! the heads the anchor file holds; and writing the head to the anchor file.

use lethe_db::StoreError;
use lethe_db::dialect::Dialect;
use schemars::JsonSchema;
use serde::Serialize;

use crate::*;

/// The result of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct HistoryVerification {
    /// Entries checked.
    pub entries: u64,
    /// The seal of the last entry; it is also written to the anchor file and into every
    /// erasure receipt.
    pub head: String,
    /// The number of the last entry.
    pub head_seq: i64,
    /// The fingerprint of the key the history is sealed with: it names the key without
    /// revealing it.
    pub key_fingerprint: String,
    /// The append-only file of heads the history was compared with, if one is set.
    pub anchor_file: Option<String>,
    /// How many heads the anchor file holds.
    pub anchored_heads: u64,
    /// The first thing that does not match, with what is wrong.
    pub first_problem: Option<HistoryProblem>,
}

/// What does not match in the history, and where.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct HistoryProblem {
    /// The entry, or 0 when the problem is not one entry's (missing entries, the anchor, the
    /// key).
    pub id: i64,
    /// What is wrong, in words.
    pub problem: String,
}

impl HistoryVerification {
    pub fn is_intact(&self) -> bool {
        self.first_problem.is_none()
    }
}

pub async fn verify<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    key: &HistoryKey,
    anchor: &HistoryAnchor,
) -> Result<HistoryVerification, StoreError> {
    let seal = {
        let mut connection = pool.acquire().await?;
        load_seal::<DB>(&mut connection).await?
    };
    let mut result = HistoryVerification {
        entries: 0,
        head: GENESIS.to_owned(),
        head_seq: 0,
        key_fingerprint: key.fingerprint(),
        anchor_file: anchor.file.as_ref().map(|file| file.display().to_string()),
        anchored_heads: 0,
        first_problem: None,
    };
    let problem = |id: i64, problem: String| Some(HistoryProblem { id, problem });
    if let Some(seal) = &seal {
        if let Err(error) = check_key(seal, key) {
            result.first_problem = problem(0, error.to_string());
            return Ok(result);
        }
        if seal.mac != seal_record_mac(key, &seal.fingerprint) {
            result.first_problem = problem(
                0,
                "the record of the key that seals the history was edited".to_owned(),
            );
            return Ok(result);
        }
    }
    loop {
        // Pages keep memory bounded however long the history is.
        let batch = page_by_seq(pool, result.head_seq, MAX_HISTORY_PAGE).await?;
        if batch.is_empty() {
            break;
        }
        for entry in &batch {
            let expected_seq = result.head_seq + 1;
            let found = if entry.seq != expected_seq {
                Some(format!(
                    "entries {expected_seq} to {} of the history are missing: they were removed",
                    entry.seq - 1
                ))
            } else if entry.prev_hash != result.head {
                Some("its link to the entry before does not match: an entry before it was removed, inserted or edited".to_owned())
            } else if seal.is_none() {
                Some("the record of the key that seals the history is missing, so no entry can be trusted: it was removed".to_owned())
            } else {
                (entry.hash != entry_seal(key, entry.seq, &entry.content_hash(&entry.prev_hash)))
                .then(|| "its content does not match its seal: the entry was edited or written without the key".to_owned())
            };
            if found.is_some() {
                result.first_problem = problem(entry.id, found.unwrap_or_default());
                return Ok(result);
            }
            result.entries += 1;
            result.head_seq = entry.seq;
            result.head = entry.hash.clone();
        }
    }
    if let Some(file) = &anchor.file {
        check_anchor::<DB>(pool, file, &mut result).await?;
    }
    Ok(result)
}

/// Compares the heads written down in the anchor file with the history: each must still be
/// there, with the same seal.
async fn check_anchor<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    file: &std::path::Path,
    result: &mut HistoryVerification,
) -> Result<(), StoreError> {
    use std::io::BufRead;
    let opened = match std::fs::File::open(file) {
        Ok(opened) => opened,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(StoreError::Internal(format!(
                "cannot read the history anchor {}: {error}",
                file.display()
            )));
        }
    };
    let mut connection = pool.acquire().await?;
    for (number, line) in std::io::BufReader::new(opened).lines().enumerate() {
        let line = line.map_err(|error| {
            StoreError::Internal(format!(
                "cannot read the history anchor {}: {error}",
                file.display()
            ))
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(Ok(seq)), Some(seal)) = (parts.next().map(str::parse::<i64>), parts.next())
        else {
            result.first_problem = Some(HistoryProblem {
                id: 0,
                problem: format!(
                    "line {} of the anchor file {} is damaged",
                    number + 1,
                    file.display()
                ),
            });
            return Ok(());
        };
        result.anchored_heads += 1;
        let (sql, values) = DB::build(
            Query::select()
                .column(Alias::new("hash"))
                .from(Alias::new("lethe_history"))
                .and_where(col("seq").eq(seq)),
        );
        let found = match DB::fetch_optional(&mut connection, sql, values).await? {
            Some(row) => lethe_db::rows::text::<DB>(&row, 0)?,
            None => None,
        };
        let problem = match found {
            None if seq > result.head_seq => Some(format!(
                "entry {seq} was written down in the anchor file, but the history ends at entry {}: entries were removed from its end",
                result.head_seq
            )),
            None => Some(format!(
                "entry {seq}, written down in the anchor file, is missing"
            )),
            Some(hash) if hash != seal => Some(format!(
                "entry {seq} does not have the seal the anchor file wrote down for it: the history was rewritten"
            )),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            result.first_problem = Some(HistoryProblem { id: 0, problem });
            return Ok(());
        }
    }
    Ok(())
}

/// Appends the head to the anchor file when it moved since `last` (the number last written
/// there); returns the head's number.
pub async fn anchor_head<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    file: &std::path::Path,
    last: i64,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    let (seq, seal) = {
        let mut connection = pool.acquire().await?;
        head::<DB>(&mut connection).await?
    };
    if seq <= last {
        return Ok(seq);
    }
    use std::io::Write;
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .and_then(|mut out| {
            out.write_all(format!("{seq} {seal} {}\n", format_timestamp(now)).as_bytes())?;
            out.sync_data()
        });
    written.map_err(|error| {
        StoreError::Internal(format!(
            "cannot write the history anchor {}: {error}",
            file.display()
        ))
    })?;
    Ok(seq)
}

/// The number of the last head written in the anchor file (0 when none).
pub fn last_anchored(file: &std::path::Path) -> i64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|text| {
            text.lines()
                .rev()
                .find_map(|line| line.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}
