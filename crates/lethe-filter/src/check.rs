//! Checks a surface filter against the schema and turns it into the typed filter: resolves
//! fields, parents and children, checks that each operator applies to its field's type, and
//! converts each value to the field's type (see [`crate::Literal`]).

use lethe_domain::value::{DecimalError, parse_date, parse_decimal, parse_timestamp};
use lethe_schema::{
    Column, ColumnName, Entity, EntityName, Relation, Schema, ValueType, builtin, suggest,
};

use crate::MAX_DEPTH;
use crate::ast::{ChildRef, DateValue, Expr, FieldRef, Literal, ParentHop, TimeValue};
use crate::error::{Located, Pos, Problem, quote_input};
use crate::raw::{Name, RawChild, RawExpr, RawField, RawOp, RawValue, RawValueKind};

/// The built-in columns a filter may use, with their types.
const FILTERABLE_BUILTINS: [&str; 4] = [
    builtin::ID,
    builtin::CREATED_AT,
    builtin::CREATED_BY,
    builtin::UPDATED_AT,
];

/// The entity named by the caller.
pub(crate) fn entity<'s>(schema: &'s Schema, name: &str, pos: Pos) -> Result<&'s Entity, Located> {
    schema.entity(name).ok_or_else(|| {
        Located::new(
            pos,
            Problem::UnknownEntity {
                name: name.to_owned(),
                suggestion: suggest(name, schema.entity_names()),
            },
        )
    })
}

/// Checks `raw` as a filter on `entity`.
pub(crate) fn check(
    schema: &Schema,
    entity: &Entity,
    raw: RawExpr,
    start: Pos,
) -> Result<Expr, Located> {
    let root = Checker { schema }.expr(entity, raw)?;
    // The parsers limit how deeply the input nests; this limits the typed filter, measured
    // the same way for both forms, so that printing it in either form gives input the
    // parsers accept again.
    if root.depth() > MAX_DEPTH {
        return Err(Located::new(start, Problem::TooDeep { max: MAX_DEPTH }));
    }
    // The cost of a filter grows with the related-record tests it makes, each a correlated
    // subquery over a child table; size limits alone let 450 of them through, which kept a
    // core busy for minutes on 5,000 contacts.
    let child_tests = root.child_test_count();
    if child_tests > crate::MAX_CHILD_TESTS {
        return Err(Located::new(
            start,
            Problem::TooManyChildTests {
                found: child_tests,
                max: crate::MAX_CHILD_TESTS,
            },
        ));
    }
    Ok(root)
}

struct Checker<'s> {
    schema: &'s Schema,
}

impl<'s> Checker<'s> {
    fn expr(&self, entity: &'s Entity, raw: RawExpr) -> Result<Expr, Located> {
        match raw {
            RawExpr::All => Ok(Expr::All),
            RawExpr::And(items) => {
                let mut flat = Vec::with_capacity(items.len());
                for item in items {
                    match self.expr(entity, item)? {
                        Expr::All => {}
                        Expr::And(inner) => flat.extend(inner),
                        other => flat.push(other),
                    }
                }
                Ok(match flat.len() {
                    0 => Expr::All,
                    1 => flat.remove(0),
                    _ => Expr::And(flat),
                })
            }
            RawExpr::Or(items) => {
                let mut flat = Vec::with_capacity(items.len());
                let mut any_all = false;
                for item in items {
                    match self.expr(entity, item)? {
                        Expr::All => any_all = true,
                        Expr::Or(inner) => flat.extend(inner),
                        other => flat.push(other),
                    }
                }
                Ok(if any_all {
                    Expr::All
                } else if flat.len() == 1 {
                    flat.remove(0)
                } else {
                    Expr::Or(flat)
                })
            }
            RawExpr::Not(inner) => Ok(Expr::Not(Box::new(self.expr(entity, *inner)?))),
            RawExpr::Predicate {
                field,
                op,
                op_pos,
                value,
            } => self.predicate(entity, &field, op, op_pos, value),
            RawExpr::Exists {
                child,
                filter,
                negated,
            } => {
                let (child, child_entity) = self.child(entity, &child)?;
                let filter = self.inner(child_entity, filter)?;
                Ok(Expr::Exists {
                    child,
                    filter,
                    negated,
                })
            }
            RawExpr::Count {
                child,
                filter,
                op,
                value,
            } => {
                let (child, child_entity) = self.child(entity, &child)?;
                let filter = self.inner(child_entity, filter)?;
                let count = match &value.kind {
                    RawValueKind::Number(number) => number.parse::<i64>().ok().filter(|n| *n >= 0),
                    _ => None,
                };
                let Some(value) = count else {
                    return Err(Located::new(
                        value.pos.clone(),
                        Problem::CountValue {
                            found: value.describe(),
                        },
                    ));
                };
                Ok(Expr::Count {
                    child,
                    filter,
                    op,
                    value,
                })
            }
            RawExpr::Duplicate { field, keep } => {
                let [segment] = field.segments.as_slice() else {
                    let pos = field
                        .segments
                        .first()
                        .map_or(Pos::Offset(0), |s| s.pos.clone());
                    return Err(Located::new(
                        pos,
                        Problem::DuplicateOnPath {
                            field: field.path(),
                            entity: entity.name.clone(),
                        },
                    ));
                };
                let Some(column) = entity.column(&segment.text) else {
                    return Err(self.unknown_column(entity, segment));
                };
                if !matches!(
                    column.value_type,
                    ValueType::Text | ValueType::Integer | ValueType::Date | ValueType::Enum { .. }
                ) {
                    return Err(Located::new(
                        segment.pos.clone(),
                        Problem::DuplicateType {
                            field: segment.text.clone(),
                            type_name: column.value_type.type_name(),
                        },
                    ));
                }
                Ok(Expr::Duplicate {
                    column: column.name.clone(),
                    value_type: column.value_type.clone(),
                    keep,
                })
            }
        }
    }

    fn inner(
        &self,
        entity: &'s Entity,
        filter: Option<Box<RawExpr>>,
    ) -> Result<Box<Expr>, Located> {
        Ok(Box::new(match filter {
            Some(filter) => self.expr(entity, *filter)?,
            None => Expr::All,
        }))
    }

    fn predicate(
        &self,
        entity: &'s Entity,
        raw_field: &RawField,
        op: RawOp,
        op_pos: Pos,
        value: Option<RawValue>,
    ) -> Result<Expr, Located> {
        let field = self.field(entity, raw_field)?;
        let path = raw_field.path();
        let supports = Supports::of(&field.value_type);
        let allowed = match op {
            RawOp::IsNull | RawOp::IsNotNull => true,
            RawOp::Compare(compare) if compare.is_equality() => supports.equality,
            RawOp::Compare(_) => supports.ordering,
            RawOp::In | RawOp::NotIn => supports.equality,
            RawOp::Text(_) => supports.text,
        };
        if !allowed {
            return Err(Located::new(
                op_pos,
                Problem::OperatorNotSupported {
                    operator: op.as_str().to_owned(),
                    field: path,
                    type_name: field.value_type.type_name(),
                    supported: supports.description,
                },
            ));
        }
        let missing_value = || {
            Located::new(
                op_pos.clone(),
                Problem::Unexpected {
                    expected: format!("a value after `{}`", op.as_str()),
                    found: "nothing".to_owned(),
                },
            )
        };
        match op {
            RawOp::IsNull | RawOp::IsNotNull => Ok(Expr::IsNull {
                field,
                negated: op == RawOp::IsNotNull,
            }),
            RawOp::Compare(compare) => {
                let value = value.ok_or_else(missing_value)?;
                let value = self.literal(&path, &field.value_type, &value)?;
                Ok(Expr::Compare {
                    field,
                    op: compare,
                    value,
                })
            }
            RawOp::In | RawOp::NotIn => {
                let value = value.ok_or_else(missing_value)?;
                let RawValueKind::List(items) = &value.kind else {
                    return Err(Located::new(
                        value.pos.clone(),
                        Problem::Unexpected {
                            expected: format!("a list of values after `{}`", op.as_str()),
                            found: value.describe(),
                        },
                    ));
                };
                if items.is_empty() {
                    return Err(Located::new(value.pos.clone(), Problem::EmptyList));
                }
                let values = items
                    .iter()
                    .map(|item| self.literal(&path, &field.value_type, item))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Expr::InList {
                    field,
                    values,
                    negated: op == RawOp::NotIn,
                })
            }
            RawOp::Text(text_op) => {
                let value = value.ok_or_else(missing_value)?;
                let RawValueKind::String(text) = &value.kind else {
                    return Err(Located::new(
                        value.pos.clone(),
                        wrong_value(&path, &field.value_type, &value),
                    ));
                };
                refuse_nul(text, &value)?;
                Ok(Expr::Text {
                    field,
                    op: text_op,
                    value: text.clone(),
                })
            }
        }
    }

    fn unknown_column(&self, entity: &Entity, name: &Name) -> Located {
        let problem = if builtin::is_builtin(&name.text) {
            Problem::TrashField {
                field: name.text.clone(),
            }
        } else {
            Problem::UnknownField {
                field: name.text.clone(),
                entity: entity.name.clone(),
                suggestion: suggest(&name.text, entity.column_names().chain(FILTERABLE_BUILTINS)),
            }
        };
        Located::new(name.pos.clone(), problem)
    }

    fn field(&self, entity: &'s Entity, raw: &RawField) -> Result<FieldRef, Located> {
        let Some((last, parents)) = raw.segments.split_last() else {
            return Err(Located::new(
                Pos::Offset(0),
                Problem::Unexpected {
                    expected: "a field name".to_owned(),
                    found: "nothing".to_owned(),
                },
            ));
        };
        let mut current = entity;
        let mut hops = Vec::with_capacity(parents.len());
        for segment in parents {
            let (hop, parent) = self.hop(current, segment)?;
            hops.push(hop);
            current = parent;
        }
        let (column, value_type) = match last.text.as_str() {
            builtin::ID | builtin::CREATED_BY => (builtin_name(last)?, ValueType::Integer),
            builtin::CREATED_AT | builtin::UPDATED_AT => {
                (builtin_name(last)?, ValueType::Timestamp)
            }
            name => match current.column(name) {
                Some(Column {
                    name, value_type, ..
                }) => (name.clone(), value_type.clone()),
                None => return Err(self.unknown_column(current, last)),
            },
        };
        Ok(FieldRef {
            hops,
            column,
            value_type,
        })
    }

    /// The parent `segment` names from `entity`, through its one plain reference to it.
    fn hop(&self, entity: &'s Entity, segment: &Name) -> Result<(ParentHop, &'s Entity), Located> {
        let name = segment.text.as_str();
        let outgoing: Vec<&Relation> = self.schema.relations_from(&entity.name).collect();
        let plain: Vec<&Relation> = outgoing
            .iter()
            .copied()
            .filter(|relation| {
                relation.discriminator.is_none() && relation.parents.iter().any(|p| p == name)
            })
            .collect();
        let error = |problem| Located::new(segment.pos.clone(), problem);
        match plain.as_slice() {
            [relation] => {
                let parent = self.schema.entity(name).ok_or_else(|| {
                    error(Problem::NotAParent {
                        name: name.to_owned(),
                        entity: entity.name.clone(),
                        suggestion: None,
                        is_child: false,
                    })
                })?;
                Ok((
                    ParentHop {
                        from_entity: entity.name.clone(),
                        via_column: relation.column.clone(),
                        to_entity: parent.name.clone(),
                    },
                    parent,
                ))
            }
            [] => {
                let polymorphic = outgoing.iter().find(|relation| {
                    relation.discriminator.is_some() && relation.parents.iter().any(|p| p == name)
                });
                if let (Some(relation), Some(parent)) = (polymorphic, self.schema.entity(name))
                    && let Some(discriminator) = &relation.discriminator
                {
                    return Err(error(Problem::PolymorphicParent {
                        parent: parent.name.clone(),
                        entity: entity.name.clone(),
                        column: relation.column.clone(),
                        discriminator: discriminator.clone(),
                    }));
                }
                let parents = outgoing
                    .iter()
                    .filter(|relation| relation.discriminator.is_none())
                    .flat_map(|relation| relation.parents.iter().map(EntityName::as_str));
                Err(error(Problem::NotAParent {
                    name: name.to_owned(),
                    entity: entity.name.clone(),
                    suggestion: suggest(name, parents),
                    is_child: self
                        .schema
                        .relations_to(&entity.name)
                        .any(|relation| relation.child == name),
                }))
            }
            several => {
                let parent = self.schema.entity(name).map(|e| e.name.clone());
                Err(error(Problem::AmbiguousParent {
                    parent: parent.unwrap_or_else(|| entity.name.clone()),
                    entity: entity.name.clone(),
                    columns: several
                        .iter()
                        .map(|relation| relation.column.clone())
                        .collect(),
                }))
            }
        }
    }

    /// The children `raw` names of `parent`, and their entity.
    fn child(&self, parent: &'s Entity, raw: &RawChild) -> Result<(ChildRef, &'s Entity), Located> {
        let name = raw.entity.text.as_str();
        let relations: Vec<&Relation> = self
            .schema
            .relations_to(&parent.name)
            .filter(|relation| relation.child == name)
            .collect();
        let child_entity = self.schema.entity(name);
        let (Some(child_entity), false) = (child_entity, relations.is_empty()) else {
            let mut children: Vec<&str> = self
                .schema
                .relations_to(&parent.name)
                .map(|relation| relation.child.as_str())
                .collect();
            children.dedup();
            return Err(Located::new(
                raw.entity.pos.clone(),
                Problem::NotAChild {
                    name: name.to_owned(),
                    entity: parent.name.clone(),
                    suggestion: suggest(name, children),
                    is_parent: self
                        .schema
                        .relations_from(&parent.name)
                        .any(|relation| relation.parents.iter().any(|p| p == name)),
                },
            ));
        };
        let columns = || {
            relations
                .iter()
                .map(|relation| relation.column.clone())
                .collect()
        };
        let relation = match (&raw.column, relations.as_slice()) {
            (Some(column), _) => relations
                .iter()
                .find(|relation| relation.column == column.text.as_str())
                .ok_or_else(|| {
                    Located::new(
                        column.pos.clone(),
                        Problem::UnknownChildColumn {
                            child: child_entity.name.clone(),
                            column: column.text.clone(),
                            parent: parent.name.clone(),
                            columns: columns(),
                        },
                    )
                })?,
            (None, [relation]) => relation,
            (None, _) => {
                return Err(Located::new(
                    raw.entity.pos.clone(),
                    Problem::AmbiguousChild {
                        child: child_entity.name.clone(),
                        parent: parent.name.clone(),
                        columns: columns(),
                    },
                ));
            }
        };
        Ok((
            ChildRef {
                child: child_entity.name.clone(),
                via_column: relation.column.clone(),
                discriminator: relation.discriminator.clone(),
                parent: parent.name.clone(),
            },
            child_entity,
        ))
    }

    /// `value` converted to the type of the field at `path`.
    fn literal(
        &self,
        path: &str,
        value_type: &ValueType,
        value: &RawValue,
    ) -> Result<Literal, Located> {
        let wrong = || Located::new(value.pos.clone(), wrong_value(path, value_type, value));
        let at = |problem| Located::new(value.pos.clone(), problem);
        match (value_type, &value.kind) {
            (ValueType::Text, RawValueKind::String(text)) => {
                refuse_nul(text, value)?;
                Ok(Literal::Text(text.clone()))
            }
            (ValueType::Integer | ValueType::Reference, RawValueKind::Number(number)) => {
                if !is_integer(number) {
                    return Err(wrong());
                }
                number.parse::<i64>().map(Literal::Integer).map_err(|_| {
                    at(Problem::OutOfRange {
                        found: quote_input(number),
                        limit: "integers must fit in 64 bits",
                    })
                })
            }
            (
                ValueType::Decimal { scale },
                RawValueKind::Number(number) | RawValueKind::String(number),
            ) => parse_decimal(number, *scale)
                .map(|decimal| Literal::Decimal(decimal.to_string()))
                .map_err(|problem| match problem {
                    DecimalError::NotANumber => wrong(),
                    DecimalError::TooPrecise { .. } => at(Problem::TooPrecise {
                        field: path.to_owned(),
                        scale: *scale,
                        found: value.describe(),
                    }),
                    DecimalError::TooManyDigits { .. } => at(Problem::OutOfRange {
                        found: value.describe(),
                        limit: "decimals have at most 28 digits",
                    }),
                }),
            (ValueType::Boolean, RawValueKind::Boolean(flag)) => Ok(Literal::Boolean(*flag)),
            (ValueType::Date, RawValueKind::String(text) | RawValueKind::DateTime(text)) => {
                parse_date(text)
                    .map(|date| Literal::Date(DateValue::Absolute(date)))
                    .map_err(|_| wrong())
            }
            (ValueType::Date, RawValueKind::Relative(relative)) => {
                if relative.unit.is_time_of_day() {
                    return Err(at(Problem::TimeOfDayUnitOnDate {
                        field: path.to_owned(),
                        unit: relative.unit.suffix(),
                    }));
                }
                Ok(Literal::Date(DateValue::Relative(*relative)))
            }
            (ValueType::Timestamp, RawValueKind::String(text) | RawValueKind::DateTime(text)) => {
                let instant = parse_timestamp(text).map_err(|_| wrong())?;
                // Stored times have microseconds; a finer literal could not compare exactly.
                if instant.nanosecond() % 1_000 != 0 {
                    return Err(at(Problem::FinerThanMicrosecond { text: text.clone() }));
                }
                Ok(Literal::Timestamp(TimeValue::Absolute(instant)))
            }
            (ValueType::Timestamp, RawValueKind::Relative(relative)) => {
                Ok(Literal::Timestamp(TimeValue::Relative(*relative)))
            }
            (ValueType::Enum { values }, RawValueKind::String(text)) => {
                one_of(path, text, values.iter().map(String::as_str), value)
            }
            (ValueType::OwnerEntity { entities }, RawValueKind::String(text)) => {
                one_of(path, text, entities.iter().map(EntityName::as_str), value)
            }
            _ => Err(wrong()),
        }
    }
}

/// Refuses text holding a NUL character: no stored text holds one, and PostgreSQL refuses
/// it even as a value to compare with (SPEC §10: a clear error, not a fault).
fn refuse_nul(text: &str, value: &RawValue) -> Result<(), Located> {
    if text.contains('\0') {
        return Err(Located::new(value.pos.clone(), Problem::NulInText));
    }
    Ok(())
}

fn builtin_name(name: &Name) -> Result<ColumnName, Located> {
    ColumnName::parse(&name.text).map_err(|_| {
        Located::new(
            name.pos.clone(),
            Problem::TrashField {
                field: name.text.clone(),
            },
        )
    })
}

/// `text` if it is one of `allowed`.
fn one_of<'a>(
    path: &str,
    text: &str,
    allowed: impl Iterator<Item = &'a str> + Clone,
    value: &RawValue,
) -> Result<Literal, Located> {
    if allowed.clone().any(|candidate| candidate == text) {
        return Ok(Literal::Text(text.to_owned()));
    }
    Err(Located::new(
        value.pos.clone(),
        Problem::NotAllowedValue {
            field: path.to_owned(),
            found: value.describe(),
            allowed: allowed.clone().map(str::to_owned).collect(),
            suggestion: suggest(text, allowed).map(|close| format!("\"{close}\"")),
        },
    ))
}

/// Which operators a field type supports.
struct Supports {
    equality: bool,
    ordering: bool,
    text: bool,
    description: &'static str,
}

impl Supports {
    fn of(value_type: &ValueType) -> Supports {
        match value_type {
            ValueType::Text => Supports {
                equality: true,
                ordering: false,
                text: true,
                description: "=, !=, in, not in, contains, starts_with, is null and is not null",
            },
            ValueType::Integer
            | ValueType::Decimal { .. }
            | ValueType::Date
            | ValueType::Timestamp => Supports {
                equality: true,
                ordering: true,
                text: false,
                description: "=, !=, <, <=, >, >=, in, not in, is null and is not null",
            },
            ValueType::Boolean
            | ValueType::Enum { .. }
            | ValueType::Reference
            | ValueType::OwnerEntity { .. } => Supports {
                equality: true,
                ordering: false,
                text: false,
                description: "=, !=, in, not in, is null and is not null",
            },
            ValueType::Json => Supports {
                equality: false,
                ordering: false,
                text: false,
                description: "is null and is not null",
            },
        }
    }
}

fn wrong_value(path: &str, value_type: &ValueType, value: &RawValue) -> Problem {
    let expected = match value_type {
        ValueType::Text => "text in double quotes, e.g. \"prospect\"".to_owned(),
        ValueType::Integer => "a whole number, e.g. 42".to_owned(),
        ValueType::Decimal { .. } => "a number, e.g. 1234.50".to_owned(),
        ValueType::Boolean => "true or false".to_owned(),
        ValueType::Date => "e.g. 2024-05-31 or today - 90d".to_owned(),
        ValueType::Timestamp => "e.g. 2024-05-31T14:30:00Z or now - 3y".to_owned(),
        ValueType::Reference => "a record id, e.g. 42".to_owned(),
        ValueType::Enum { values } => {
            format!("one of {}", quoted(values.iter().map(String::as_str)))
        }
        ValueType::OwnerEntity { entities } => {
            format!("one of {}", quoted(entities.iter().map(EntityName::as_str)))
        }
        ValueType::Json => "no value: test JSON fields with is null".to_owned(),
    };
    Problem::WrongValue {
        field: path.to_owned(),
        type_name: value_type.type_name(),
        found: value.describe(),
        expected,
    }
}

fn quoted<'a>(values: impl Iterator<Item = &'a str>) -> String {
    values
        .map(|value| format!("\"{value}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_integer(number: &str) -> bool {
    let digits = number.strip_prefix('-').unwrap_or(number);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}
