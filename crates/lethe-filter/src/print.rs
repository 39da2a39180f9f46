//! Prints a typed filter in canonical text form, such that parsing the text against the same
//! schema gives the same filter back. Parentheses appear only where precedence needs them,
//! values in the form the checker produced (a date compared with a timestamp field prints as
//! its midnight, `2024-05-31T00:00:00Z`).

use std::fmt::{self, Write};

use time::{Date, OffsetDateTime, UtcOffset};

use lethe_schema::{EntityName, Schema};

use crate::ast::{ChildRef, DateValue, Expr, FieldRef, Filter, Literal, TimeValue};

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Printer {
            filter: self,
            out: f,
            hiding: None,
            within: vec![self.entity.clone()],
        }
        .expr(&self.root)
    }
}

impl Filter {
    /// The filter in canonical text form (the same as its `Display`).
    pub fn to_text(&self) -> String {
        self.to_string()
    }

    /// The filter in text form for a record that must not hold personal data (SPEC §6: the
    /// history, jobs, snapshots): every value compared with a personal field of `schema` —
    /// by `=`, `in`, `contains`, `starts_with`, … — is printed as `hide(value)` instead,
    /// without quotes (so the text no longer parses: it describes, it does not select).
    /// Values compared with other fields, and the fields themselves, stay readable.
    pub fn to_redacted_text(&self, schema: &Schema, hide: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        let _ = Printer {
            filter: self,
            out: &mut out,
            hiding: Some(Hiding { schema, hide }),
            within: vec![self.entity.clone()],
        }
        .expr(&self.root);
        out
    }
}

/// Which values to hide, and how.
struct Hiding<'s> {
    schema: &'s Schema,
    hide: &'s dyn Fn(&str) -> String,
}

struct Printer<'f, 'o> {
    filter: &'f Filter,
    out: &'o mut dyn Write,
    hiding: Option<Hiding<'f>>,
    /// The entity of the current record: the filter's, or a child's inside `exists`.
    within: Vec<EntityName>,
}

impl Printer<'_, '_> {
    fn expr(&mut self, expr: &Expr) -> fmt::Result {
        match expr {
            Expr::All => self.out.write_str("all"),
            // Never produced by the parsers; printed so that they mean the same.
            Expr::And(items) if items.is_empty() => self.out.write_str("all"),
            Expr::Or(items) if items.is_empty() => self.out.write_str("not all"),
            Expr::And(items) => self.joined(items, " and ", |item| {
                matches!(item, Expr::And(_) | Expr::Or(_))
            }),
            Expr::Or(items) => self.joined(items, " or ", |item| matches!(item, Expr::Or(_))),
            Expr::Not(inner) => {
                self.out.write_str("not ")?;
                let group = matches!(inner.as_ref(), Expr::And(_) | Expr::Or(_));
                self.grouped(inner, group)
            }
            Expr::Compare { field, op, value } => {
                self.field(field)?;
                write!(self.out, " {} ", op.as_str())?;
                self.value(field, value)
            }
            Expr::InList {
                field,
                values,
                negated,
            } => {
                self.field(field)?;
                self.out
                    .write_str(if *negated { " not in [" } else { " in [" })?;
                for (index, value) in values.iter().enumerate() {
                    if index > 0 {
                        self.out.write_str(", ")?;
                    }
                    self.value(field, value)?;
                }
                self.out.write_str("]")
            }
            Expr::Text { field, op, value } => {
                self.field(field)?;
                write!(self.out, " {} ", op.as_str())?;
                match self.hidden(field, value) {
                    Some(hidden) => self.out.write_str(&hidden),
                    None => self.out.write_str(&quote(value)),
                }
            }
            Expr::IsNull { field, negated } => {
                self.field(field)?;
                self.out
                    .write_str(if *negated { " is not null" } else { " is null" })
            }
            Expr::Exists {
                child,
                filter,
                negated,
            } => {
                self.out
                    .write_str(if *negated { "none " } else { "exists " })?;
                self.child(child, filter)
            }
            Expr::Count {
                child,
                filter,
                op,
                value,
            } => {
                self.out.write_str("count(")?;
                self.child(child, filter)?;
                write!(self.out, ") {} {value}", op.as_str())
            }
            Expr::Duplicate { column, keep, .. } => match keep {
                Some(keep) => write!(self.out, "duplicate({column}, keep {})", keep.as_str()),
                None => write!(self.out, "duplicate({column})"),
            },
        }
    }

    fn joined(
        &mut self,
        items: &[Expr],
        separator: &str,
        needs_group: impl Fn(&Expr) -> bool,
    ) -> fmt::Result {
        for (index, item) in items.iter().enumerate() {
            if index > 0 {
                self.out.write_str(separator)?;
            }
            self.grouped(item, needs_group(item))?;
        }
        Ok(())
    }

    fn grouped(&mut self, expr: &Expr, group: bool) -> fmt::Result {
        if group {
            self.out.write_str("(")?;
            self.expr(expr)?;
            self.out.write_str(")")
        } else {
            self.expr(expr)
        }
    }

    fn child(&mut self, child: &ChildRef, filter: &Expr) -> fmt::Result {
        self.out.write_str(child.child.as_str())?;
        if self.filter.child_needs_column(child) {
            write!(self.out, ".{}", child.via_column)?;
        }
        if *filter != Expr::All {
            self.out.write_str("(")?;
            self.within.push(child.child.clone());
            let printed = self.expr(filter);
            self.within.pop();
            printed?;
            self.out.write_str(")")?;
        }
        Ok(())
    }

    /// A value compared with `field`: hidden when the field is personal and values are
    /// being hidden.
    fn value(&mut self, field: &FieldRef, literal: &Literal) -> fmt::Result {
        let text = match literal {
            Literal::Text(text) => text.clone(),
            other => literal_text(other),
        };
        match self.hidden(field, &text) {
            Some(hidden) => self.out.write_str(&hidden),
            None => self.literal(literal),
        }
    }

    /// `hide(value)` when values are being hidden and `field` holds personal data.
    fn hidden(&self, field: &FieldRef, value: &str) -> Option<String> {
        let hiding = self.hiding.as_ref()?;
        let entity = field.owner_entity().or(self.within.last())?;
        let personal = hiding
            .schema
            .entity(entity.as_str())
            .and_then(|entity| entity.column(field.column.as_str()))
            .is_some_and(|column| column.personal);
        personal.then(|| (hiding.hide)(value))
    }

    fn field(&mut self, field: &FieldRef) -> fmt::Result {
        self.out.write_str(&field.path())
    }

    fn literal(&mut self, literal: &Literal) -> fmt::Result {
        let text = literal_text(literal);
        self.out.write_str(&text)
    }
}

/// A literal as written in the text form.
pub(crate) fn literal_text(literal: &Literal) -> String {
    match literal {
        Literal::Text(text) => quote(text),
        Literal::Integer(number) => number.to_string(),
        Literal::Decimal(number) => number.clone(),
        Literal::Boolean(flag) => flag.to_string(),
        Literal::Date(DateValue::Absolute(date)) => date_text(*date),
        Literal::Date(DateValue::Relative(relative))
        | Literal::Timestamp(TimeValue::Relative(relative)) => relative.to_string(),
        Literal::Timestamp(TimeValue::Absolute(instant)) => timestamp_text(*instant),
    }
}

/// `2024-05-31`.
pub(crate) fn date_text(date: Date) -> String {
    lethe_domain::value::format_date(date)
}

/// `2024-05-31T14:30:00Z`, with a fraction of a second only when there is one.
pub(crate) fn timestamp_text(instant: OffsetDateTime) -> String {
    let instant = instant.checked_to_offset(UtcOffset::UTC).unwrap_or(instant);
    let mut text = format!(
        "{}T{:02}:{:02}:{:02}",
        date_text(instant.date()),
        instant.hour(),
        instant.minute(),
        instant.second()
    );
    let nanos = instant.nanosecond();
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

/// A string in double quotes, with `"` and `\` escaped and control characters written as
/// escapes so that the text stays on one line.
pub(crate) fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{{{:x}}}", u32::from(c));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use lethe_schema::Schema;

    #[test]
    fn values_compared_with_personal_fields_are_hidden_and_the_rest_stays_readable() {
        let schema = Schema::default_crm();
        let filter = crate::parse(
            &schema,
            "contact",
            r#"email = "ann@example.com" and category = "lost" and first_name in ["Ann", "Bo"]
               and exists note(body contains "Ann's secret") or company.name = "Acme" and last_name != "Berg""#,
        )
        .expect("a valid filter");
        let hidden = filter.to_redacted_text(&schema, &|value| format!("<{}>", value.len()));
        assert_eq!(
            hidden,
            r#"email = <15> and category = "lost" and first_name in [<3>, <2>] and exists note(body contains <12>) or company.name = "Acme" and last_name != <4>"#
        );
        // Printing without hiding is unchanged.
        assert!(filter.to_text().contains("\"ann@example.com\""));
    }
}
