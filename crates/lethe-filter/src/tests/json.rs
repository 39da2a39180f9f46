//! The JSON form: it reads to the same filter as the text form, and its errors name a path.

use serde_json::{Value, json};

use super::{CRM, assert_round_trips, parsed};
use crate::{Expr, Location, from_json};

fn read(entity: &str, json: Value) -> crate::Filter {
    match from_json(&CRM, entity, &json) {
        Ok(filter) => filter,
        Err(error) => panic!("{json} should read: {error}"),
    }
}

#[track_caller]
fn assert_json_error(entity: &str, json: Value, expected: &str) {
    match from_json(&CRM, entity, &json) {
        Ok(filter) => panic!("{json} should not read, but gave `{filter}`"),
        Err(error) => {
            assert!(matches!(error.location(), Location::Json { .. }));
            assert_eq!(error.to_string(), expected, "for {json}");
        }
    }
}

#[test]
fn the_json_form_reads_to_the_same_filter_as_the_text() {
    let pairs = [
        (
            json!({"and": [
                {"field": "category", "op": "=", "value": "prospect"},
                {"field": "created_at", "op": "<", "value": {"now": "-3y"}},
                {"not": {"exists": "consent", "where": {"field": "purpose", "op": "=", "value": "marketing"}}},
                {"none": "activity", "where": {"field": "happened_at", "op": ">", "value": {"now": "-2y"}}},
                {"count": "deal", "where": {"field": "status", "op": "=", "value": "won"}, "op": ">=", "value": 2},
                {"duplicate": "email", "keep": "oldest"}
            ]}),
            r#"category = "prospect" and created_at < now - 3y and not exists consent(purpose = "marketing") and none activity(happened_at > now - 2y) and count(deal(status = "won")) >= 2 and duplicate(email, keep oldest)"#,
        ),
        (json!({"all": true}), ""),
        (json!({"and": []}), "all"),
        (
            json!({"and": [{"field": "email", "op": "is null"}]}),
            "email is null",
        ),
        (
            json!({"or": [{"all": true}, {"field": "email", "op": "is null"}]}),
            "all",
        ),
        (
            json!({"field": "email", "op": "is not null"}),
            "email is not null",
        ),
        (
            json!({"field": "category", "op": "not in", "value": ["lost", "customer"]}),
            r#"category not in ["lost", "customer"]"#,
        ),
        (
            json!({"field": "email", "op": "starts_with", "value": "a\"b"}),
            r#"email starts_with "a\"b""#,
        ),
        (
            json!({"field": "company.name", "op": "contains", "value": "Acme"}),
            r#"company.name contains "Acme""#,
        ),
        (
            json!({"field": "created_at", "op": ">=", "value": "2024-05-31"}),
            "created_at >= 2024-05-31",
        ),
        (
            json!({"field": "created_at", "op": ">=", "value": "2024-05-31T14:30:00+02:00"}),
            "created_at >= 2024-05-31T12:30:00Z",
        ),
        (
            json!({"field": "created_at", "op": ">=", "value": {"today": ""}}),
            "created_at >= today",
        ),
        (
            json!({"field": "created_at", "op": ">=", "value": {"now": "+0d"}}),
            "created_at >= now",
        ),
        (
            json!({"field": "created_at", "op": ">=", "value": {"now": "18mo"}}),
            "created_at >= now + 18mo",
        ),
        (json!({"field": "id", "op": "!=", "value": -4}), "id != -4"),
        (json!({"exists": "attachment"}), "exists attachment"),
        (json!({"exists": "deal.contact_id"}), "exists deal"),
        (
            json!({"count": "deal", "op": "=", "value": 0}),
            "count(deal) = 0",
        ),
    ];
    for (json, text) in pairs {
        let from_json = read("contact", json.clone());
        assert_eq!(from_json, parsed("contact", text), "{json} vs {text}");
        assert_round_trips(&CRM, &from_json).unwrap();
    }
    let deal = |value: Value| {
        read(
            "deal",
            json!({"field": "amount", "op": ">", "value": value}),
        )
    };
    assert_eq!(deal(json!(1234.5)), parsed("deal", "amount > 1234.50"));
    assert_eq!(deal(json!("1234.5")), parsed("deal", "amount > 1234.50"));
    assert_eq!(deal(json!(12)), parsed("deal", "amount > 12"));
    let invoice = read(
        "invoice",
        json!({"field": "issued_at", "op": "<", "value": {"today": "-90d"}}),
    );
    assert_eq!(invoice, parsed("invoice", "issued_at < today - 90d"));
}

#[test]
fn the_json_form_is_written_as_documented() {
    let filter = parsed(
        "deal",
        r#"amount >= 10 and status in ["won"] and (title is null or not company.name starts_with "A") and created_at < today - 2w"#,
    );
    assert_eq!(
        filter.to_json(),
        json!({"and": [
            {"field": "amount", "op": ">=", "value": "10.00"},
            {"field": "status", "op": "in", "value": ["won"]},
            {"or": [
                {"field": "title", "op": "is null"},
                {"not": {"field": "company.name", "op": "starts_with", "value": "A"}}
            ]},
            {"field": "created_at", "op": "<", "value": {"today": "-2w"}}
        ]})
    );
    assert_eq!(parsed("contact", "").to_json(), json!({"all": true}));
}

#[test]
fn json_errors_name_the_path() {
    assert_json_error(
        "contact",
        json!({"and": [{"field": "email", "op": "is null"}, {"field": "categroy", "op": "=", "value": "x"}]}),
        "$.and[1].field: unknown field `categroy` on contact; did you mean `category`?",
    );
    assert_json_error(
        "contact",
        json!({"field": "created_at", "op": ">", "value": "abc"}),
        "$.value: `created_at` is a timestamp; `\"abc\"` is not a timestamp (expected e.g. 2024-05-31T14:30:00Z or now - 3y)",
    );
    assert_json_error(
        "contact",
        json!({"field": "category", "op": "in", "value": ["lost", "prospct"]}),
        "$.value[1]: `\"prospct\"` is not a value of `category`, which is one of \"prospect\", \"customer\", \"lost\"; did you mean `\"prospect\"`?",
    );
    assert_json_error(
        "contact",
        json!({"fied": "email"}),
        "$.fied: unknown key `fied`; did you mean `field`?; expected one of `and`, `or`, `not`, `all`, `field`, `exists`, `none`, `count` or `duplicate`",
    );
    assert_json_error(
        "contact",
        json!({"field": "email", "op": "is null", "vaule": 1}),
        "$.vaule: unknown key `vaule`; did you mean `value`?; expected only `field`, `op`, `value` next to `field`",
    );
    assert_json_error(
        "contact",
        json!({"field": "email", "op": "is null", "value": 1}),
        "$.value: unknown key `value`; expected no `value` with \"is null\"",
    );
    assert_json_error(
        "contact",
        json!({"field": "email", "exists": "deal"}),
        "$: this object has both `exists` and `field`; put each condition in its own object and combine them with `and` or `or`",
    );
    assert_json_error(
        "contact",
        json!({}),
        "$: `field` is missing; a filter object needs one of `and`, `or`, `not`, `all`, `field`, `exists`, `none`, `count` or `duplicate`",
    );
    assert_json_error(
        "contact",
        json!({"field": "email", "op": "=="}),
        "$.op: expected one of \"=\", \"!=\", \"<\", \"<=\", \">\", \">=\", \"in\", \"not in\", \"contains\", \"starts_with\", \"is null\", \"is not null\", found `\"==\"`",
    );
    assert_json_error(
        "contact",
        json!({"field": "email", "op": "="}),
        "$: `value` is missing; \"=\" needs a `value`",
    );
    assert_json_error(
        "contact",
        json!({"field": "email", "op": "=", "value": null}),
        "$.value: `null` is not a value to compare with; test for a missing value with `is null` or `is not null`",
    );
    assert_json_error(
        "contact",
        json!({"field": "email", "op": "in", "value": "a"}),
        "$.value: expected an array of values, found `\"a\"`",
    );
    assert_json_error(
        "contact",
        json!({"field": "email", "op": "=", "value": ["a"]}),
        "$.value: `email` is a text; an array is not a text (expected text in double quotes, e.g. \"prospect\")",
    );
    assert_json_error(
        "contact",
        json!({"field": "email", "op": "in", "value": []}),
        "$.value: an `in` list needs at least one value",
    );
    assert_json_error(
        "contact",
        json!({"or": []}),
        "$.or: expected at least one filter in `or` (an empty `or` would match nothing), found an empty array",
    );
    assert_json_error(
        "contact",
        json!({"and": {"field": "email"}}),
        "$.and: expected an array of filters, found an object",
    );
    assert_json_error(
        "contact",
        json!([1]),
        "$: expected a filter object such as {\"field\": \"category\", \"op\": \"=\", \"value\": \"prospect\"}, found an array",
    );
    assert_json_error(
        "contact",
        json!({"all": false}),
        "$.all: expected `true`, found `false`",
    );
    assert_json_error(
        "contact",
        json!({"field": "created_at", "op": "<", "value": {"now": "-3m"}}),
        "$.value.now: unknown time unit `m`; use y, mo, w, d, h or min (e.g. now - 18mo)",
    );
    assert_json_error(
        "contact",
        json!({"field": "created_at", "op": "<", "value": {"now": "three years"}}),
        "$.value.now: expected an offset such as \"-3y\", \"+18mo\" or \"-90d\", found `\"three years\"`",
    );
    assert_json_error(
        "contact",
        json!({"field": "created_at", "op": "<", "value": {"yesterday": ""}}),
        "$.value: `created_at` is a timestamp; an object (a relative time is written {\"now\": \"-3y\"} or {\"today\": \"-90d\"}) is not a timestamp (expected e.g. 2024-05-31T14:30:00Z or now - 3y)",
    );
    assert_json_error(
        "contact",
        json!({"not": {"exists": "deal", "where": {"field": "amount", "op": ">", "value": 1e40}}}),
        "$.not.where.value: `amount` is a decimal; `1e+40` is not a decimal (expected a number, e.g. 1234.50)",
    );
    assert_json_error(
        "contact",
        json!({"count": "deal", "op": ">="}),
        "$: `value` is missing; `count` needs an `op` and a `value`",
    );
    assert_json_error(
        "contact",
        json!({"count": "deal", "op": ">=", "value": 1.5}),
        "$.value: a count is compared with a whole number of at least 0 (e.g. count(deal) >= 2), not `1.5`",
    );
    assert_json_error(
        "contact",
        json!({"duplicate": "email", "keep": "first"}),
        "$.keep: expected \"oldest\" or \"newest\", found `\"first\"`",
    );
    assert_json_error(
        "contact",
        json!({"exists": 3}),
        "$.exists: expected a child entity such as \"activity\" or \"deal.contact_id\", found `3`",
    );
    assert_json_error(
        "contact",
        json!({"field": "", "op": "is null"}),
        "$.field: unknown field `` on contact",
    );
    assert_json_error(
        "contact",
        json!({"field": "company..name", "op": "is null"}),
        "$.field: `` is not a parent of company",
    );
}

#[test]
fn an_empty_and_is_all_but_an_empty_or_is_refused() {
    assert_eq!(read("contact", json!({"and": []})).root(), &Expr::All);
    assert_eq!(
        read("contact", json!({"not": {"and": []}})).to_text(),
        "not all"
    );
}

#[test]
fn text_with_a_nul_character_is_refused_in_the_json_form_too() {
    assert_json_error(
        "contact",
        json!({"field": "email", "op": "contains", "value": "\u{0}"}),
        "$.value: text in a filter may not contain the NUL character (\\u{0}); no stored text holds one",
    );
}
