//! Why a filter was refused, and where: line and column (1-based, in characters) for the text
//! form, a JSON path such as `$.and[2].field` for the JSON form (SPEC §4: "errors name the
//! position and what was expected").

use std::fmt;

use lethe_schema::{ColumnName, EntityName};

/// A filter that could not be parsed or does not fit the schema.
///
/// Displays as `location: problem`, e.g.
/// ``1:10: unknown field `categroy` on contact; did you mean `category`?``.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {problem}")]
pub struct FilterError {
    location: Location,
    // Boxed so that `Result<_, FilterError>` stays small.
    problem: Box<Problem>,
}

impl FilterError {
    /// Where the problem is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// What the problem is.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    /// The 1-based line, for an error in the text form.
    pub fn line(&self) -> Option<usize> {
        match self.location {
            Location::Text { line, .. } => Some(line),
            Location::Json { .. } => None,
        }
    }

    /// The 1-based column (in characters), for an error in the text form.
    pub fn column(&self) -> Option<usize> {
        match self.location {
            Location::Text { column, .. } => Some(column),
            Location::Json { .. } => None,
        }
    }
}

/// Where in the input a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// In the text form: 1-based line and column; the column counts characters.
    Text { line: usize, column: usize },
    /// In the JSON form: a path from the root `$`, e.g. `$.and[2].field`.
    Json { path: String },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Text { line, column } => write!(f, "{line}:{column}"),
            // A path deep enough to be refused can run to many kilobytes: its two ends say
            // where it is.
            Location::Json { path } if path.chars().count() > 120 => {
                let head: String = path.chars().take(50).collect();
                let tail: Vec<char> = path.chars().rev().take(50).collect();
                let tail: String = tail.into_iter().rev().collect();
                write!(f, "{head}…{tail}")
            }
            Location::Json { path } => f.write_str(path),
        }
    }
}

/// What is wrong with a filter. Each message is written for the person who wrote the filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    #[error("the filter is {length} bytes long; at most {max} bytes are allowed")]
    InputTooLong { length: usize, max: usize },
    #[error("the filter nests more than {max} levels deep")]
    TooDeep { max: usize },
    #[error("the filter has more than {max} conditions")]
    TooManyConditions { max: usize },
    #[error(
        "the filter looks into related records {found} times (exists, none, count); at most {max} are allowed, because each one reads the related table for every record: combine them, for example `exists note(body contains \"a\" or body contains \"b\")` instead of one `exists` per word"
    )]
    TooManyChildTests { found: usize, max: usize },
    #[error("an `in` list may have at most {max} values")]
    ListTooLong { max: usize },
    #[error("an `in` list needs at least one value")]
    EmptyList,
    #[error(
        "`{text}` is finer than a microsecond; Lethe keeps times to the microsecond, so write at most six digits after the second"
    )]
    FinerThanMicrosecond { text: String },
    #[error("unknown entity `{name}`{}", hint(.suggestion))]
    UnknownEntity {
        name: String,
        suggestion: Option<String>,
    },
    #[error("unexpected character `{}`{hint}", shown_char(*.found))]
    UnexpectedCharacter { found: char, hint: &'static str },
    #[error("this string is not closed: expected `\"` before the end of the input")]
    UnterminatedString,
    #[error(
        "`{escape}` is not a valid escape in a string (use \\\", \\\\, \\n, \\t or \\u{{...}})"
    )]
    InvalidEscape { escape: String },
    /// A token or JSON value other than what the grammar allows at this point.
    #[error("expected {expected}, found {found}")]
    Unexpected { expected: String, found: String },
    #[error("`{word}` is not a value; text is written in double quotes, e.g. \"{word}\"")]
    BareWord { word: String },
    #[error(
        "`null` is not a value to compare with; test for a missing value with `is null` or `is not null`"
    )]
    NullLiteral,
    #[error("unknown time unit `{unit}`; use y, mo, w, d, h or min (e.g. now - 18mo)")]
    UnknownUnit { unit: String },
    #[error("unknown field `{field}` on {entity}{}", hint(.suggestion))]
    UnknownField {
        field: String,
        entity: EntityName,
        suggestion: Option<String>,
    },
    #[error(
        "`{field}` cannot be used in a filter: whether a record is in the trash is decided by the selection's scope"
    )]
    TrashField { field: String },
    #[error("`{name}` is not a parent of {entity}{}", parent_hint(.name, .entity, .suggestion, .is_child))]
    NotAParent {
        name: String,
        entity: EntityName,
        suggestion: Option<String>,
        /// Whether `name` is a child of `entity` instead.
        is_child: bool,
    },
    #[error(
        "`{parent}` is ambiguous from {entity}: {} all refer to {parent}, and a filter can follow a parent only through a single reference",
        list(.columns)
    )]
    AmbiguousParent {
        parent: EntityName,
        entity: EntityName,
        columns: Vec<ColumnName>,
    },
    #[error(
        "{entity} refers to {parent} only through the polymorphic owner `{column}`, which a filter cannot follow; test `{discriminator} = \"{parent}\"` and `{column}` instead"
    )]
    PolymorphicParent {
        parent: EntityName,
        entity: EntityName,
        column: ColumnName,
        discriminator: ColumnName,
    },
    #[error("`{name}` is not a child of {entity}{}", child_hint(.name, .entity, .suggestion, .is_parent))]
    NotAChild {
        name: String,
        entity: EntityName,
        suggestion: Option<String>,
        /// Whether `name` is a parent of `entity` instead.
        is_parent: bool,
    },
    #[error(
        "{child} refers to {parent} through several columns ({}); say which one, e.g. `{child}.{}`",
        list(.columns),
        .columns.first().map(ColumnName::as_str).unwrap_or_default()
    )]
    AmbiguousChild {
        child: EntityName,
        parent: EntityName,
        columns: Vec<ColumnName>,
    },
    #[error("`{child}.{column}` is not a link from {child} to {parent}; use {}", qualified(.child, .columns))]
    UnknownChildColumn {
        child: EntityName,
        column: String,
        parent: EntityName,
        columns: Vec<ColumnName>,
    },
    #[error(
        "`{operator}` does not apply to `{field}`, which is {} {type_name} field; it supports {supported}",
        article(.type_name)
    )]
    OperatorNotSupported {
        operator: String,
        field: String,
        type_name: &'static str,
        supported: &'static str,
    },
    /// `found` is rendered as written (`` `"abc"` ``) or described (`an array`).
    #[error(
        "`{field}` is {article} {type_name}; {found} is not {article} {type_name} (expected {expected})",
        article = article(.type_name)
    )]
    WrongValue {
        field: String,
        type_name: &'static str,
        found: String,
        expected: String,
    },
    #[error(
        "{found} is not a value of `{field}`, which is one of {}{}",
        quoted_list(.allowed),
        hint(.suggestion)
    )]
    NotAllowedValue {
        field: String,
        found: String,
        allowed: Vec<String>,
        suggestion: Option<String>,
    },
    #[error("{found} is out of range: {limit}")]
    OutOfRange { found: String, limit: &'static str },
    /// No stored text can hold a NUL (PostgreSQL refuses it), so a filter may not ask for one.
    #[error(
        "text in a filter may not contain the NUL character (\\u{{0}}); no stored text holds one"
    )]
    NulInText,
    #[error("`{field}` has {scale} decimal places; {found} has more")]
    TooPrecise {
        field: String,
        scale: u32,
        found: String,
    },
    #[error(
        "`{field}` is a date, so a relative time in `{unit}` does not apply; use d, w, mo or y"
    )]
    TimeOfDayUnitOnDate { field: String, unit: &'static str },
    #[error(
        "a count is compared with a whole number of at least 0 (e.g. count(deal) >= 2), not {found}"
    )]
    CountValue { found: String },
    #[error("`duplicate` works on a field of {entity} itself, not on `{field}`")]
    DuplicateOnPath { field: String, entity: EntityName },
    #[error(
        "`duplicate` works on text, integer, date and enum fields; `{field}` is {} {type_name} field",
        article(.type_name)
    )]
    DuplicateType {
        field: String,
        type_name: &'static str,
    },
    #[error("unknown key `{key}`{}; expected {expected}", hint(.suggestion))]
    UnknownKey {
        key: String,
        expected: String,
        suggestion: Option<String>,
    },
    #[error(
        "this object has both `{first}` and `{second}`; put each condition in its own object and combine them with `and` or `or`"
    )]
    ConflictingKeys { first: String, second: String },
    #[error("`{key}` is missing; {context}")]
    MissingKey { key: &'static str, context: String },
}

/// A character as shown in a message: itself, or an escape if it is invisible.
fn shown_char(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        c.escape_unicode().to_string()
    } else {
        c.to_string()
    }
}

fn hint(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(close) => format!("; did you mean `{close}`?"),
        None => String::new(),
    }
}

fn parent_hint(
    name: &str,
    entity: &EntityName,
    suggestion: &Option<String>,
    is_child: &bool,
) -> String {
    if *is_child {
        format!(
            " but one of its children; to test {entity}'s {name} records use `exists {name}(...)`"
        )
    } else {
        hint(suggestion)
    }
}

fn child_hint(
    name: &str,
    entity: &EntityName,
    suggestion: &Option<String>,
    is_parent: &bool,
) -> String {
    if *is_parent {
        format!(" but its parent; test the parent's fields with `{name}.field`")
    } else if suggestion.is_some() {
        hint(suggestion)
    } else {
        format!(" (no {name} record refers to {entity})")
    }
}

fn list(columns: &[ColumnName]) -> String {
    columns
        .iter()
        .map(|column| format!("`{column}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn qualified(child: &EntityName, columns: &[ColumnName]) -> String {
    columns
        .iter()
        .map(|column| format!("`{child}.{column}`"))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn quoted_list(values: &[String]) -> String {
    values
        .iter()
        .map(|value| format!("\"{value}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn article(noun: &str) -> &'static str {
    if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// Where a problem is, before it is turned into a [`Location`]: a byte offset into the text,
/// or a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pos {
    Offset(usize),
    Path(String),
}

impl Pos {
    /// A position inside a JSON object: `$.and[2]` + `field`.
    pub(crate) fn key(&self, key: &str) -> Pos {
        match self {
            Pos::Path(path) => Pos::Path(format!("{path}.{key}")),
            Pos::Offset(offset) => Pos::Offset(*offset),
        }
    }
}

/// A problem with its position, as the parsers and the checker report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located {
    pub(crate) pos: Pos,
    pub(crate) problem: Box<Problem>,
}

impl Located {
    pub(crate) fn new(pos: Pos, problem: Problem) -> Located {
        Located {
            pos,
            problem: Box::new(problem),
        }
    }

    /// The public error, with a byte offset turned into line and column of `text`.
    pub(crate) fn into_error(self, text: &str) -> FilterError {
        let location = match self.pos {
            Pos::Offset(offset) => {
                let (line, column) = line_and_column(text, offset);
                Location::Text { line, column }
            }
            Pos::Path(path) => Location::Json { path },
        };
        FilterError {
            location,
            problem: self.problem,
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for (index, character) in text.char_indices() {
        if index >= offset {
            break;
        }
        if character == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// A piece of input quoted in a message, shortened if long.
pub(crate) fn quote_input(text: &str) -> String {
    const MAX_CHARS: usize = 40;
    let mut shown: String = text.chars().take(MAX_CHARS).collect();
    if text.chars().nth(MAX_CHARS).is_some() {
        shown.push('…');
    }
    format!("`{shown}`")
}
