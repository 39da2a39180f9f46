//! Which column of an import file fills which field: the header's names, what `--map`
//! changes, references by a parent's unique field, and the columns left out.

use lethe_schema::{Column, Entity, Schema, ValueType, builtin, suggest};

use crate::error::StoreError;
use crate::value::Value;

/// A field the file fills, from its column.
#[derive(Debug, Clone)]
pub(crate) struct Filled<'s> {
    /// The column's place in each row.
    pub index: usize,
    /// The column's name in the header.
    pub header: String,
    pub column: &'s Column,
    /// For a reference given by the parent's unique field: the parent and that field.
    pub by: Option<(&'s str, &'s Column)>,
}

/// How the columns of a file fill an entity's fields.
#[derive(Debug, Clone)]
pub(crate) struct Mapping<'s> {
    pub entity: &'s Entity,
    pub filled: Vec<Filled<'s>>,
    /// Header columns that fill nothing: Lethe's own (`id`, `created_at`, …) and those
    /// mapped to nothing.
    pub ignored: Vec<String>,
}

/// A field, and for a reference given by the parent's unique field the parent and that field.
type Target<'s> = (&'s Column, Option<(&'s str, &'s Column)>);

/// What `--map COLUMN=TARGET` says of a column: `FIELD`, `FIELD.UNIQUE_FIELD` (a reference
/// by the parent's unique field), or nothing (leave the column out).
fn target<'s>(
    schema: &'s Schema,
    entity: &'s Entity,
    header: &str,
    target: &str,
) -> Result<Option<Target<'s>>, StoreError> {
    let target = target.trim();
    if target.is_empty() {
        return Ok(None);
    }
    let (field, by) = match target.split_once('.') {
        Some((field, by)) => (field, Some(by)),
        None => (target, None),
    };
    let unknown = || {
        StoreError::BadRequest(format!(
            "column \"{header}\": {} has no field `{field}`{}; map the column to a field with --map \"{header}=FIELD\", or leave it out with --map \"{header}=\"",
            entity.name,
            suggest(field, entity.column_names())
                .map(|near| format!(" (did you mean `{near}`?)"))
                .unwrap_or_default()
        ))
    };
    if builtin::is_builtin(field) || crate::files::is_managed(entity, field) {
        return Err(StoreError::BadRequest(format!(
            "column \"{header}\": `{field}` is set by Lethe and cannot be imported; leave the column out with --map \"{header}=\""
        )));
    }
    let column = entity.column(field).ok_or_else(unknown)?;
    let Some(by) = by else {
        return Ok(Some((column, None)));
    };
    let relation = schema
        .relations_from(&entity.name)
        .find(|relation| relation.column == column.name && relation.discriminator.is_none());
    let Some(parent) = relation.and_then(|relation| relation.parents.first()) else {
        return Err(StoreError::BadRequest(format!(
            "column \"{header}\": {}.{field} is not a reference to one entity, so it cannot be given by `{by}`",
            entity.name
        )));
    };
    let parent_entity = schema
        .entity(parent.as_str())
        .ok_or_else(|| StoreError::Internal(format!("unknown entity {parent}")))?;
    match parent_entity.column(by) {
        Some(unique) if unique.unique => Ok(Some((column, Some((parent.as_str(), unique))))),
        _ => {
            let uniques: Vec<&str> = parent_entity
                .columns
                .iter()
                .filter(|column| column.unique)
                .map(|column| column.name.as_str())
                .collect();
            Err(StoreError::BadRequest(format!(
                "column \"{header}\": {parent}.{by} is not a unique field of {parent}, so it cannot name one; {}",
                if uniques.is_empty() {
                    format!("{parent} has no unique field: give {field} as ids")
                } else {
                    format!("use one of: {}", uniques.join(", "))
                }
            )))
        }
    }
}

impl<'s> Mapping<'s> {
    /// Maps the header's columns: a `--map` for the column if there is one, else the field
    /// of the column's name (`FIELD` or `FIELD.UNIQUE_FIELD`); Lethe's own columns, as an
    /// export writes them, are left out.
    pub fn new(
        schema: &'s Schema,
        entity: &'s Entity,
        header: &[String],
        maps: &[(String, String)],
    ) -> Result<Mapping<'s>, StoreError> {
        if crate::files::holds_files(entity) {
            return Err(StoreError::BadRequest(format!(
                "{} records hold a file each; an import cannot bring the files, so add them one by one",
                entity.name
            )));
        }
        for (column, _) in maps {
            if !header.iter().any(|name| name == column.trim()) {
                return Err(StoreError::BadRequest(format!(
                    "--map names the column \"{column}\", which the file's header does not have; its columns are: {}",
                    header.join(", ")
                )));
            }
        }
        let mut filled: Vec<Filled<'s>> = Vec::new();
        let mut ignored = Vec::new();
        for (index, name) in header.iter().enumerate() {
            let mapped = maps
                .iter()
                .rev()
                .find(|(column, _)| column.trim() == name)
                .map(|(_, target)| target.as_str());
            let chosen = match mapped {
                Some(mapped) => target(schema, entity, name, mapped)?,
                None if name.is_empty() => {
                    return Err(StoreError::BadRequest(format!(
                        "column {} of the header has no name; name it, or leave the file's column out",
                        index + 1
                    )));
                }
                None if builtin::is_builtin(name) => None,
                None => target(schema, entity, name, name)?,
            };
            let Some((column, by)) = chosen else {
                ignored.push(name.clone());
                continue;
            };
            if let Some(twice) = filled.iter().find(|other| other.column.name == column.name) {
                return Err(StoreError::BadRequest(format!(
                    "the columns \"{}\" and \"{name}\" both fill {}.{}; leave one out with --map \"{name}=\"",
                    twice.header, entity.name, column.name
                )));
            }
            filled.push(Filled {
                index,
                header: name.clone(),
                column,
                by,
            });
        }
        if filled.is_empty() {
            return Err(StoreError::BadRequest(format!(
                "no column of the file fills a field of {}; its fields are: {}",
                entity.name,
                entity.column_names().collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(Mapping {
            entity,
            filled,
            ignored,
        })
    }

    /// The filled field named `name`.
    pub fn field(&self, name: &str) -> Option<&Filled<'s>> {
        self.filled.iter().find(|filled| filled.column.name == name)
    }

    /// A row's values, one per entity column (null where the file has no value: defaults
    /// are for the records created, not for those updated), and for references by a
    /// unique field the value to look up; or the first cell that does not fit, with why.
    pub fn parse(&self, cells: &[String]) -> Result<ParsedRow, (String, String)> {
        let mut values = vec![Value::Null; self.entity.columns.len()];
        let mut lookups = Vec::new();
        for filled in &self.filled {
            let cell = cells.get(filled.index).map_or("", String::as_str);
            let value_type = match filled.by {
                Some((_, unique)) => &unique.value_type,
                None => &filled.column.value_type,
            };
            let value = Value::from_text(value_type, cell)
                .map_err(|problem| (filled.header.clone(), problem.0))?;
            if filled.by.is_some() {
                lookups.push(value);
            } else if let Some(place) = self
                .entity
                .columns
                .iter()
                .position(|column| column.name == filled.column.name)
            {
                values[place] = value;
            }
        }
        Ok(ParsedRow { values, lookups })
    }

    /// The filled fields given by a parent's unique field, in order.
    pub fn lookups(&self) -> impl Iterator<Item = &Filled<'s>> {
        self.filled.iter().filter(|filled| filled.by.is_some())
    }

    /// Whether a column holds text (compared ignoring case and surrounding spaces when it
    /// matches rows to records).
    pub fn is_text(column: &Column) -> bool {
        matches!(column.value_type, ValueType::Text)
    }
}

/// One row, parsed.
#[derive(Debug)]
pub(crate) struct ParsedRow {
    /// One value per entity column.
    pub values: Vec<Value>,
    /// One value per reference given by a unique field ([`Mapping::lookups`]).
    pub lookups: Vec<Value>,
}
