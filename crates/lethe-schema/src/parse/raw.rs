//! The schema file's TOML as plain structures (what serde reads and writes), and a
//! [`Schema`] turned back into them so that the effective schema can be printed as a file.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::SCHEMA_VERSION;
use crate::model::{Anonymize, DefaultValue, Schema, ValueType};

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchema {
    pub(super) version: u32,
    pub(super) entities: IndexMap<String, RawEntity>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEntity {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(super) description: String,
    #[serde(default)]
    pub(super) fields: IndexMap<String, RawField>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) purge_preconditions: Vec<RawPrecondition>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawField {
    #[serde(rename = "type")]
    pub(super) field_type: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub(super) required: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub(super) unique: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub(super) indexed: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub(super) personal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) anonymize: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) anonymize_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) values: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) scale: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) entities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) on_delete: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) default: Option<toml::Value>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPrecondition {
    #[serde(default)]
    pub(super) when: IndexMap<String, Vec<String>>,
    pub(super) require: IndexMap<String, Vec<String>>,
    pub(super) reason: String,
}

impl Schema {
    pub(super) fn to_raw(&self) -> RawSchema {
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
