//! How a store is opened: the choices an embedder or the command line makes, read once at the
//! edge and passed in. The store itself reads no environment variable.

use std::path::PathBuf;

use crate::Clock;
pub use lethe_history::KeySource;

/// What a store is opened with. The default is what an embedder gets without choosing
/// anything: the system clock, a history key file next to a SQLite database (PostgreSQL
/// needs a key given), the history's anchor next to a SQLite database, SQLite's default
/// memory budget and a hashing key kept in the database.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Every time-dependent rule reads it; tests and `LETHE_NOW` pin it.
    pub clock: Clock,
    /// Seals the history (see [`crate::HistoryKey::for_database`]).
    pub history_key: Option<KeySource>,
    /// Where the history's head is written down outside the database (see
    /// [`crate::HistoryAnchor::for_database`]).
    pub history_anchor: Option<PathBuf>,
    /// SQLite's memory budget for the whole process, in MiB (at least 16); `None`:
    /// [`crate::DEFAULT_SQLITE_HEAP_MIB`].
    pub sqlite_heap_mib: Option<u64>,
    /// The key of the `hash` anonymisation. `None`: a random key made once and kept in the
    /// database (`lethe_secret`). Changing it changes every hash computed from then on.
    pub hash_key: Option<String>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            clock: Clock::system(),
            history_key: None,
            history_anchor: None,
            sqlite_heap_mib: None,
            hash_key: None,
        }
    }
}

impl StoreOptions {
    /// The default options with `clock`.
    pub fn with_clock(clock: Clock) -> StoreOptions {
        StoreOptions {
            clock,
            ..StoreOptions::default()
        }
    }

    /// SQLite's memory budget in bytes.
    pub(crate) fn sqlite_heap_bytes(&self) -> u64 {
        self.sqlite_heap_mib
            .map_or(crate::DEFAULT_SQLITE_HEAP_MIB, |mib| mib.max(16))
            .saturating_mul(1024 * 1024)
    }
}
