//! Every class of error gives its documented message, at the right line and column.

use super::{AMBIGUOUS, CRM, error_of};
use crate::{Location, Problem, parse};

#[track_caller]
fn assert_error(entity: &str, text: &str, expected: &str) {
    assert_eq!(error_of(entity, text), expected, "for `{text}`");
}

#[test]
fn unknown_names_get_a_suggestion() {
    assert_error(
        "contact",
        r#"email is null and categroy = "prospect""#,
        "1:19: unknown field `categroy` on contact; did you mean `category`?",
    );
    assert_error(
        "contact",
        r#"Category = "prospect""#,
        "1:1: unknown field `Category` on contact; did you mean `category`?",
    );
    assert_error(
        "contact",
        "zzz is null",
        "1:1: unknown field `zzz` on contact",
    );
    assert_error(
        "contact",
        "created_tа is null",
        "1:10: unexpected character `а`",
    );
    assert_error(
        "contact",
        "compnay.name is null",
        "1:1: `compnay` is not a parent of contact; did you mean `company`?",
    );
    assert_error(
        "contact",
        "company.nmae is null",
        "1:9: unknown field `nmae` on company; did you mean `name`?",
    );
    assert_error(
        "contact",
        "exists activty",
        "1:8: `activty` is not a child of contact; did you mean `activity`?",
    );
    assert_error(
        "company",
        "exists activity",
        "1:8: `activity` is not a child of company (no activity record refers to company)",
    );
    let error = parse(&CRM, "contct", "").unwrap_err();
    assert_eq!(
        error.to_string(),
        "1:1: unknown entity `contct`; did you mean `contact`?"
    );
}

#[test]
fn misplaced_parents_and_children_say_what_to_write_instead() {
    assert_error(
        "contact",
        r#"activity.kind = "call""#,
        "1:1: `activity` is not a parent of contact but one of its children; to test contact's activity records use `exists activity(...)`",
    );
    assert_error(
        "contact",
        "exists company",
        "1:8: `company` is not a child of contact but its parent; test the parent's fields with `company.field`",
    );
    assert_error(
        "attachment",
        r#"contact.email = "x""#,
        "1:1: attachment refers to contact only through the polymorphic owner `owner_id`, which a filter cannot follow; test `owner_entity = \"contact\"` and `owner_id` instead",
    );
    assert_error(
        "contact",
        "trashed_at is null",
        "1:1: `trashed_at` cannot be used in a filter: whether a record is in the trash is decided by the selection's scope",
    );
    assert_error(
        "contact",
        "company.trash_batch_id is null",
        "1:9: `trash_batch_id` cannot be used in a filter: whether a record is in the trash is decided by the selection's scope",
    );
}

#[test]
fn ambiguous_links_name_the_columns() {
    let error = |entity: &str, text: &str| parse(&AMBIGUOUS, entity, text).unwrap_err().to_string();
    assert_eq!(
        error("person", "exists deal"),
        "1:8: deal refers to person through several columns (`buyer_id`, `seller_id`); say which one, e.g. `deal.buyer_id`"
    );
    assert_eq!(
        error("person", "count(note) > 1"),
        "1:7: note refers to person through several columns (`owner_id`, `person_id`); say which one, e.g. `note.owner_id`"
    );
    assert_eq!(
        error("person", "exists deal.title"),
        "1:13: `deal.title` is not a link from deal to person; use `deal.buyer_id` or `deal.seller_id`"
    );
    assert_eq!(
        error("deal", r#"person.name = "Ann""#),
        "1:1: `person` is ambiguous from deal: `buyer_id`, `seller_id` all refer to person, and a filter can follow a parent only through a single reference"
    );
}

#[test]
fn syntax_errors_say_what_was_expected_and_found() {
    assert_error(
        "contact",
        "category = ",
        "1:12: expected a value after `=`, found end of input",
    );
    assert_error(
        "contact",
        r#"category = "prospect" and"#,
        "1:26: expected a condition after `and`, found end of input",
    );
    assert_error(
        "contact",
        r#"category "prospect""#,
        "1:10: expected an operator after `category` (=, !=, <, <=, >, >=, in, not in, contains, starts_with, is null or is not null), found `\"prospect\"`",
    );
    assert_error(
        "contact",
        "(email is null",
        "1:15: expected `and`, `or` or `)` to close the `(` at 1:1, found end of input",
    );
    assert_error(
        "contact",
        "email is null)",
        "1:14: expected `and`, `or` or the end of the filter after `null`, found `)` without a matching `(`",
    );
    assert_error(
        "contact",
        "email is null email is null",
        "1:15: expected `and`, `or` or the end of the filter after `null`, found `email`",
    );
    assert_error(
        "contact",
        "email is nul",
        "1:10: expected `null` after `is`, found `nul`",
    );
    assert_error(
        "contact",
        "email not [\"a\"]",
        "1:11: expected `in` after `not`, found `[`",
    );
    assert_error(
        "contact",
        r#"email in "a""#,
        "1:10: expected a list such as [\"a\", \"b\"] after `in`, found `\"a\"`",
    );
    assert_error(
        "contact",
        r#"email in ["a" "b"]"#,
        "1:15: expected `,` or `]` after `\"a\"`, found `\"b\"`",
    );
    assert_error(
        "contact",
        "email in []",
        "1:10: an `in` list needs at least one value",
    );
    assert_error(
        "contact",
        r#"email == "a""#,
        "1:8: expected a value after `=` (equality is written with a single `=`), found `=`",
    );
    assert_error("contact", "email @ 1", "1:7: unexpected character `@`");
    assert_error(
        "contact",
        "email is null && phone is null",
        "1:15: unexpected character `&`; use `and`",
    );
    assert_error(
        "contact",
        "email ! 1",
        "1:7: unexpected character `!`; use `!=` or `not`",
    );
    assert_error(
        "contact",
        "email = 'a'",
        "1:9: unexpected character `'`; strings are written in double quotes",
    );
    assert_error(
        "contact",
        r#"category = prospect"#,
        "1:12: `prospect` is not a value; text is written in double quotes, e.g. \"prospect\"",
    );
    assert_error(
        "contact",
        "email = null",
        "1:9: `null` is not a value to compare with; test for a missing value with `is null` or `is not null`",
    );
    assert_error(
        "contact",
        "exists",
        "1:7: expected the name of a child entity (e.g. `exists activity`) after `exists`, found end of input",
    );
    assert_error(
        "contact",
        "exists activity(",
        "1:17: expected a condition after `(`, found end of input",
    );
    assert_error(
        "contact",
        "count(deal > 1",
        "1:12: expected `(` with a filter or `)` to close the `count(` at 1:6, found `>`",
    );
    assert_error(
        "contact",
        "count(deal) 1",
        "1:13: expected a comparison (=, !=, <, <=, >, >=) after `)`, found `1`",
    );
    assert_error(
        "contact",
        "duplicate(email, oldest)",
        "1:18: expected `keep` after `,`, found `oldest`",
    );
    assert_error(
        "contact",
        "duplicate(email, keep first)",
        "1:23: expected `oldest` or `newest` after `keep`, found `first`",
    );
    assert_error(
        "contact",
        "duplicate(email",
        "1:16: expected `, keep oldest`, `, keep newest` or `)` after `email`, found end of input",
    );
    assert_error(
        "contact",
        "company. = 1",
        "1:10: expected a field name after `.`, found `=`",
    );
    assert_error(
        "contact",
        "and email is null",
        "1:1: expected a condition, found `and`",
    );
}

#[test]
fn bad_literals_are_refused_where_they_are() {
    assert_error(
        "contact",
        r#"email = "abc"#,
        "1:9: this string is not closed: expected `\"` before the end of the input",
    );
    assert_error(
        "contact",
        r#"email = "a\qb""#,
        "1:11: `\\q` is not a valid escape in a string (use \\\", \\\\, \\n, \\t or \\u{...})",
    );
    assert_error(
        "contact",
        r#"email = "\u{110000}""#,
        "1:10: `\\u{110000}` is not a valid escape in a string (use \\\", \\\\, \\n, \\t or \\u{...})",
    );
    assert_error(
        "contact",
        "created_at < now - 3m",
        "1:20: unknown time unit `m`; use y, mo, w, d, h or min (e.g. now - 18mo)",
    );
    assert_error(
        "contact",
        "created_at < now - 3",
        "1:20: expected a time amount such as 3y, 18mo, 2w, 90d, 12h or 30min after `-`, found `3`",
    );
    assert_error(
        "contact",
        "created_at < now - 1.5y",
        "1:20: expected a whole number of time units, e.g. now - 3y, found `1.5y`",
    );
    assert_error(
        "contact",
        "created_at < 3y",
        "1:14: expected a value after `<` (a time amount goes after now or today: now - 3y), found `3y`",
    );
    assert_error(
        "contact",
        "created_at < now - 99999999999999999999y",
        "1:20: `99999999999999999999` is out of range: a relative time's amount must fit in 64 bits",
    );
    assert_error(
        "contact",
        "id > 9223372036854775808",
        "1:6: `9223372036854775808` is out of range: integers must fit in 64 bits",
    );
    assert_error(
        "contact",
        "id > - x",
        "1:8: expected a number after `-`, found `x`",
    );
}

#[test]
fn type_errors_are_caught_before_any_sql() {
    assert_error(
        "contact",
        r#"created_at > "abc""#,
        "1:14: `created_at` is a timestamp; `\"abc\"` is not a timestamp (expected e.g. 2024-05-31T14:30:00Z or now - 3y)",
    );
    assert_error(
        "contact",
        "created_at > 2024-02-30",
        "1:14: `created_at` is a timestamp; `2024-02-30` is not a timestamp (expected e.g. 2024-05-31T14:30:00Z or now - 3y)",
    );
    assert_error(
        "contact",
        "created_at > 2024-05-31T14:30:00",
        "1:14: `created_at` is a timestamp; `2024-05-31T14:30:00` is not a timestamp (expected e.g. 2024-05-31T14:30:00Z or now - 3y)",
    );
    assert_error(
        "invoice",
        "issued_at > 2024-05-31T14:30:00Z",
        "1:13: `issued_at` is a date; `2024-05-31T14:30:00Z` is not a date (expected e.g. 2024-05-31 or today - 90d)",
    );
    assert_error(
        "invoice",
        "issued_at > now - 3h",
        "1:13: `issued_at` is a date, so a relative time in `h` does not apply; use d, w, mo or y",
    );
    assert_error(
        "deal",
        r#"amount > "x""#,
        "1:10: `amount` is a decimal; `\"x\"` is not a decimal (expected a number, e.g. 1234.50)",
    );
    assert_error(
        "deal",
        "amount > 1.234",
        "1:10: `amount` has 2 decimal places; `1.234` has more",
    );
    assert_error(
        "deal",
        "amount > 12345678901234567890123456789",
        "1:10: `12345678901234567890123456789` is out of range: decimals have at most 28 digits",
    );
    assert_error(
        "deal",
        r#"amount contains "x""#,
        "1:8: `contains` does not apply to `amount`, which is a decimal field; it supports =, !=, <, <=, >, >=, in, not in, is null and is not null",
    );
    assert_error(
        "contact",
        r#"category < "lost""#,
        "1:10: `<` does not apply to `category`, which is an enum field; it supports =, !=, in, not in, is null and is not null",
    );
    assert_error(
        "contact",
        r#"email >= "a""#,
        "1:7: `>=` does not apply to `email`, which is a text field; it supports =, !=, in, not in, contains, starts_with, is null and is not null",
    );
    assert_error(
        "contact",
        "custom = 1",
        "1:8: `=` does not apply to `custom`, which is a json field; it supports is null and is not null",
    );
    assert_error(
        "survey_rating",
        "score = 1.5",
        "1:9: `score` is an integer; `1.5` is not an integer (expected a whole number, e.g. 42)",
    );
    assert_error(
        "survey_rating",
        r#"score = "1""#,
        "1:9: `score` is an integer; `\"1\"` is not an integer (expected a whole number, e.g. 42)",
    );
    assert_error(
        "contact",
        "email = 1",
        "1:9: `email` is a text; `1` is not a text (expected text in double quotes, e.g. \"prospect\")",
    );
    assert_error(
        "contact",
        r#"email contains 1"#,
        "1:16: `email` is a text; `1` is not a text (expected text in double quotes, e.g. \"prospect\")",
    );
    assert_error(
        "contact",
        "company_id = \"x\"",
        "1:14: `company_id` is a reference; `\"x\"` is not a reference (expected a record id, e.g. 42)",
    );
    assert_error(
        "contact",
        r#"count(deal) >= "two""#,
        "1:16: a count is compared with a whole number of at least 0 (e.g. count(deal) >= 2), not `\"two\"`",
    );
    assert_error(
        "contact",
        "count(deal) >= -1",
        "1:16: a count is compared with a whole number of at least 0 (e.g. count(deal) >= 2), not `-1`",
    );
}

#[test]
fn enum_values_are_checked_and_listed() {
    assert_error(
        "contact",
        r#"category = "prospct""#,
        "1:12: `\"prospct\"` is not a value of `category`, which is one of \"prospect\", \"customer\", \"lost\"; did you mean `\"prospect\"`?",
    );
    assert_error(
        "contact",
        r#"category in ["lost", "partner"]"#,
        "1:22: `\"partner\"` is not a value of `category`, which is one of \"prospect\", \"customer\", \"lost\"",
    );
    assert_error(
        "attachment",
        r#"owner_entity = "tickt""#,
        "1:16: `\"tickt\"` is not a value of `owner_entity`, which is one of \"company\", \"contact\", \"deal\", \"project\", \"ticket\", \"invoice\"; did you mean `\"ticket\"`?",
    );
    assert_error(
        "contact",
        "category = 1",
        "1:12: `category` is an enum; `1` is not an enum (expected one of \"prospect\", \"customer\", \"lost\")",
    );
}

#[test]
fn duplicate_needs_a_plain_field_of_a_suitable_type() {
    assert_error(
        "contact",
        "duplicate(company.name)",
        "1:11: `duplicate` works on a field of contact itself, not on `company.name`",
    );
    assert_error(
        "deal",
        "duplicate(amount)",
        "1:11: `duplicate` works on text, integer, date and enum fields; `amount` is a decimal field",
    );
    assert_error(
        "contact",
        "duplicate(emial)",
        "1:11: unknown field `emial` on contact; did you mean `email`?",
    );
}

#[test]
fn positions_count_lines_and_characters() {
    let error = parse(&CRM, "contact", "email is null\n  and ém = 1").unwrap_err();
    assert_eq!(error.location(), &Location::Text { line: 2, column: 7 });
    assert_eq!((error.line(), error.column()), (Some(2), Some(7)));
    assert!(matches!(
        error.problem(),
        Problem::UnexpectedCharacter { found: 'é', .. }
    ));
    let error = parse(&CRM, "contact", "\"é\" = 1").unwrap_err();
    assert_eq!(
        error.to_string(),
        "1:1: expected a condition, found `\"é\"`"
    );
    let error = parse(
        &CRM,
        "contact",
        "email = \"é\"\n\n   and categroy = \"lost\"",
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "3:8: unknown field `categroy` on contact; did you mean `category`?"
    );
}

#[test]
fn a_timestamp_finer_than_a_microsecond_is_refused() {
    assert_error(
        "contact",
        "created_at < 2024-02-29T12:00:00.2500001Z",
        "1:14: `2024-02-29T12:00:00.2500001Z` is finer than a microsecond; Lethe keeps times to the microsecond, so write at most six digits after the second",
    );
}

#[test]
fn text_with_a_nul_character_is_refused() {
    let refused =
        "text in a filter may not contain the NUL character (\\u{0}); no stored text holds one";
    assert_error(
        "contact",
        r#"email = "a\u{0}b""#,
        &format!("1:9: {refused}"),
    );
    assert_error(
        "contact",
        "email contains \"\0\"",
        &format!("1:16: {refused}"),
    );
    assert_error(
        "contact",
        r#"email in ["x", "\u{0}"]"#,
        &format!("1:16: {refused}"),
    );
    assert_error(
        "contact",
        r#"exists note(body starts_with "\u{0}")"#,
        &format!("1:30: {refused}"),
    );
}
