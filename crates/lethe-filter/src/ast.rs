//! The typed filter: what a filter means once it has been parsed and checked against a
//! schema (SPEC §4). Every name in it exists, every path is unambiguous and every literal has
//! the type of the field it is compared with, so code that compiles or evaluates a filter
//! never re-checks anything.
//!
//! # Truth and NULL
//!
//! A filter is evaluated per record with SQL's three-valued logic — every expression is TRUE,
//! FALSE or UNKNOWN — and a record is selected only when the whole filter is TRUE. UNKNOWN
//! arises only from a NULL field in [`Expr::Compare`], [`Expr::InList`] and [`Expr::Text`];
//! [`Expr::Not`] keeps it UNKNOWN, [`Expr::And`] and [`Expr::Or`] combine it as SQL does
//! (FALSE AND UNKNOWN = FALSE, TRUE OR UNKNOWN = TRUE, otherwise UNKNOWN). So
//! `category != "lost"` and `not (category = "lost")` both exclude records whose category is
//! NULL, exactly as the same SQL would. Use [`Expr::IsNull`] to test for NULL.
//!
//! A field reached through parents ([`FieldRef::hops`]) is NULL when a reference on the way
//! is NULL or the parent record is not visible (a LEFT JOIN).
//!
//! # Scope
//!
//! A filter does not say which lifecycle state (active or trashed) records must be in: the
//! caller's scope decides, for the filtered entity and equally for the parents, children and
//! duplicate groups the filter reaches.

use std::cmp::Ordering;

use lethe_schema::{ColumnName, EntityName, ValueType};
use time::{Date, OffsetDateTime};

use crate::relative::RelativeTime;

/// A filter over the records of one entity, checked against a schema.
///
/// Built only by [`crate::parse`] and [`crate::from_json`]. Two filters are equal when they
/// select records of the same entity with the same expression, whichever form they were
/// written in.
#[derive(Debug, Clone)]
pub struct Filter {
    pub(crate) entity: EntityName,
    pub(crate) root: Expr,
    /// `(child, parent)` pairs where the child has more than one relation to the parent, so
    /// the printer must name the child's column (`deal.contact_id`). Derived from the schema;
    /// it only affects printing, never meaning.
    pub(crate) qualified_children: Vec<(EntityName, EntityName)>,
}

impl PartialEq for Filter {
    fn eq(&self, other: &Self) -> bool {
        self.entity == other.entity && self.root == other.root
    }
}

impl Eq for Filter {}

impl Filter {
    /// The entity whose records the filter selects.
    pub fn entity(&self) -> &EntityName {
        &self.entity
    }

    /// The filter's expression.
    pub fn root(&self) -> &Expr {
        &self.root
    }

    /// Whether the filter selects every record (an empty filter or `all`).
    pub fn is_all(&self) -> bool {
        self.root == Expr::All
    }

    pub(crate) fn child_needs_column(&self, child: &ChildRef) -> bool {
        self.qualified_children
            .iter()
            .any(|(c, p)| c == &child.child && p == &child.parent)
    }
}

/// A boolean expression over one record (the "current record") of the entity being filtered.
///
/// Inside [`Expr::Exists`] and [`Expr::Count`] the current record is the child.
///
/// Expressions produced by the parsers are normalised: an `And` or `Or` has at least two
/// items, an `And` contains no `And` and no `All`, an `Or` contains no `Or` and no `All`
/// (`x or all` is `All`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// TRUE for every record: the empty filter, or `all`.
    All,
    /// TRUE when every item is TRUE; FALSE when any is FALSE; otherwise UNKNOWN.
    And(Vec<Expr>),
    /// TRUE when any item is TRUE; FALSE when every item is FALSE; otherwise UNKNOWN.
    Or(Vec<Expr>),
    /// TRUE when the inner expression is FALSE, FALSE when it is TRUE, UNKNOWN when UNKNOWN
    /// (so `not (category = "x")` does not select records whose category is NULL).
    Not(Box<Expr>),
    /// `field op value`. UNKNOWN when the field is NULL. `value` always has the field's type
    /// (see [`Literal`]). Ordering operators appear only on integer, decimal, date and
    /// timestamp fields (and the built-in `id`, `created_by`, `created_at`, `updated_at`).
    Compare {
        field: FieldRef,
        op: CompareOp,
        value: Literal,
    },
    /// `field in [values]`: TRUE when the field equals one of `values` (which is never empty
    /// and holds no NULL), FALSE when it equals none, UNKNOWN when the field is NULL. With
    /// `negated` (`not in`): TRUE when it equals none, FALSE when it equals one, UNKNOWN when
    /// the field is NULL.
    InList {
        field: FieldRef,
        values: Vec<Literal>,
        negated: bool,
    },
    /// A text test on a text field: [`TextOp::Contains`] is TRUE when `value` occurs in the
    /// field, [`TextOp::StartsWith`] when the field begins with it. Both compare characters
    /// exactly (case-sensitive, no wildcards: `%` and `_` are ordinary characters). An empty
    /// `value` is TRUE for every non-NULL field. UNKNOWN when the field is NULL.
    Text {
        field: FieldRef,
        op: TextOp,
        value: String,
    },
    /// `field is null` (TRUE when NULL, else FALSE) or, `negated`, `field is not null`. Never
    /// UNKNOWN.
    IsNull { field: FieldRef, negated: bool },
    /// `exists child(filter)`: TRUE when at least one child record of the current record
    /// (see [`ChildRef`]) makes `filter` TRUE, else FALSE. With `negated` (`none
    /// child(filter)`): TRUE when no such child exists. Never UNKNOWN. `filter` is
    /// [`Expr::All`] when no inner filter was given.
    Exists {
        child: ChildRef,
        filter: Box<Expr>,
        negated: bool,
    },
    /// `count(child(filter)) op value`: the number of child records of the current record
    /// that make `filter` TRUE, compared with `value` (which is never negative). Never
    /// UNKNOWN.
    Count {
        child: ChildRef,
        filter: Box<Expr>,
        op: CompareOp,
        value: i64,
    },
    /// `duplicate(column)`: TRUE when the current record's duplicate key for `column` (see
    /// [`crate::duplicate_text_key`]: text is trimmed and lower-cased; integer, date and enum
    /// values are used as they are) equals that of at least one other record of the same
    /// entity, else FALSE. A NULL value, or text that is empty once normalised, is never a
    /// duplicate. The other records are all records of the entity in the caller's scope,
    /// whatever the rest of the filter says (inside `exists`, not only the siblings).
    ///
    /// With `keep`, the one keeper of each group of duplicates is excluded, so the filter
    /// selects exactly the records to remove: [`Keep::Oldest`] keeps the record with the
    /// smallest `created_at` (ties: smallest `id`), [`Keep::Newest`] the one with the
    /// largest `created_at` (ties: largest `id`).
    ///
    /// `column` is a column of the filtered entity itself (never a path) whose type is text,
    /// integer, date or enum; `value_type` is its type.
    Duplicate {
        column: ColumnName,
        value_type: ValueType,
        keep: Option<Keep>,
    },
}

impl Expr {
    /// How deeply the expression nests: 0 for a single condition, one more for each
    /// enclosing `and`, `or`, `not`, `exists` or `count`.
    pub fn depth(&self) -> usize {
        match self {
            Expr::And(items) | Expr::Or(items) => {
                1 + items.iter().map(Expr::depth).max().unwrap_or(0)
            }
            Expr::Not(inner) => 1 + inner.depth(),
            Expr::Exists { filter, .. } | Expr::Count { filter, .. } => 1 + filter.depth(),
            _ => 0,
        }
    }

    /// How many tests of related records (`exists`, `none`, `count`) the expression makes,
    /// nested ones included.
    pub fn child_test_count(&self) -> usize {
        match self {
            Expr::And(items) | Expr::Or(items) => items.iter().map(Expr::child_test_count).sum(),
            Expr::Not(inner) => inner.child_test_count(),
            Expr::Exists { filter, .. } | Expr::Count { filter, .. } => {
                1 + filter.child_test_count()
            }
            _ => 0,
        }
    }

    /// How many conditions (leaves, including the `exists`, `count` and `duplicate` tests
    /// themselves) the expression has. An implicit `all` inside `exists child` is not one.
    pub fn condition_count(&self) -> usize {
        match self {
            Expr::And(items) | Expr::Or(items) => items.iter().map(Expr::condition_count).sum(),
            Expr::Not(inner) => inner.condition_count(),
            Expr::Exists { filter, .. } | Expr::Count { filter, .. } => {
                1 + match filter.as_ref() {
                    Expr::All => 0,
                    other => other.condition_count(),
                }
            }
            _ => 1,
        }
    }
}

/// A field of the current record, or of a parent reached through references
/// (`company.category` from a contact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef {
    /// The references followed from the current record, in order; empty for its own field.
    /// Each hop's `from_entity` is the previous hop's `to_entity`.
    pub hops: Vec<ParentHop>,
    /// The column on the last entity of the path. Either a column of that entity or one of
    /// the built-in columns `id`, `created_by` (both integer), `created_at` or `updated_at`
    /// (both timestamp); never a trash column.
    pub column: ColumnName,
    /// The column's type. `id` and `created_by` are [`ValueType::Integer`], `created_at` and
    /// `updated_at` [`ValueType::Timestamp`].
    pub value_type: ValueType,
}

impl FieldRef {
    /// The entity the column belongs to: the last hop's parent, or `None` for the current
    /// record's own column.
    pub fn owner_entity(&self) -> Option<&EntityName> {
        self.hops.last().map(|hop| &hop.to_entity)
    }

    /// The path as written in the text form: `company.category`.
    pub fn path(&self) -> String {
        let mut path = String::new();
        for hop in &self.hops {
            path.push_str(hop.to_entity.as_str());
            path.push('.');
        }
        path.push_str(self.column.as_str());
        path
    }
}

/// One step from a record to its parent through a plain (non-polymorphic) reference column:
/// the parent is the `to_entity` record whose `id` equals the `via_column` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentHop {
    pub from_entity: EntityName,
    /// The reference column of `from_entity` that holds the parent's id.
    pub via_column: ColumnName,
    pub to_entity: EntityName,
}

/// The children of the current record through one relation: the `child` records whose
/// `via_column` equals the current record's `id` and, for a polymorphic owner relation, whose
/// `discriminator` column equals the name of `parent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildRef {
    pub child: EntityName,
    /// The child's column that holds the parent's id (`contact_id`, `owner_id`).
    pub via_column: ColumnName,
    /// For a polymorphic owner relation, the child's column naming the parent entity
    /// (`owner_entity`), which must equal `parent`. `None` for a plain reference.
    pub discriminator: Option<ColumnName>,
    /// The entity of the current record (the parent of the children).
    pub parent: EntityName,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CompareOp {
    /// Every operator, in the order the text form lists them.
    pub const ALL: [CompareOp; 6] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Lt,
        CompareOp::Le,
        CompareOp::Gt,
        CompareOp::Ge,
    ];

    /// The operator as written in both forms (`>=`).
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    /// Whether `left op right` holds, given how `left` compares to `right`.
    pub fn holds(self, left_to_right: Ordering) -> bool {
        match self {
            CompareOp::Eq => left_to_right == Ordering::Equal,
            CompareOp::Ne => left_to_right != Ordering::Equal,
            CompareOp::Lt => left_to_right == Ordering::Less,
            CompareOp::Le => left_to_right != Ordering::Greater,
            CompareOp::Gt => left_to_right == Ordering::Greater,
            CompareOp::Ge => left_to_right != Ordering::Less,
        }
    }

    pub(crate) fn from_symbol(symbol: &str) -> Option<CompareOp> {
        CompareOp::ALL.into_iter().find(|op| op.as_str() == symbol)
    }

    /// Whether this is `=` or `!=` (allowed on every comparable type), rather than an
    /// ordering.
    pub fn is_equality(self) -> bool {
        matches!(self, CompareOp::Eq | CompareOp::Ne)
    }
}

/// A text operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextOp {
    /// `contains`
    Contains,
    /// `starts_with`
    StartsWith,
}

impl TextOp {
    pub fn as_str(self) -> &'static str {
        match self {
            TextOp::Contains => "contains",
            TextOp::StartsWith => "starts_with",
        }
    }
}

/// Which record of a group of duplicates is kept (not selected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keep {
    /// Keep the smallest `created_at`, ties broken by the smallest `id`.
    Oldest,
    /// Keep the largest `created_at`, ties broken by the largest `id`.
    Newest,
}

impl Keep {
    pub fn as_str(self) -> &'static str {
        match self {
            Keep::Oldest => "oldest",
            Keep::Newest => "newest",
        }
    }
}

/// A value compared with a field. The checker converts what was written to the field's type,
/// so each field type gets exactly one kind of literal:
///
/// | field type                 | literal                                                    |
/// |----------------------------|------------------------------------------------------------|
/// | text                       | [`Literal::Text`]                                          |
/// | enum                       | [`Literal::Text`], one of the enum's values                |
/// | owner entity (`owner_entity`) | [`Literal::Text`], one of the entities it may name      |
/// | integer, reference, `id`, `created_by` | [`Literal::Integer`]                           |
/// | decimal                    | [`Literal::Decimal`] at the field's scale (`12` → `12.00`) |
/// | boolean                    | [`Literal::Boolean`]                                       |
/// | date                       | [`Literal::Date`]                                          |
/// | timestamp                  | [`Literal::Timestamp`] (a date is midnight UTC)            |
///
/// JSON fields can only be tested with `is null`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Text(String),
    Integer(i64),
    /// A decimal number in canonical form: an optional `-` (never on zero), the integer part
    /// without leading zeros (at least `0`), and, when the field's scale is above 0, a `.`
    /// followed by exactly `scale` digits: `1234.50`, `-0.05`, `12` (scale 0). At most 28
    /// digits in all, so it fits `rust_decimal::Decimal`.
    Decimal(String),
    Boolean(bool),
    Date(DateValue),
    Timestamp(TimeValue),
}

/// A date: a calendar date, or one relative to the time of evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateValue {
    Absolute(Date),
    /// Resolved with [`DateValue::resolve`]: the UTC calendar date of the resolved instant.
    /// Its unit is never hours or minutes.
    Relative(RelativeTime),
}

impl DateValue {
    /// The date this value stands for when the filter is evaluated at `now`.
    pub fn resolve(&self, now: OffsetDateTime) -> Date {
        match self {
            DateValue::Absolute(date) => *date,
            DateValue::Relative(relative) => relative.resolve(now).date(),
        }
    }
}

/// An instant: absolute (always in UTC), or relative to the time of evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeValue {
    /// Always at offset UTC, year 0 to 9999.
    Absolute(OffsetDateTime),
    Relative(RelativeTime),
}

impl TimeValue {
    /// The instant this value stands for when the filter is evaluated at `now`.
    pub fn resolve(&self, now: OffsetDateTime) -> OffsetDateTime {
        match self {
            TimeValue::Absolute(instant) => *instant,
            TimeValue::Relative(relative) => relative.resolve(now),
        }
    }
}
