//! The Lethe filter language (SPEC §4 "Selections"): which records of one entity a
//! selection, monitor or retention policy is about. A filter has a text form for people and
//! an equivalent JSON form for the API; both are parsed and type-checked against a
//! [`lethe_schema::Schema`] into the same typed [`Filter`], which prints back to either form.
//!
//! **Architecture invariant:** this crate knows nothing of SQL or any database. It defines
//! what a filter *means* (see [`Expr`]); compiling it to SQL, or evaluating it in memory, is
//! done elsewhere against that meaning.
//!
//! ```
//! use lethe_filter::{parse, from_json};
//! use lethe_schema::Schema;
//!
//! let schema = Schema::default_crm();
//! let text = r#"category = "prospect" and created_at < now - 3y
//!     and not exists consent(purpose = "marketing") and none activity(happened_at > now - 2y)"#;
//! let filter = parse(&schema, "contact", text)?;
//! assert_eq!(from_json(&schema, "contact", &filter.to_json())?, filter);
//! assert_eq!(parse(&schema, "contact", &filter.to_text())?, filter);
//! # Ok::<(), lethe_filter::FilterError>(())
//! ```
//!
//! # The text form
//!
//! | construct | example |
//! |---|---|
//! | comparison | `category = "prospect"`, `amount >= 1000`, `created_at < now - 3y` (`= != < <= > >=`) |
//! | list | `status in ["open", "won"]`, `status not in ["lost"]` |
//! | text | `email contains "@example."`, `name starts_with "Acme"` (case-sensitive) |
//! | NULL | `withdrawn_at is null`, `email is not null` |
//! | logic | `and`, `or`, `not`, parentheses; `not` binds tighter than `and`, `and` than `or` |
//! | parent field | `company.category = "customer"`, `ticket.contact.company.name = "Acme"` |
//! | children | `exists activity`, `exists activity(happened_at > now - 2y)`, `none consent(purpose = "marketing")` |
//! | child count | `count(deal) >= 2`, `count(deal(status = "won")) >= 1` |
//! | duplicates | `duplicate(email)`, `duplicate(email, keep oldest)`, `duplicate(email, keep newest)` |
//! | everything | the empty filter, or `all` |
//!
//! Keywords are case-insensitive; field and entity names are lower snake_case as in the
//! schema. A field may be one of the entity's own columns or the built-in `id`,
//! `created_by` (integers), `created_at` or `updated_at` (timestamps); the trash columns are
//! the scope's business, not the filter's. Fields named `not`, `exists` or `none` cannot be
//! written in the text form (they read as keywords).
//!
//! Values:
//!
//! - text in double quotes, with escapes `\"`, `\\`, `\n`, `\t` and `\u{e9}`;
//! - integers (`42`, `-7`) and decimals (`1234.50`); an integer is accepted for a decimal
//!   field, a decimal with more places than the field's scale is not;
//! - `true` and `false`;
//! - dates `2024-05-31` and RFC 3339 timestamps `2024-05-31T14:30:00Z` (or `+02:00`),
//!   unquoted or quoted; a date compared with a timestamp field means its midnight UTC, a
//!   timestamp compared with a date field is an error;
//! - relative times `now - 3y`, `today - 90d`, `now + 1d`, `now - 18mo` with the units `y`,
//!   `mo`, `w`, `d`, `h`, `min` and whole amounts, kept symbolic and resolved by the caller
//!   ([`RelativeTime::resolve`]); `today` is midnight UTC; hours and minutes are refused for
//!   date fields;
//! - enum values as strings, checked against the enum's values;
//! - no `null`: use `is null`.
//!
//! A parent is written as the parent entity's name and must be reachable through exactly one
//! plain reference column of the current entity; a polymorphic owner (`attachment.owner`)
//! cannot be followed. A child is an entity with a relation to the current one (including a
//! polymorphic owner: `exists attachment` on a contact); when it has several, name the
//! column: `exists deal.contact_id(...)`.
//!
//! What each construct selects — including NULL, which follows SQL (`category != "x"` does
//! not select records whose category is NULL, and neither does `not (category = "x")`) — is
//! specified on [`Expr`].
//!
//! # The JSON form
//!
//! Every filter is an object with exactly one of the keys below, plus that kind's other keys:
//!
//! | JSON | text |
//! |---|---|
//! | `{"all": true}` | `all` |
//! | `{"and": [f, ...]}`, `{"or": [f, ...]}` | `f and ...`, `f or ...` (an empty `and` is `all`) |
//! | `{"not": f}` | `not f` |
//! | `{"field": "company.category", "op": "=", "value": "customer"}` | `company.category = "customer"` |
//! | `{"field": "status", "op": "in", "value": ["open", "won"]}` | `status in ["open", "won"]` (also `"not in"`) |
//! | `{"field": "email", "op": "contains", "value": "@x"}` | `email contains "@x"` (also `"starts_with"`) |
//! | `{"field": "email", "op": "is null"}` | `email is null` (also `"is not null"`; no `value`) |
//! | `{"exists": "activity", "where": f}` | `exists activity(f)` (`where` is optional) |
//! | `{"none": "consent", "where": f}` | `none consent(f)` |
//! | `{"count": "deal", "where": f, "op": ">=", "value": 2}` | `count(deal(f)) >= 2` |
//! | `{"duplicate": "email", "keep": "oldest"}` | `duplicate(email, keep oldest)` (`keep` is optional) |
//!
//! Values are JSON strings, numbers and booleans; dates and timestamps are strings
//! (`"2024-05-31"`, `"2024-05-31T14:30:00Z"`); decimals are numbers or strings (and are
//! written as strings, `"1234.50"`, so no reader rounds them); relative times are objects:
//! `{"now": "-3y"}`, `{"today": "-90d"}`, `{"now": "+0d"}` (plain `now`). Errors name a
//! JSON path instead of a line and column: `` $.and[2].field: unknown field `categroy` on
//! contact; did you mean `category`? ``.
//!
//! ```
//! # use lethe_schema::Schema;
//! # let schema = Schema::default_crm();
//! let json = serde_json::json!({"and": [
//!     {"field": "category", "op": "=", "value": "prospect"},
//!     {"field": "created_at", "op": "<", "value": {"now": "-3y"}},
//!     {"not": {"exists": "consent", "where": {"field": "purpose", "op": "=", "value": "marketing"}}},
//!     {"none": "activity", "where": {"field": "happened_at", "op": ">", "value": {"now": "-2y"}}},
//!     {"count": "deal", "where": {"field": "status", "op": "=", "value": "won"}, "op": ">=", "value": 2},
//!     {"duplicate": "email", "keep": "oldest"}
//! ]});
//! let filter = lethe_filter::from_json(&schema, "contact", &json)?;
//! assert_eq!(
//!     filter.to_text(),
//!     "category = \"prospect\" and created_at < now - 3y and not exists consent(purpose = \"marketing\") \
//!      and none activity(happened_at > now - 2y) and count(deal(status = \"won\")) >= 2 \
//!      and duplicate(email, keep oldest)"
//! );
//! assert_eq!(filter.to_json(), json);
//! # Ok::<(), lethe_filter::FilterError>(())
//! ```
//!
//! # Limits
//!
//! No input can make parsing panic, recurse without bound or run without bound: the text
//! form is at most [`MAX_TEXT_BYTES`], a filter nests at most [`MAX_DEPTH`] levels and has
//! at most [`MAX_CONDITIONS`] conditions (of which at most [`MAX_CHILD_TESTS`] test related
//! records), an `in` list has at most [`MAX_LIST_LEN`] values,
//! the strings of a JSON filter total at most [`MAX_JSON_STRING_BYTES`], and numbers that do
//! not fit are errors. Printing can lengthen a filter a little (a date compared with a
//! timestamp prints as its midnight), so a text filter right at the length limit may print
//! beyond it.

mod ast;
mod check;
mod error;
mod json;
mod lexer;
mod parser;
mod print;
mod raw;
mod relative;

pub use ast::{
    ChildRef, CompareOp, DateValue, Expr, FieldRef, Filter, Keep, Literal, ParentHop, TextOp,
    TimeValue,
};
pub use error::{FilterError, Location, Problem};
pub use relative::{RelativeTime, TimeBase, TimeUnit};

use lethe_schema::{EntityName, Schema};

use crate::error::{Located, Pos};

/// The longest text filter accepted, in bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// How deeply a filter may nest: `and`, `or`, `not`, and the inner filter of `exists` and
/// `count` each add a level (in the text form, so do parentheses).
pub const MAX_DEPTH: usize = 64;
/// The most conditions (comparisons, tests, `exists`, `count`, `duplicate`, `all`) a filter
/// may have.
pub const MAX_CONDITIONS: usize = 1_000;
/// The most tests of related records (`exists`, `none`, `count`) one filter may make.
pub const MAX_CHILD_TESTS: usize = 32;
/// The most values an `in` list may have.
pub const MAX_LIST_LEN: usize = 10_000;
/// The most bytes the strings of a JSON filter may have in total.
pub const MAX_JSON_STRING_BYTES: usize = 1024 * 1024;

/// Parses and checks a filter in text form on the records of `entity`.
pub fn parse(schema: &Schema, entity: &str, text: &str) -> Result<Filter, FilterError> {
    parse_located(schema, entity, text).map_err(|error| error.into_error(text))
}

fn parse_located(schema: &Schema, entity: &str, text: &str) -> Result<Filter, Located> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(Located::new(
            Pos::Offset(0),
            Problem::InputTooLong {
                length: text.len(),
                max: MAX_TEXT_BYTES,
            },
        ));
    }
    let entity = check::entity(schema, entity, Pos::Offset(0))?;
    let raw = parser::parse_text(text)?;
    let root = check::check(schema, entity, raw, Pos::Offset(0))?;
    Ok(filter(schema, entity.name.clone(), root))
}

/// Reads and checks a filter in JSON form on the records of `entity`.
pub fn from_json(
    schema: &Schema,
    entity: &str,
    json: &serde_json::Value,
) -> Result<Filter, FilterError> {
    from_json_located(schema, entity, json).map_err(|error| error.into_error(""))
}

fn from_json_located(
    schema: &Schema,
    entity: &str,
    json: &serde_json::Value,
) -> Result<Filter, Located> {
    let root_pos = Pos::Path("$".to_owned());
    let entity = check::entity(schema, entity, root_pos.clone())?;
    let raw = json::read(json)?;
    let root = check::check(schema, entity, raw, root_pos)?;
    Ok(filter(schema, entity.name.clone(), root))
}

fn filter(schema: &Schema, entity: EntityName, root: Expr) -> Filter {
    // Pairs (child, parent) with more than one relation between them: their children must
    // be printed with the column (`deal.contact_id`) to parse back.
    let mut pairs: Vec<(EntityName, EntityName)> = schema
        .relations()
        .iter()
        .flat_map(|relation| {
            relation
                .parents
                .iter()
                .map(|parent| (relation.child.clone(), parent.clone()))
        })
        .collect();
    pairs.sort();
    let mut qualified_children: Vec<(EntityName, EntityName)> = pairs
        .windows(2)
        .filter(|pair| pair[0] == pair[1])
        .map(|pair| pair[0].clone())
        .collect();
    qualified_children.dedup();
    Filter {
        entity,
        root,
        qualified_children,
    }
}

/// The value a text field is compared by in [`Expr::Duplicate`]: leading and trailing
/// spaces, tabs, carriage returns and line feeds removed, ASCII letters lower-cased (other
/// characters are kept as they are, so SQLite's `lower` and PostgreSQL's `lower` under the
/// "C" collation give the same). `None` when nothing is left: empty text is never a duplicate.
pub fn duplicate_text_key(value: &str) -> Option<String> {
    let trimmed = value.trim_matches([' ', '\t', '\r', '\n']);
    (!trimmed.is_empty()).then(|| trimmed.to_ascii_lowercase())
}

#[cfg(test)]
mod tests;
