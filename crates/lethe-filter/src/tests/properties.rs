//! Property tests: generated valid filters parse and round-trip through both forms; random,
//! mutated and truncated input never panics, and whatever it parses to round-trips too.

use proptest::prelude::*;
use proptest::strategy::Union;
use serde_json::{Map, Value};

use super::{CRM, assert_round_trips};
use crate::{FilterError, Location, from_json, parse};

// ---------------------------------------------------------------------------------------
// Generated valid filters, over the default CRM schema.

/// A string literal, escaped independently of the crate's printer. No NUL: a filter refuses
/// it (no stored text holds one).
fn text_literal() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => any::<char>().prop_filter("not NUL", |c| *c != '\u{0}'),
            1 => prop::sample::select(vec!['"', '\\', '\n', '\t', '\u{1}', ' ', '%', '_']),
        ],
        0..8,
    )
    .prop_map(|chars| {
        let mut out = String::from("\"");
        for c in chars {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() && c != '\n' => out.push_str(&format!("\\u{{{:X}}}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    })
}

fn compare_op() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["=", "!=", "<", "<=", ">", ">="])
}

fn equality_op() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["=", "!="])
}

fn integer() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (0i64..100).prop_map(|n| n.to_string())
    ]
}

fn decimal() -> impl Strategy<Value = String> {
    (
        -1_000_000_000i64..1_000_000_000,
        prop::option::of(0u8..100),
        any::<bool>(),
    )
        .prop_map(|(whole, cents, quoted)| {
            let number = match cents {
                Some(cents) => format!("{whole}.{cents:02}"),
                None => whole.to_string(),
            };
            if quoted {
                format!("\"{number}\"")
            } else {
                number
            }
        })
}

fn date() -> impl Strategy<Value = String> {
    (0i32..=9999, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"))
}

fn timestamp() -> impl Strategy<Value = String> {
    (
        1i32..=9998,
        1u8..=12,
        1u8..=28,
        0u8..24,
        0u8..60,
        0u8..60,
        // Stored times have microseconds, so valid literals have at most six digits.
        prop::option::of(1u32..1_000_000),
        prop::option::of((-23i8..=23, 0u8..60)),
    )
        .prop_map(|(y, mo, d, h, mi, s, micros, offset)| {
            let fraction = micros.map(|n| format!(".{n:06}")).unwrap_or_default();
            let zone = match offset {
                None => "Z".to_owned(),
                Some((hours, minutes)) => {
                    let sign = if hours < 0 { '-' } else { '+' };
                    format!("{sign}{:02}:{minutes:02}", hours.unsigned_abs())
                }
            };
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{fraction}{zone}")
        })
}

fn relative(for_dates: bool) -> impl Strategy<Value = String> {
    let units = if for_dates {
        vec!["y", "mo", "w", "d"]
    } else {
        vec!["y", "mo", "w", "d", "h", "min"]
    };
    (
        prop::sample::select(vec!["now", "today", "NOW"]),
        prop::option::of((
            prop::sample::select(vec!["+", "-"]),
            0u32..100_000,
            prop::sample::select(units),
        )),
    )
        .prop_map(|(base, offset)| match offset {
            None => base.to_owned(),
            Some((sign, amount, unit)) => format!("{base} {sign} {amount}{unit}"),
        })
}

fn timestamp_value() -> BoxedStrategy<String> {
    prop_oneof![
        timestamp(),
        timestamp().prop_map(|t| format!("\"{t}\"")),
        date(),
        date().prop_map(|d| format!("\"{d}\"")),
        relative(false),
    ]
    .boxed()
}

fn date_value() -> BoxedStrategy<String> {
    prop_oneof![
        date(),
        date().prop_map(|d| format!("\"{d}\"")),
        relative(true)
    ]
    .boxed()
}

/// `field op value` with one of the comparison operators.
fn compare(field: &'static str, value: BoxedStrategy<String>) -> BoxedStrategy<String> {
    (compare_op(), value)
        .prop_map(move |(op, value)| format!("{field} {op} {value}"))
        .boxed()
}

/// `=`, `!=`, `in` and `not in` over the given values.
fn equality(field: &'static str, value: BoxedStrategy<String>) -> BoxedStrategy<String> {
    prop_oneof![
        (equality_op(), value.clone()).prop_map(move |(op, value)| format!("{field} {op} {value}")),
        (any::<bool>(), prop::collection::vec(value, 1..4)).prop_map(move |(negated, values)| {
            let op = if negated { "not in" } else { "in" };
            format!("{field} {op} [{}]", values.join(", "))
        }),
    ]
    .boxed()
}

fn enum_value(values: &'static [&'static str]) -> BoxedStrategy<String> {
    prop::sample::select(values)
        .prop_map(|value| format!("\"{value}\""))
        .boxed()
}

fn text(field: &'static str) -> BoxedStrategy<String> {
    prop_oneof![
        equality(field, text_literal().boxed()),
        (
            prop::sample::select(vec!["contains", "starts_with", "CONTAINS"]),
            text_literal()
        )
            .prop_map(move |(op, value)| format!("{field} {op} {value}")),
    ]
    .boxed()
}

fn null_test(field: &'static str) -> BoxedStrategy<String> {
    prop::sample::select(vec!["is null", "is not null", "IS NOT NULL"])
        .prop_map(move |test| format!("{field} {test}"))
        .boxed()
}

fn duplicate(columns: &'static [&'static str]) -> BoxedStrategy<String> {
    (
        prop::sample::select(columns),
        prop::sample::select(vec!["", ", keep oldest", ", keep newest"]),
    )
        .prop_map(|(column, keep)| format!("duplicate({column}{keep})"))
        .boxed()
}

const CONTACT_CATEGORY: &[&str] = &["prospect", "customer", "lost"];
const COMPANY_CATEGORY: &[&str] = &["prospect", "customer", "lost", "partner"];
const LEGAL_BASIS: &[&str] = &["consent", "contract", "legitimate_interest", "none"];
const ACTIVITY_KIND: &[&str] = &["task", "appointment", "call", "email", "manual_action"];
const ACTIVITY_STATUS: &[&str] = &["open", "done", "removed", "verified"];
const PURPOSE: &[&str] = &[
    "marketing",
    "newsletter",
    "support",
    "profiling",
    "third_party",
];
const DEAL_STATUS: &[&str] = &["open", "won", "lost"];
const TICKET_STATUS: &[&str] = &["open", "pending", "solved", "closed"];
const OWNERS: &[&str] = &["company", "contact", "deal", "project", "ticket", "invoice"];

fn leaves(entity: &'static str) -> BoxedStrategy<String> {
    let common = || {
        vec![
            compare("id", integer().boxed()),
            compare("created_at", timestamp_value()),
            compare("updated_at", timestamp_value()),
            null_test("created_by"),
        ]
    };
    let mut options = common();
    match entity {
        "contact" => options.extend([
            equality("category", enum_value(CONTACT_CATEGORY)),
            equality("legal_basis", enum_value(LEGAL_BASIS)),
            text("email"),
            text("last_name"),
            null_test("email"),
            null_test("custom"),
            null_test("company_id"),
            equality("company_id", integer().boxed()),
            equality("company.category", enum_value(COMPANY_CATEGORY)),
            text("company.name"),
            compare("company.created_at", timestamp_value()),
            duplicate(&["email", "category", "last_name"]),
        ]),
        "activity" => options.extend([
            equality("kind", enum_value(ACTIVITY_KIND)),
            equality("status", enum_value(ACTIVITY_STATUS)),
            text("subject"),
            compare("happened_at", timestamp_value()),
            text("contact.email"),
            equality("contact.company.category", enum_value(COMPANY_CATEGORY)),
        ]),
        "consent" => options.extend([
            equality("purpose", enum_value(PURPOSE)),
            null_test("withdrawn_at"),
            compare("granted_at", timestamp_value()),
            text("source"),
        ]),
        "deal" => options.extend([
            compare("amount", decimal().boxed()),
            equality("status", enum_value(DEAL_STATUS)),
            text("title"),
            equality("company.category", enum_value(COMPANY_CATEGORY)),
            duplicate(&["title", "status"]),
        ]),
        "ticket" => options.extend([
            equality("status", enum_value(TICKET_STATUS)),
            text("subject"),
        ]),
        "ticket_comment" => {
            options.extend([text("body"), text("contact.email"), text("ticket.subject")])
        }
        "survey_rating" => {
            options.extend([compare("score", integer().boxed()), null_test("comment")])
        }
        "invoice" => options.extend([
            compare("issued_at", date_value()),
            compare("amount", decimal().boxed()),
            text("number"),
            duplicate(&["number", "issued_at"]),
        ]),
        "attachment" => options.extend([
            compare("size_bytes", integer().boxed()),
            text("file_name"),
            equality("owner_entity", enum_value(OWNERS)),
            equality("owner_id", integer().boxed()),
        ]),
        _ => {}
    }
    // `all` is rare: it swallows any `or` it is in.
    let mut weighted: Vec<(u32, BoxedStrategy<String>)> =
        options.into_iter().map(|option| (8, option)).collect();
    weighted.push((1, Just("all".to_owned()).boxed()));
    Union::new_weighted(weighted).boxed()
}

fn children(entity: &str) -> &'static [&'static str] {
    match entity {
        "contact" => &[
            "activity",
            "consent",
            "deal",
            "ticket",
            "attachment",
            "invoice",
        ],
        "deal" => &["attachment"],
        "ticket" => &["ticket_comment", "survey_rating", "attachment"],
        _ => &[],
    }
}

fn child_test(child: &'static str, inner: BoxedStrategy<String>) -> BoxedStrategy<String> {
    prop_oneof![
        (
            prop::sample::select(vec!["exists", "none", "EXISTS"]),
            prop::option::of(inner.clone())
        )
            .prop_map(move |(keyword, inner)| match inner {
                Some(inner) => format!("{keyword} {child}({inner})"),
                None => format!("{keyword} {child}"),
            }),
        (prop::option::of(inner), compare_op(), 0i64..5).prop_map(
            move |(inner, op, n)| match inner {
                Some(inner) => format!("count({child}({inner})) {op} {n}"),
                None => format!("count({child}) {op} {n}"),
            }
        ),
    ]
    .boxed()
}

fn expr(entity: &'static str, depth: u32) -> BoxedStrategy<String> {
    let leaf = leaves(entity);
    if depth == 0 {
        return leaf;
    }
    let sub = expr(entity, depth - 1);
    let mut options: Vec<(u32, BoxedStrategy<String>)> = vec![
        (1, leaf),
        (
            2,
            prop::collection::vec(sub.clone(), 2..4)
                .prop_map(|items| items.join(" and "))
                .boxed(),
        ),
        (
            2,
            prop::collection::vec(sub.clone(), 2..4)
                .prop_map(|items| items.join(" OR "))
                .boxed(),
        ),
        (1, sub.clone().prop_map(|a| format!("not {a}")).boxed()),
        (1, sub.prop_map(|a| format!("({a})")).boxed()),
    ];
    for &child in children(entity) {
        options.push((1, child_test(child, expr(child, depth - 1))));
    }
    Union::new_weighted(options).boxed()
}

// ---------------------------------------------------------------------------------------
// Arbitrary input.

const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    ",",
    ".",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "and",
    "or",
    "not",
    "in",
    "is",
    "null",
    "contains",
    "starts_with",
    "exists",
    "none",
    "count",
    "duplicate",
    "keep",
    "oldest",
    "newest",
    "all",
    "true",
    "false",
    "now",
    "today",
    "3y",
    "18mo",
    "90d",
    "2h",
    "1min",
    "7",
    "-7",
    "12.50",
    "9223372036854775808",
    "2024-05-31",
    "2024-05-31T14:30:00Z",
    "\"prospect\"",
    "\"a\\\"b\"",
    "\"\\u{e9}\"",
    "\"",
    "category",
    "email",
    "company",
    "company_id",
    "created_at",
    "id",
    "custom",
    "activity",
    "deal",
    "consent",
    "attachment",
    "ticket",
    "ticket_comment",
    "amount",
    "status",
    "happened_at",
    "purpose",
    "size_bytes",
    "owner_entity",
    "trashed_at",
    "é",
    "\n",
    "@",
    "&&",
];

fn token_soup() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::sample::select(TOKENS), 0..30),
        any::<bool>(),
    )
        .prop_map(|(tokens, spaced)| tokens.join(if spaced { " " } else { "" }))
}

/// Parses anything: never panics; an error has a text position and a message; a filter
/// round-trips.
fn check_any(entity: &str, text: &str) -> Result<(), TestCaseError> {
    match parse(&CRM, entity, text) {
        Ok(filter) => assert_round_trips(&CRM, &filter).map_err(TestCaseError::fail),
        Err(error) => check_error(&error, true),
    }
}

fn check_error(error: &FilterError, text: bool) -> Result<(), TestCaseError> {
    let message = error.to_string();
    match error.location() {
        Location::Text { line, column } => {
            prop_assert!(text && *line >= 1 && *column >= 1, "{message}");
            let prefix = format!("{line}:{column}: ");
            prop_assert!(message.starts_with(&prefix), "{message}");
        }
        Location::Json { path } => {
            prop_assert!(!text && path.starts_with('$'), "{message}");
        }
    }
    prop_assert!(message.len() < 2_000, "{message}");
    Ok(())
}

fn json_value() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "and",
        "or",
        "not",
        "all",
        "field",
        "op",
        "value",
        "exists",
        "none",
        "where",
        "count",
        "duplicate",
        "keep",
        "now",
        "today",
        "x",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![
            "email",
            "category",
            "company.name",
            "created_at",
            "amount",
            "deal",
            "activity",
            "attachment",
            "=",
            "<",
            "in",
            "not in",
            "is null",
            "contains",
            "prospect",
            "-3y",
            "+0d",
            "2024-05-31",
            "oldest",
            "id",
            "",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(6, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..4).prop_map(|entries| {
                let mut map = Map::new();
                for (key, value) in entries {
                    map.insert(key.to_owned(), value);
                }
                Value::Object(map)
            }),
        ]
    })
}

/// Every JSON pointer into `value`, the root included.
fn json_pointers(value: &Value, at: String, pointers: &mut Vec<String>) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                json_pointers(item, format!("{at}/{i}"), pointers);
            }
        }
        Value::Object(object) => {
            for (key, item) in object {
                json_pointers(item, format!("{at}/{key}"), pointers);
            }
        }
        _ => {}
    }
    pointers.push(at);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn generated_filters_parse_and_round_trip(text in expr("contact", 3)) {
        let filter = parse(&CRM, "contact", &text)
            .map_err(|error| TestCaseError::fail(format!("`{text}` does not parse: {error}")))?;
        assert_round_trips(&CRM, &filter).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn generated_filters_on_other_entities_round_trip(
        (entity, text) in prop::sample::select(vec!["deal", "ticket", "invoice", "attachment", "activity"])
            .prop_flat_map(|entity| (Just(entity), expr(entity, 2)))
    ) {
        let filter = parse(&CRM, entity, &text)
            .map_err(|error| TestCaseError::fail(format!("`{text}` does not parse on {entity}: {error}")))?;
        assert_round_trips(&CRM, &filter).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn random_text_never_panics(text in any::<String>()) {
        check_any("contact", &text)?;
    }

    /// Any bytes, as the HTTP layer could receive them in a query string; the parser takes
    /// text, so bytes that are not UTF-8 arrive replaced (U+FFFD), as a lossy decoder would
    /// pass them on.
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        check_any("contact", &String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn random_printable_text_never_panics(text in "[ -~\n\u{e9}]{0,80}") {
        check_any("contact", &text)?;
    }

    #[test]
    fn token_soup_never_panics(text in token_soup()) {
        check_any("contact", &text)?;
    }

    #[test]
    fn truncated_filters_never_panic((text, cut) in (expr("contact", 3), any::<prop::sample::Index>())) {
        let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
        let cut = boundaries[cut.index(boundaries.len())];
        check_any("contact", &text[..cut])?;
    }

    #[test]
    fn mutated_filters_never_panic(
        (text, at, edit, token) in (
            expr("contact", 3),
            any::<prop::sample::Index>(),
            0u8..4,
            prop::sample::select(TOKENS),
        )
    ) {
        let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
        let index = at.index(boundaries.len());
        let position = boundaries[index];
        let next = boundaries.get(index + 1).copied().unwrap_or(text.len());
        let mutated = match edit {
            0 => format!("{}{}", &text[..position], &text[next..]),
            1 => format!("{}{token}{}", &text[..position], &text[position..]),
            2 => format!("{}{token}{}", &text[..position], &text[next..]),
            _ => format!("{}{}", &text[..position], text[..position].to_uppercase()),
        };
        check_any("contact", &mutated)?;
    }

    #[test]
    fn mutated_json_filters_never_panic(
        (text, at, replacement) in (expr("contact", 3), any::<prop::sample::Index>(), json_value())
    ) {
        let mut json = parse(&CRM, "contact", &text).unwrap().to_json();
        let mut pointers = Vec::new();
        json_pointers(&json, String::new(), &mut pointers);
        let pointer = &pointers[at.index(pointers.len())];
        if let Some(target) = json.pointer_mut(pointer) {
            *target = replacement;
        }
        match from_json(&CRM, "contact", &json) {
            Ok(filter) => assert_round_trips(&CRM, &filter).map_err(TestCaseError::fail)?,
            Err(error) => check_error(&error, false)?,
        }
    }

    #[test]
    fn random_json_never_panics(json in json_value()) {
        match from_json(&CRM, "contact", &json) {
            Ok(filter) => assert_round_trips(&CRM, &filter).map_err(TestCaseError::fail)?,
            Err(error) => check_error(&error, false)?,
        }
    }
}
