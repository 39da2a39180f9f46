//! Reading a schema file (TOML) into a validated [`Schema`], and writing one back out.
//!
//! The file is first read into plain "raw" structures that mirror the TOML, then checked as a
//! whole so that one run reports every problem with where it is
//! (`entities.contact.fields.email: ...`).

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::model::{
    Anonymize, Column, DefaultValue, Entity, OnDelete, PurgePrecondition, Relation, Schema,
    ValueType, builtin,
};
use crate::names::{ColumnName, EntityName, suggest};

/// The schema file format version this build reads.
pub const SCHEMA_VERSION: u32 = 1;

const FIELD_TYPES: [&str; 10] = [
    "text",
    "integer",
    "decimal",
    "boolean",
    "date",
    "timestamp",
    "enum",
    "json",
    "reference",
    "owner",
];
const ON_DELETE_RULES: [&str; 4] = ["cascade", "restrict", "set_null", "anonymize"];
const ANONYMIZE_STRATEGIES: [&str; 3] = ["null", "fixed", "hash"];

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

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawSchema {
    version: u32,
    entities: IndexMap<String, RawEntity>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawEntity {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(default)]
    fields: IndexMap<String, RawField>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    purge_preconditions: Vec<RawPrecondition>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    #[serde(rename = "type")]
    field_type: String,
    #[serde(default, skip_serializing_if = "is_false")]
    required: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    unique: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    indexed: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    personal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    anonymize: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    anonymize_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    values: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scale: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on_delete: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default: Option<toml::Value>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawPrecondition {
    #[serde(default)]
    when: IndexMap<String, Vec<String>>,
    require: IndexMap<String, Vec<String>>,
    reason: String,
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

    fn to_raw(&self) -> RawSchema {
        let mut entities = IndexMap::new();
        for entity in &self.entities {
            let mut fields: IndexMap<String, RawField> = IndexMap::new();
            for column in &entity.columns {
                if let Some(relation) = self.relation_for_column(&entity.name, column.name.as_str())
                {
                    let mut raw = RawField {
                        required: column.required,
                        on_delete: Some(relation.on_delete.as_str().to_owned()),
                        ..RawField::default()
                    };
                    if relation.discriminator.is_some() {
                        raw.field_type = "owner".to_owned();
                        raw.entities =
                            Some(relation.parents.iter().map(|p| p.to_string()).collect());
                    } else {
                        raw.field_type = "reference".to_owned();
                        raw.to = relation.parents.first().map(|p| p.to_string());
                    }
                    fields.insert(column.field.clone(), raw);
                    continue;
                }
                if matches!(column.value_type, ValueType::OwnerEntity { .. }) {
                    continue;
                }
                let mut raw = RawField {
                    field_type: column.value_type.type_name().to_owned(),
                    required: column.required,
                    unique: column.unique,
                    indexed: column.indexed && !column.unique,
                    personal: column.personal,
                    ..RawField::default()
                };
                match &column.value_type {
                    ValueType::Enum { values } => raw.values = Some(values.clone()),
                    ValueType::Decimal { scale } => raw.scale = Some(*scale),
                    _ => {}
                }
                match &column.anonymize {
                    Some(Anonymize::Null) => raw.anonymize = Some("null".to_owned()),
                    Some(Anonymize::Hash) => raw.anonymize = Some("hash".to_owned()),
                    Some(Anonymize::Fixed(text)) => {
                        raw.anonymize = Some("fixed".to_owned());
                        raw.anonymize_value = Some(text.clone());
                    }
                    None => {}
                }
                raw.default = column.default.as_ref().map(|default| match default {
                    DefaultValue::Text(text) | DefaultValue::Decimal(text) => {
                        toml::Value::String(text.clone())
                    }
                    DefaultValue::Integer(number) => toml::Value::Integer(*number),
                    DefaultValue::Boolean(flag) => toml::Value::Boolean(*flag),
                });
                fields.insert(column.field.clone(), raw);
            }
            let purge_preconditions = entity
                .purge_preconditions
                .iter()
                .map(|precondition| RawPrecondition {
                    when: precondition
                        .when
                        .iter()
                        .map(|(column, values)| (column.to_string(), values.clone()))
                        .collect(),
                    require: precondition
                        .require
                        .iter()
                        .map(|(column, values)| (column.to_string(), values.clone()))
                        .collect(),
                    reason: precondition.reason.clone(),
                })
                .collect();
            entities.insert(
                entity.name.to_string(),
                RawEntity {
                    description: entity.description.clone(),
                    fields,
                    purge_preconditions,
                },
            );
        }
        RawSchema {
            version: SCHEMA_VERSION,
            entities,
        }
    }
}

/// The text of the built-in schema.
pub const DEFAULT_SCHEMA_TOML: &str = include_str!("../default-schema.toml");

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

#[allow(clippy::too_many_arguments)]
fn build_field(
    entity: &EntityName,
    field_key: &str,
    raw: &RawField,
    location: &str,
    entity_names: &[&str],
    columns: &mut Vec<Column>,
    relations: &mut Vec<Relation>,
    problems: &mut Problems,
) {
    let name = match ColumnName::parse(field_key) {
        Ok(name) => name,
        Err(error) => {
            problems.add(location, error.to_string());
            return;
        }
    };
    if builtin::is_builtin(field_key) {
        problems.add(
            location,
            format!("`{field_key}` is a built-in column every entity has; choose another name"),
        );
        return;
    }
    let field_type = raw.field_type.as_str();
    if !FIELD_TYPES.contains(&field_type) {
        problems.add(
            location,
            format!(
                "unknown type `{field_type}`{}",
                hint(field_type, &FIELD_TYPES)
            ),
        );
        return;
    }

    // Options that only make sense for some types.
    let only_for = |option: &str, present: bool, allowed: &[&str], problems: &mut Problems| {
        if present && !allowed.contains(&field_type) {
            problems.add(
                location,
                format!("`{option}` applies only to {} fields", allowed.join(" or ")),
            );
        }
    };
    only_for("values", raw.values.is_some(), &["enum"], problems);
    only_for("scale", raw.scale.is_some(), &["decimal"], problems);
    only_for("to", raw.to.is_some(), &["reference"], problems);
    only_for("entities", raw.entities.is_some(), &["owner"], problems);
    only_for(
        "on_delete",
        raw.on_delete.is_some(),
        &["reference", "owner"],
        problems,
    );
    if raw.unique && matches!(field_type, "json" | "boolean" | "owner") {
        problems.add(location, format!("a {field_type} field cannot be unique"));
    }

    if matches!(field_type, "reference" | "owner") {
        build_relation_field(
            entity,
            &name,
            raw,
            location,
            entity_names,
            columns,
            relations,
            problems,
        );
        return;
    }

    let value_type = match field_type {
        "text" => ValueType::Text,
        "integer" => ValueType::Integer,
        "decimal" => {
            let scale = raw.scale.unwrap_or(2);
            if scale > 12 {
                problems.add(location, "`scale` may be at most 12 digits after the point");
            }
            ValueType::Decimal { scale }
        }
        "boolean" => ValueType::Boolean,
        "date" => ValueType::Date,
        "timestamp" => ValueType::Timestamp,
        "json" => ValueType::Json,
        _ => {
            let values = raw.values.clone().unwrap_or_default();
            if values.is_empty() {
                problems.add(location, "an enum field needs `values = [\"...\", ...]`");
            }
            let mut seen = HashSet::new();
            for value in &values {
                if value.is_empty() || value.len() > 64 {
                    problems.add(
                        location,
                        format!("enum value `{value}` must be 1 to 64 characters"),
                    );
                }
                if !seen.insert(value) {
                    problems.add(location, format!("enum value `{value}` is listed twice"));
                }
            }
            ValueType::Enum { values }
        }
    };

    let anonymize = build_anonymize(raw, &value_type, location, problems);
    let default = raw
        .default
        .as_ref()
        .and_then(|default| build_default(default, &value_type, location, problems));
    columns.push(Column {
        name,
        value_type,
        required: raw.required,
        unique: raw.unique,
        indexed: raw.indexed || raw.unique,
        personal: raw.personal,
        anonymize,
        default,
        field: field_key.to_owned(),
    });
}

fn build_anonymize(
    raw: &RawField,
    value_type: &ValueType,
    location: &str,
    problems: &mut Problems,
) -> Option<Anonymize> {
    let Some(strategy) = raw.anonymize.as_deref() else {
        if raw.personal {
            problems.add(
                location,
                "a personal field needs an anonymisation strategy: anonymize = \"null\", \"fixed\" (with anonymize_value) or \"hash\"",
            );
        }
        if raw.anonymize_value.is_some() {
            problems.add(location, "`anonymize_value` needs anonymize = \"fixed\"");
        }
        return None;
    };
    if !raw.personal {
        problems.add(
            location,
            "only personal fields are anonymised; add `personal = true` or remove `anonymize`",
        );
    }
    let textual = matches!(value_type, ValueType::Text | ValueType::Enum { .. });
    match strategy {
        "null" => {
            if raw.required {
                problems.add(
                    location,
                    "a required field cannot be anonymised to null; use \"fixed\" or \"hash\"",
                );
            }
            Some(Anonymize::Null)
        }
        "hash" => {
            if !matches!(value_type, ValueType::Text) {
                problems.add(location, "only text fields can be anonymised by hash");
            }
            Some(Anonymize::Hash)
        }
        "fixed" => {
            let Some(text) = raw.anonymize_value.clone() else {
                problems.add(
                    location,
                    "anonymize = \"fixed\" needs `anonymize_value = \"...\"`",
                );
                return None;
            };
            if !textual {
                problems.add(
                    location,
                    "only text fields can be anonymised to a fixed text",
                );
            }
            if let ValueType::Enum { values } = value_type
                && !values.contains(&text)
            {
                problems.add(
                    location,
                    format!("anonymize_value `{text}` is not one of the enum's values"),
                );
            }
            Some(Anonymize::Fixed(text))
        }
        other => {
            problems.add(
                location,
                format!(
                    "unknown anonymisation strategy `{other}`{}",
                    hint(other, &ANONYMIZE_STRATEGIES)
                ),
            );
            None
        }
    }
}

fn build_default(
    default: &toml::Value,
    value_type: &ValueType,
    location: &str,
    problems: &mut Problems,
) -> Option<DefaultValue> {
    let value = match (value_type, default) {
        (ValueType::Text, toml::Value::String(text)) => DefaultValue::Text(text.clone()),
        (ValueType::Enum { values }, toml::Value::String(text)) => {
            if !values.contains(text) {
                problems.add(
                    location,
                    format!("default `{text}` is not one of the enum's values"),
                );
                return None;
            }
            DefaultValue::Text(text.clone())
        }
        (ValueType::Integer, toml::Value::Integer(number)) => DefaultValue::Integer(*number),
        (ValueType::Boolean, toml::Value::Boolean(flag)) => DefaultValue::Boolean(*flag),
        (ValueType::Decimal { .. }, toml::Value::Integer(number)) => {
            DefaultValue::Decimal(number.to_string())
        }
        (ValueType::Decimal { .. }, toml::Value::String(text))
            if text.parse::<f64>().is_ok_and(f64::is_finite) =>
        {
            DefaultValue::Decimal(text.clone())
        }
        _ => {
            problems.add(
                location,
                format!(
                    "the default {default} does not fit a {} field (defaults are supported for text, enum, integer, decimal and boolean fields)",
                    value_type.type_name()
                ),
            );
            return None;
        }
    };
    Some(value)
}

#[allow(clippy::too_many_arguments)]
fn build_relation_field(
    entity: &EntityName,
    name: &ColumnName,
    raw: &RawField,
    location: &str,
    entity_names: &[&str],
    columns: &mut Vec<Column>,
    relations: &mut Vec<Relation>,
    problems: &mut Problems,
) {
    if raw.personal || raw.anonymize.is_some() {
        problems.add(location, "a relation is not personal data itself; mark the fields of the record it points to instead");
    }
    if raw.default.is_some() {
        problems.add(location, "a relation field cannot have a default");
    }
    let on_delete = match raw.on_delete.as_deref() {
        None => {
            problems.add(
                location,
                "a relation needs `on_delete = \"cascade\" | \"restrict\" | \"set_null\" | \"anonymize\"`",
            );
            None
        }
        Some("cascade") => Some(OnDelete::Cascade),
        Some("restrict") => Some(OnDelete::Restrict),
        Some("set_null") => Some(OnDelete::SetNull),
        Some("anonymize") => Some(OnDelete::Anonymize),
        Some(other) => {
            problems.add(
                location,
                format!(
                    "unknown on_delete rule `{other}`{}",
                    hint(other, &ON_DELETE_RULES)
                ),
            );
            None
        }
    };
    if on_delete == Some(OnDelete::SetNull) && raw.required {
        problems.add(
            location,
            "on_delete = \"set_null\" needs a field that is not required",
        );
    }

    let check_parent = |parent: &str, problems: &mut Problems| -> Option<EntityName> {
        if !entity_names.contains(&parent) {
            problems.add(
                location,
                format!(
                    "relation to unknown entity `{parent}`{}",
                    hint(parent, entity_names)
                ),
            );
            return None;
        }
        if parent == entity.as_str() {
            problems.add(
                location,
                "an entity may not refer to itself (relations must not form a cycle)",
            );
            return None;
        }
        EntityName::parse(parent).ok()
    };

    let Some(on_delete) = on_delete else { return };
    if raw.field_type == "reference" {
        let Some(target) = raw.to.as_deref() else {
            problems.add(location, "a reference needs `to = \"ENTITY\"`");
            return;
        };
        let Some(parent) = check_parent(target, problems) else {
            return;
        };
        columns.push(Column {
            name: name.clone(),
            value_type: ValueType::Reference,
            required: raw.required,
            unique: raw.unique,
            indexed: true,
            personal: false,
            anonymize: None,
            default: None,
            field: name.to_string(),
        });
        relations.push(Relation {
            child: entity.clone(),
            column: name.clone(),
            parents: vec![parent],
            discriminator: None,
            on_delete,
        });
        return;
    }

    // A polymorphic owner: two columns, `<name>_entity` and `<name>_id`.
    if on_delete == OnDelete::Anonymize {
        problems.add(
            location,
            "an owner field can be cascade, restrict or set_null, not anonymize",
        );
        return;
    }
    let targets = raw.entities.clone().unwrap_or_default();
    if targets.is_empty() {
        problems.add(location, "an owner field needs `entities = [\"...\", ...]`");
        return;
    }
    let parents: Vec<EntityName> = targets
        .iter()
        .filter_map(|target| check_parent(target, problems))
        .collect();
    if parents.len() != targets.len() {
        return;
    }
    let (Ok(entity_column), Ok(id_column)) = (
        ColumnName::parse(&format!("{name}_entity")),
        ColumnName::parse(&format!("{name}_id")),
    ) else {
        problems.add(
            location,
            "the owner field's name is too long for its `_entity` and `_id` columns",
        );
        return;
    };
    columns.push(Column {
        name: entity_column.clone(),
        value_type: ValueType::OwnerEntity {
            entities: parents.clone(),
        },
        required: raw.required,
        unique: false,
        indexed: true,
        personal: false,
        anonymize: None,
        default: None,
        field: name.to_string(),
    });
    columns.push(Column {
        name: id_column.clone(),
        value_type: ValueType::Reference,
        required: raw.required,
        unique: false,
        indexed: true,
        personal: false,
        anonymize: None,
        default: None,
        field: name.to_string(),
    });
    relations.push(Relation {
        child: entity.clone(),
        column: id_column,
        parents,
        discriminator: Some(entity_column),
        on_delete,
    });
}

fn build_precondition(
    entity: &Entity,
    raw: &RawPrecondition,
    location: &str,
    problems: &mut Problems,
) -> Option<PurgePrecondition> {
    let before = problems.0.len();
    let mut check = |tests: &IndexMap<String, Vec<String>>, part: &str| {
        let mut out = Vec::new();
        for (column_name, values) in tests {
            let Some(column) = entity.column(column_name) else {
                let names: Vec<&str> = entity.column_names().collect();
                problems.add(
                    format!("{location}.{part}"),
                    format!(
                        "unknown field `{column_name}` on {}{}",
                        entity.name,
                        hint(column_name, &names)
                    ),
                );
                continue;
            };
            match &column.value_type {
                ValueType::Enum { values: allowed } => {
                    for value in values {
                        if !allowed.contains(value) {
                            problems.add(
                                format!("{location}.{part}.{column_name}"),
                                format!(
                                    "`{value}` is not a value of {}.{column_name}",
                                    entity.name
                                ),
                            );
                        }
                    }
                }
                ValueType::Text => {}
                other => problems.add(
                    format!("{location}.{part}.{column_name}"),
                    format!(
                        "preconditions test enum or text fields, not {}",
                        other.type_name()
                    ),
                ),
            }
            if values.is_empty() {
                problems.add(
                    format!("{location}.{part}.{column_name}"),
                    "list at least one value",
                );
            }
            if let Ok(name) = ColumnName::parse(column_name) {
                out.push((name, values.clone()));
            }
        }
        out
    };
    let when = check(&raw.when, "when");
    let require = check(&raw.require, "require");
    if raw.require.is_empty() {
        problems.add(
            location,
            "a purge precondition needs `require = { FIELD = [...] }`",
        );
    }
    if raw.reason.trim().is_empty() {
        problems.add(
            location,
            "a purge precondition needs a `reason` that users will read",
        );
    }
    (problems.0.len() == before).then(|| PurgePrecondition {
        when,
        require,
        reason: raw.reason.clone(),
    })
}

/// Orders entities parents-first (Kahn's algorithm), keeping file order among equals, and
/// reports a cycle by naming the entities in it.
fn order_parents_first(
    entities: Vec<Entity>,
    relations: &[Relation],
    problems: &mut Problems,
) -> Vec<Entity> {
    let names: Vec<String> = entities
        .iter()
        .map(|entity| entity.name.to_string())
        .collect();
    let mut pending_parents: HashMap<&str, HashSet<&str>> = HashMap::new();
    for name in &names {
        pending_parents.entry(name.as_str()).or_default();
    }
    for relation in relations {
        for parent in &relation.parents {
            if let Some(set) = pending_parents.get_mut(relation.child.as_str()) {
                set.insert(parent.as_str());
            }
        }
    }
    let mut ordered: Vec<String> = Vec::new();
    let mut placed: HashSet<String> = HashSet::new();
    loop {
        let next = names.iter().find(|name| {
            !placed.contains(name.as_str())
                && pending_parents
                    .get(name.as_str())
                    .is_some_and(|parents| parents.iter().all(|parent| placed.contains(*parent)))
        });
        match next {
            Some(name) => {
                placed.insert(name.clone());
                ordered.push(name.clone());
            }
            None => break,
        }
    }
    if ordered.len() < names.len() {
        let stuck: Vec<&str> = names
            .iter()
            .filter(|name| !placed.contains(name.as_str()))
            .map(String::as_str)
            .collect();
        problems.add(
            "entities",
            format!(
                "relations form a cycle among {}; deletion rules need a parent-to-child order",
                stuck.join(", ")
            ),
        );
        return entities;
    }
    let mut by_name: HashMap<String, Entity> = entities
        .into_iter()
        .map(|entity| (entity.name.to_string(), entity))
        .collect();
    ordered
        .iter()
        .filter_map(|name| by_name.remove(name))
        .collect()
}
