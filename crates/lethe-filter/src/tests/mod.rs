//! Tests of the filter language, mostly against the default CRM schema (SPEC §2, §4).

#![allow(clippy::unwrap_used)]

mod constructs;
mod errors;
mod json;
mod limits;
mod properties;

use std::sync::LazyLock;

use lethe_schema::Schema;

use crate::{Filter, FilterError, from_json, parse};

pub(crate) static CRM: LazyLock<Schema> = LazyLock::new(Schema::default_crm);

/// A small schema with the awkward cases the default one lacks: a child with two references
/// to the same parent, and a child with both a polymorphic owner and a plain reference.
pub(crate) static AMBIGUOUS: LazyLock<Schema> = LazyLock::new(|| {
    Schema::from_toml(
        r#"
        version = 1
        [entities.person]
        fields.name = { type = "text" }
        [entities.deal]
        fields.buyer_id = { type = "reference", to = "person", on_delete = "restrict" }
        fields.seller_id = { type = "reference", to = "person", on_delete = "restrict" }
        fields.title = { type = "text" }
        [entities.note]
        fields.owner = { type = "owner", entities = ["person", "deal"], on_delete = "cascade" }
        fields.person_id = { type = "reference", to = "person", on_delete = "cascade" }
        fields.body = { type = "text" }
        "#,
    )
    .unwrap()
});

/// Parses a filter on `entity` of the default schema, failing the test with the error.
pub(crate) fn parsed(entity: &str, text: &str) -> Filter {
    match parse(&CRM, entity, text) {
        Ok(filter) => filter,
        Err(error) => panic!("`{text}` should parse: {error}"),
    }
}

/// The error message for a filter that must not parse.
pub(crate) fn error_of(entity: &str, text: &str) -> String {
    match parse(&CRM, entity, text) {
        Ok(filter) => panic!("`{text}` should not parse, but gave `{filter}`"),
        Err(error) => error.to_string(),
    }
}

/// Printing in either form and reading back gives the same filter, and printing is stable.
pub(crate) fn assert_round_trips(schema: &Schema, filter: &Filter) -> Result<(), String> {
    let entity = filter.entity().as_str();
    let text = filter.to_text();
    let reparsed = parse(schema, entity, &text)
        .map_err(|error| format!("printed `{text}` does not parse: {error}"))?;
    if &reparsed != filter {
        return Err(format!(
            "`{text}` parses to a different filter:\n{reparsed:?}\nvs\n{filter:?}"
        ));
    }
    if reparsed.to_text() != text {
        return Err(format!(
            "printing is not stable: `{text}` vs `{}`",
            reparsed.to_text()
        ));
    }
    let json = filter.to_json();
    let from: Result<Filter, FilterError> = from_json(schema, entity, &json);
    match from {
        Ok(from) if &from == filter => {}
        Ok(from) => return Err(format!("JSON {json} reads to `{from}`, not `{text}`")),
        Err(error) => return Err(format!("JSON {json} of `{text}` does not read: {error}")),
    }
    let serialized = serde_json::to_string(&json).unwrap();
    let deserialized: serde_json::Value = serde_json::from_str(&serialized).unwrap();
    if from_json(schema, entity, &deserialized).as_ref() != Ok(filter) {
        return Err(format!("serialized JSON {serialized} does not read back"));
    }
    Ok(())
}
