//! The document cannot drift from the code: every derived component is checked against values
//! of its Rust type, serialised the way the API sends them.
//!
//! The values are built as struct literals, so a new field of any of these types does not
//! compile here until it is given a value, and that value is then checked against the
//! document: with its schema closed (no undeclared property passes), a field the schema does
//! not follow (a `#[schemars(skip)]`, a `#[serde(with)]` that changes its type, a hand-written
//! component put back in place of the derived one) fails the test. Options are checked both
//! set and null, and enums with every variant.

use std::collections::{BTreeMap, BTreeSet};

use axum::response::IntoResponse;
use lethe_schema::Schema;
use lethe_store::{
    BatchState, DeletionBatch, Delivery, DeliverySettings, EntityCount, EntityStats, FileStats,
    HeldBatch, HeldReason, HistoryEntry, HistoryProblem, HistoryVerification, Job, JobKind,
    JobState, KindChoice, Notification, PolicyRun, Preview, RetentionPolicy, Role, SavedSelection,
    Scope, SetOperator, Skip, Snapshot, StateCounts, Stats, StatsTotals, StoreError, TokenInfo,
    User, Webhook,
};
use lethe_testkit::openapi::{check_component, strict};
use serde::Serialize;
use serde_json::{Value, json};

use super::{derived_components, document};
use crate::ApiError;
use crate::error::ErrorBody;
use crate::lifecycle::{JobSkip, VerificationAnswer};

mod import_samples;
mod monitor_samples;
use import_samples::import_samples;
use monitor_samples::monitor_samples;

/// A timestamp the way the store writes one.
fn at(second: i64) -> String {
    lethe_store::format_timestamp(
        time::macros::datetime!(2026-05-01 12:00:00 UTC) + time::Duration::seconds(second),
    )
}

fn to_values<T: Serialize>(items: impl IntoIterator<Item = T>) -> Vec<Value> {
    items
        .into_iter()
        .map(|item| serde_json::to_value(item).unwrap())
        .collect()
}

fn skip(kind: &str, entity: Option<&str>) -> Skip {
    Skip {
        record_id: 12,
        kind: kind.to_owned(),
        entity: entity.map(str::to_owned),
        count: u64::from(entity.is_some()),
        reason: "invoice.contact_id restricts deleting it".to_owned(),
    }
}

fn job(kind: JobKind, state: JobState, set: bool) -> Job {
    let per_entity = BTreeMap::from([("contact".to_owned(), 3), ("note".to_owned(), 7)]);
    Job {
        id: 5,
        kind,
        state,
        entity: "contact".to_owned(),
        batch_id: set.then_some(2),
        snapshot_id: Some(9),
        done: 3,
        total: 4,
        counts: per_entity.clone(),
        skipped: 1,
        blocked: 0,
        rewritten: if set { per_entity } else { BTreeMap::new() },
        not_before: set.then(|| at(600)),
        receipt: set.then(
            || json!({"job": 5, "erased": {"contact": 3}, "database": {"backend": "sqlite"}}),
        ),
        reason: set.then(|| "consent withdrawn".to_owned()),
        source: "filter: last_name = hash:1f2e".to_owned(),
        actor: "admin".to_owned(),
        started_by: set.then_some(1),
        batch_size: 5_000,
        created_at: at(0),
        started_at: set.then(|| at(1)),
        finished_at: set.then(|| at(2)),
        error: set.then(|| "the database went away".to_owned()),
        rate_per_second: set.then_some(1.5),
        seconds_left: set.then_some(0.0),
    }
}

fn counts(base: u64) -> StateCounts {
    StateCounts {
        active: base,
        trashed: base + 1,
        pending_purge: base + 2,
        held: base + 3,
    }
}

fn file_stats() -> FileStats {
    FileStats {
        count: counts(1),
        bytes: counts(1_024),
    }
}

fn held_reason(blocked_by: Option<&str>) -> HeldReason {
    HeldReason {
        blocked_by: blocked_by.map(str::to_owned),
        reason: "restrict".to_owned(),
        members: 2,
    }
}

fn held_batch(entity: Option<&str>) -> HeldBatch {
    HeldBatch {
        batch: 4,
        entity: entity.map(str::to_owned),
        purge_job: 6,
        reasons: vec![held_reason(Some("invoice")), held_reason(None)],
    }
}

fn entity_stats(files: Option<FileStats>) -> EntityStats {
    EntityStats {
        entity: "contact".to_owned(),
        records: counts(10),
        holds_files: files.is_none(),
        files,
    }
}

fn verification(problem: Option<HistoryProblem>) -> HistoryVerification {
    HistoryVerification {
        entries: 12,
        head: "ab".repeat(32),
        head_seq: 12,
        key_fingerprint: "hmac-sha256:1f2e3d".to_owned(),
        anchor_file: problem
            .is_none()
            .then(|| "/var/lib/lethe/anchor".to_owned()),
        anchored_heads: 3,
        first_problem: problem,
    }
}

/// The body of `error` as the API sends it.
async fn error_body(error: ApiError) -> Value {
    let response = error.into_response();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Values of every derived component, by component name.
async fn samples() -> BTreeMap<&'static str, Vec<Value>> {
    let mut samples = BTreeMap::new();
    let mut errors = to_values([ErrorBody {
        error: "unknown field `nmae` on contact".to_owned(),
        code: "unknown_field",
        field: Some("nmae".to_owned()),
    }]);
    for error in [
        ApiError::Unauthorized,
        ApiError::BadRequest("limit must be between 1 and 1000".to_owned()),
        ApiError::Store(StoreError::UnknownField {
            entity: "contact".to_owned(),
            field: "nmae".to_owned(),
            suggestion: Some("name".to_owned()),
        }),
        ApiError::Store(StoreError::Internal("a broken invariant".to_owned())),
    ] {
        errors.push(error_body(error).await);
    }
    samples.insert("Error", errors);
    samples.insert(
        "User",
        to_values([
            User {
                id: 1,
                name: "admin".to_owned(),
                role: Role::Admin,
            },
            User {
                id: 2,
                name: "ana@example.org".to_owned(),
                role: Role::User,
            },
        ]),
    );
    samples.insert("Role", to_values([Role::Admin, Role::User]));
    samples.insert(
        "Token",
        to_values([
            TokenInfo {
                id: 3,
                user_id: 1,
                label: "laptop".to_owned(),
                created_at: at(0),
                revoked_at: None,
            },
            TokenInfo {
                id: 4,
                user_id: 1,
                label: "old".to_owned(),
                created_at: at(0),
                revoked_at: Some(at(60)),
            },
        ]),
    );
    samples.insert(
        "SavedSelection",
        to_values([
            SavedSelection {
                id: 1,
                name: "lapsed".to_owned(),
                entity: "contact".to_owned(),
                kind: "dynamic".to_owned(),
                filter: Some("last_name = \"Doe\"".to_owned()),
                operator: None,
                parts: Vec::new(),
                description: "no consent".to_owned(),
                created_by: Some(1),
            },
            SavedSelection {
                id: 2,
                name: "both".to_owned(),
                entity: "contact".to_owned(),
                kind: "combined".to_owned(),
                filter: None,
                operator: Some(SetOperator::Union),
                parts: vec!["lapsed".to_owned(), "picked".to_owned()],
                description: String::new(),
                created_by: None,
            },
        ]),
    );
    samples.insert(
        "SetOperator",
        to_values([
            SetOperator::Union,
            SetOperator::Intersection,
            SetOperator::Difference,
        ]),
    );
    let scopes = [Scope::Active, Scope::Trashed, Scope::All];
    samples.insert("Scope", to_values(scopes));
    samples.insert(
        "Snapshot",
        to_values(scopes.map(|scope| Snapshot {
            id: 9,
            entity: "contact".to_owned(),
            scope: scope.as_str().to_owned(),
            source: "selection: lapsed, plus 2 ticked".to_owned(),
            member_count: 4,
            note: String::new(),
            created_at: at(0),
            created_by: (scope != Scope::All).then_some(1),
        })),
    );
    let skips = [
        skip("gone", None),
        skip("state", None),
        skip("blocked", Some("invoice")),
    ];
    samples.insert("Skip", to_values(&skips));
    samples.insert(
        "JobSkip",
        to_values(skips.iter().map(|skip| JobSkip {
            message: skip.message("contact"),
            skip: skip.clone(),
        })),
    );
    let entity_count = EntityCount {
        entity: "note".to_owned(),
        records: 7,
    };
    samples.insert(
        "EntityCount",
        to_values(std::slice::from_ref(&entity_count)),
    );
    samples.insert(
        "Preview",
        to_values([
            Preview {
                operation: "trash".to_owned(),
                entity: "contact".to_owned(),
                snapshot_id: 9,
                members: 4,
                not_applicable: 1,
                blocked: 1,
                blocked_sample: skips.to_vec(),
                acted_on: vec![entity_count.clone()],
                rewritten: vec![entity_count],
            },
            Preview {
                operation: "purge".to_owned(),
                entity: "contact".to_owned(),
                snapshot_id: 0,
                members: 0,
                not_applicable: 0,
                blocked: 0,
                blocked_sample: Vec::new(),
                acted_on: Vec::new(),
                rewritten: Vec::new(),
            },
        ]),
    );
    samples.insert("JobKind", to_values(JobKind::ALL));
    samples.insert("JobState", to_values(JobState::ALL));
    let mut jobs = Vec::new();
    for kind in JobKind::ALL {
        for state in JobState::ALL {
            jobs.push(job(kind, state, true));
            jobs.push(job(kind, state, false));
        }
    }
    samples.insert("Job", to_values(&jobs));
    samples.insert("BatchState", to_values(BatchState::ALL));
    samples.insert(
        "DeletionBatch",
        to_values(BatchState::ALL.iter().flat_map(|&state| {
            [true, false].map(|set| DeletionBatch {
                id: 2,
                entity: set.then(|| "contact".to_owned()),
                state,
                reason: set.then(|| "consent withdrawn".to_owned()),
                created_at: at(0),
                created_by: set.then_some(1),
                snapshot_id: set.then_some(9),
                job_id: set.then_some(5),
            })
        })),
    );
    samples.insert(
        "HistoryEntry",
        to_values([
            HistoryEntry {
                id: 1,
                at: at(0),
                actor_id: Some(1),
                actor_name: "admin".to_owned(),
                action: "trash.requested".to_owned(),
                entity: Some("contact".to_owned()),
                details: json!({"members": 4, "reason": "consent withdrawn"}),
                prev_hash: "0".repeat(64),
                hash: "ab".repeat(32),
                seq: 1,
            },
            HistoryEntry {
                id: 2,
                at: at(1),
                actor_id: None,
                actor_name: "operator".to_owned(),
                action: "token.revoked".to_owned(),
                entity: None,
                details: Value::Null,
                prev_hash: "ab".repeat(32),
                hash: "cd".repeat(32),
                seq: 2,
            },
        ]),
    );
    let problem = HistoryProblem {
        id: 0,
        problem: "the anchor file names a head the history does not have".to_owned(),
    };
    samples.insert("HistoryProblem", to_values(std::slice::from_ref(&problem)));
    samples.insert(
        "HistoryVerification",
        to_values([None, Some(problem)].map(|problem| {
            let verification = verification(problem);
            VerificationAnswer {
                intact: verification.is_intact(),
                verification,
            }
        })),
    );
    samples.insert(
        "Notification",
        to_values([
            Notification {
                id: 1,
                at: at(0),
                kind: "purge_requested".to_owned(),
                message: "admin asked to purge deletion batch 2".to_owned(),
                job_id: Some(5),
                read: false,
            },
            Notification {
                id: 2,
                at: at(1),
                kind: "records_blocked".to_owned(),
                message: "1 contact was blocked".to_owned(),
                job_id: None,
                read: true,
            },
        ]),
    );
    samples.insert("StateCounts", to_values([counts(0), counts(7)]));
    samples.insert("FileStats", to_values([file_stats()]));
    samples.insert(
        "EntityStats",
        to_values([entity_stats(Some(file_stats())), entity_stats(None)]),
    );
    let totals = StatsTotals {
        records: counts(20),
        files: file_stats(),
    };
    samples.insert("StatsTotals", to_values([totals]));
    samples.insert("HeldReason", to_values([held_reason(None)]));
    samples.insert(
        "HeldBatch",
        to_values([held_batch(Some("contact")), held_batch(None)]),
    );
    samples.insert(
        "Stats",
        to_values([
            Stats {
                entities: vec![entity_stats(Some(file_stats())), entity_stats(None)],
                totals,
                held: vec![held_batch(Some("contact"))],
                held_batches: 1,
            },
            Stats {
                entities: Vec::new(),
                totals: StatsTotals::default(),
                held: Vec::new(),
                held_batches: 0,
            },
        ]),
    );
    let choices = [true, false].map(|email| KindChoice {
        kind: "purge_requested".to_owned(),
        title: "a permanent deletion was requested".to_owned(),
        heard_by: "every admin".to_owned(),
        email,
    });
    samples.insert("KindChoice", to_values(&choices));
    samples.insert(
        "DeliverySettings",
        to_values([
            DeliverySettings {
                user: "ann".to_owned(),
                email: Some("dpo@example.org".to_owned()),
                kinds: choices.to_vec(),
            },
            DeliverySettings {
                user: "bob".to_owned(),
                email: None,
                kinds: Vec::new(),
            },
        ]),
    );
    samples.insert(
        "Webhook",
        to_values([
            Webhook {
                id: 1,
                url: "https://hooks.example.org/lethe".to_owned(),
                events: "*".to_owned(),
                created_by: Some("ann".to_owned()),
                created_at: at(0),
            },
            Webhook {
                id: 2,
                url: "http://127.0.0.1:8080/in".to_owned(),
                events: "purge_failed,purge_requested".to_owned(),
                created_by: None,
                created_at: at(1),
            },
        ]),
    );
    samples.insert(
        "DeliveryCounts",
        to_values([
            lethe_store::DeliveryCounts::default(),
            lethe_store::DeliveryCounts {
                waiting: 3,
                delivered: 120,
                given_up: 1,
            },
        ]),
    );
    samples.insert(
        "Delivery",
        to_values([
            Delivery {
                id: 3,
                channel: "email".to_owned(),
                kind: "purge_requested".to_owned(),
                to: "dpo@example.org".to_owned(),
                user: Some("ann".to_owned()),
                webhook_id: None,
                subject: "Lethe: a permanent deletion was requested".to_owned(),
                job_id: Some(5),
                created_at: at(0),
                attempts: 0,
                state: "waiting".to_owned(),
                next_try_at: Some(at(30)),
                last_error: None,
                delivered_at: None,
                given_up_at: None,
            },
            Delivery {
                id: 4,
                channel: "webhook".to_owned(),
                kind: "purge_failed".to_owned(),
                to: "https://hooks.example.org/lethe".to_owned(),
                user: None,
                webhook_id: Some(1),
                subject: "Lethe: a permanent deletion failed".to_owned(),
                job_id: None,
                created_at: at(0),
                attempts: 8,
                state: "given_up".to_owned(),
                next_try_at: None,
                last_error: Some("connection refused".to_owned()),
                delivered_at: Some(at(60)),
                given_up_at: Some(at(90)),
            },
        ]),
    );
    let links = [
        lethe_store::RequestLink {
            batch_id: Some(4),
            job_id: None,
            state: "purged".to_owned(),
            receipt: None,
            linked_at: at(0),
        },
        lethe_store::RequestLink {
            batch_id: None,
            job_id: Some(9),
            state: "done".to_owned(),
            receipt: Some("/purges/9/receipt".to_owned()),
            linked_at: at(1),
        },
    ];
    samples.insert("RequestLink", to_values(&links));
    let open = lethe_store::SubjectRequest {
        id: 1,
        kind: "erasure".to_owned(),
        subject_email: Some("ann@example.org".to_owned()),
        subject_contact_id: None,
        subject_tag: "hash:0123456789abcdef0123456789abcdef".to_owned(),
        received_at: at(0),
        due_at: at(1),
        extended_until: Some(at(2)),
        extension_reason: Some("three systems".to_owned()),
        deadline: at(2),
        days_left: -3,
        overdue: true,
        status: "in_progress".to_owned(),
        refusal_reason: None,
        assignee: Some("ula".to_owned()),
        created_by: None,
        created_at: at(0),
        closed_at: None,
        reminded_at: Some(at(1)),
        overdue_notified_at: Some(at(2)),
        links: links.to_vec(),
        ready_to_close: true,
    };
    let closed = lethe_store::SubjectRequest {
        subject_email: None,
        extended_until: None,
        extension_reason: None,
        status: "refused".to_owned(),
        refusal_reason: Some("manifestly unfounded".to_owned()),
        assignee: None,
        created_by: Some("ann".to_owned()),
        closed_at: Some(at(3)),
        reminded_at: None,
        overdue_notified_at: None,
        links: Vec::new(),
        overdue: false,
        ready_to_close: false,
        ..open.clone()
    };
    samples.insert("SubjectRequest", to_values([open, closed]));
    monitor_samples(&mut samples);
    import_samples(&mut samples);
    let policy = |enabled: bool, selection: Option<&str>| RetentionPolicy {
        id: 1,
        name: "prospects-3y".to_owned(),
        entity: "contact".to_owned(),
        filter: if selection.is_some() {
            String::new()
        } else {
            "created_at < now - 3y".to_owned()
        },
        selection: selection.map(str::to_owned),
        action: "trash".to_owned(),
        schedule: "0 3 * * *".to_owned(),
        time_zone: "Europe/Oslo".to_owned(),
        schedule_words: "at 03:00 every day (Europe/Oslo)".to_owned(),
        legal_basis: "GDPR Art. 5(1)(e)".to_owned(),
        owner: enabled.then(|| "ann".to_owned()),
        enabled,
        approved_by: enabled.then(|| "bob".to_owned()),
        approved_at: enabled.then(|| at(10)),
        changed_by: Some("ann".to_owned()),
        changed_at: at(0),
        next_run_at: enabled.then(|| at(3_600)),
    };
    samples.insert(
        "RetentionPolicy",
        to_values([policy(true, None), policy(false, Some("stale-leads"))]),
    );
    let run = |kind: &str, finished: bool| PolicyRun {
        id: 7,
        policy: "prospects-3y".to_owned(),
        kind: kind.to_owned(),
        due_at: (kind == "scheduled").then(|| at(3_600)),
        snapshot_id: finished.then_some(12),
        job_id: (kind != "dry_run" && finished).then_some(40),
        dry_run_id: (kind == "run").then_some(6),
        members: 41,
        counts: serde_json::json!({"acted_on": [{"entity": "contact", "records": 41}]}),
        actor: "ann".to_owned(),
        at: at(20),
        finished,
    };
    samples.insert(
        "PolicyRun",
        to_values([
            run("dry_run", true),
            run("run", true),
            run("scheduled", false),
        ]),
    );
    samples
}

#[tokio::test]
async fn every_derived_component_matches_values_of_its_type() {
    let derived = derived_components();
    let samples = samples().await;
    // Every derived component has values here, and nothing is checked that is not derived.
    assert_eq!(
        derived.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        samples.keys().copied().collect::<BTreeSet<_>>(),
        "derived components (left) and the components this test has values for (right)"
    );
    let served = document(&Schema::default_crm());
    let strict = strict(&served);
    let mut failures = Vec::new();
    for (name, values) in &samples {
        // The served document carries the derived component, not a hand-written stand-in.
        assert_eq!(
            served["components"]["schemas"][name], derived[*name],
            "the served `{name}` is not the derived one"
        );
        let wrong: Vec<String> = values
            .iter()
            .filter_map(|value| {
                let problems = check_component(&strict, name, value).err()?;
                Some(format!("{name}: {value}\n{problems}"))
            })
            .collect();
        // A few values say what is wrong; the count says how widely.
        failures.extend(wrong.iter().take(2).cloned());
        if wrong.len() > 2 {
            failures.push(format!("… and {} more {name} values", wrong.len() - 2));
        }
    }
    assert!(
        failures.is_empty(),
        "values the document does not describe:\n\n{}",
        failures.join("\n\n")
    );
}

/// Every `$ref` in `value`.
fn references<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                match (key.as_str(), child) {
                    ("$ref", Value::String(target)) => found.push(target),
                    _ => references(child, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, found)),
        _ => {}
    }
}

#[test]
fn every_reference_in_the_document_resolves() {
    let served = document(&Schema::default_crm());
    let mut found = Vec::new();
    references(&served, &mut found);
    assert!(found.len() > 50, "only {} references", found.len());
    for target in found {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("`{target}` is not a reference into the document"));
        assert!(
            served.pointer(pointer).is_some(),
            "`{target}` points at nothing"
        );
    }
}

#[test]
fn derived_components_do_not_meet_entity_names() {
    // Entity names are lower case, derived components are named like Rust types: an entity's
    // record component can never replace a derived one.
    for name in derived_components().keys() {
        assert!(
            name.starts_with(|c: char| c.is_ascii_uppercase()),
            "`{name}` could be an entity's name"
        );
    }
}
