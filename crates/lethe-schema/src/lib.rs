//! The Lethe schema: which entity types exist, which fields they have, which of those are
//! personal data and how they are anonymised, and what happens to a child record when its
//! parent is deleted (SPEC §2).
//!
//! **Architecture invariant:** this crate knows nothing of SQL, HTTP or any database; it is
//! pure data and validation, shared by every other crate.

mod model;
mod names;
mod parse;

pub use model::{
    Anonymize, Column, DefaultValue, Entity, OnDelete, PurgePrecondition, Relation, Schema,
    ValueType, builtin,
};
pub use names::{ColumnName, EntityName, MAX_NAME_LEN, NameError, suggest};
pub use parse::{DEFAULT_SCHEMA_TOML, SCHEMA_VERSION, SchemaError, SchemaProblem};

#[cfg(test)]
mod tests;
