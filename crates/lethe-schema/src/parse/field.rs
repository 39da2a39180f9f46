//! Checking one field of an entity: its name, type and type-specific options, its
//! anonymisation strategy and its default; relation fields go on to `relation.rs`.

use std::collections::HashSet;

use super::raw::RawField;
use super::relation::build_relation_field;
use super::{Problems, hint};
use crate::model::{Anonymize, Column, DefaultValue, Relation, ValueType, builtin};
use crate::names::{ColumnName, EntityName};

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
const ANONYMIZE_STRATEGIES: [&str; 3] = ["null", "fixed", "hash"];

#[allow(clippy::too_many_arguments)]
pub(super) fn build_field(
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
