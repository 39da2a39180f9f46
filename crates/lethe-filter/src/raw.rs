//! The surface filter: what was written, in either form, before it is checked against the
//! schema. Both the text parser and the JSON reader produce it, and one checker turns it
//! into the typed [`crate::Expr`], so the two forms cannot drift apart.

use crate::ast::{CompareOp, Keep, TextOp};
use crate::error::Pos;
use crate::relative::RelativeTime;

/// A name as written, with where it was written.
#[derive(Debug, Clone)]
pub(crate) struct Name {
    pub(crate) text: String,
    pub(crate) pos: Pos,
}

#[derive(Debug, Clone)]
pub(crate) enum RawExpr {
    All,
    And(Vec<RawExpr>),
    Or(Vec<RawExpr>),
    Not(Box<RawExpr>),
    Predicate {
        field: RawField,
        op: RawOp,
        op_pos: Pos,
        /// `None` for `is null` and `is not null`.
        value: Option<RawValue>,
    },
    Exists {
        child: RawChild,
        filter: Option<Box<RawExpr>>,
        negated: bool,
    },
    Count {
        child: RawChild,
        filter: Option<Box<RawExpr>>,
        op: CompareOp,
        value: RawValue,
    },
    Duplicate {
        field: RawField,
        keep: Option<Keep>,
    },
}

/// A dotted path: parents, then the column.
#[derive(Debug, Clone)]
pub(crate) struct RawField {
    pub(crate) segments: Vec<Name>,
}

impl RawField {
    pub(crate) fn path(&self) -> String {
        self.segments
            .iter()
            .map(|segment| segment.text.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// `deal` or `deal.contact_id`.
#[derive(Debug, Clone)]
pub(crate) struct RawChild {
    pub(crate) entity: Name,
    pub(crate) column: Option<Name>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawOp {
    Compare(CompareOp),
    In,
    NotIn,
    Text(TextOp),
    IsNull,
    IsNotNull,
}

impl RawOp {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RawOp::Compare(op) => op.as_str(),
            RawOp::In => "in",
            RawOp::NotIn => "not in",
            RawOp::Text(op) => op.as_str(),
            RawOp::IsNull => "is null",
            RawOp::IsNotNull => "is not null",
        }
    }

    pub(crate) const ALL: [RawOp; 12] = [
        RawOp::Compare(CompareOp::Eq),
        RawOp::Compare(CompareOp::Ne),
        RawOp::Compare(CompareOp::Lt),
        RawOp::Compare(CompareOp::Le),
        RawOp::Compare(CompareOp::Gt),
        RawOp::Compare(CompareOp::Ge),
        RawOp::In,
        RawOp::NotIn,
        RawOp::Text(TextOp::Contains),
        RawOp::Text(TextOp::StartsWith),
        RawOp::IsNull,
        RawOp::IsNotNull,
    ];
}

#[derive(Debug, Clone)]
pub(crate) struct RawValue {
    pub(crate) kind: RawValueKind,
    pub(crate) pos: Pos,
}

#[derive(Debug, Clone)]
pub(crate) enum RawValueKind {
    /// A quoted string (text form) or a JSON string.
    String(String),
    /// A number as written: `-12`, `1234.50` (JSON: the number's decimal representation).
    Number(String),
    Boolean(bool),
    /// An unquoted date or timestamp token (text form only).
    DateTime(String),
    Relative(RelativeTime),
    List(Vec<RawValue>),
    /// A JSON value of a kind no filter value has (an object, `null`), described for errors.
    Other(String),
}

impl RawValue {
    /// The value for an error message: as written (`` `"abc"` ``) or described.
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            RawValueKind::String(text) => crate::error::quote_input(&crate::print::quote(text)),
            RawValueKind::Number(text) | RawValueKind::DateTime(text) => {
                crate::error::quote_input(text)
            }
            RawValueKind::Boolean(value) => format!("`{value}`"),
            RawValueKind::Relative(relative) => format!("`{relative}`"),
            RawValueKind::List(_) => "a list".to_owned(),
            RawValueKind::Other(description) => description.clone(),
        }
    }
}
