//! Reading a schema file (TOML) into a validated [`Schema`], and writing one back out.
//!
//! The file is first read into plain "raw" structures that mirror the TOML (`raw.rs`), then
//! checked as a whole so that one run reports every problem with where it is
//! (`entities.contact.fields.email: ...`): this file checks the schema and its entities, and
//! hands each field to `field.rs`, each relation to `relation.rs` and each purge precondition
//! to `precondition.rs`.

mod field;
mod precondition;
mod raw;
mod relation;

use std::collections::HashMap;

use crate::model::{Column, Entity, Schema};
use crate::names::{EntityName, suggest};

use field::build_field;
use precondition::build_precondition;
use raw::RawSchema;
use relation::order_parents_first;

/// The schema file format version this build reads.
pub const SCHEMA_VERSION: u32 = 1;

/// One thing wrong with a schema, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaProblem {
    /// A dotted path into the file, such as `entities.contact.fields.email`.
    pub location: String,
    pub message: String,
}

/// Why a schema could not be used. Lists every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("the schema is not valid TOML: {0}")]
    Syntax(String),
    #[error("the schema has {} problem(s):\n{}", .0.len(), render_problems(.0))]
    Invalid(Vec<SchemaProblem>),
}

fn render_problems(problems: &[SchemaProblem]) -> String {
    problems
        .iter()
        .map(|problem| format!("  - {}: {}", problem.location, problem.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Collects problems while a schema is checked.
#[derive(Default)]
struct Problems(Vec<SchemaProblem>);

impl Problems {
    fn add(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.0.push(SchemaProblem {
            location: location.into(),
            message: message.into(),
        });
    }
}

fn hint(wrong: &str, candidates: &[&str]) -> String {
    match suggest(wrong, candidates.iter().copied()) {
        Some(close) => format!("; did you mean `{close}`?"),
        None => format!("; expected one of: {}", candidates.join(", ")),
    }
}

impl Schema {
    /// The schema Lethe ships with: the CRM of SPEC §2.
    pub fn default_crm() -> Schema {
        // The built-in schema is part of the program and covered by tests, so failing to
        // read it is a programming error, not a user error.
        #[allow(clippy::expect_used)]
        Schema::from_toml(DEFAULT_SCHEMA_TOML).expect("the built-in schema is valid")
    }

    /// Reads and validates a schema file's text.
    pub fn from_toml(text: &str) -> Result<Schema, SchemaError> {
        let raw: RawSchema =
            toml::from_str(text).map_err(|error| SchemaError::Syntax(error.to_string()))?;
        build(raw)
    }

    /// The effective schema as TOML, every rule spelled out.
    pub fn to_toml(&self) -> String {
        let raw = self.to_raw();
        toml::to_string(&raw).unwrap_or_else(|error| format!("# could not render: {error}\n"))
    }

    /// The effective schema as JSON (for `--json` and the API).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.to_raw()).unwrap_or(serde_json::Value::Null)
    }
}

/// The text of the built-in schema.
pub const DEFAULT_SCHEMA_TOML: &str = include_str!("../../default-schema.toml");

fn build(raw: RawSchema) -> Result<Schema, SchemaError> {
    let mut problems = Problems::default();
    if raw.version != SCHEMA_VERSION {
        problems.add(
            "version",
            format!(
                "this Lethe reads schema version {SCHEMA_VERSION}, the file says {}",
                raw.version
            ),
        );
    }
    if raw.entities.is_empty() {
        problems.add(
            "entities",
            "the schema defines no entity; add at least one [entities.NAME]",
        );
    }

    let entity_names: Vec<&str> = raw.entities.keys().map(String::as_str).collect();
    let mut entities = Vec::new();
    let mut relations = Vec::new();

    for (entity_key, raw_entity) in &raw.entities {
        let location = format!("entities.{entity_key}");
        let name = match EntityName::parse(entity_key) {
            Ok(name) => name,
            Err(error) => {
                problems.add(&location, error.to_string());
                continue;
            }
        };
        if entity_key.starts_with("lethe_") {
            problems.add(
                &location,
                "entity names starting with `lethe_` are reserved for Lethe's own tables",
            );
        }
        if raw_entity.fields.is_empty() {
            problems.add(
                format!("{location}.fields"),
                "an entity needs at least one field",
            );
        }
        let mut columns: Vec<Column> = Vec::new();
        for (field_key, raw_field) in &raw_entity.fields {
            let field_location = format!("{location}.fields.{field_key}");
            build_field(
                &name,
                field_key,
                raw_field,
                &field_location,
                &entity_names,
                &mut columns,
                &mut relations,
                &mut problems,
            );
        }
        let mut column_index = HashMap::new();
        for (index, column) in columns.iter().enumerate() {
            if column_index
                .insert(column.name.to_string(), index)
                .is_some()
            {
                problems.add(
                    format!("{location}.fields.{}", column.field),
                    format!("the column `{}` is defined twice", column.name),
                );
            }
        }
        let mut entity = Entity {
            name,
            description: raw_entity.description.clone(),
            columns,
            purge_preconditions: Vec::new(),
            column_index,
        };
        for (index, raw_precondition) in raw_entity.purge_preconditions.iter().enumerate() {
            let precondition_location = format!("{location}.purge_preconditions[{index}]");
            if let Some(precondition) = build_precondition(
                &entity,
                raw_precondition,
                &precondition_location,
                &mut problems,
            ) {
                entity.purge_preconditions.push(precondition);
            }
        }
        entities.push(entity);
    }

    let entities = order_parents_first(entities, &relations, &mut problems);
    if !problems.0.is_empty() {
        return Err(SchemaError::Invalid(problems.0));
    }
    let entity_index = entities
        .iter()
        .enumerate()
        .map(|(index, entity)| (entity.name.to_string(), index))
        .collect();
    Ok(Schema {
        entities,
        entity_index,
        relations,
    })
}
