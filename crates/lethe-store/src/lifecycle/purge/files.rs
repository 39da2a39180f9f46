//! The files of erased records: removed after the batch that deleted their rows commits,
//! never when another kept record still names them, and tallied for the receipt by record.

use lethe_plan::Plan;
use lethe_schema::{Schema, builtin};
use sea_query::{Alias, ExprTrait, Order, Query};
use std::path::Path;

use sqlx::Pool;

use crate::dialect::{Dialect, begin_write};
use crate::error::StoreError;
use crate::lifecycle::LifecycleSettings;
use crate::lifecycle::paths::col;
use crate::rows;

use crate::files::STORAGE_KEY;

/// What a purge did with the files of the records it erased, for the receipt: files are
/// counted by the entity of the record they belonged to, and every file not removed is
/// named by its record (never by its key, which a client may once have spelt with personal
/// data) with the reason.
#[derive(Debug, Default)]
pub(in crate::lifecycle) struct FileTally {
    removed: std::collections::BTreeMap<String, u64>,
    missing: u64,
    refused: u64,
    in_use: u64,
    /// Files not removed, by record: entity, id, what happened, why. Bounded.
    unremoved: Vec<serde_json::Value>,
    unremoved_not_listed: u64,
}

/// The most unremoved files a receipt names one by one.
const MAX_LISTED_FILES: usize = 1_000;

impl FileTally {
    fn note(&mut self, entity: &str, record: Option<i64>, outcome: &str, reason: String) {
        match outcome {
            "already_missing" => self.missing += 1,
            "refused" => self.refused += 1,
            _ => self.in_use += 1,
        }
        if self.unremoved.len() < MAX_LISTED_FILES {
            self.unremoved.push(serde_json::json!({
                "entity": entity,
                "record": record,
                "outcome": outcome,
                "reason": reason,
            }));
        } else {
            self.unremoved_not_listed += 1;
        }
    }

    pub(in crate::lifecycle) fn merge(&mut self, other: FileTally) {
        for (entity, count) in other.removed {
            *self.removed.entry(entity).or_default() += count;
        }
        self.missing += other.missing;
        self.refused += other.refused;
        self.in_use += other.in_use;
        for entry in other.unremoved {
            if self.unremoved.len() < MAX_LISTED_FILES {
                self.unremoved.push(entry);
            } else {
                self.unremoved_not_listed += 1;
            }
        }
        self.unremoved_not_listed += other.unremoved_not_listed;
    }

    pub(super) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "removed": self.removed.values().sum::<u64>(),
            "removed_by_entity": self.removed,
            "already_missing": self.missing,
            "refused": self.refused,
            "kept_in_use": self.in_use,
            "not_removed": self.unremoved,
            "not_removed_not_listed": self.unremoved_not_listed,
        })
    }
}

/// Removes the files recorded by committed batches of `job`, then forgets them. A file that
/// cannot be removed does not hold back the others: every file that can be removed is, and
/// is forgotten (so a retry neither removes nor counts it again); the ones that cannot stay
/// recorded, and the first error is returned with the tally, so the job fails saying which
/// file and why, and a resume retries them.
///
/// What the data says is not trusted to name a file: a key that is not a plain relative
/// path, names a folder or a symbolic link, or leads outside the folder is refused and
/// reported by its record, and a file that a record which is not being erased still names
/// is kept. Neither stops the purge: the rows are already erased, and the receipt says
/// which files stayed and why.
pub(in crate::lifecycle) async fn erase_files<DB: Dialect>(
    pool: &Pool<DB>,
    schema: &Schema,
    job: i64,
    settings: &LifecycleSettings,
) -> Result<FileTally, StoreError> {
    let mut tally = FileTally::default();
    let mut failed = 0u64;
    let mut first_failure: Option<String> = None;
    let mut after = 0i64;
    loop {
        let mut connection = pool.acquire().await?;
        let (sql, values) = DB::build(
            Query::select()
                .columns(["id", STORAGE_KEY, "entity", "record_id"].map(Alias::new))
                .from(Alias::new("lethe_erased_file"))
                .and_where(col("job_id").eq(job))
                .and_where(col("id").gt(after))
                .order_by(Alias::new("id"), Order::Asc)
                .limit(1_000),
        );
        let found = DB::fetch_all(&mut connection, sql, values).await?;
        let Some(last) = found.last() else {
            break;
        };
        if let Some(folder) = &settings.files_dir
            && !folder.is_dir()
        {
            // Every file would look "already missing": say what is wrong instead, and keep
            // the files recorded so the resumed job removes them.
            return Err(folder_missing(folder));
        }
        after = rows::int::<DB>(last, 0)?.unwrap_or(i64::MAX);
        let mut files = Vec::with_capacity(found.len());
        for row in &found {
            let Some(id) = rows::int::<DB>(row, 0)? else {
                continue;
            };
            files.push((
                id,
                rows::text::<DB>(row, 1)?,
                rows::text::<DB>(row, 2)?.unwrap_or_default(),
                rows::int::<DB>(row, 3)?,
            ));
        }
        let keys: Vec<String> = files.iter().filter_map(|file| file.1.clone()).collect();
        let still_named = records_naming::<DB>(&mut connection, schema, &keys).await?;
        drop(connection);
        let mut forget = Vec::with_capacity(files.len());
        for (id, key, entity, record) in files {
            let Some(key) = key else {
                forget.push(id);
                continue;
            };
            if let Some((other_entity, other_id)) = still_named.get(&key) {
                tally.note(
                    &entity,
                    record,
                    "kept_in_use",
                    format!("{other_entity} {other_id}, which is not erased, names the same file; it was kept"),
                );
                forget.push(id);
                continue;
            }
            match remove_file(settings, &key) {
                Ok(Removal::Removed) => *tally.removed.entry(entity).or_default() += 1,
                Ok(Removal::Missing) => tally.note(
                    &entity,
                    record,
                    "already_missing",
                    "its file was not in the files folder".to_owned(),
                ),
                Ok(Removal::Refused(reason)) => tally.note(&entity, record, "refused", reason),
                Err(message) => {
                    failed += 1;
                    first_failure.get_or_insert(message);
                    continue;
                }
            }
            forget.push(id);
        }
        if forget.is_empty() {
            continue;
        }
        let mut transaction = begin_write(pool).await?;
        let (sql, values) = DB::build(
            Query::delete()
                .from_table(Alias::new("lethe_erased_file"))
                .and_where(col("job_id").eq(job))
                .and_where(col("id").is_in(forget)),
        );
        DB::execute(&mut transaction, sql, values).await?;
        transaction.commit().await?;
    }
    match first_failure {
        None => Ok(tally),
        Some(message) => Err(StoreError::Internal(format!(
            "{message} ({failed} file(s) could not be removed, {} were removed, {} were already missing); the purge stops and retries the files it could not remove when it is resumed",
            tally.removed.values().sum::<u64>(),
            tally.missing
        ))),
    }
}

/// Which of `keys` a record still in the database names (entity and id of one such
/// record), over every file-holding entity: one statement per entity for up to 1,000 keys.
async fn records_naming<DB: Dialect>(
    connection: &mut DB::Connection,
    schema: &Schema,
    keys: &[String],
) -> Result<std::collections::HashMap<String, (String, i64)>, StoreError> {
    let mut named = std::collections::HashMap::new();
    if keys.is_empty() {
        return Ok(named);
    }
    for entity in schema.entities() {
        if !crate::files::holds_files(entity) {
            continue;
        }
        let (sql, values) = DB::build(
            Query::select()
                .columns([Alias::new(STORAGE_KEY), Alias::new(builtin::ID)])
                .from(Alias::new(entity.name.as_str()))
                .and_where(col(STORAGE_KEY).is_in(keys.iter().map(String::as_str))),
        );
        for row in DB::fetch_all(connection, sql, values).await? {
            if let (Some(key), Some(id)) = (rows::text::<DB>(&row, 0)?, rows::int::<DB>(&row, 1)?) {
                named.entry(key).or_insert((entity.name.to_string(), id));
            }
        }
    }
    Ok(named)
}

/// Before a purge run erases anything: when the records it erases carry files and the files
/// folder exists, it must be a folder Lethe can remove files from. Otherwise rows would be erased whose
/// files then stay on disk until someone fixes the folder, so the run stops first, saying
/// what is wrong, with nothing erased. Writing a probe file (and removing it) tells, because
/// creating and removing a file need the same right on the folder, and a read-only mount
/// refuses both even to root.
pub(in crate::lifecycle) fn check_files_folder(
    schema: &Schema,
    plan: &Plan,
    settings: &LifecycleSettings,
    job: i64,
) -> Result<(), StoreError> {
    let Some(folder) = &settings.files_dir else {
        return Ok(());
    };
    let carries_files = plan.entities().iter().any(|name| {
        schema
            .entity(name.as_str())
            .is_some_and(|entity| entity.column(STORAGE_KEY).is_some())
    });
    if !carries_files {
        return Ok(());
    }
    if !folder.is_dir() {
        // A store that never had a file has no folder; erasing recorded files says so when
        // there are any.
        return Ok(());
    }
    let probe = folder.join(format!(".lethe-write-check-{}-{job}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|file| {
            drop(file);
            std::fs::remove_file(&probe)
        });
    let Err(error) = written else {
        return Ok(());
    };
    let why = match error.kind() {
        std::io::ErrorKind::ReadOnlyFilesystem => "it is on a read-only filesystem".to_owned(),
        std::io::ErrorKind::PermissionDenied => {
            "Lethe's user may not create or remove files in it".to_owned()
        }
        _ => format!("writing a test file in it failed: {error}"),
    };
    Err(StoreError::Internal(format!(
        "the attachment folder {} cannot take file removals ({why}), so the purge stopped before erasing anything more; make the folder writable (remount it read-write, or give Lethe's user write access) and resume the job",
        folder.display()
    )))
}

fn folder_missing(folder: &std::path::Path) -> StoreError {
    StoreError::Internal(format!(
        "the attachment folder {} does not exist or is not a folder, so the erased records' files cannot be removed; start Lethe with --files-dir (or LETHE_FILES_DIR) set to the attachment folder and resume the job",
        folder.display()
    ))
}

/// What became of one file.
enum Removal {
    Removed,
    Missing,
    /// Not removed, because the key does not name a file Lethe may remove; why.
    Refused(String),
}

/// Removes one attachment file. A key that is not a plain relative path, or that names a
/// folder, a symbolic link or something reached through a symbolic link leading out of the
/// files folder, is refused (nothing is removed). An error only when a file that may be
/// removed could not be: it says which and why.
fn remove_file(settings: &LifecycleSettings, key: &str) -> Result<Removal, String> {
    let Some(folder) = &settings.files_dir else {
        return Ok(Removal::Missing);
    };
    let relative = match crate::files::plain_key(key) {
        Ok(relative) => relative,
        Err(bad) => return Ok(Removal::Refused(bad.reason().to_owned())),
    };
    let path = folder.join(relative);
    let metadata = match std::fs::symlink_metadata(&path) {
        Ok(metadata) => metadata,
        Err(error)
            if matches!(
                error.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Removal::Missing);
        }
        Err(error) => {
            return Err(format!(
                "cannot look at the attachment file {}: {error}",
                path.display()
            ));
        }
    };
    if metadata.file_type().is_symlink() {
        return Ok(Removal::Refused(
            "its storage key names a symbolic link, not a file Lethe wrote; the link and what it points to were left".to_owned(),
        ));
    }
    if metadata.is_dir() {
        return Ok(Removal::Refused(
            "its storage key names a folder, not a file".to_owned(),
        ));
    }
    let inside = match (folder.canonicalize(), path.parent().map(Path::canonicalize)) {
        (Ok(folder), Some(Ok(parent))) => parent.starts_with(folder),
        _ => false,
    };
    if !inside {
        return Ok(Removal::Refused(
            "its file is reached through a symbolic link that leads outside the files folder; it was left".to_owned(),
        ));
    }
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(Removal::Removed),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Removal::Missing),
        Err(error) => Err(format!(
            "cannot remove the attachment file {}: {error}",
            path.display()
        )),
    }
}
