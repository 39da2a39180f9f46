//! The JSON form of a filter, for the HTTP API: reading it into the surface filter (errors
//! name a JSON path such as `$.and[2].field`) and writing a typed filter back out. The shape
//! is documented in the crate documentation.

use serde_json::{Map, Value, json};

use crate::ast::{ChildRef, CompareOp, DateValue, Expr, Filter, Keep, Literal, TimeValue};
use crate::error::{Located, Pos, Problem, quote_input};
use crate::parser::signed_amount;
use crate::print::{date_text, timestamp_text};
use crate::raw::{Name, RawChild, RawExpr, RawField, RawOp, RawValue, RawValueKind};
use crate::relative::{RelativeTime, TimeBase, TimeUnit};
use crate::{MAX_CONDITIONS, MAX_DEPTH, MAX_JSON_STRING_BYTES, MAX_LIST_LEN};

/// The key that says what kind of filter an object is, and the other keys it may have.
const KINDS: [(&str, &[&str]); 9] = [
    ("and", &[]),
    ("or", &[]),
    ("not", &[]),
    ("all", &[]),
    ("field", &["op", "value"]),
    ("exists", &["where"]),
    ("none", &["where"]),
    ("count", &["where", "op", "value"]),
    ("duplicate", &["keep"]),
];

const KIND_LIST: &str =
    "one of `and`, `or`, `not`, `all`, `field`, `exists`, `none`, `count` or `duplicate`";

/// Reads the JSON form into the surface filter.
pub(crate) fn read(value: &Value) -> Result<RawExpr, Located> {
    Reader {
        conditions: 0,
        string_bytes: 0,
    }
    .expr(value, &Pos::Path("$".to_owned()), 0)
}

struct Reader {
    conditions: usize,
    string_bytes: usize,
}

/// How a JSON value is shown in a message.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "`null`".to_owned(),
        Value::Bool(flag) => format!("`{flag}`"),
        Value::Number(number) => quote_input(&number.to_string()),
        Value::String(text) => quote_input(&crate::print::quote(text)),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

fn unexpected(pos: &Pos, expected: &str, found: &Value) -> Located {
    Located::new(
        pos.clone(),
        Problem::Unexpected {
            expected: expected.to_owned(),
            found: describe(found),
        },
    )
}

fn index(pos: &Pos, index: usize) -> Pos {
    match pos {
        Pos::Path(path) => Pos::Path(format!("{path}[{index}]")),
        Pos::Offset(offset) => Pos::Offset(*offset),
    }
}

impl Reader {
    fn condition(&mut self, pos: &Pos) -> Result<(), Located> {
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            return Err(Located::new(
                pos.clone(),
                Problem::TooManyConditions {
                    max: MAX_CONDITIONS,
                },
            ));
        }
        Ok(())
    }

    fn string<'v>(
        &mut self,
        value: &'v Value,
        pos: &Pos,
        expected: &str,
    ) -> Result<&'v str, Located> {
        let Value::String(text) = value else {
            return Err(unexpected(pos, expected, value));
        };
        self.count_bytes(text, pos)?;
        Ok(text)
    }

    fn count_bytes(&mut self, text: &str, pos: &Pos) -> Result<(), Located> {
        self.string_bytes = self.string_bytes.saturating_add(text.len());
        if self.string_bytes > MAX_JSON_STRING_BYTES {
            return Err(Located::new(
                pos.clone(),
                Problem::InputTooLong {
                    length: self.string_bytes,
                    max: MAX_JSON_STRING_BYTES,
                },
            ));
        }
        Ok(())
    }

    fn expr(&mut self, value: &Value, pos: &Pos, depth: usize) -> Result<RawExpr, Located> {
        if depth > MAX_DEPTH {
            return Err(Located::new(
                pos.clone(),
                Problem::TooDeep { max: MAX_DEPTH },
            ));
        }
        let Value::Object(object) = value else {
            return Err(unexpected(
                pos,
                "a filter object such as {\"field\": \"category\", \"op\": \"=\", \"value\": \"prospect\"}",
                value,
            ));
        };
        let mut kind: Option<(&str, &[&str])> = None;
        for key in object.keys() {
            if let Some(&(name, others)) = KINDS.iter().find(|(name, _)| name == key) {
                if let Some((first, _)) = kind {
                    return Err(Located::new(
                        pos.clone(),
                        Problem::ConflictingKeys {
                            first: first.to_owned(),
                            second: name.to_owned(),
                        },
                    ));
                }
                kind = Some((name, others));
            }
        }
        let Some((kind, others)) = kind else {
            if let Some(key) = object.keys().next() {
                return Err(Located::new(
                    pos.key(key),
                    Problem::UnknownKey {
                        key: key.clone(),
                        expected: KIND_LIST.to_owned(),
                        suggestion: lethe_schema::suggest(key, KINDS.iter().map(|(name, _)| *name)),
                    },
                ));
            }
            return Err(Located::new(
                pos.clone(),
                Problem::MissingKey {
                    key: "field",
                    context: format!("a filter object needs {KIND_LIST}"),
                },
            ));
        };
        for key in object.keys() {
            if key != kind && !others.contains(&key.as_str()) {
                let mut allowed: Vec<&str> = vec![kind];
                allowed.extend_from_slice(others);
                let expected = allowed
                    .iter()
                    .map(|key| format!("`{key}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(Located::new(
                    pos.key(key),
                    Problem::UnknownKey {
                        key: key.clone(),
                        expected: format!("only {expected} next to `{kind}`"),
                        suggestion: lethe_schema::suggest(key, allowed),
                    },
                ));
            }
        }
        let body = &object[kind];
        let body_pos = pos.key(kind);
        match kind {
            "and" | "or" => {
                let Value::Array(items) = body else {
                    return Err(unexpected(&body_pos, "an array of filters", body));
                };
                let mut exprs = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    exprs.push(self.expr(item, &index(&body_pos, i), depth + 1)?);
                }
                if kind == "and" {
                    Ok(RawExpr::And(exprs))
                } else if exprs.is_empty() {
                    Err(Located::new(
                        body_pos,
                        Problem::Unexpected {
                            expected:
                                "at least one filter in `or` (an empty `or` would match nothing)"
                                    .to_owned(),
                            found: "an empty array".to_owned(),
                        },
                    ))
                } else {
                    Ok(RawExpr::Or(exprs))
                }
            }
            "not" => Ok(RawExpr::Not(Box::new(self.expr(
                body,
                &body_pos,
                depth + 1,
            )?))),
            "all" => {
                if body != &Value::Bool(true) {
                    return Err(unexpected(&body_pos, "`true`", body));
                }
                self.condition(pos)?;
                Ok(RawExpr::All)
            }
            "field" => self.predicate(object, pos),
            "exists" | "none" => {
                self.condition(pos)?;
                let child = self.child(body, &body_pos)?;
                let filter = self.where_filter(object, pos, depth)?;
                Ok(RawExpr::Exists {
                    child,
                    filter,
                    negated: kind == "none",
                })
            }
            "count" => {
                self.condition(pos)?;
                let child = self.child(body, &body_pos)?;
                let filter = self.where_filter(object, pos, depth)?;
                let op_pos = pos.key("op");
                let op = match object.get("op") {
                    Some(op) => {
                        let symbol = self.string(
                            op,
                            &op_pos,
                            "a comparison: \"=\", \"!=\", \"<\", \"<=\", \">\" or \">=\"",
                        )?;
                        CompareOp::from_symbol(symbol).ok_or_else(|| {
                            unexpected(
                                &op_pos,
                                "a comparison: \"=\", \"!=\", \"<\", \"<=\", \">\" or \">=\"",
                                op,
                            )
                        })?
                    }
                    None => return Err(missing(pos, "op", "`count` needs an `op` and a `value`")),
                };
                let Some(value) = object.get("value") else {
                    return Err(missing(pos, "value", "`count` needs an `op` and a `value`"));
                };
                let value = self.value(value, &pos.key("value"))?;
                Ok(RawExpr::Count {
                    child,
                    filter,
                    op,
                    value,
                })
            }
            "duplicate" => {
                self.condition(pos)?;
                let field = self.field(body, &body_pos)?;
                let keep = match object.get("keep") {
                    None => None,
                    Some(keep) => {
                        let keep_pos = pos.key("keep");
                        match self.string(keep, &keep_pos, "\"oldest\" or \"newest\"")? {
                            "oldest" => Some(Keep::Oldest),
                            "newest" => Some(Keep::Newest),
                            _ => {
                                return Err(unexpected(
                                    &keep_pos,
                                    "\"oldest\" or \"newest\"",
                                    keep,
                                ));
                            }
                        }
                    }
                };
                Ok(RawExpr::Duplicate { field, keep })
            }
            _ => Err(unexpected(pos, KIND_LIST, value)),
        }
    }

    fn where_filter(
        &mut self,
        object: &Map<String, Value>,
        pos: &Pos,
        depth: usize,
    ) -> Result<Option<Box<RawExpr>>, Located> {
        match object.get("where") {
            None => Ok(None),
            Some(filter) => Ok(Some(Box::new(self.expr(
                filter,
                &pos.key("where"),
                depth + 1,
            )?))),
        }
    }

    fn field(&mut self, value: &Value, pos: &Pos) -> Result<RawField, Located> {
        let path = self.string(
            value,
            pos,
            "a field name such as \"category\" or \"company.name\"",
        )?;
        let segments = path
            .split('.')
            .map(|segment| Name {
                text: segment.to_owned(),
                pos: pos.clone(),
            })
            .collect();
        Ok(RawField { segments })
    }

    fn child(&mut self, value: &Value, pos: &Pos) -> Result<RawChild, Located> {
        let text = self.string(
            value,
            pos,
            "a child entity such as \"activity\" or \"deal.contact_id\"",
        )?;
        let name = |text: &str| Name {
            text: text.to_owned(),
            pos: pos.clone(),
        };
        Ok(match text.split_once('.') {
            Some((entity, column)) => RawChild {
                entity: name(entity),
                column: Some(name(column)),
            },
            None => RawChild {
                entity: name(text),
                column: None,
            },
        })
    }

    fn predicate(&mut self, object: &Map<String, Value>, pos: &Pos) -> Result<RawExpr, Located> {
        self.condition(pos)?;
        let field = self.field(&object["field"], &pos.key("field"))?;
        let op_pos = pos.key("op");
        let ops = crate::raw::RawOp::ALL
            .iter()
            .map(|op| format!("\"{}\"", op.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let expected_op = format!("one of {ops}");
        let Some(op_value) = object.get("op") else {
            return Err(missing(
                pos,
                "op",
                &format!("a condition on a field needs `op`, {expected_op}"),
            ));
        };
        let symbol = self.string(op_value, &op_pos, &expected_op)?;
        let Some(op) = RawOp::ALL.into_iter().find(|op| op.as_str() == symbol) else {
            return Err(unexpected(&op_pos, &expected_op, op_value));
        };
        let value_pos = pos.key("value");
        let value = match (op, object.get("value")) {
            (RawOp::IsNull | RawOp::IsNotNull, None) => None,
            (RawOp::IsNull | RawOp::IsNotNull, Some(_)) => {
                return Err(Located::new(
                    value_pos,
                    Problem::UnknownKey {
                        key: "value".to_owned(),
                        expected: format!("no `value` with \"{}\"", op.as_str()),
                        suggestion: None,
                    },
                ));
            }
            (_, None) => {
                return Err(missing(
                    pos,
                    "value",
                    &format!("\"{}\" needs a `value`", op.as_str()),
                ));
            }
            (RawOp::In | RawOp::NotIn, Some(Value::Array(items))) => {
                if items.is_empty() {
                    return Err(Located::new(value_pos, Problem::EmptyList));
                }
                if items.len() > MAX_LIST_LEN {
                    return Err(Located::new(
                        value_pos,
                        Problem::ListTooLong { max: MAX_LIST_LEN },
                    ));
                }
                let mut values = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    values.push(self.value(item, &index(&value_pos, i))?);
                }
                Some(RawValue {
                    kind: RawValueKind::List(values),
                    pos: value_pos,
                })
            }
            (RawOp::In | RawOp::NotIn, Some(other)) => {
                return Err(unexpected(&value_pos, "an array of values", other));
            }
            (_, Some(value)) => Some(self.value(value, &value_pos)?),
        };
        Ok(RawExpr::Predicate {
            field,
            op,
            op_pos,
            value,
        })
    }

    fn value(&mut self, value: &Value, pos: &Pos) -> Result<RawValue, Located> {
        let kind = match value {
            Value::String(text) => {
                self.count_bytes(text, pos)?;
                RawValueKind::String(text.clone())
            }
            Value::Number(number) => RawValueKind::Number(number.to_string()),
            Value::Bool(flag) => RawValueKind::Boolean(*flag),
            Value::Null => return Err(Located::new(pos.clone(), Problem::NullLiteral)),
            Value::Array(_) => RawValueKind::Other("an array".to_owned()),
            Value::Object(object) => {
                let mut entries = object.iter();
                match (entries.next(), entries.next()) {
                    (Some((key, offset)), None) if key == "now" || key == "today" => {
                        let base = if key == "now" { TimeBase::Now } else { TimeBase::Today };
                        let offset_pos = pos.key(key);
                        let text = self.string(offset, &offset_pos, "an offset such as \"-3y\", \"+1d\" or \"+0d\"")?;
                        RawValueKind::Relative(relative(base, text, &offset_pos)?)
                    }
                    _ => RawValueKind::Other(
                        "an object (a relative time is written {\"now\": \"-3y\"} or {\"today\": \"-90d\"})".to_owned(),
                    ),
                }
            }
        };
        Ok(RawValue {
            kind,
            pos: pos.clone(),
        })
    }
}

fn missing(pos: &Pos, key: &'static str, context: &str) -> Located {
    Located::new(
        pos.clone(),
        Problem::MissingKey {
            key,
            context: context.to_owned(),
        },
    )
}

/// `"-3y"`, `"+18mo"`, `"90d"` (positive), `"+0d"` or `""` (no offset).
fn relative(base: TimeBase, text: &str, pos: &Pos) -> Result<RelativeTime, Located> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(RelativeTime {
            base,
            amount: 0,
            unit: TimeUnit::Days,
        });
    }
    let (negative, rest) = match trimmed.as_bytes()[0] {
        b'-' => (true, trimmed[1..].trim_start()),
        b'+' => (false, trimmed[1..].trim_start()),
        _ => (false, trimmed),
    };
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (number, unit) = rest.split_at(digits_end);
    let bad = || {
        Located::new(
            pos.clone(),
            Problem::Unexpected {
                expected: "an offset such as \"-3y\", \"+18mo\" or \"-90d\"".to_owned(),
                found: quote_input(&crate::print::quote(text)),
            },
        )
    };
    let amount = signed_amount(number, negative)
        .ok_or_else(bad)?
        .map_err(|problem| Located::new(pos.clone(), problem))?;
    let unit = unit.trim();
    let unit = TimeUnit::from_suffix(unit).ok_or_else(|| {
        Located::new(
            pos.clone(),
            Problem::UnknownUnit {
                unit: unit.to_owned(),
            },
        )
    })?;
    Ok(RelativeTime { base, amount, unit })
}

impl Filter {
    /// The filter in JSON form; [`crate::from_json`] reads it back to an equal filter.
    pub fn to_json(&self) -> Value {
        Writer { filter: self }.expr(&self.root)
    }
}

struct Writer<'f> {
    filter: &'f Filter,
}

impl Writer<'_> {
    fn expr(&self, expr: &Expr) -> Value {
        match expr {
            Expr::All => json!({ "all": true }),
            Expr::And(items) => {
                json!({ "and": items.iter().map(|item| self.expr(item)).collect::<Vec<_>>() })
            }
            Expr::Or(items) if items.is_empty() => json!({ "not": { "all": true } }),
            Expr::Or(items) => {
                json!({ "or": items.iter().map(|item| self.expr(item)).collect::<Vec<_>>() })
            }
            Expr::Not(inner) => json!({ "not": self.expr(inner) }),
            Expr::Compare { field, op, value } => {
                json!({ "field": field.path(), "op": op.as_str(), "value": literal(value) })
            }
            Expr::InList {
                field,
                values,
                negated,
            } => json!({
                "field": field.path(),
                "op": if *negated { "not in" } else { "in" },
                "value": values.iter().map(literal).collect::<Vec<_>>(),
            }),
            Expr::Text { field, op, value } => {
                json!({ "field": field.path(), "op": op.as_str(), "value": value })
            }
            Expr::IsNull { field, negated } => json!({
                "field": field.path(),
                "op": if *negated { "is not null" } else { "is null" },
            }),
            Expr::Exists {
                child,
                filter,
                negated,
            } => {
                let mut object = Map::new();
                let key = if *negated { "none" } else { "exists" };
                object.insert(key.to_owned(), Value::String(self.child(child)));
                self.insert_where(&mut object, filter);
                Value::Object(object)
            }
            Expr::Count {
                child,
                filter,
                op,
                value,
            } => {
                let mut object = Map::new();
                object.insert("count".to_owned(), Value::String(self.child(child)));
                self.insert_where(&mut object, filter);
                object.insert("op".to_owned(), Value::String(op.as_str().to_owned()));
                object.insert("value".to_owned(), json!(value));
                Value::Object(object)
            }
            Expr::Duplicate { column, keep, .. } => match keep {
                Some(keep) => json!({ "duplicate": column.as_str(), "keep": keep.as_str() }),
                None => json!({ "duplicate": column.as_str() }),
            },
        }
    }

    fn child(&self, child: &ChildRef) -> String {
        if self.filter.child_needs_column(child) {
            format!("{}.{}", child.child, child.via_column)
        } else {
            child.child.to_string()
        }
    }

    fn insert_where(&self, object: &mut Map<String, Value>, filter: &Expr) {
        if *filter != Expr::All {
            object.insert("where".to_owned(), self.expr(filter));
        }
    }
}

fn literal(literal: &Literal) -> Value {
    match literal {
        Literal::Text(text) => Value::String(text.clone()),
        Literal::Integer(number) => json!(number),
        // A string, so that no JSON reader rounds it through a float.
        Literal::Decimal(number) => Value::String(number.clone()),
        Literal::Boolean(flag) => Value::Bool(*flag),
        Literal::Date(DateValue::Absolute(date)) => Value::String(date_text(*date)),
        Literal::Timestamp(TimeValue::Absolute(instant)) => Value::String(timestamp_text(*instant)),
        Literal::Date(DateValue::Relative(relative))
        | Literal::Timestamp(TimeValue::Relative(relative)) => {
            let sign = if relative.amount < 0 { '-' } else { '+' };
            let offset = format!(
                "{sign}{}{}",
                relative.amount.unsigned_abs(),
                relative.unit.suffix()
            );
            json!({ relative.base.as_str(): offset })
        }
    }
}
