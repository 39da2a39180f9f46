//! Checking an entity's purge preconditions: the fields they test exist, are enum or text
//! fields, and list values those fields can hold, and every precondition gives a reason.

use indexmap::IndexMap;

use super::raw::RawPrecondition;
use super::{Problems, hint};
use crate::model::{Entity, PurgePrecondition, ValueType};
use crate::names::ColumnName;

pub(super) fn build_precondition(
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
