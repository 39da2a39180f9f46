//! The layout ARCHITECTURE.md promises, checked: which crate may depend on which, that no
//! library crate reads the environment, and that no source file outgrows one job.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Each crate's `[dependencies]` (not dev-dependencies), by crate name.
fn dependencies() -> BTreeMap<String, Vec<String>> {
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir(crates_dir()).unwrap() {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let name = manifest
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let mut in_dependencies = false;
        let mut names = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_dependencies = line == "[dependencies]";
                continue;
            }
            if in_dependencies && let Some((key, _)) = line.split_once(['.', '=']) {
                let key = key.trim();
                if !key.is_empty() && !key.starts_with('#') {
                    names.push(key.to_owned());
                }
            }
        }
        all.insert(name, names);
    }
    all
}

fn assert_none_of(crate_name: &str, deps: &[String], forbidden: &[&str], why: &str) {
    for dependency in deps {
        assert!(
            !forbidden.contains(&dependency.as_str()),
            "{crate_name} depends on {dependency}, which ARCHITECTURE.md rules out: {why}"
        );
    }
}

#[test]
fn crates_depend_only_downwards() {
    let all = dependencies();
    assert!(all.len() >= 10, "found the crates: {:?}", all.keys());
    let storage_and_http = [
        "sqlx",
        "sea-query",
        "sea-query-sqlx",
        "axum",
        "tower-http",
        "tokio",
        "lethe-db",
        "lethe-history",
        "lethe-query",
        "lethe-evidence",
        "lethe-jobs",
        "lethe-store",
        "lethe-http",
        "lethe-web",
        "lethe-cli",
    ];
    for pure in ["lethe-schema", "lethe-plan", "lethe-filter", "lethe-domain"] {
        assert_none_of(
            pure,
            &all[pure],
            &storage_and_http,
            "the domain crates know nothing of SQL, databases or HTTP",
        );
    }
    assert_none_of(
        "lethe-schema",
        &all["lethe-schema"],
        &["lethe-plan", "lethe-filter", "lethe-domain"],
        "the schema is the bottom layer",
    );
    let edges = [
        "axum",
        "tower-http",
        "askama",
        "clap",
        "lethe-http",
        "lethe-web",
        "lethe-cli",
    ];
    for storage in [
        "lethe-db",
        "lethe-history",
        "lethe-query",
        "lethe-evidence",
        "lethe-jobs",
        "lethe-store",
    ] {
        assert_none_of(
            storage,
            &all[storage],
            &edges,
            "storage knows nothing of HTTP or the command line",
        );
    }
    assert_none_of(
        "lethe-db",
        &all["lethe-db"],
        &[
            "lethe-history",
            "lethe-query",
            "lethe-evidence",
            "lethe-jobs",
            "lethe-store",
        ],
        "the plumbing is below every other storage crate",
    );
    for middle in ["lethe-history", "lethe-query", "lethe-evidence"] {
        assert_none_of(
            middle,
            &all[middle],
            &[
                "lethe-history",
                "lethe-query",
                "lethe-evidence",
                "lethe-jobs",
                "lethe-store",
            ],
            "history, query and evidence stand side by side on lethe-db",
        );
    }
    assert_none_of(
        "lethe-jobs",
        &all["lethe-jobs"],
        &["lethe-store", "lethe-query", "lethe-evidence"],
        "the queue knows the kinds of job only through its trait",
    );
    // Notifications know nothing of the database or the outbox: the delivery loop hands them
    // one message at a time. Among Lethe's crates only the domain is theirs to use.
    for dependency in &all["lethe-notify"] {
        assert!(
            !dependency.starts_with("lethe-") || dependency == "lethe-domain",
            "lethe-notify depends on {dependency}; ARCHITECTURE.md allows it only lethe-domain among Lethe's crates"
        );
    }
    assert_none_of(
        "lethe-notify",
        &all["lethe-notify"],
        &storage_and_http
            .iter()
            .copied()
            .filter(|name| *name != "tokio")
            .collect::<Vec<_>>(),
        "notifications send one message and know nothing of the database or of Lethe's doors",
    );
    // File formats turn values into bytes for any writer: the domain's values, nothing of
    // the database or of Lethe's doors.
    for dependency in &all["lethe-formats"] {
        assert!(
            !dependency.starts_with("lethe-") || dependency == "lethe-domain",
            "lethe-formats depends on {dependency}; ARCHITECTURE.md allows it only lethe-domain among Lethe's crates"
        );
    }
    assert_none_of(
        "lethe-formats",
        &all["lethe-formats"],
        &storage_and_http,
        "file formats write values and know nothing of the database or of Lethe's doors",
    );
    assert_none_of(
        "lethe-http",
        &all["lethe-http"],
        &["lethe-cli", "clap"],
        "HTTP is a door of its own",
    );
    assert_none_of(
        "lethe-web",
        &all["lethe-web"],
        &[
            "lethe-http",
            "lethe-cli",
            "clap",
            "sqlx",
            "sea-query",
            "lethe-db",
            "lethe-query",
            "lethe-jobs",
        ],
        "the pages reach data only through the store, and know nothing of the API",
    );
}

/// Every `.rs` file under `src` of a crate.
fn sources(crate_dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![crate_dir.join("src")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn no_library_crate_reads_the_environment() {
    // The edges read settings; test support and the benchmark harness are not libraries.
    let edges = ["lethe-cli", "lethe-bench", "lethe-testkit"];
    let mut readers = Vec::new();
    for entry in std::fs::read_dir(crates_dir()).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if edges.contains(&name.as_str()) {
            continue;
        }
        for file in sources(&dir) {
            let text = std::fs::read_to_string(&file).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            if code.contains("env::var") {
                readers.push(file.display().to_string());
            }
        }
    }
    assert!(
        readers.is_empty(),
        "these library files read environment variables; read settings in the CLI and pass them down: {readers:?}"
    );
}

#[test]
fn no_source_file_outgrows_one_job() {
    const MOST_LINES: usize = 760;
    let mut large = Vec::new();
    for entry in std::fs::read_dir(crates_dir()).unwrap() {
        for file in sources(&entry.unwrap().path()) {
            let text = std::fs::read_to_string(&file).unwrap();
            let code = text.split("\n#[cfg(test)]").next().unwrap_or("");
            let lines = code.lines().filter(|line| !line.trim().is_empty()).count();
            if lines > MOST_LINES && !file.components().any(|part| part.as_os_str() == "tests") {
                large.push(format!("{} ({lines} lines)", file.display()));
            }
        }
    }
    assert!(
        large.is_empty(),
        "split these files by job (at most {MOST_LINES} non-blank lines before the tests): {large:?}"
    );
}
