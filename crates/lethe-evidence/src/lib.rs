//! Evidence for the erasure receipt (SPEC §6, §12): after a purge, where the erased values
//! may still survive and whether they do.
//!
//! - [`scan`] looks for many values at once in the bytes of database files, about a gigabyte
//!   a second, reading each file in a process of its own;
//! - [`database`] asks the database itself: which pages are free, which table or index holds
//!   a page, whether a record that was not erased explains a value found, and what the
//!   planner's statistics keep (SQLite's `sqlite_stat4`, PostgreSQL's `pg_stats`); it rebuilds
//!   what holds residue and checks again.
//!
//! The receipt states only what was checked here: what could not be checked is named with
//! the reason.

pub mod database;
pub mod scan;
