//! Tests of schema reading and validation.

use crate::{OnDelete, Schema, SchemaError, ValueType};

fn problems_of(text: &str) -> Vec<String> {
    match Schema::from_toml(text) {
        Ok(_) => Vec::new(),
        Err(SchemaError::Syntax(message)) => vec![message],
        Err(SchemaError::Invalid(problems)) => problems
            .into_iter()
            .map(|p| format!("{}: {}", p.location, p.message))
            .collect(),
    }
}

#[test]
fn the_default_schema_has_every_entity_of_the_spec() {
    let schema = Schema::default_crm();
    let names: Vec<&str> = schema.entity_names().collect();
    for expected in [
        "company",
        "contact",
        "consent",
        "deal",
        "project",
        "activity",
        "note",
        "message",
        "ticket",
        "ticket_comment",
        "survey_rating",
        "invoice",
        "time_entry",
        "campaign_membership",
        "attachment",
    ] {
        assert!(names.contains(&expected), "missing {expected}");
    }
}

#[test]
fn the_default_schema_orders_parents_before_children() {
    let schema = Schema::default_crm();
    let position = |name: &str| schema.entity_names().position(|n| n == name);
    for relation in schema.relations() {
        for parent in &relation.parents {
            assert!(position(parent.as_str()) < position(relation.child.as_str()));
        }
    }
}

#[test]
fn the_default_schema_follows_the_seeds_relation_rules() {
    let schema = Schema::default_crm();
    let rule = |child: &str, column: &str| {
        let child = crate::EntityName::parse(child).expect("valid name");
        schema
            .relation_for_column(&child, column)
            .map(|relation| relation.on_delete)
    };
    assert_eq!(rule("note", "contact_id"), Some(OnDelete::Cascade));
    assert_eq!(rule("activity", "contact_id"), Some(OnDelete::Cascade));
    assert_eq!(rule("message", "contact_id"), Some(OnDelete::Cascade));
    assert_eq!(rule("ticket", "contact_id"), Some(OnDelete::Cascade));
    assert_eq!(
        rule("campaign_membership", "contact_id"),
        Some(OnDelete::Cascade)
    );
    assert_eq!(rule("attachment", "owner_id"), Some(OnDelete::Cascade));
    assert_eq!(rule("contact", "company_id"), Some(OnDelete::Cascade));
    assert_eq!(rule("invoice", "contact_id"), Some(OnDelete::Restrict));
    assert_eq!(rule("invoice", "company_id"), Some(OnDelete::Restrict));
    assert_eq!(rule("deal", "contact_id"), Some(OnDelete::Restrict));
    assert_eq!(rule("project", "company_id"), Some(OnDelete::Restrict));
    assert_eq!(rule("time_entry", "contact_id"), Some(OnDelete::Restrict));
    assert_eq!(
        rule("ticket_comment", "contact_id"),
        Some(OnDelete::Anonymize)
    );
    assert_eq!(
        rule("survey_rating", "contact_id"),
        Some(OnDelete::Anonymize)
    );
}

#[test]
fn every_personal_field_of_the_default_schema_has_a_strategy() {
    let schema = Schema::default_crm();
    let contact = schema.entity("contact").expect("contact exists");
    let personal: Vec<&str> = contact
        .personal_columns()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        personal,
        [
            "first_name",
            "last_name",
            "email",
            "phone",
            "job_title",
            "address",
            "custom"
        ]
    );
    assert!(
        contact
            .personal_columns()
            .all(|column| column.anonymize.is_some())
    );
}

#[test]
fn the_activity_purge_precondition_is_read() {
    let schema = Schema::default_crm();
    let activity = schema.entity("activity").expect("activity exists");
    assert_eq!(activity.purge_preconditions.len(), 1);
    let precondition = &activity.purge_preconditions[0];
    assert_eq!(precondition.when[0].0.as_str(), "kind");
    assert_eq!(precondition.require[0].1, ["removed", "verified"]);
}

#[test]
fn an_owner_field_makes_two_columns_and_one_relation() {
    let schema = Schema::default_crm();
    let attachment = schema.entity("attachment").expect("attachment exists");
    assert!(matches!(
        attachment.column("owner_entity").map(|c| &c.value_type),
        Some(ValueType::OwnerEntity { .. })
    ));
    assert_eq!(
        attachment.column("owner_id").map(|c| &c.value_type),
        Some(&ValueType::Reference)
    );
}

#[test]
fn the_effective_schema_reads_back_as_the_same_schema() {
    let schema = Schema::default_crm();
    let again = Schema::from_toml(&schema.to_toml()).expect("rendered schema is valid");
    assert_eq!(schema, again);
}

#[test]
fn an_unknown_type_is_named_with_a_suggestion() {
    let problems = problems_of(
        r#"version = 1
[entities.person]
fields.name = { type = "txet" }
"#,
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("entities.person.fields.name"),
        "{problems:?}"
    );
    assert!(
        problems[0].contains("unknown type `txet`; did you mean `text`?"),
        "{problems:?}"
    );
}

#[test]
fn a_relation_to_an_unknown_entity_is_refused() {
    let problems = problems_of(
        r#"version = 1
[entities.person]
fields.name = { type = "text" }
[entities.note]
fields.person_id = { type = "reference", to = "persno", on_delete = "cascade" }
"#,
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("unknown entity `persno`; did you mean `person`?")),
        "{problems:?}"
    );
}

#[test]
fn a_personal_field_without_a_strategy_is_refused() {
    let problems = problems_of(
        r#"version = 1
[entities.person]
fields.email = { type = "text", personal = true }
"#,
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("needs an anonymisation strategy")),
        "{problems:?}"
    );
}

#[test]
fn a_duplicate_name_is_refused() {
    // TOML itself rejects a key defined twice; Lethe reports it as a syntax error with a line.
    let problems = problems_of(
        r#"version = 1
[entities.person]
fields.name = { type = "text" }
fields.name = { type = "integer" }
"#,
    );
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("duplicate key"), "{problems:?}");
    assert!(problems[0].contains("line 4"), "{problems:?}");
}

#[test]
fn an_owner_column_clashing_with_a_field_is_refused() {
    let problems = problems_of(
        r#"version = 1
[entities.person]
fields.name = { type = "text" }
[entities.file]
fields.owner_id = { type = "integer" }
fields.owner = { type = "owner", entities = ["person"], on_delete = "cascade" }
"#,
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`owner_id` is defined twice")),
        "{problems:?}"
    );
}

#[test]
fn builtin_column_names_are_reserved() {
    let problems = problems_of(
        r#"version = 1
[entities.person]
fields.created_at = { type = "timestamp" }
"#,
    );
    assert!(
        problems.iter().any(|p| p.contains("built-in column")),
        "{problems:?}"
    );
}

#[test]
fn a_relation_cycle_is_refused() {
    let problems = problems_of(
        r#"version = 1
[entities.a]
fields.b_id = { type = "reference", to = "b", on_delete = "cascade" }
[entities.b]
fields.a_id = { type = "reference", to = "a", on_delete = "cascade" }
"#,
    );
    assert!(
        problems.iter().any(|p| p.contains("cycle among a, b")),
        "{problems:?}"
    );
}

#[test]
fn many_problems_are_reported_at_once() {
    let problems = problems_of(
        r#"version = 2
[entities.Person]
fields.name = { type = "text" }
[entities.note]
fields.kind = { type = "enum" }
fields.who = { type = "reference", to = "note", on_delete = "explode" }
fields.flag = { type = "boolean", default = "yes" }
"#,
    );
    assert!(problems.len() >= 5, "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("schema version 1")));
    assert!(problems.iter().any(|p| p.contains("entities.Person")));
    assert!(problems.iter().any(|p| p.contains("needs `values")));
    assert!(
        problems
            .iter()
            .any(|p| p.contains("unknown on_delete rule `explode`"))
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("does not fit a boolean field"))
    );
}

#[test]
fn set_null_on_a_required_link_is_refused() {
    let problems = problems_of(
        r#"version = 1
[entities.person]
fields.name = { type = "text" }
[entities.note]
fields.person_id = { type = "reference", to = "person", on_delete = "set_null", required = true }
"#,
    );
    assert!(
        problems.iter().any(|p| p.contains("not required")),
        "{problems:?}"
    );
}

#[test]
fn an_unknown_option_is_a_syntax_error_with_its_line() {
    let problems = problems_of(
        r#"version = 1
[entities.person]
fields.name = { type = "text", requird = true }
"#,
    );
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("requird"), "{problems:?}");
    assert!(problems[0].contains("line 3"), "{problems:?}");
}
