//! Random filters in the text form, over the grammar of `lethe_filter` and the test schema:
//! every operator on every field type it applies to, with literals of the field's type in
//! their various spellings (relative times, dates for timestamps, decimals with fewer or
//! more places, quoted or not), parent paths one and two hops long, `exists`/`none`/`count`
//! over plain and polymorphic children, and `duplicate` with and without `keep`.
//!
//! Every generated filter is valid; the test asserts that it parses. Filters are built from
//! strategies (not from a random string), so proptest shrinks them structurally.

use std::collections::HashMap;

use lethe_filter::TimeUnit;
use lethe_store::{format_date, format_timestamp};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;
use rust_decimal::Decimal;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::model::{
    BUILTIN_COLUMNS, Ent, INTEGERS, Kind, NEEDLES, OWNER_ENTITIES, RELATIVE_AMOUNTS, TEXTS, dates,
    decimals, instants, random_text,
};

/// How deeply a generated filter nests (see `lethe_filter::Expr::depth`).
pub const MAX_DEPTH: u32 = 3;

/// A filter in text form on the records of an entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterCase {
    pub entity: Ent,
    pub text: String,
}

/// Random filters on any entity of the test schema, most on `person`.
pub fn filter_case() -> BoxedStrategy<FilterCase> {
    let mut generator = Generator::default();
    let arms = [
        (Ent::Person, 5),
        (Ent::Org, 2),
        (Ent::Event, 2),
        (Ent::File, 1),
    ]
    .into_iter()
    .map(|(entity, weight)| {
        let text = generator.expr(entity, MAX_DEPTH);
        (
            weight,
            text.prop_map(move |text| FilterCase { entity, text })
                .boxed(),
        )
    })
    .collect::<Vec<_>>();
    Union::new_weighted(arms).boxed()
}

/// A field a filter on some entity can name, and its kind.
#[derive(Debug, Clone)]
struct PathSpec {
    text: String,
    kind: Kind,
}

/// The fields reachable from `ent`: its own columns and built-ins, and those of its parents
/// and grandparents (`person.org.tier` from an event).
fn paths(ent: Ent) -> Vec<PathSpec> {
    fn own(ent: Ent, prefix: &str, into: &mut Vec<PathSpec>) {
        for column in BUILTIN_COLUMNS.iter().chain(ent.columns()) {
            into.push(PathSpec {
                text: format!("{prefix}{}", column.name),
                kind: column.kind,
            });
        }
    }
    fn walk(ent: Ent, prefix: &str, hops_left: usize, into: &mut Vec<PathSpec>) {
        own(ent, prefix, into);
        if hops_left == 0 {
            return;
        }
        for parent in ent.parents() {
            walk(
                parent,
                &format!("{prefix}{}.", parent.name()),
                hops_left - 1,
                into,
            );
        }
    }
    let mut paths = Vec::new();
    walk(ent, "", 2, &mut paths);
    paths
}

/// The columns `duplicate(…)` accepts: text, integer, date and enum columns of the entity.
fn duplicate_columns(ent: Ent) -> Vec<&'static str> {
    ent.columns()
        .iter()
        .filter(|column| {
            matches!(
                column.kind,
                Kind::Text | Kind::Integer | Kind::Date | Kind::Enum(_)
            )
        })
        .map(|column| column.name)
        .collect()
}

const ALL_OPERATORS: &[&str] = &["=", "!=", "<", "<=", ">", ">="];
const EQUALITY_OPERATORS: &[&str] = &["=", "!="];

fn is_ordered(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Integer | Kind::Decimal | Kind::Date | Kind::Timestamp
    )
}

/// Builds the strategies once per (entity, depth) and shares them.
#[derive(Default)]
struct Generator {
    memo: HashMap<(Ent, u32), BoxedStrategy<String>>,
}

fn join(items: Vec<String>, separator: &str) -> String {
    items
        .into_iter()
        .map(|item| format!("({item})"))
        .collect::<Vec<_>>()
        .join(separator)
}

impl Generator {
    fn expr(&mut self, ent: Ent, depth: u32) -> BoxedStrategy<String> {
        if let Some(strategy) = self.memo.get(&(ent, depth)) {
            return strategy.clone();
        }
        let strategy = if depth == 0 {
            leaf(ent)
        } else {
            let inner = self.expr(ent, depth - 1);
            let mut arms: Vec<(u32, BoxedStrategy<String>)> = vec![
                (4, leaf(ent)),
                (
                    2,
                    vec(inner.clone(), 2..=3)
                        .prop_map(|items| join(items, " and "))
                        .boxed(),
                ),
                (
                    2,
                    vec(inner.clone(), 2..=3)
                        .prop_map(|items| join(items, " or "))
                        .boxed(),
                ),
                (1, inner.prop_map(|item| format!("not ({item})")).boxed()),
            ];
            for &child in ent.children() {
                let child_filter = self.expr(child, depth - 1);
                arms.push((
                    1,
                    (any::<bool>(), child_filter.clone())
                        .prop_map(move |(negated, filter)| {
                            let keyword = if negated { "none" } else { "exists" };
                            format!("{keyword} {}({filter})", child.name())
                        })
                        .boxed(),
                ));
                arms.push((
                    1,
                    (select(ALL_OPERATORS), 0_i64..=3, child_filter)
                        .prop_map(move |(op, count, filter)| {
                            format!("count({}({filter})) {op} {count}", child.name())
                        })
                        .boxed(),
                ));
            }
            Union::new_weighted(arms).boxed()
        };
        self.memo.insert((ent, depth), strategy.clone());
        strategy
    }
}

/// One condition without nesting.
fn leaf(ent: Ent) -> BoxedStrategy<String> {
    // Text fields have the most operators and the subtlest ones (`contains`, `starts_with`,
    // case, whitespace): they get more tests than the other fields.
    let predicates = Union::new_weighted(
        paths(ent)
            .into_iter()
            .map(|path| (if path.kind == Kind::Text { 3 } else { 1 }, predicate(path)))
            .collect(),
    )
    .boxed();
    let mut arms: Vec<(u32, BoxedStrategy<String>)> =
        vec![(12, predicates), (1, Just("all".to_owned()).boxed())];
    if !ent.children().is_empty() {
        let children = ent.children();
        arms.push((
            2,
            (any::<bool>(), select(children))
                .prop_map(|(negated, child)| {
                    let keyword = if negated { "none" } else { "exists" };
                    format!("{keyword} {}", child.name())
                })
                .boxed(),
        ));
        arms.push((
            1,
            (select(children), select(ALL_OPERATORS), 0_i64..=3)
                .prop_map(|(child, op, count)| format!("count({}) {op} {count}", child.name()))
                .boxed(),
        ));
    }
    let columns = duplicate_columns(ent);
    if !columns.is_empty() {
        arms.push((
            2,
            (
                select(columns),
                select(&["", ", keep oldest", ", keep newest"][..]),
            )
                .prop_map(|(column, keep)| format!("duplicate({column}{keep})"))
                .boxed(),
        ));
    }
    Union::new_weighted(arms).boxed()
}

/// A test of one field: comparison, list, text test or NULL test.
fn predicate(path: PathSpec) -> BoxedStrategy<String> {
    let PathSpec { text: field, kind } = path;
    let null_test = {
        let field = field.clone();
        any::<bool>()
            .prop_map(move |negated| {
                let not = if negated { "not " } else { "" };
                format!("{field} is {not}null")
            })
            .boxed()
    };
    if kind == Kind::Json {
        return null_test;
    }
    let operators = if is_ordered(kind) {
        ALL_OPERATORS
    } else {
        EQUALITY_OPERATORS
    };
    let mut arms: Vec<(u32, BoxedStrategy<String>)> = vec![(1, null_test)];
    {
        let field = field.clone();
        arms.push((
            4,
            (select(operators), literal(kind))
                .prop_map(move |(op, value)| format!("{field} {op} {value}"))
                .boxed(),
        ));
    }
    {
        let field = field.clone();
        arms.push((
            2,
            (any::<bool>(), vec(literal(kind), 1..=3))
                .prop_map(move |(negated, values)| {
                    let op = if negated { "not in" } else { "in" };
                    format!("{field} {op} [{}]", values.join(", "))
                })
                .boxed(),
        ));
    }
    if kind == Kind::Text {
        let needle = prop_oneof![
            3 => select(NEEDLES).prop_map(str::to_owned),
            1 => select(TEXTS).prop_map(str::to_owned),
            1 => random_text(),
        ];
        arms.push((
            5,
            (select(&["contains", "starts_with"][..]), needle)
                .prop_map(move |(op, needle)| format!("{field} {op} {}", quote(&needle)))
                .boxed(),
        ));
    }
    Union::new_weighted(arms).boxed()
}

/// A text literal with the escapes of the text form (`\"`, `\\`, `\n`, `\t`, `\u{…}`).
pub fn quote(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' | '\u{a0}' | '\u{301}' => quoted.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    quoted
}

/// A value of the field's kind, written as the text form allows.
fn literal(kind: Kind) -> BoxedStrategy<String> {
    match kind {
        Kind::Text => prop_oneof![
            3 => select(TEXTS).prop_map(str::to_owned),
            1 => random_text(),
        ]
        .prop_map(|text| quote(&text))
        .boxed(),
        Kind::Enum(values) => select(values).prop_map(quote).boxed(),
        Kind::OwnerEntity => select(OWNER_ENTITIES).prop_map(quote).boxed(),
        Kind::Integer => prop_oneof![
            3 => -3_i64..=5,
            1 => select(INTEGERS),
        ]
        .prop_map(|number| number.to_string())
        .boxed(),
        Kind::Reference(_) | Kind::OwnerId => (0_i64..=8).prop_map(|id| id.to_string()).boxed(),
        Kind::Decimal => (
            prop_oneof![
                3 => (-2_000_i64..=2_000).prop_map(|cents| Decimal::new(cents, 2)),
                1 => select(decimals()),
            ],
            0_u8..4,
        )
            .prop_map(|(decimal, spelling)| decimal_literal(decimal, spelling))
            .boxed(),
        Kind::Boolean => any::<bool>().prop_map(|flag| flag.to_string()).boxed(),
        Kind::Date => prop_oneof![
            2 => (select(dates()), any::<bool>()).prop_map(|(date, quoted)| {
                let text = format_date(date);
                if quoted { quote(&text) } else { text }
            }),
            2 => relative(false),
        ]
        .boxed(),
        Kind::Timestamp => prop_oneof![
            3 => (select(instants()), 0_u8..4).prop_map(|(at, spelling)| timestamp_literal(at, spelling)),
            1 => select(dates()).prop_map(format_date),
            3 => relative(true),
        ]
        .boxed(),
        Kind::Json => unreachable!("JSON fields are only tested with is null"),
    }
}

/// `12.50`, `12.5`, `"12.50"` or `12.500`: all the same decimal at scale 2.
fn decimal_literal(decimal: Decimal, spelling: u8) -> String {
    let canonical = decimal.to_string();
    match spelling {
        0 => canonical,
        1 => decimal.normalize().to_string(),
        2 => quote(&canonical),
        _ => format!("{canonical}0"),
    }
}

/// The instant in RFC 3339: UTC with six digits, quoted or not, or at another offset.
fn timestamp_literal(at: OffsetDateTime, spelling: u8) -> String {
    let utc = format_timestamp(at);
    // Another offset only where the local time stays within the years 1 to 9999.
    let offset_form = |hours: i8, minutes: i8| {
        let offset = UtcOffset::from_hms(hours, minutes, 0).expect("a valid offset");
        (1000..=9000)
            .contains(&at.year())
            .then(|| at.to_offset(offset).format(&Rfc3339).ok())
            .flatten()
            .unwrap_or_else(|| utc.clone())
    };
    match spelling {
        0 => utc.clone(),
        1 => quote(&utc),
        2 => offset_form(5, 30),
        _ => offset_form(-3, 0),
    }
}

/// `now`, `today`, `now - 3y`, `today + 2mo`, …; only day-or-longer units for dates.
fn relative(with_time_of_day: bool) -> BoxedStrategy<String> {
    let units: Vec<TimeUnit> = TimeUnit::ALL
        .into_iter()
        .filter(|unit| with_time_of_day || !unit.is_time_of_day())
        .collect();
    (
        select(&["now", "today"][..]),
        prop_oneof![select(RELATIVE_AMOUNTS), -40_i64..=40],
        select(units),
        any::<bool>(),
    )
        .prop_map(|(base, amount, unit, bare)| {
            if amount == 0 && bare {
                return base.to_owned();
            }
            let sign = if amount < 0 { '-' } else { '+' };
            format!("{base} {sign} {}{}", amount.unsigned_abs(), unit.suffix())
        })
        .boxed()
}
