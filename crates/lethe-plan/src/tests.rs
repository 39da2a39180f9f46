use lethe_schema::{OnDelete, Schema};

use crate::{CheckKind, Operation, PlanError, plan};

fn default_schema() -> Schema {
    Schema::default_crm()
}

fn described(reaches: impl Iterator<Item = String>) -> Vec<String> {
    let mut all: Vec<String> = reaches.collect();
    all.sort();
    all
}

#[test]
fn trashing_a_contact_follows_every_cascade_path_shallowest_first() {
    let schema = default_schema();
    let plan = plan(&schema, "contact", Operation::Trash).expect("plans");
    let root = plan.root.clone();
    let paths = described(plan.cascade.iter().map(|reach| reach.describe(&root)));
    assert_eq!(
        paths,
        vec![
            "contact → activity.contact_id",
            "contact → attachment.owner_id",
            "contact → campaign_membership.contact_id",
            "contact → consent.contact_id",
            "contact → message.contact_id",
            "contact → note.contact_id",
            "contact → ticket.contact_id",
            "contact → ticket.contact_id → attachment.owner_id",
            "contact → ticket.contact_id → survey_rating.ticket_id",
            "contact → ticket.contact_id → ticket_comment.ticket_id",
        ]
    );
    let depths: Vec<usize> = plan.cascade.iter().map(|reach| reach.depth()).collect();
    let mut sorted = depths.clone();
    sorted.sort_unstable();
    assert_eq!(depths, sorted, "shallowest first");
    // The polymorphic hop names which owner type it follows.
    let attachment = plan
        .cascade
        .iter()
        .find(|reach| reach.depth() == 1 && reach.entity == "attachment")
        .expect("attachment path");
    let (column, owner) = attachment.path[0]
        .discriminator
        .clone()
        .expect("owner discriminator");
    assert_eq!(column.as_str(), "owner_entity");
    assert_eq!(owner.as_str(), "contact");
    assert!(plan.rewrites.is_empty(), "trash rewrites no links");
}

#[test]
fn restrict_children_block_and_preconditions_only_block_a_purge() {
    let schema = default_schema();
    let trash = plan(&schema, "contact", Operation::Trash).expect("plans");
    let root = trash.root.clone();
    let restricts = described(
        trash
            .checks
            .iter()
            .filter(|check| check.kind == CheckKind::Restrict)
            .map(|check| check.target.describe(&root)),
    );
    assert_eq!(
        restricts,
        vec![
            "contact → deal.contact_id",
            "contact → invoice.contact_id",
            "contact → project.contact_id",
            "contact → time_entry.contact_id",
        ]
    );
    assert!(
        trash
            .checks
            .iter()
            .all(|check| check.kind == CheckKind::Restrict),
        "no purge precondition on a trash"
    );

    let purge = plan(&schema, "contact", Operation::Purge).expect("plans");
    let preconditions: Vec<String> = purge
        .checks
        .iter()
        .filter(|check| matches!(check.kind, CheckKind::Precondition(_)))
        .map(|check| check.target.describe(&root))
        .collect();
    assert_eq!(preconditions, vec!["contact → activity.contact_id"]);
}

#[test]
fn a_purge_rewrites_set_null_and_anonymize_links_of_everything_it_erases() {
    let schema = default_schema();
    let purge = plan(&schema, "contact", Operation::Purge).expect("plans");
    let root = purge.root.clone();
    let rewrites = described(purge.rewrites.iter().map(|rewrite| {
        format!(
            "{} {}",
            rewrite.target.describe(&root),
            rewrite.rule.as_str()
        )
    }));
    assert_eq!(
        rewrites,
        vec![
            "contact → survey_rating.contact_id anonymize",
            "contact → ticket_comment.contact_id anonymize",
        ]
    );
    assert!(
        purge.rewrites.iter().all(
            |rewrite| rewrite.target.path.last().map(|hop| hop.on_delete) == Some(rewrite.rule)
        )
    );
}

#[test]
fn a_company_takes_its_contacts_and_their_children_with_it() {
    let schema = default_schema();
    let plan = plan(&schema, "company", Operation::Trash).expect("plans");
    let entities: Vec<String> = plan.entities().iter().map(ToString::to_string).collect();
    assert_eq!(entities[0], "company");
    assert!(entities.contains(&"contact".to_owned()));
    assert!(entities.contains(&"ticket_comment".to_owned()));
    let contact_position = entities.iter().position(|name| name == "contact");
    let note_position = entities.iter().position(|name| name == "note");
    assert!(contact_position < note_position, "parents before children");
    // A company's contacts' invoices block the company, two hops away.
    let root = plan.root.clone();
    assert!(
        plan.checks.iter().any(|check| check.target.describe(&root)
            == "company → contact.company_id → invoice.contact_id")
    );
}

#[test]
fn a_leaf_entity_reaches_nothing_and_an_unknown_one_is_refused() {
    let schema = default_schema();
    let plan = plan(&schema, "note", Operation::Purge).expect("plans");
    assert!(plan.cascade.is_empty());
    assert!(plan.checks.is_empty());
    assert!(plan.rewrites.is_empty());
    assert_eq!(
        crate::plan(&schema, "contcat", Operation::Trash),
        Err(PlanError::UnknownEntity("contcat".to_owned()))
    );
}

#[test]
fn every_cascade_hop_is_a_cascade_relation() {
    let schema = default_schema();
    for entity in schema.entities() {
        let plan = plan(&schema, entity.name.as_str(), Operation::Purge).expect("plans");
        for reach in &plan.cascade {
            assert!(
                reach
                    .path
                    .iter()
                    .all(|hop| hop.on_delete == OnDelete::Cascade)
            );
        }
    }
}

#[test]
fn a_purge_touches_its_cascade_and_the_records_whose_links_it_rewrites() {
    let schema = Schema::from_toml(
        r#"
version = 1

[entities.org]
fields.name = { type = "text", required = true }

[entities.person]
fields.org_id = { type = "reference", to = "org", on_delete = "set_null" }
fields.name = { type = "text", personal = true, anonymize = "fixed", anonymize_value = "Gone" }

[entities.badge]
fields.org_id = { type = "reference", to = "org", on_delete = "cascade", required = true }
"#,
    )
    .expect("a valid schema");
    let purge = plan(&schema, "org", Operation::Purge).expect("plans");
    let names = |entities: Vec<lethe_schema::EntityName>| -> Vec<String> {
        entities.iter().map(ToString::to_string).collect()
    };
    assert_eq!(names(purge.entities()), ["org", "badge"]);
    assert_eq!(names(purge.touched_entities()), ["org", "badge", "person"]);
    // Trashing rewrites no links, so it touches only what it hides.
    let trash = plan(&schema, "org", Operation::Trash).expect("plans");
    assert_eq!(names(trash.touched_entities()), ["org", "badge"]);
    // The default schema's anonymised children are already in the contact's cascade.
    let contact = plan(&default_schema(), "contact", Operation::Purge).expect("plans");
    assert_eq!(contact.touched_entities(), contact.entities());
}

#[test]
fn related_records_follow_every_relation_and_come_parents_first() {
    let schema = default_schema();
    let related = crate::related(&schema, "contact").expect("plans");
    let entities: Vec<&str> = related.iter().map(|r| r.entity.as_str()).collect();
    // Every relation, whatever its rule: restrict (deal, project, invoice), anonymize
    // (ticket_comment, survey_rating) and cascade alike, and through them.
    for expected in [
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
        assert!(entities.contains(&expected), "{expected} in {entities:?}");
    }
    assert!(
        !entities.contains(&"contact"),
        "the members are not related to themselves"
    );
    assert!(
        !entities.contains(&"company"),
        "parents are not related records"
    );
    // Each entity once, with every path to it.
    let comment = related
        .iter()
        .find(|r| r.entity == "ticket_comment")
        .expect("ticket_comment");
    let root = lethe_schema::EntityName::parse("contact").expect("name");
    let paths = described(comment.paths.iter().map(|reach| reach.describe(&root)));
    assert_eq!(
        paths,
        vec![
            "contact → ticket.contact_id → ticket_comment.ticket_id",
            "contact → ticket_comment.contact_id",
        ]
    );
    // Parents first: every entity comes after each other one it has a relation to.
    for (index, item) in related.iter().enumerate() {
        for relation in schema.relations_from(&item.entity) {
            for later in &related[index + 1..] {
                assert!(
                    !relation.points_to(&later.entity),
                    "{} refers to {}, which comes after it",
                    item.entity,
                    later.entity
                );
            }
        }
    }
    assert!(matches!(
        crate::related(&schema, "nobody"),
        Err(PlanError::UnknownEntity(_))
    ));
}
