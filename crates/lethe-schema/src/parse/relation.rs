//! Checking relation fields (a reference to one parent, or a polymorphic owner that may
//! point to several) with their deletion rules, and ordering entities parents-first so that
//! deletion rules can follow a parent-to-child order without a cycle.

use std::collections::{HashMap, HashSet};

use super::raw::RawField;
use super::{Problems, hint};
use crate::model::{Column, Entity, OnDelete, Relation, ValueType};
use crate::names::{ColumnName, EntityName};

const ON_DELETE_RULES: [&str; 4] = ["cascade", "restrict", "set_null", "anonymize"];

#[allow(clippy::too_many_arguments)]
pub(super) fn build_relation_field(
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

/// Orders entities parents-first (Kahn's algorithm), keeping file order among equals, and
/// reports a cycle by naming the entities in it.
pub(super) fn order_parents_first(
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
