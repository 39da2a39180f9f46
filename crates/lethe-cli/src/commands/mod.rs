//! One module per command group. Each opens the store it needs through [`Context`].

mod deliver;
mod demo;
mod export;
mod import;
mod lifecycle;
mod monitor;
mod person;
mod policy;
mod record;
mod request;
mod schema;
mod select;
mod selection;
mod serve;
mod stats;
mod user;

use anyhow::Context as _;
use lethe_schema::Schema;
use lethe_store::{Clock, DatabaseUrl, KeySource, Store, StoreOptions};

use crate::cli::{Cli, Command, GlobalOptions};
use crate::output::UsageError;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let context = Context {
        global: cli.global,
        opened: std::sync::Mutex::default(),
    };
    let outcome = dispatch(&context, cli.command).await;
    // Whatever the command appended to the history, its head is written down outside the
    // database (also after a failure: a failed job appends too).
    let opened = match context.opened.lock() {
        Ok(mut opened) => std::mem::take(&mut *opened),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    };
    for store in opened {
        if let Err(error) = store.anchor_history().await {
            tracing::warn!(%error, "the history's head could not be written to the anchor file");
        }
    }
    outcome
}

async fn dispatch(context: &Context, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Demo(args) => demo::run(context, args).await,
        Command::Serve(args) => serve::run(context, args).await,
        Command::Migrate => {
            let store = context.open_without_migrating().await?;
            let report = store.migrate().await.context("migrating the database")?;
            // The default setup ships the seed's retention policies, disabled.
            store.add_shipped_policies().await?;
            if context.json() {
                crate::output::print_json(&serde_json::to_value(&report)?);
            } else if report.created_tables.is_empty() && report.added_columns.is_empty() {
                println!("{} is up to date.", store.url().display_safe());
            } else {
                println!(
                    "Migrated {}: {} table(s) created, {} column(s) added.",
                    store.url().display_safe(),
                    report.created_tables.len(),
                    report.added_columns.len()
                );
            }
            Ok(())
        }
        Command::Schema(command) => schema::run(context, command).await,
        Command::User(command) => user::run(context, command).await,
        Command::Record(command) => record::run(context, command).await,
        Command::Select(args) => select::run(context, args).await,
        Command::Export(args) => export::run(context, args).await,
        Command::Import(args) => import::run(context, args).await,
        Command::Person(command) => person::run(context, command).await,
        Command::Selection(command) => selection::run_selection(context, command).await,
        Command::Snapshot(command) => selection::run_snapshot(context, command).await,
        Command::Preview(args) => lifecycle::preview(context, args).await,
        Command::Trash(args) => lifecycle::trash(context, args).await,
        Command::Restore(args) => lifecycle::restore(context, args).await,
        Command::Job(command) => lifecycle::job(context, command).await,
        Command::History(args) => lifecycle::history(context, args).await,
        Command::Notifications(args) => lifecycle::notifications(context, args).await,
        Command::Purge(command) => lifecycle::purge(context, command).await,
        Command::Anonymize(args) => lifecycle::anonymize(context, args).await,
        Command::Update(args) => lifecycle::update(context, args).await,
        Command::Stats(args) => stats::run(context, args).await,
        Command::Deliver => deliver::deliver_once(context).await,
        Command::Deliveries(command) => deliver::deliveries(context, command).await,
        Command::Webhook(command) => deliver::webhook(context, command).await,
        Command::Policy(command) => policy::run(context, command).await,
        Command::Request(command) => request::run(context, command).await,
        Command::Monitor(command) => monitor::run(context, command).await,
    }
}

/// A setting's value, unless it is absent or blank (an empty variable means "not set").
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|raw| !raw.trim().is_empty())
}

/// Reads a duration such as `7d`, `12h`, `30m`, `45s` or `0`.
pub fn parse_duration(raw: &str) -> Result<time::Duration, String> {
    let raw = raw.trim();
    if raw == "0" {
        return Ok(time::Duration::ZERO);
    }
    let split = raw
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{raw}` has no unit; write e.g. 7d, 12h, 30m, 45s or 0"))?;
    let (number, unit) = raw.split_at(split);
    let number: i64 = number
        .parse()
        .map_err(|_| format!("`{raw}` does not start with a whole number; write e.g. 7d"))?;
    let seconds = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{raw}`; use d, h, m or s"
            ));
        }
    };
    number
        .checked_mul(seconds)
        .filter(|total| *total <= 100 * 365 * 86_400)
        .map(time::Duration::seconds)
        .ok_or_else(|| format!("`{raw}` is too long; at most 100 years"))
}

/// What every command shares: the global options and how to open the store.
pub struct Context {
    pub global: GlobalOptions,
    /// The stores this command opened: their history heads are written to the anchor file
    /// when it ends.
    opened: std::sync::Mutex<Vec<Store>>,
}

impl Context {
    pub fn json(&self) -> bool {
        self.global.json
    }

    /// The schema in use: `--schema FILE` or the built-in CRM schema.
    pub fn schema(&self) -> anyhow::Result<Schema> {
        match &self.global.schema {
            None => Ok(Schema::default_crm()),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the schema file {}", path.display()))?;
                Schema::from_toml(&text).with_context(|| format!("in {}", path.display()))
            }
        }
    }

    /// The clock: the system clock, or the instant in `LETHE_NOW` (RFC 3339) for tests and
    /// reproducible runs.
    pub fn clock(&self) -> anyhow::Result<Clock> {
        match given(&self.global.settings.now) {
            Some(raw) => {
                let at = lethe_store::parse_timestamp(raw)
                    .map_err(|error| UsageError(format!("LETHE_NOW: {error}")))?;
                Ok(Clock::fixed(at))
            }
            None => Ok(Clock::system()),
        }
    }

    /// What the store is opened with, from the settings.
    pub fn store_options(&self, url: &DatabaseUrl) -> anyhow::Result<StoreOptions> {
        let settings = &self.global.settings;
        let history_key = match (given(&settings.history_key), &settings.history_key_file) {
            (Some(key), _) => Some(KeySource::Key(key.to_owned())),
            (None, Some(file)) if !file.as_os_str().is_empty() => {
                Some(KeySource::File(file.clone()))
            }
            // PostgreSQL has no file of its own to keep the key next to: the user's
            // configuration folder does.
            (None, _) => match url {
                DatabaseUrl::Sqlite(_) => None,
                DatabaseUrl::Postgres(_) => std::env::var_os("HOME")
                    .filter(|home| !home.is_empty())
                    .map(|home| KeySource::in_home(std::path::Path::new(&home))),
            },
        };
        let sqlite_heap_mib = match given(&settings.sqlite_heap_mib) {
            Some(raw) => Some(raw.trim().parse::<u64>().map_err(|_| {
                UsageError(format!(
                    "LETHE_SQLITE_HEAP_MIB: `{raw}` is not a whole number of MiB"
                ))
            })?),
            None => None,
        };
        Ok(StoreOptions {
            clock: self.clock()?,
            history_key,
            history_anchor: settings
                .history_anchor
                .clone()
                .filter(|file| !file.as_os_str().is_empty()),
            sqlite_heap_mib,
            hash_key: given(&settings.hash_key).map(str::to_owned),
        })
    }

    pub fn database_url(&self) -> anyhow::Result<DatabaseUrl> {
        Ok(DatabaseUrl::parse(&self.global.db)?)
    }

    pub async fn open_without_migrating(&self) -> anyhow::Result<Store> {
        let url = self.database_url()?;
        let options = self.store_options(&url)?;
        let store = Store::open(&url, self.schema()?, &options).await?;
        Ok(store)
    }

    /// Opens the store and brings its tables up to the schema.
    pub async fn open(&self) -> anyhow::Result<Store> {
        let store = self.open_without_migrating().await?;
        store.migrate().await.context("preparing the database")?;
        store.set_settings(self.settings(&store)?);
        match self.opened.lock() {
            Ok(mut opened) => opened.push(store.clone()),
            Err(poisoned) => poisoned.into_inner().push(store.clone()),
        }
        Ok(store)
    }

    /// The attachment folder: `--files-dir`, or next to a SQLite file, or `./lethe-files`.
    pub fn files_dir(&self, url: &DatabaseUrl) -> std::path::PathBuf {
        if let Some(dir) = &self.global.files_dir {
            return dir.clone();
        }
        match url {
            DatabaseUrl::Sqlite(path) => {
                let mut name = path.as_os_str().to_owned();
                name.push(".files");
                std::path::PathBuf::from(name)
            }
            DatabaseUrl::Postgres(_) => std::path::PathBuf::from("lethe-files"),
        }
    }

    /// The lifecycle settings: grace period, minimum grace, retention window (environment
    /// `LETHE_PURGE_GRACE`, `LETHE_PURGE_MIN_GRACE`, `LETHE_RETENTION`, e.g. `7d`), the
    /// attachment folder, and `LETHE_PG_REWRITE` (`personal`, `all` or `off`): which tables a
    /// PostgreSQL purge rewrites.
    pub fn settings(&self, store: &Store) -> anyhow::Result<lethe_store::LifecycleSettings> {
        let mut settings = lethe_store::LifecycleSettings {
            files_dir: Some(self.files_dir(store.url())),
            ..lethe_store::LifecycleSettings::default()
        };
        let given_settings = &self.global.settings;
        for (variable, raw, target) in [
            (
                "LETHE_PURGE_GRACE",
                &given_settings.purge_grace,
                &mut settings.default_grace,
            ),
            (
                "LETHE_PURGE_MIN_GRACE",
                &given_settings.purge_min_grace,
                &mut settings.minimum_grace,
            ),
            (
                "LETHE_RETENTION",
                &given_settings.retention,
                &mut settings.retention,
            ),
        ] {
            if let Some(raw) = given(raw) {
                *target = parse_duration(raw)
                    .map_err(|message| UsageError(format!("{variable}: {message}")))?;
            }
        }
        // How long a filter may run: a duration such as `30s` or `2min`, or `0` for no limit.
        if let Some(raw) = given(&given_settings.query_timeout) {
            let limit = parse_duration(raw)
                .map_err(|message| UsageError(format!("LETHE_QUERY_TIMEOUT: {message}")))?;
            settings.query_timeout = (limit > time::Duration::ZERO)
                .then(|| std::time::Duration::try_from(limit).ok())
                .flatten();
        }
        if let Some(raw) = given(&given_settings.pg_rewrite) {
            settings.rewrite = raw
                .parse()
                .map_err(|message| UsageError(format!("LETHE_PG_REWRITE: {message}")))?;
        }
        Ok(settings)
    }

    /// Who performs an operation: `--as USER`, or the operator with full rights.
    pub async fn acting(&self, store: &Store) -> anyhow::Result<lethe_store::Actor> {
        let Some(name) = &self.global.act_as else {
            return Ok(lethe_store::Actor::operator());
        };
        let user = store.find_user(name).await?.ok_or_else(|| {
            UsageError(format!(
                "--as {name}: there is no such user; see `lethe user list`"
            ))
        })?;
        Ok(user.actor())
    }

    /// The user changes are recorded under: `--as USER`, or none (the operator).
    pub async fn actor(&self, store: &Store) -> anyhow::Result<Option<i64>> {
        let Some(name) = &self.global.act_as else {
            return Ok(None);
        };
        let user = store.find_user(name).await?.ok_or_else(|| {
            UsageError(format!(
                "--as {name}: there is no such user; see `lethe user list`"
            ))
        })?;
        Ok(Some(user.id))
    }
}
