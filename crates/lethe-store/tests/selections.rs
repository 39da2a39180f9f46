//! Saved selections (dynamic, static, combined) and snapshots on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use lethe_schema::Schema;
use lethe_store::{
    Actor, DatabaseUrl, ListQuery, MemberPick, PickSource, Scope, SelectionDefinition, SetOperator,
    Store,
};
use lethe_testkit::{TestDatabase, both_backends};
use serde_json::{Value as Json, json};

async fn open(database: &TestDatabase) -> Store {
    let store = Store::open(
        &DatabaseUrl::parse(&database.url).unwrap(),
        Schema::default_crm(),
        &support::options(lethe_store::Clock::system()),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    store
}

async fn contact(store: &Store, name: &str, category: &str) -> i64 {
    let input = json!({"last_name": name, "category": category});
    store
        .create_record("contact", input.as_object().unwrap(), None)
        .await
        .unwrap()
        .id
}

async fn set(store: &Store, id: i64, change: Json) {
    store
        .update_record("contact", id, change.as_object().unwrap(), None)
        .await
        .unwrap();
}

async fn snapshot_ids(store: &Store, id: i64) -> Vec<i64> {
    let query = ListQuery {
        limit: Some(1000),
        ..Default::default()
    };
    store
        .snapshot_page(id, &query)
        .await
        .unwrap()
        .records
        .iter()
        .map(|r| r.id)
        .collect()
}

both_backends!(
    saved_selections_are_dynamic_static_or_combined,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let a = contact(&store, "A", "prospect").await;
        let b = contact(&store, "B", "prospect").await;
        let c = contact(&store, "C", "lost").await;
        let prospects = store
            .parse_filter("contact", "category = \"prospect\"")
            .unwrap();
        store
            .save_selection(
                "prospects",
                "contact",
                &SelectionDefinition::Dynamic(prospects),
                "all prospects",
                None,
            )
            .await
            .unwrap();
        store
            .save_selection(
                "picked",
                "contact",
                &SelectionDefinition::Static(vec![b, c, c]),
                "",
                None,
            )
            .await
            .unwrap();
        let count = |name: &'static str| {
            let store = store.clone();
            async move { store.count_selection(name, Scope::Active).await.unwrap() }
        };
        assert_eq!(count("prospects").await, 2);
        assert_eq!(
            count("picked").await,
            2,
            "duplicates in the list count once"
        );

        for (name, operator, expected) in [
            ("either", SetOperator::Union, 3),
            ("both", SetOperator::Intersection, 1),
            ("prospects_not_picked", SetOperator::Difference, 1),
        ] {
            let definition = SelectionDefinition::Combined {
                operator,
                parts: vec!["prospects".into(), "picked".into()],
            };
            store
                .save_selection(name, "contact", &definition, "", None)
                .await
                .unwrap();
            assert_eq!(count(name).await, expected, "{name}");
        }
        let page = store
            .selection_page("prospects_not_picked", Scope::Active, &ListQuery::default())
            .await
            .unwrap();
        assert_eq!(
            page.records.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![a]
        );

        // Nested: (prospects ∪ picked) − both
        let nested = SelectionDefinition::Combined {
            operator: SetOperator::Difference,
            parts: vec!["either".into(), "both".into()],
        };
        store
            .save_selection("nested", "contact", &nested, "", None)
            .await
            .unwrap();
        assert_eq!(count("nested").await, 2);

        // Dynamic selections are re-evaluated; static ones keep their members.
        set(&store, c, json!({"category": "prospect"})).await;
        assert_eq!(count("prospects").await, 3);
        assert_eq!(count("picked").await, 2);
        assert_eq!(count("prospects_not_picked").await, 1);

        // Bad input: clear errors, nothing saved.
        let before = store.list_selections().await.unwrap().len();
        let error = store
            .save_selection(
                "prospects",
                "contact",
                &SelectionDefinition::Static(vec![a]),
                "",
                None,
            )
            .await
            .expect_err("taken");
        assert_eq!(
            error.to_string(),
            "a saved selection named `prospects` already exists"
        );
        let error = store
            .save_selection(
                "ghosts",
                "contact",
                &SelectionDefinition::Static(vec![a, 424242]),
                "",
                None,
            )
            .await
            .expect_err("missing");
        assert_eq!(error.to_string(), "these contact ids do not exist: 424242");
        let bad = SelectionDefinition::Combined {
            operator: SetOperator::Union,
            parts: vec!["prospcts".into(), "picked".into()],
        };
        let error = store
            .save_selection("typo", "contact", &bad, "", None)
            .await
            .expect_err("unknown part");
        assert_eq!(
            error.to_string(),
            "there is no saved selection `prospcts`; did you mean `prospects`?"
        );
        let companies = store.parse_filter("company", "").unwrap();
        store
            .save_selection(
                "companies",
                "company",
                &SelectionDefinition::Dynamic(companies),
                "",
                None,
            )
            .await
            .unwrap();
        let mixed = SelectionDefinition::Combined {
            operator: SetOperator::Union,
            parts: vec!["companies".into(), "picked".into()],
        };
        let error = store
            .save_selection("mixed", "company", &mixed, "", None)
            .await
            .expect_err("mixed entities");
        assert!(
            error
                .to_string()
                .contains("only selections of one entity can be combined"),
            "{error}"
        );
        let error = store
            .delete_selection("prospects", &Actor::operator())
            .await
            .expect_err("in use");
        assert!(
            error.to_string().starts_with("`prospects` is part of"),
            "{error}"
        );
        assert_eq!(
            store.list_selections().await.unwrap().len(),
            before + 1,
            "only `companies` was added"
        );

        store
            .delete_selection("nested", &Actor::operator())
            .await
            .unwrap();
        assert!(store.get_selection("nested").await.is_err());
    }
);

both_backends!(
    a_snapshot_freezes_all_matching_minus_unticked_plus_ticked,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let mut prospects = Vec::new();
        for index in 0..5 {
            prospects.push(contact(&store, &format!("P{index}"), "prospect").await);
        }
        let lost = contact(&store, "L", "lost").await;
        let filter = store
            .parse_filter("contact", "category = \"prospect\"")
            .unwrap();
        let pick = MemberPick {
            entity: "contact".into(),
            source: PickSource::Filter(filter),
            all_matching: true,
            include: vec![lost],
            exclude: vec![prospects[0], prospects[1]],
            scope: Scope::Active,
        };
        let (dpo, _) = store
            .add_user("dpo", lethe_store::Role::Admin)
            .await
            .unwrap();
        let snapshot = store
            .create_snapshot(&pick, "cleanup 2026", Some(dpo.id))
            .await
            .unwrap();
        assert_eq!(snapshot.member_count, 4);
        assert_eq!(snapshot.created_by, Some(dpo.id));
        assert_eq!(snapshot.note, "cleanup 2026");
        assert_eq!(
            snapshot.source,
            "all matching filter: category = \"prospect\"; 1 ticked on; 2 ticked off"
        );
        let mut expected = vec![prospects[2], prospects[3], prospects[4], lost];
        expected.sort();
        assert_eq!(snapshot_ids(&store, snapshot.id).await, expected);

        // Changes after the snapshot do not change its members.
        set(&store, prospects[2], json!({"category": "customer"})).await;
        contact(&store, "Late", "prospect").await;
        assert_eq!(snapshot_ids(&store, snapshot.id).await, expected);
        assert_eq!(
            store.get_snapshot(snapshot.id).await.unwrap().member_count,
            4
        );

        // A pick from a saved selection, ticked ids only.
        let only = MemberPick {
            entity: "contact".into(),
            source: PickSource::Selection("nothing-yet".into()),
            all_matching: false,
            include: vec![prospects[0]],
            exclude: vec![],
            scope: Scope::Active,
        };
        let error = store
            .create_snapshot(&only, "", None)
            .await
            .expect_err("unknown selection");
        assert!(
            error
                .to_string()
                .starts_with("there is no saved selection `nothing-yet`"),
            "{error}"
        );
        let filter = store.parse_filter("contact", "").unwrap();
        store
            .save_selection(
                "everyone",
                "contact",
                &SelectionDefinition::Dynamic(filter),
                "",
                None,
            )
            .await
            .unwrap();
        let only = MemberPick {
            source: PickSource::Selection("everyone".into()),
            ..only
        };
        let snapshot = store.create_snapshot(&only, "", None).await.unwrap();
        assert_eq!(snapshot_ids(&store, snapshot.id).await, vec![prospects[0]]);

        // Ticking a record that does not exist is refused and makes no snapshot.
        let ghost = MemberPick {
            include: vec![prospects[0], 987654],
            ..only.clone()
        };
        let error = store
            .create_snapshot(&ghost, "", None)
            .await
            .expect_err("ghost");
        assert_eq!(
            error.to_string(),
            "these ticked contact ids are not active records: 987654"
        );
        assert!(
            store.get_snapshot(snapshot.id + 1).await.is_err(),
            "no snapshot was written"
        );
        let nothing = MemberPick {
            include: vec![],
            ..only
        };
        assert!(store.create_snapshot(&nothing, "", None).await.is_err());
    }
);

both_backends!(
    a_saved_selection_can_be_changed_but_never_into_a_cycle,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let a = contact(&store, "A", "prospect").await;
        let b = contact(&store, "B", "lost").await;
        let dynamic =
            |text: &str| SelectionDefinition::Dynamic(store.parse_filter("contact", text).unwrap());
        store
            .save_selection(
                "prospects",
                "contact",
                &dynamic("category = \"prospect\""),
                "",
                None,
            )
            .await
            .unwrap();
        store
            .save_selection("lost", "contact", &dynamic("category = \"lost\""), "", None)
            .await
            .unwrap();
        let both = SelectionDefinition::Combined {
            operator: SetOperator::Union,
            parts: vec!["prospects".to_owned(), "lost".to_owned()],
        };
        store
            .save_selection("both", "contact", &both, "", None)
            .await
            .unwrap();
        assert_eq!(
            store.count_selection("both", Scope::Active).await.unwrap(),
            2
        );

        // A dynamic selection becomes a static one; the combination follows.
        let updated = store
            .update_selection(
                "prospects",
                &SelectionDefinition::Static(vec![b]),
                "now fixed",
                &Actor::operator(),
            )
            .await
            .unwrap();
        assert_eq!(updated.kind, "static");
        assert_eq!(updated.description, "now fixed");
        assert_eq!(
            store
                .count_selection("prospects", Scope::Active)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store.count_selection("both", Scope::Active).await.unwrap(),
            1
        );

        // A part may not come to contain the selection it is part of.
        let cycle = SelectionDefinition::Combined {
            operator: SetOperator::Union,
            parts: vec!["both".to_owned(), "prospects".to_owned()],
        };
        let refused = store
            .update_selection("lost", &cycle, "", &Actor::operator())
            .await;
        let message = refused.expect_err("a cycle").to_string();
        assert!(message.contains("cycle"), "{message}");
        assert_eq!(
            store.get_selection("lost").await.unwrap().kind,
            "dynamic",
            "unchanged"
        );
        // A filter about another entity is refused; so is an unknown selection.
        let wrong = SelectionDefinition::Dynamic(store.parse_filter("company", "all").unwrap());
        assert!(
            store
                .update_selection("lost", &wrong, "", &Actor::operator())
                .await
                .is_err()
        );
        assert!(
            store
                .update_selection("nope", &dynamic("all"), "", &Actor::operator())
                .await
                .is_err()
        );
        let _ = a;
    }
);
