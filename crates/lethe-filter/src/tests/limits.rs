//! No input can exhaust the stack or run without bound: the limits give clear errors.

use serde_json::{Value, json};

use super::{CRM, error_of, parsed};
use crate::{MAX_CONDITIONS, MAX_DEPTH, MAX_LIST_LEN, MAX_TEXT_BYTES, Problem, from_json, parse};

fn problem_of(text: &str) -> Problem {
    parse(&CRM, "contact", text).unwrap_err().problem().clone()
}

#[test]
fn ten_thousand_parentheses_are_an_error_not_a_stack_overflow() {
    let text = format!("{}email is null{}", "(".repeat(10_000), ")".repeat(10_000));
    assert_eq!(
        error_of("contact", &text),
        "1:65: the filter nests more than 64 levels deep"
    );
    let unclosed = "(".repeat(10_000);
    assert_eq!(problem_of(&unclosed), Problem::TooDeep { max: MAX_DEPTH });
}

#[test]
fn ten_thousand_nots_and_nested_children_are_errors() {
    let nots = format!("{}email is null", "not ".repeat(10_000));
    assert_eq!(
        error_of("contact", &nots),
        "1:257: the filter nests more than 64 levels deep"
    );
    let children = format!("{}{}", "exists ticket(".repeat(4_000), ")".repeat(4_000));
    assert_eq!(problem_of(&children), Problem::TooDeep { max: MAX_DEPTH });
}

#[test]
fn the_deepest_allowed_filter_parses_and_round_trips() {
    let text = format!("{}email is null{}", "(not ".repeat(32), ")".repeat(32));
    let filter = parsed("contact", &text);
    assert_eq!(filter.root().depth(), 32);
    super::assert_round_trips(&CRM, &filter).unwrap();
    let nots = format!("{}email is null", "not ".repeat(MAX_DEPTH));
    let filter = parsed("contact", &nots);
    assert_eq!(filter.root().depth(), MAX_DEPTH);
    super::assert_round_trips(&CRM, &filter).unwrap();
}

#[test]
fn precedence_cannot_smuggle_in_a_deeper_filter() {
    // Each level of parentheses here is two levels of `and`/`or` in the filter.
    let mut text = "email is null".to_owned();
    for _ in 0..40 {
        text = format!("(phone is null and {text} or address is null)");
    }
    assert_eq!(
        error_of("contact", &text),
        "1:1: the filter nests more than 64 levels deep"
    );
}

#[test]
fn too_many_conditions_are_an_error() {
    let text = vec!["email is null"; MAX_CONDITIONS + 1].join(" and ");
    assert_eq!(
        problem_of(&text),
        Problem::TooManyConditions {
            max: MAX_CONDITIONS
        }
    );
    let text = vec!["email is null"; MAX_CONDITIONS].join(" or ");
    assert!(parse(&CRM, "contact", &text).is_ok());
}

#[test]
fn long_lists_and_long_input_are_errors() {
    let values = vec!["1"; MAX_LIST_LEN + 1].join(",");
    assert_eq!(
        problem_of(&format!("id in [{values}]")),
        Problem::ListTooLong { max: MAX_LIST_LEN }
    );
    let values = vec!["1"; MAX_LIST_LEN].join(",");
    assert!(parse(&CRM, "contact", &format!("id in [{values}]")).is_ok());
    let long = format!("email = \"{}\"", "x".repeat(MAX_TEXT_BYTES));
    assert_eq!(
        error_of("contact", &long),
        format!(
            "1:1: the filter is {} bytes long; at most 65536 bytes are allowed",
            long.len()
        )
    );
}

#[test]
fn deep_or_huge_json_is_an_error() {
    let mut deep: Value = json!({"field": "email", "op": "is null"});
    for _ in 0..1_000 {
        deep = json!({ "not": deep });
    }
    let error = from_json(&CRM, "contact", &deep).unwrap_err();
    assert_eq!(error.problem(), &Problem::TooDeep { max: MAX_DEPTH });
    assert!(error.to_string().starts_with("$.not.not.not."));
    // The path is thousands of characters deep; the error shows its two ends.
    assert!(error.to_string().len() < 300, "{error}");
    assert!(error.to_string().contains('…'), "{error}");

    let many: Vec<Value> = (0..=MAX_CONDITIONS)
        .map(|_| json!({"field": "email", "op": "is null"}))
        .collect();
    let error = from_json(&CRM, "contact", &json!({ "and": many })).unwrap_err();
    assert_eq!(
        error.to_string(),
        "$.and[1000]: the filter has more than 1000 conditions"
    );

    let values: Vec<Value> = (0..=MAX_LIST_LEN).map(|i| json!(i)).collect();
    let error = from_json(
        &CRM,
        "contact",
        &json!({"field": "id", "op": "in", "value": values}),
    )
    .unwrap_err();
    assert_eq!(error.problem(), &Problem::ListTooLong { max: MAX_LIST_LEN });

    let big = "x".repeat(crate::MAX_JSON_STRING_BYTES + 1);
    let error = from_json(
        &CRM,
        "contact",
        &json!({"field": "email", "op": "=", "value": big}),
    )
    .unwrap_err();
    assert!(matches!(error.problem(), Problem::InputTooLong { .. }));
}

/// The filter that kept a core busy for minutes: hundreds of `exists … contains` joined with
/// `or`. Refused before it runs, in both forms, with what to do instead.
#[test]
fn too_many_tests_of_related_records_are_refused_before_they_run() {
    let one = |word: usize| format!("exists note(body contains \"w{word}\")");
    let text = (0..450).map(one).collect::<Vec<_>>().join(" or ");
    assert_eq!(
        problem_of(&text),
        Problem::TooManyChildTests {
            found: 450,
            max: crate::MAX_CHILD_TESTS
        }
    );
    assert!(error_of("contact", &text).contains("combine them"));
    // Nested tests count too; the limit itself is fine.
    let nested = "exists ticket(exists ticket_comment)";
    assert_eq!(parsed("contact", nested).root().child_test_count(), 2);
    let text = (0..crate::MAX_CHILD_TESTS)
        .map(one)
        .collect::<Vec<_>>()
        .join(" or ");
    assert!(parse(&CRM, "contact", &text).is_ok());
    let json = serde_json::json!({"or": (0..40)
        .map(|word| serde_json::json!({"exists": "note", "where": {"field": "body", "op": "contains", "value": format!("w{word}")}}))
        .collect::<Vec<_>>()});
    let error = crate::from_json(&CRM, "contact", &json).expect_err("refused");
    assert!(error.to_string().contains("40 times"), "{error}");
}
