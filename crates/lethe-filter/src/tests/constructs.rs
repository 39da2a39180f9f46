//! Every construct of the language parses, to the typed filter it should.

use lethe_schema::{ColumnName, EntityName, ValueType};
use time::macros::{date, datetime};

use super::{AMBIGUOUS, CRM, assert_round_trips, parsed};
use crate::{
    ChildRef, CompareOp, DateValue, Expr, FieldRef, Keep, Literal, ParentHop, RelativeTime, TextOp,
    TimeBase, TimeUnit, TimeValue, parse,
};

fn entity(name: &str) -> EntityName {
    EntityName::parse(name).unwrap()
}

fn column(name: &str) -> ColumnName {
    ColumnName::parse(name).unwrap()
}

fn own(name: &str, value_type: ValueType) -> FieldRef {
    FieldRef {
        hops: Vec::new(),
        column: column(name),
        value_type,
    }
}

fn contact_category() -> ValueType {
    ValueType::Enum {
        values: vec!["prospect".into(), "customer".into(), "lost".into()],
    }
}

fn ago(base: TimeBase, amount: i64, unit: TimeUnit) -> RelativeTime {
    RelativeTime { base, amount, unit }
}

fn child(child: &str, via: &str, parent: &str) -> ChildRef {
    ChildRef {
        child: entity(child),
        via_column: column(via),
        discriminator: None,
        parent: entity(parent),
    }
}

fn root(entity: &str, text: &str) -> Expr {
    let filter = parsed(entity, text);
    assert_round_trips(&CRM, &filter).unwrap();
    filter.root().clone()
}

#[test]
fn the_spec_example_parses_to_four_conditions() {
    let expr = root(
        "contact",
        r#"category = "prospect" and created_at < now - 3y and not exists consent(purpose = "marketing") and none activity(happened_at > now - 2y)"#,
    );
    let Expr::And(items) = expr else {
        panic!("expected an and, got {expr:?}")
    };
    assert_eq!(
        items[0],
        Expr::Compare {
            field: own("category", contact_category()),
            op: CompareOp::Eq,
            value: Literal::Text("prospect".into()),
        }
    );
    assert_eq!(
        items[1],
        Expr::Compare {
            field: own("created_at", ValueType::Timestamp),
            op: CompareOp::Lt,
            value: Literal::Timestamp(TimeValue::Relative(ago(TimeBase::Now, -3, TimeUnit::Years))),
        }
    );
    let Expr::Not(inner) = &items[2] else {
        panic!("expected not, got {:?}", items[2])
    };
    let Expr::Exists {
        child: consent,
        filter,
        negated: false,
    } = inner.as_ref()
    else {
        panic!("expected exists, got {inner:?}")
    };
    assert_eq!(*consent, child("consent", "contact_id", "contact"));
    assert!(
        matches!(filter.as_ref(), Expr::Compare { value: Literal::Text(purpose), .. } if purpose == "marketing")
    );
    assert!(
        matches!(&items[3], Expr::Exists { negated: true, child, .. } if child.child == "activity")
    );
}

#[test]
fn empty_and_all_select_everything() {
    assert_eq!(root("contact", ""), Expr::All);
    assert_eq!(root("contact", "  \n "), Expr::All);
    assert_eq!(root("contact", "all"), Expr::All);
    assert_eq!(root("contact", "ALL"), Expr::All);
    assert!(parsed("contact", "").is_all());
    // `all` disappears from an `and` and absorbs an `or`.
    assert_eq!(
        root("contact", "all and email is null"),
        root("contact", "email is null")
    );
    assert_eq!(root("contact", "email is null or all"), Expr::All);
    assert_eq!(root("contact", "not all"), Expr::Not(Box::new(Expr::All)));
}

#[test]
fn every_comparison_operator_parses() {
    for op in CompareOp::ALL {
        let expr = root("contact", &format!("id {} 7", op.as_str()));
        assert_eq!(
            expr,
            Expr::Compare {
                field: own("id", ValueType::Integer),
                op,
                value: Literal::Integer(7),
            }
        );
    }
}

#[test]
fn lists_text_operators_and_null_tests_parse() {
    assert_eq!(
        root("contact", r#"category not in ["lost", "customer",]"#),
        Expr::InList {
            field: own("category", contact_category()),
            values: vec![
                Literal::Text("lost".into()),
                Literal::Text("customer".into())
            ],
            negated: true,
        }
    );
    assert!(matches!(
        root("contact", r#"category in ["lost"]"#),
        Expr::InList { negated: false, .. }
    ));
    assert_eq!(
        root("contact", r#"email contains "@example.""#),
        Expr::Text {
            field: own("email", ValueType::Text),
            op: TextOp::Contains,
            value: "@example.".into(),
        }
    );
    assert!(matches!(
        root("contact", r#"email starts_with "a""#),
        Expr::Text {
            op: TextOp::StartsWith,
            ..
        }
    ));
    assert_eq!(
        root("contact", "email is null"),
        Expr::IsNull {
            field: own("email", ValueType::Text),
            negated: false
        }
    );
    assert_eq!(
        root("contact", "custom IS NOT NULL"),
        Expr::IsNull {
            field: own("custom", ValueType::Json),
            negated: true
        }
    );
}

#[test]
fn not_binds_tighter_than_and_and_and_tighter_than_or() {
    let a = || Expr::IsNull {
        field: own("email", ValueType::Text),
        negated: false,
    };
    let b = || Expr::IsNull {
        field: own("phone", ValueType::Text),
        negated: false,
    };
    let c = || Expr::IsNull {
        field: own("address", ValueType::Text),
        negated: false,
    };
    assert_eq!(
        root(
            "contact",
            "email is null or phone is null and not address is null"
        ),
        Expr::Or(vec![a(), Expr::And(vec![b(), Expr::Not(Box::new(c()))])])
    );
    assert_eq!(
        root(
            "contact",
            "(email is null or phone is null) and address is null"
        ),
        Expr::And(vec![Expr::Or(vec![a(), b()]), c()])
    );
    // Nested `and`s and `or`s are flattened.
    assert_eq!(
        root(
            "contact",
            "(email is null and (phone is null and address is null))"
        ),
        Expr::And(vec![a(), b(), c()])
    );
    assert_eq!(
        root(
            "contact",
            "NOT (email is null OR phone is null) AnD address is null"
        ),
        Expr::And(vec![Expr::Not(Box::new(Expr::Or(vec![a(), b()]))), c()])
    );
}

#[test]
fn strings_support_escapes() {
    assert_eq!(
        root(
            "contact",
            r#"last_name = "O\"Brien \\ \n\t\u{e9}\u{1F600}""#
        ),
        Expr::Compare {
            field: own("last_name", ValueType::Text),
            op: CompareOp::Eq,
            value: Literal::Text("O\"Brien \\ \n\t\u{e9}\u{1F600}".into()),
        }
    );
}

#[test]
fn numbers_are_converted_to_the_field_type() {
    let amount = |text: &str| match root("deal", text) {
        Expr::Compare { value, .. } => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        amount("amount >= 1234.5"),
        Literal::Decimal("1234.50".into())
    );
    assert_eq!(amount("amount >= 12"), Literal::Decimal("12.00".into()));
    assert_eq!(amount("amount < -0.5"), Literal::Decimal("-0.50".into()));
    assert_eq!(
        amount(r#"amount < "1234.50""#),
        Literal::Decimal("1234.50".into())
    );
    assert_eq!(
        root("survey_rating", "score > -3"),
        Expr::Compare {
            field: own("score", ValueType::Integer),
            op: CompareOp::Gt,
            value: Literal::Integer(-3),
        }
    );
    assert_eq!(
        root("contact", "id = -9223372036854775808"),
        Expr::Compare {
            field: own("id", ValueType::Integer),
            op: CompareOp::Eq,
            value: Literal::Integer(i64::MIN),
        }
    );
}

#[test]
fn dates_and_timestamps_are_converted_to_the_field_type() {
    let value = |entity: &str, text: &str| match root(entity, text) {
        Expr::Compare { value, .. } => value,
        other => panic!("{other:?}"),
    };
    let absolute = |instant| Literal::Timestamp(TimeValue::Absolute(instant));
    assert_eq!(
        value("contact", "created_at < 2024-05-31T14:30:00Z"),
        absolute(datetime!(2024-05-31 14:30 UTC))
    );
    assert_eq!(
        value("contact", r#"created_at < "2024-05-31T14:30:00+02:00""#),
        absolute(datetime!(2024-05-31 12:30 UTC))
    );
    assert_eq!(
        value("contact", "created_at < 2024-05-31T14:30:00.25Z"),
        absolute(datetime!(2024-05-31 14:30:00.25 UTC))
    );
    // A date compared with a timestamp is its midnight UTC.
    assert_eq!(
        value("contact", "created_at >= 2024-05-31"),
        absolute(datetime!(2024-05-31 0:00 UTC))
    );
    assert_eq!(
        value("contact", r#"created_at >= "2024-05-31""#),
        absolute(datetime!(2024-05-31 0:00 UTC))
    );
    assert_eq!(
        value("invoice", "issued_at < 2024-05-31"),
        Literal::Date(DateValue::Absolute(date!(2024 - 05 - 31)))
    );
    assert_eq!(
        value("invoice", r#"issued_at < "2024-05-31""#),
        Literal::Date(DateValue::Absolute(date!(2024 - 05 - 31)))
    );
    assert_eq!(
        value("invoice", "issued_at < today - 90d"),
        Literal::Date(DateValue::Relative(ago(
            TimeBase::Today,
            -90,
            TimeUnit::Days
        )))
    );
    assert_eq!(
        value("invoice", "issued_at < now - 10y"),
        Literal::Date(DateValue::Relative(ago(
            TimeBase::Now,
            -10,
            TimeUnit::Years
        )))
    );
}

#[test]
fn relative_times_take_every_unit() {
    for (text, amount, unit) in [
        ("now - 3y", -3, TimeUnit::Years),
        ("now-18mo", -18, TimeUnit::Months),
        ("now + 2w", 2, TimeUnit::Weeks),
        ("now + 1d", 1, TimeUnit::Days),
        ("now - 12h", -12, TimeUnit::Hours),
        ("now - 30MIN", -30, TimeUnit::Minutes),
        ("NOW", 0, TimeUnit::Days),
    ] {
        let expr = root("activity", &format!("happened_at > {text}"));
        assert_eq!(
            expr,
            Expr::Compare {
                field: own("happened_at", ValueType::Timestamp),
                op: CompareOp::Gt,
                value: Literal::Timestamp(TimeValue::Relative(ago(TimeBase::Now, amount, unit))),
            },
            "{text}"
        );
    }
    assert!(matches!(
        root("activity", "happened_at > today"),
        Expr::Compare {
            value: Literal::Timestamp(TimeValue::Relative(RelativeTime {
                base: TimeBase::Today,
                ..
            })),
            ..
        }
    ));
}

#[test]
fn booleans_enums_references_and_owner_entities_parse() {
    let schema = lethe_schema::Schema::from_toml(
        "version = 1\n[entities.thing]\nfields.active = { type = \"boolean\" }\n",
    )
    .unwrap();
    let filter = parse(&schema, "thing", "active = TRUE or active != false").unwrap();
    assert_round_trips(&schema, &filter).unwrap();
    assert_eq!(filter.to_text(), "active = true or active != false");

    assert_eq!(
        root("contact", "company_id = 5"),
        Expr::Compare {
            field: own("company_id", ValueType::Reference),
            op: CompareOp::Eq,
            value: Literal::Integer(5),
        }
    );
    let owner_entity = root(
        "attachment",
        r#"owner_entity = "contact" and owner_id in [1, 2]"#,
    );
    assert!(matches!(owner_entity, Expr::And(ref items) if items.len() == 2));
    assert!(matches!(
        root("contact", "created_by = 1"),
        Expr::Compare {
            value: Literal::Integer(1),
            ..
        }
    ));
    assert!(matches!(
        root("contact", "updated_at > now - 1d"),
        Expr::Compare { .. }
    ));
}

#[test]
fn parent_fields_follow_references() {
    assert_eq!(
        root("contact", r#"company.category = "customer""#),
        Expr::Compare {
            field: FieldRef {
                hops: vec![ParentHop {
                    from_entity: entity("contact"),
                    via_column: column("company_id"),
                    to_entity: entity("company"),
                }],
                column: column("category"),
                value_type: ValueType::Enum {
                    values: vec![
                        "prospect".into(),
                        "customer".into(),
                        "lost".into(),
                        "partner".into()
                    ],
                },
            },
            op: CompareOp::Eq,
            value: Literal::Text("customer".into()),
        }
    );
    let Expr::Compare { field, .. } =
        root("survey_rating", r#"ticket.contact.company.name = "Acme""#)
    else {
        panic!()
    };
    let hops: Vec<(&str, &str, &str)> = field
        .hops
        .iter()
        .map(|hop| {
            (
                hop.from_entity.as_str(),
                hop.via_column.as_str(),
                hop.to_entity.as_str(),
            )
        })
        .collect();
    assert_eq!(
        hops,
        vec![
            ("survey_rating", "ticket_id", "ticket"),
            ("ticket", "contact_id", "contact"),
            ("contact", "company_id", "company"),
        ]
    );
    assert_eq!(field.path(), "ticket.contact.company.name");
    assert_eq!(
        field.owner_entity().map(EntityName::as_str),
        Some("company")
    );
    assert!(matches!(
        root("deal", "company.id = 3"),
        Expr::Compare { .. }
    ));
}

#[test]
fn children_are_tested_with_exists_none_and_count() {
    assert_eq!(
        root("contact", "exists activity"),
        Expr::Exists {
            child: child("activity", "contact_id", "contact"),
            filter: Box::new(Expr::All),
            negated: false,
        }
    );
    assert_eq!(
        root("contact", "exists activity(all)"),
        root("contact", "exists activity")
    );
    assert_eq!(
        root(
            "contact",
            r#"none consent(purpose = "marketing" and withdrawn_at is null)"#
        )
        .to_owned(),
        Expr::Exists {
            child: child("consent", "contact_id", "contact"),
            filter: Box::new(Expr::And(vec![
                Expr::Compare {
                    field: own(
                        "purpose",
                        ValueType::Enum {
                            values: [
                                "marketing",
                                "newsletter",
                                "support",
                                "profiling",
                                "third_party"
                            ]
                            .map(String::from)
                            .to_vec()
                        }
                    ),
                    op: CompareOp::Eq,
                    value: Literal::Text("marketing".into()),
                },
                Expr::IsNull {
                    field: own("withdrawn_at", ValueType::Timestamp),
                    negated: false
                },
            ])),
            negated: true,
        }
    );
    assert_eq!(
        root("contact", "count(deal) >= 2"),
        Expr::Count {
            child: child("deal", "contact_id", "contact"),
            filter: Box::new(Expr::All),
            op: CompareOp::Ge,
            value: 2,
        }
    );
    assert!(matches!(
        root("contact", r#"count(deal(status = "won")) = 0"#),
        Expr::Count { op: CompareOp::Eq, value: 0, ref filter, .. } if matches!(filter.as_ref(), Expr::Compare { .. })
    ));
    // Nested children, and a child's own parent path.
    let nested = root(
        "contact",
        r#"exists ticket(exists ticket_comment(body contains "refund" and contact.email is not null))"#,
    );
    let Expr::Exists { filter, .. } = nested else {
        panic!()
    };
    assert!(
        matches!(filter.as_ref(), Expr::Exists { child, .. } if child.child == "ticket_comment" && child.parent == "ticket")
    );
    // The qualified form is accepted even when it is not needed, and printed short.
    let qualified = parsed("contact", "exists deal.contact_id");
    assert_eq!(qualified.to_text(), "exists deal");
}

#[test]
fn polymorphic_owners_are_children() {
    assert_eq!(
        root("contact", "exists attachment(size_bytes > 1000000)"),
        Expr::Exists {
            child: ChildRef {
                child: entity("attachment"),
                via_column: column("owner_id"),
                discriminator: Some(column("owner_entity")),
                parent: entity("contact"),
            },
            filter: Box::new(Expr::Compare {
                field: own("size_bytes", ValueType::Integer),
                op: CompareOp::Gt,
                value: Literal::Integer(1_000_000),
            }),
            negated: false,
        }
    );
}

#[test]
fn a_child_with_two_links_is_named_with_its_column() {
    let filter = parse(
        &AMBIGUOUS,
        "person",
        r#"exists deal.seller_id(title = "x") and none note.person_id"#,
    )
    .unwrap();
    assert_eq!(
        filter.to_text(),
        r#"exists deal.seller_id(title = "x") and none note.person_id"#
    );
    assert_round_trips(&AMBIGUOUS, &filter).unwrap();
    let Expr::And(items) = filter.root() else {
        panic!()
    };
    assert!(
        matches!(&items[1], Expr::Exists { child, .. } if child.discriminator.is_none() && child.via_column == "person_id")
    );
    let owner = parse(&AMBIGUOUS, "person", "exists note.owner_id").unwrap();
    assert!(
        matches!(owner.root(), Expr::Exists { child, .. } if child.discriminator.as_ref().is_some_and(|d| d == "owner_entity"))
    );
    assert_eq!(
        owner.to_json(),
        serde_json::json!({"exists": "note.owner_id"})
    );
    // The plain reference next to a polymorphic owner is an unambiguous parent.
    let parent = parse(&AMBIGUOUS, "note", r#"person.name = "Ann""#).unwrap();
    assert_round_trips(&AMBIGUOUS, &parent).unwrap();
}

#[test]
fn duplicates_parse_with_and_without_a_keeper() {
    assert_eq!(
        root("contact", "duplicate(email)"),
        Expr::Duplicate {
            column: column("email"),
            value_type: ValueType::Text,
            keep: None
        }
    );
    assert_eq!(
        root("contact", "duplicate(email, keep oldest)"),
        Expr::Duplicate {
            column: column("email"),
            value_type: ValueType::Text,
            keep: Some(Keep::Oldest)
        }
    );
    assert!(matches!(
        root("contact", "DUPLICATE(category, KEEP NEWEST)"),
        Expr::Duplicate {
            keep: Some(Keep::Newest),
            ..
        }
    ));
    assert!(matches!(
        root("survey_rating", "duplicate(score)"),
        Expr::Duplicate {
            value_type: ValueType::Integer,
            ..
        }
    ));
    assert!(matches!(
        root("invoice", "duplicate(issued_at)"),
        Expr::Duplicate {
            value_type: ValueType::Date,
            ..
        }
    ));
}

#[test]
fn filters_may_span_lines() {
    let filter = parsed("contact", "category = \"lost\"\n  and\n  email is null");
    assert_eq!(filter.to_text(), "category = \"lost\" and email is null");
}

#[test]
fn printing_adds_parentheses_only_where_needed() {
    for text in [
        "email is null or phone is null and address is null",
        "(email is null or phone is null) and address is null",
        "not (email is null and phone is null)",
        "not not email is null",
        "not exists activity",
        "exists activity(kind = \"call\" or kind = \"email\") and count(deal) > 1",
    ] {
        assert_eq!(parsed("contact", text).to_text(), text);
    }
}

#[test]
fn duplicate_keys_trim_and_lower_case_ascii() {
    assert_eq!(
        crate::duplicate_text_key("  Ann@Example.COM\t\n").as_deref(),
        Some("ann@example.com")
    );
    assert_eq!(crate::duplicate_text_key("ÉLAN").as_deref(), Some("Élan"));
    assert_eq!(crate::duplicate_text_key(" \t "), None);
}
