//! The reference: a filter evaluated record by record over the generated rows, written from
//! the documented meaning of `lethe_filter::Expr` and of the store's scopes, with no SQL in
//! sight.
//!
//! - Three-valued logic: every expression is `Some(true)`, `Some(false)` or `None`
//!   (UNKNOWN); a record is selected when the whole filter is `Some(true)`.
//! - UNKNOWN comes only from a NULL field in a comparison, a list or a text test.
//! - A parent field is NULL when a link on the way is NULL or the parent is out of the
//!   related scope.
//! - Scope: the selected records are active (`Active`), in the trash (`Trashed`) or either
//!   (`All`); the records they are related to — parents, children, duplicate groups — are
//!   active in `Active` and in any state otherwise.

use std::cmp::Ordering;

use lethe_filter::{ChildRef, Expr, FieldRef, Filter, Keep, Literal, TextOp};
use lethe_schema::ValueType;
use lethe_store::Scope;
use rust_decimal::Decimal;
use time::OffsetDateTime;

use crate::model::{Cell, Dataset, Ent, Row};

/// Whether a record in the given trash state belongs to `scope`.
pub fn in_scope(row: &Row, scope: Scope) -> bool {
    match scope {
        Scope::Active => row.trash_batch_id.is_none(),
        Scope::Trashed => row.trash_batch_id.is_some(),
        Scope::All => true,
    }
}

/// The scope of related records (parents, children, duplicate groups) for a selection in
/// `scope`.
pub fn related_scope(scope: Scope) -> Scope {
    match scope {
        Scope::Active => Scope::Active,
        Scope::Trashed | Scope::All => Scope::All,
    }
}

pub struct Evaluator<'d> {
    pub data: &'d Dataset,
    pub scope: Scope,
    pub now: OffsetDateTime,
    /// Reproduce the known bug instead of the documented meaning: `duplicate(column)`
    /// without `keep` is UNKNOWN (not FALSE) when the record's key is NULL or empty text
    /// and some key is duplicated, because the SQL is `key IN (SELECT key … HAVING
    /// COUNT(*) > 1)`. Only for telling that bug apart from new ones.
    pub known_bug_duplicate_of_null_is_unknown: bool,
}

impl Evaluator<'_> {
    /// The ids of the records of the filter's entity that the filter selects, ascending.
    pub fn selected(&self, filter: &Filter) -> Vec<i64> {
        let ent = Ent::from_name(filter.entity().as_str());
        self.data
            .rows(ent)
            .iter()
            .filter(|row| in_scope(row, self.scope))
            .filter(|row| self.eval(filter.root(), ent, row) == Some(true))
            .map(|row| row.id)
            .collect()
    }

    fn related(&self) -> Scope {
        related_scope(self.scope)
    }

    fn eval(&self, expr: &Expr, ent: Ent, row: &Row) -> Option<bool> {
        match expr {
            Expr::All => Some(true),
            Expr::And(items) => {
                // FALSE wins, then UNKNOWN.
                let mut result = Some(true);
                for item in items {
                    match self.eval(item, ent, row) {
                        Some(false) => return Some(false),
                        None => result = None,
                        Some(true) => {}
                    }
                }
                result
            }
            Expr::Or(items) => {
                // TRUE wins, then UNKNOWN.
                let mut result = Some(false);
                for item in items {
                    match self.eval(item, ent, row) {
                        Some(true) => return Some(true),
                        None => result = None,
                        Some(false) => {}
                    }
                }
                result
            }
            Expr::Not(inner) => self.eval(inner, ent, row).map(|value| !value),
            Expr::Compare { field, op, value } => {
                let cell = self.field(field, ent, row);
                self.compare(&cell, value).map(|order| op.holds(order))
            }
            Expr::InList {
                field,
                values,
                negated,
            } => {
                let cell = self.field(field, ent, row);
                if cell == Cell::Null {
                    return None;
                }
                let found = values
                    .iter()
                    .any(|value| self.compare(&cell, value) == Some(Ordering::Equal));
                Some(found != *negated)
            }
            Expr::Text { field, op, value } => match self.field(field, ent, row) {
                Cell::Null => None,
                Cell::Text(text) => Some(match op {
                    TextOp::Contains => text.contains(value.as_str()),
                    TextOp::StartsWith => text.starts_with(value.as_str()),
                }),
                other => panic!("a text test on {other:?} ({})", field.path()),
            },
            Expr::IsNull { field, negated } => {
                Some((self.field(field, ent, row) == Cell::Null) != *negated)
            }
            Expr::Exists {
                child,
                filter,
                negated,
            } => {
                let child_ent = Ent::from_name(child.child.as_str());
                let any = self
                    .children(child, row)
                    .any(|record| self.eval(filter, child_ent, record) == Some(true));
                Some(any != *negated)
            }
            Expr::Count {
                child,
                filter,
                op,
                value,
            } => {
                let child_ent = Ent::from_name(child.child.as_str());
                let count = self
                    .children(child, row)
                    .filter(|record| self.eval(filter, child_ent, record) == Some(true))
                    .count();
                let count = i64::try_from(count).expect("few rows");
                Some(op.holds(count.cmp(value)))
            }
            Expr::Duplicate {
                column,
                value_type,
                keep,
            } => {
                if self.known_bug_duplicate_of_null_is_unknown
                    && keep.is_none()
                    && Self::duplicate_key(ent, row, column.as_str(), value_type).is_none()
                    && self.some_key_is_duplicated(ent, column.as_str(), value_type)
                {
                    return None;
                }
                Some(self.is_duplicate(ent, row, column.as_str(), value_type, *keep))
            }
        }
    }

    /// A column of `row` itself, built-ins included.
    fn cell(ent: Ent, row: &Row, column: &str) -> Cell {
        match column {
            "id" => Cell::Int(row.id),
            "created_at" => Cell::Ts(row.created_at),
            "updated_at" => Cell::Ts(row.updated_at),
            "created_by" => row.created_by.map_or(Cell::Null, Cell::Int),
            name => {
                let index = ent
                    .column_index(name)
                    .unwrap_or_else(|| panic!("{} has no column `{name}`", ent.name()));
                row.cells[index].clone()
            }
        }
    }

    /// The value of a field of `row` or of a parent: NULL when a link on the way is NULL or
    /// points at a record outside the related scope.
    fn field(&self, field: &FieldRef, ent: Ent, row: &Row) -> Cell {
        let mut current_ent = ent;
        let mut current = row;
        for hop in &field.hops {
            let Cell::Int(parent_id) = Self::cell(current_ent, current, hop.via_column.as_str())
            else {
                return Cell::Null;
            };
            let parent_ent = Ent::from_name(hop.to_entity.as_str());
            let Some(parent) = self
                .data
                .row(parent_ent, parent_id)
                .filter(|parent| in_scope(parent, self.related()))
            else {
                return Cell::Null;
            };
            current_ent = parent_ent;
            current = parent;
        }
        Self::cell(current_ent, current, field.column.as_str())
    }

    /// How a non-NULL cell compares with a literal of its type; `None` for NULL.
    fn compare(&self, cell: &Cell, literal: &Literal) -> Option<Ordering> {
        Some(match (cell, literal) {
            (Cell::Null, _) => return None,
            (Cell::Text(left), Literal::Text(right)) => left.as_str().cmp(right.as_str()),
            (Cell::Int(left), Literal::Integer(right)) => left.cmp(right),
            (Cell::Dec(left), Literal::Decimal(right)) => {
                let right: Decimal = right.parse().expect("a canonical decimal");
                left.cmp(&right)
            }
            (Cell::Bool(left), Literal::Boolean(right)) => left.cmp(right),
            (Cell::Date(left), Literal::Date(right)) => left.cmp(&right.resolve(self.now)),
            (Cell::Ts(left), Literal::Timestamp(right)) => left.cmp(&right.resolve(self.now)),
            (cell, literal) => panic!("{cell:?} compared with {literal:?}"),
        })
    }

    /// The child records of `parent` through `child`, in the related scope.
    fn children<'a>(
        &'a self,
        child: &'a ChildRef,
        parent: &'a Row,
    ) -> impl Iterator<Item = &'a Row> + 'a {
        let child_ent = Ent::from_name(child.child.as_str());
        self.data.rows(child_ent).iter().filter(move |record| {
            in_scope(record, self.related())
                && Self::cell(child_ent, record, child.via_column.as_str()) == Cell::Int(parent.id)
                && child.discriminator.as_ref().is_none_or(|discriminator| {
                    Self::cell(child_ent, record, discriminator.as_str())
                        == Cell::Text(child.parent.as_str().to_owned())
                })
        })
    }

    /// The duplicate key of a column (`lethe_filter::duplicate_text_key` for text).
    fn duplicate_key(ent: Ent, row: &Row, column: &str, value_type: &ValueType) -> Option<String> {
        match (Self::cell(ent, row, column), value_type) {
            (Cell::Null, _) => None,
            (Cell::Text(text), ValueType::Text) => lethe_filter::duplicate_text_key(&text),
            (Cell::Text(text), ValueType::Enum { .. }) => Some(text),
            (Cell::Int(number), ValueType::Integer) => Some(number.to_string()),
            (Cell::Date(date), ValueType::Date) => Some(date.to_string()),
            (cell, value_type) => panic!("duplicate key of {cell:?} as {value_type:?}"),
        }
    }

    /// Whether two records of the entity in the related scope share a key.
    fn some_key_is_duplicated(&self, ent: Ent, column: &str, value_type: &ValueType) -> bool {
        let mut keys: Vec<String> = self
            .data
            .rows(ent)
            .iter()
            .filter(|row| in_scope(row, self.related()))
            .filter_map(|row| Self::duplicate_key(ent, row, column, value_type))
            .collect();
        let total = keys.len();
        keys.sort();
        keys.dedup();
        keys.len() < total
    }

    /// Whether another record of the entity in the related scope has the same key; with
    /// `keep`, whether the record is such a duplicate and not its group's keeper.
    fn is_duplicate(
        &self,
        ent: Ent,
        row: &Row,
        column: &str,
        value_type: &ValueType,
        keep: Option<Keep>,
    ) -> bool {
        let Some(key) = Self::duplicate_key(ent, row, column, value_type) else {
            return false;
        };
        let group: Vec<&Row> = self
            .data
            .rows(ent)
            .iter()
            .filter(|other| in_scope(other, self.related()))
            .filter(|other| {
                Self::duplicate_key(ent, other, column, value_type).as_ref() == Some(&key)
            })
            .collect();
        let has_other = group.iter().any(|other| other.id != row.id);
        match keep {
            None => has_other,
            Some(keep) => {
                let in_group = group.iter().any(|other| other.id == row.id);
                let by_age = |record: &&&Row| (record.created_at, record.id);
                let keeper = match keep {
                    Keep::Oldest => group.iter().min_by_key(by_age),
                    Keep::Newest => group.iter().max_by_key(by_age),
                };
                has_other && in_group && keeper.is_some_and(|keeper| keeper.id != row.id)
            }
        }
    }
}
