//! The key that seals the history and where it comes from (given, a key file made once, the
//! user's configuration folder), HMAC-SHA-256 (the domain's, re-exported), and the anchor file the head is written to.

use lethe_db::{DatabaseUrl, StoreError};
/// HMAC-SHA-256 lives in the domain, the one home of Lethe's keyed hash; re-exported here for
/// the code that has always found it in the history.
pub use lethe_domain::mac::hmac_sha256;

/// The key that seals the history: HMAC-SHA-256 under it. It never enters the database;
/// only a fingerprint does, so that an instance with another key refuses to write rather
/// than break the chain.
#[derive(Clone)]
pub struct HistoryKey(std::sync::Arc<[u8]>);

impl std::fmt::Debug for HistoryKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "HistoryKey({})", self.fingerprint())
    }
}

/// Where the history key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The key itself (at least [`MIN_HISTORY_KEY_BYTES`] bytes).
    Key(String),
    /// A file holding the key; made once with a random key when it does not exist.
    File(std::path::PathBuf),
}

impl KeySource {
    /// The conventional key file in a user's home folder, `~/.config/lethe/history.key`: where
    /// the command line keeps the key for a PostgreSQL database, which has no file of its own
    /// to keep it next to.
    pub fn in_home(home: &std::path::Path) -> KeySource {
        KeySource::File(home.join(".config").join("lethe").join("history.key"))
    }
}

/// The shortest history key accepted, in bytes.
pub const MIN_HISTORY_KEY_BYTES: usize = 16;

impl HistoryKey {
    /// A key from its bytes (at least [`MIN_HISTORY_KEY_BYTES`]).
    pub fn new(bytes: &[u8]) -> Result<HistoryKey, StoreError> {
        if bytes.len() < MIN_HISTORY_KEY_BYTES {
            return Err(StoreError::BadRequest(format!(
                "the history key is {} bytes long; give at least {MIN_HISTORY_KEY_BYTES} (for example 64 random hex digits)",
                bytes.len()
            )));
        }
        Ok(HistoryKey(bytes.into()))
    }

    /// HMAC-SHA-256 of `message`, in hex.
    pub fn mac(&self, message: &[u8]) -> String {
        hex(&hmac_sha256(&self.0, message))
    }

    /// A key of its own for `purpose` (e.g. sealing stored secrets), derived from this one
    /// (HMAC-SHA-256 of the purpose's name): a key that differs from the history's and from
    /// every other purpose's, without a second key to keep.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        hmac_sha256(&self.0, format!("lethe derived key: {purpose}").as_bytes())
    }

    /// A short name for the key that reveals nothing about it.
    pub fn fingerprint(&self) -> String {
        let mut fingerprint = self.mac(b"lethe history key fingerprint");
        fingerprint.truncate(16);
        fingerprint
    }

    /// The key in force for a database: the key or key file given, else a key file made
    /// once with a random key next to a SQLite database (`FILE.history-key`). PostgreSQL
    /// needs one given: every instance sharing a database must use the same key.
    pub fn for_database(
        url: &DatabaseUrl,
        given: Option<&KeySource>,
    ) -> Result<HistoryKey, StoreError> {
        match (given, url) {
            (Some(KeySource::Key(key)), _) => HistoryKey::new(key.trim().as_bytes()),
            (Some(KeySource::File(file)), _) => HistoryKey::from_file(file),
            (None, DatabaseUrl::Sqlite(path)) => {
                let mut file = path.as_os_str().to_owned();
                file.push(".history-key");
                HistoryKey::from_file(std::path::Path::new(&file))
            }
            (None, DatabaseUrl::Postgres(_)) => Err(StoreError::BadRequest(
                "no history key: set LETHE_HISTORY_KEY (the same on every instance) or LETHE_HISTORY_KEY_FILE".to_owned(),
            )),
        }
    }

    /// The key in `file`; a new random key is written there first when the file does not
    /// exist (readable by its owner only).
    pub fn from_file(file: &std::path::Path) -> Result<HistoryKey, StoreError> {
        let problem = |error: &dyn std::fmt::Display| {
            StoreError::BadRequest(format!(
                "the history key file {} cannot be used: {error}; set LETHE_HISTORY_KEY or LETHE_HISTORY_KEY_FILE",
                file.display()
            ))
        };
        match std::fs::read_to_string(file) {
            Ok(text) => return HistoryKey::new(text.trim().as_bytes()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(problem(&error)),
        }
        if let Some(parent) = file
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|error| problem(&error))?;
        }
        let mut random = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut random);
        let mut staged = file.as_os_str().to_owned();
        staged.push(format!(".{}.new", std::process::id()));
        let staged = std::path::PathBuf::from(staged);
        {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut out = options.open(&staged).map_err(|error| problem(&error))?;
            out.write_all(format!("{}\n", hex(&random)).as_bytes())
                .and_then(|()| out.sync_all())
                .map_err(|error| problem(&error))?;
        }
        // A link fails when the file exists: of two processes making it at once, one key wins
        // and both read it.
        let linked = std::fs::hard_link(&staged, file);
        let _ = std::fs::remove_file(&staged);
        match linked {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(problem(&error)),
        }
        let text = std::fs::read_to_string(file).map_err(|error| problem(&error))?;
        HistoryKey::new(text.trim().as_bytes())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Where the history's head is written down outside the database: an append-only file of
/// lines `SEQ SEAL TIME`, one each time the head has moved.
#[derive(Debug, Clone, Default)]
pub struct HistoryAnchor {
    pub file: Option<std::path::PathBuf>,
}

impl HistoryAnchor {
    /// The file given, else next to a SQLite database (`FILE.history-anchor`); none for
    /// PostgreSQL unless given.
    pub fn for_database(url: &DatabaseUrl, given: Option<&std::path::Path>) -> HistoryAnchor {
        let file = match (given, url) {
            (Some(file), _) => Some(file.to_path_buf()),
            (None, DatabaseUrl::Sqlite(path)) => {
                let mut file = path.as_os_str().to_owned();
                file.push(".history-anchor");
                Some(file.into())
            }
            (None, DatabaseUrl::Postgres(_)) => None,
        };
        HistoryAnchor { file }
    }
}
