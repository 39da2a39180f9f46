//! Attachment files: where Lethe puts a file it receives, and which file a storage key may
//! name when a purge removes it.
//!
//! A file-holding entity is one with a [`STORAGE_KEY`] column (the default schema's
//! `attachment`). Its file lives in the files folder, outside the database, under a key that
//! Lethe picks when it receives the content ([`Store::receive_file`]); its [`SIZE_COLUMN`] is
//! the number of bytes Lethe wrote. Neither is ever written by a client: a client that could
//! set a key could point an erased record at another record's file and make a purge delete
//! it (issue 14, item 2).

use std::path::{Component, Path, PathBuf};

use lethe_schema::{Column, Entity};
use tokio::io::AsyncWriteExt;

use crate::error::StoreError;
use crate::stats::SIZE_COLUMN;
use crate::{Store, Value};

/// The column that names a record's file below the files folder.
pub const STORAGE_KEY: &str = "storage_key";

/// Whether an entity's records are files (it has a [`STORAGE_KEY`] column).
pub fn holds_files(entity: &Entity) -> bool {
    entity.column(STORAGE_KEY).is_some()
}

/// Whether a column of `entity` is decided by Lethe for its files: the storage key and the
/// measured size.
pub fn is_managed(entity: &Entity, column: &str) -> bool {
    holds_files(entity) && (column == STORAGE_KEY || column == SIZE_COLUMN)
}

/// Why a storage key does not name a file Lethe may remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadKey {
    Empty,
    /// Absolute, or with `.`, `..` or empty parts: it would name something outside the
    /// folder, or the same file as another spelling would.
    NotPlain,
}

impl BadKey {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            BadKey::Empty => "its storage key is empty, so it names no file",
            BadKey::NotPlain => {
                "its storage key is not a plain relative path below the files folder (absolute, or with `.`, `..`, `\\` or empty parts), so Lethe does not remove what it names"
            }
        }
    }
}

/// Checks that `key` is a plain relative path: `/`-separated non-empty parts, none of them
/// `.` or `..`, no backslash or NUL. Keys Lethe makes always are; two plain keys that differ
/// name different paths, so a key shared by no other record names a file no other record has.
pub(crate) fn plain_key(key: &str) -> Result<&Path, BadKey> {
    if key.is_empty() {
        return Err(BadKey::Empty);
    }
    if key.contains(['\\', '\0'])
        || key
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(BadKey::NotPlain);
    }
    let path = Path::new(key);
    if path.is_absolute()
        || path
            .components()
            .any(|part| !matches!(part, Component::Normal(_)))
    {
        return Err(BadKey::NotPlain);
    }
    Ok(path)
}

/// A file being received for a new record: written under a key Lethe picked, in the files
/// folder, and measured as it is written. Dropped or [`IncomingFile::abandon`]ed without
/// being given to [`Store::create_record_with_file`], it is removed.
#[derive(Debug)]
pub struct IncomingFile {
    key: String,
    path: PathBuf,
    file: Option<tokio::fs::File>,
    size: u64,
    kept: bool,
}

impl IncomingFile {
    /// Appends `bytes` to the file.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let Some(file) = self.file.as_mut() else {
            return Err(StoreError::Internal(
                "the received file was already closed".to_owned(),
            ));
        };
        file.write_all(bytes)
            .await
            .map_err(|error| file_error(&self.path, "write", &error))?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// How many bytes have been written.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Removes the file (the upload failed or was refused).
    pub async fn abandon(mut self) {
        self.file = None;
        let _ = tokio::fs::remove_file(&self.path).await;
        self.kept = true;
    }

    /// Flushes the content to disk before the record that names it is committed.
    async fn finish(&mut self) -> Result<(), StoreError> {
        if let Some(mut file) = self.file.take() {
            file.flush()
                .await
                .map_err(|error| file_error(&self.path, "write", &error))?;
            file.sync_all()
                .await
                .map_err(|error| file_error(&self.path, "write", &error))?;
        }
        Ok(())
    }
}

impl Drop for IncomingFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn file_error(path: &Path, doing: &str, error: &std::io::Error) -> StoreError {
    let why = match error.kind() {
        std::io::ErrorKind::StorageFull => {
            "the disk holding the attachment folder is full".to_owned()
        }
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            "Lethe may not write in the attachment folder".to_owned()
        }
        _ => error.to_string(),
    };
    StoreError::Internal(format!("cannot {doing} the file {}: {why}", path.display()))
}

impl Store {
    /// Starts receiving a file for a new record of `entity`: a new file in the files folder,
    /// under a key Lethe picks (`ENTITY/XX/RANDOM`, never reused, never chosen by a client).
    pub async fn receive_file(&self, entity: &str) -> Result<IncomingFile, StoreError> {
        let entity = self.entity(entity)?;
        if !holds_files(entity) {
            return Err(StoreError::BadRequest(format!(
                "{} records are not files: send them as JSON",
                entity.name
            )));
        }
        let Some(folder) = self.settings().files_dir else {
            return Err(StoreError::BadRequest(
                "no attachment folder is configured: start Lethe with --files-dir (or LETHE_FILES_DIR)".to_owned(),
            ));
        };
        let mut random = [0u8; 16];
        rand::Rng::fill(&mut rand::rng(), &mut random);
        let random: String = random.iter().map(|byte| format!("{byte:02x}")).collect();
        let key = format!("{}/{}/{random}", entity.name, &random[..2]);
        let path = folder.join(&key);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|error| file_error(parent, "create the folder of", &error))?;
        }
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|error| file_error(&path, "create", &error))?;
        Ok(IncomingFile {
            key,
            path,
            file: Some(file),
            size: 0,
            kept: false,
        })
    }

    /// Creates a record of a file-holding entity with the file received in `file`: its
    /// storage key and size are Lethe's, the other fields come from `input`. When the record
    /// cannot be created, the file is removed.
    pub async fn create_record_with_file(
        &self,
        entity_name: &str,
        input: &serde_json::Map<String, serde_json::Value>,
        actor: Option<i64>,
        mut file: IncomingFile,
    ) -> Result<crate::Record, StoreError> {
        file.finish().await?;
        let managed = [
            (STORAGE_KEY, Value::Text(file.key.clone())),
            (
                SIZE_COLUMN,
                Value::Integer(i64::try_from(file.size).unwrap_or(i64::MAX)),
            ),
        ];
        let created = self
            .create_record_managed(entity_name, input, actor, &managed)
            .await;
        if created.is_err() {
            file.abandon().await;
        } else {
            file.kept = true;
        }
        created
    }
}

impl Store {
    /// Opens the file of an active record of a file-holding entity, for reading: the record
    /// and the open file. A key that does not name a file Lethe may serve is refused.
    pub async fn open_record_file(
        &self,
        entity: &str,
        id: i64,
    ) -> Result<(crate::Record, tokio::fs::File), StoreError> {
        let record = self.get_record(entity, id).await?;
        let file = self.open_file_of(entity, &record).await?;
        Ok((record, file))
    }

    /// Opens the file of `record`, a record of the file-holding `entity` read before (in
    /// the trash or not), for reading. A key that does not name a file Lethe may serve is
    /// refused.
    pub async fn open_file_of(
        &self,
        entity: &str,
        record: &crate::Record,
    ) -> Result<tokio::fs::File, StoreError> {
        let id = record.id;
        let entity = self.entity(entity)?;
        if !holds_files(entity) {
            return Err(StoreError::BadRequest(format!(
                "{} records are not files",
                entity.name
            )));
        }
        let gone = || {
            StoreError::Conflict(format!(
                "{} {id} has no file in the files folder",
                entity.name
            ))
        };
        let Some(folder) = self.settings().files_dir else {
            return Err(gone());
        };
        let Some(Value::Text(key)) = record.get(STORAGE_KEY) else {
            return Err(gone());
        };
        let Ok(relative) = plain_key(key) else {
            return Err(StoreError::Conflict(format!(
                "{} {id}: {}",
                entity.name,
                plain_key(key).err().map_or("", BadKey::reason)
            )));
        };
        let path = folder.join(relative);
        let metadata = tokio::fs::symlink_metadata(&path)
            .await
            .map_err(|_| gone())?;
        if !metadata.is_file() {
            return Err(gone());
        }
        tokio::fs::File::open(&path)
            .await
            .map_err(|error| file_error(&path, "open", &error))
    }
}

/// The managed values among `columns` of `entity` (those present in the schema).
pub(crate) fn managed_values<'e>(
    entity: &'e Entity,
    managed: &[(&str, Value)],
) -> Vec<(&'e Column, Value)> {
    managed
        .iter()
        .filter_map(|(name, value)| entity.column(name).map(|column| (column, value.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_keys_name_a_file_to_remove() {
        for good in ["a", "attachment/0f/0f12", "demo/0001/00001000.txt", "x y/z"] {
            assert!(plain_key(good).is_ok(), "{good}");
        }
        assert_eq!(plain_key(""), Err(BadKey::Empty));
        for bad in [
            "/etc/passwd",
            "../outside",
            "a/../b",
            "./a",
            "a/./b",
            "a//b",
            "a/",
            "/",
            "a\\..\\b",
            "a\0b",
        ] {
            assert_eq!(plain_key(bad), Err(BadKey::NotPlain), "{bad:?}");
        }
    }
}
