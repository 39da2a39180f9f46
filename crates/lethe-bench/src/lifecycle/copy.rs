//! Copies of the data set, one per side, so that no side changes the database it was given:
//! a file copy on SQLite, `CREATE DATABASE ... TEMPLATE` on PostgreSQL, removed afterwards.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use anyhow::{Context, ensure};
use lethe_store::DatabaseUrl;
use sqlx::AssertSqlSafe;

pub(super) enum DbCopy {
    Sqlite(PathBuf),
    Postgres { admin: String, name: String },
}

fn sqlite_side_files(path: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [path.to_path_buf(), with("-wal"), with("-shm")]
}

/// `postgres://user@host:port/name?query` with another database name.
fn postgres_url_with_database(raw: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match raw.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (raw, None),
    };
    let (server, _) = base
        .rsplit_once('/')
        .filter(|(server, _)| server.contains("://"))
        .with_context(|| "the PostgreSQL URL names no database".to_owned())?;
    Ok(match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    })
}

impl DbCopy {
    pub(super) async fn make(
        url: &DatabaseUrl,
        raw: &str,
        role: &str,
        work_dir: &Path,
    ) -> anyhow::Result<(DbCopy, String)> {
        let started = Instant::now();
        let made = match url {
            DatabaseUrl::Sqlite(source) => {
                let target = work_dir.join(format!(
                    "lethe-bench-lifecycle-{}-{role}.db",
                    std::process::id()
                ));
                let [source_db, source_wal, _] = sqlite_side_files(source);
                let [target_db, target_wal, _] = sqlite_side_files(&target);
                ensure!(source_db.exists(), "{} does not exist", source_db.display());
                let wal_len = std::fs::metadata(&source_wal).map(|m| m.len()).unwrap_or(0);
                tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    std::fs::copy(&source_db, &target_db)?;
                    if wal_len > 0 {
                        std::fs::copy(&source_wal, &target_wal)?;
                    }
                    Ok(())
                })
                .await??;
                let display = target.display().to_string();
                (DbCopy::Sqlite(target), display)
            }
            DatabaseUrl::Postgres(_) => {
                let options = sqlx::postgres::PgConnectOptions::from_str(raw)?;
                let source = options
                    .get_database()
                    .context("the PostgreSQL URL names no database")?
                    .to_owned();
                let name = format!("lethe_bench_lifecycle_{}", role.replace('-', "_"));
                let admin = postgres_url_with_database(raw, "postgres")?;
                let mut connection =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await?;
                sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
                    .execute(&mut connection)
                    .await?;
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "CREATE DATABASE {name} TEMPLATE {source}"
                )))
                .execute(&mut connection)
                .await
                .with_context(|| format!("copying {source} (nobody may be connected to it)"))?;
                sqlx::Connection::close(connection).await?;
                let url = postgres_url_with_database(raw, &name)?;
                (DbCopy::Postgres { admin, name }, url)
            }
        };
        eprintln!(
            "[{role}] copy of the data set made in {:.1} s: {}",
            started.elapsed().as_secs_f64(),
            made.1
        );
        Ok(made)
    }

    pub(super) async fn remove(self) -> anyhow::Result<()> {
        match self {
            DbCopy::Sqlite(path) => {
                for file in sqlite_side_files(&path) {
                    match std::fs::remove_file(&file) {
                        Ok(()) => {}
                        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                        Err(error) => {
                            return Err(error).context(format!("removing {}", file.display()));
                        }
                    }
                }
            }
            DbCopy::Postgres { admin, name } => {
                let mut connection =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await?;
                sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
                    .execute(&mut connection)
                    .await?;
                sqlx::Connection::close(connection).await?;
            }
        }
        Ok(())
    }
}
