//! Test support shared by the store's test files: records that are files, made the way Lethe
//! makes them (the content received, the key Lethe's, the size measured).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use lethe_store::{LifecycleSettings, Record, Store, Value};
use lethe_testkit::TestDatabase;
use serde_json::Value as Json;

/// Gives the store the test's attachment folder (`files` in its scratch folder) unless it
/// has one.
pub fn use_files_folder(store: &Store, database: &TestDatabase) {
    let settings = store.settings();
    if settings.files_dir.is_none() {
        store.set_settings(LifecycleSettings {
            files_dir: Some(database.scratch_dir().join("files")),
            ..settings
        });
    }
}

/// Creates an `attachment` (or another file-holding `entity`) with `content` as its file.
pub async fn attach_file(
    store: &Store,
    database: &TestDatabase,
    entity: &str,
    input: Json,
    content: &[u8],
) -> Record {
    use_files_folder(store, database);
    let mut file = store.receive_file(entity).await.expect("receive a file");
    file.write(content).await.expect("write the file");
    store
        .create_record_with_file(entity, input.as_object().unwrap(), None, file)
        .await
        .unwrap_or_else(|error| panic!("creating {entity} with a file: {error}"))
}

/// Where a file-holding record's file lives.
pub fn file_path(store: &Store, record: &Record) -> std::path::PathBuf {
    let Some(Value::Text(key)) = record.get("storage_key") else {
        panic!("{record:?} has no storage key");
    };
    store
        .settings()
        .files_dir
        .expect("a files folder")
        .join(key)
}

/// What the tests open a store with: `clock`, and the test history key (PostgreSQL needs one
/// given).
pub fn options(clock: lethe_store::Clock) -> lethe_store::StoreOptions {
    lethe_store::StoreOptions {
        history_key: Some(lethe_store::KeySource::Key(
            lethe_testkit::HISTORY_KEY.to_owned(),
        )),
        ..lethe_store::StoreOptions::with_clock(clock)
    }
}
