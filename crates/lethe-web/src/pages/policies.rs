//! The retention policies pages for admins (SPEC §4): the list of policies, each with what it
//! acts on, its schedule in words and whether it runs, and a form to add one; and a policy's
//! own page, where an admin dry-runs it (what a run would do now, per entity type, with the
//! blocked records and why), runs exactly that dry run (typing the policy's name when the run
//! trashes, anonymises or purges), approves it as the second admin, enables, disables or
//! changes it, and reads its runs. The store asks the policy module on every step (admins
//! only; four eyes); the handlers ask first too, so a plain user hears that before anything.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lethe_store::{NewPolicy, PolicyEdit, PolicyRun, RetentionPolicy, StoreError, policy as rules};
use serde::Deserialize;

use crate::WebState;
use crate::pages::trash::grouped;
use crate::pages::{Frame, Problem, Section, problem_page, render, store_problem};
use crate::session::{Rejection, SignedForm, SignedIn};

/// The actions a policy can take, with what each does in words.
const ACTIONS: [(&str, &str); 4] = [
    ("notify", "tell its owner what it finds, to review"),
    ("trash", "move what it finds to the recycle bin"),
    ("anonymize", "anonymise what it finds (cannot be undone)"),
    (
        "purge",
        "request the permanent deletion of what its earlier runs left in the recycle bin",
    ),
];

/// The policy form as typed (adding or changing), with each field's error next to it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PolicyFields {
    #[serde(default)]
    name: String,
    #[serde(default)]
    entity: String,
    #[serde(default)]
    filter: String,
    #[serde(default)]
    selection: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    schedule: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    legal_basis: String,
    #[serde(default)]
    owner: String,
}

/// A field's error, by the field's name.
#[derive(Debug, Clone, Default)]
struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    fn of(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, message)| message.as_str())
    }
}

/// A form on a page: what was typed and what is wrong with it.
struct Form {
    fields: PolicyFields,
    errors: FieldErrors,
}

impl Form {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.of(field)
    }
}

/// Where a refusal of the store belongs on the form: the field it names, or (None) the
/// problem page.
fn field_of(error: &StoreError, fields: &PolicyFields) -> Option<(&'static str, String)> {
    let message = super::capitalised(&error.to_string());
    match error {
        StoreError::InvalidOption { option, .. } => Some((option, message)),
        StoreError::UnknownEntity { .. } => Some(("entity", message)),
        StoreError::Conflict(_) if !fields.name.is_empty() => Some(("name", message)),
        StoreError::NamedNotFound(text) if text.contains("selection") => {
            Some(("selection", message))
        }
        StoreError::NamedNotFound(text) if text.contains("user") => Some(("owner", message)),
        _ => None,
    }
}

/// A policy in a row of the list.
struct PolicyRow {
    policy: RetentionPolicy,
    state: &'static str,
}

/// Its state in words: runs on schedule, waits for approval, or stopped.
fn state_words(policy: &RetentionPolicy) -> &'static str {
    if policy.enabled {
        "enabled"
    } else if policy.action != "notify" && policy.approved_at.is_none() {
        "waits for a second admin's approval"
    } else {
        "disabled"
    }
}

#[derive(Template)]
#[template(path = "policies.html")]
struct PoliciesPage {
    frame: Frame,
    rows: Vec<PolicyRow>,
    form: Form,
    entities: Vec<String>,
    selections: Vec<String>,
    admins: Vec<String>,
    actions: [(&'static str, &'static str); 4],
}

/// What a run did or would do, for people.
struct RunView {
    run: PolicyRun,
    kind: &'static str,
    /// "12 contact", "3 note", … per entity type.
    acted_on: Vec<String>,
    blocked: u64,
    /// Up to 20 blocked members: record and reason.
    blocked_sample: Vec<(i64, String)>,
    /// For a purge: the deletion batches it takes.
    batches: Vec<i64>,
}

fn run_view(run: PolicyRun) -> RunView {
    let counts = &run.counts;
    let acted_on = counts["acted_on"]
        .as_array()
        .map(|list| {
            // Entity types it would not touch are left out.
            list.iter()
                .filter_map(|count| {
                    let records = count["records"].as_u64().filter(|records| *records > 0)?;
                    Some(format!(
                        "{} {}",
                        grouped(records),
                        count["entity"].as_str().unwrap_or("?")
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let blocked_sample = counts["blocked_sample"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|skip| {
                    (
                        skip["record_id"].as_i64().unwrap_or(0),
                        skip["reason"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let batches = counts["batches"]
        .as_array()
        .map(|list| list.iter().filter_map(|b| b["batch"].as_i64()).collect())
        .unwrap_or_default();
    RunView {
        kind: match run.kind.as_str() {
            "dry_run" => "dry run",
            "scheduled" => "scheduled run",
            _ => "run",
        },
        blocked: counts["blocked"].as_u64().unwrap_or(0),
        acted_on,
        blocked_sample,
        batches,
        run,
    }
}

#[derive(Template)]
#[template(path = "policy.html")]
struct PolicyPage {
    frame: Frame,
    policy: RetentionPolicy,
    state: &'static str,
    destructive: bool,
    action_words: &'static str,
    /// The signed-in admin may approve this version (it waits, and they did not change it).
    may_approve: bool,
    /// The dry run shown at the top, to run exactly.
    dry: Option<RunView>,
    /// The policy's name as typed to confirm a destructive run, and what was wrong.
    typed: String,
    confirm_error: Option<String>,
    runs: Vec<RunView>,
    form: Form,
    selections: Vec<String>,
    admins: Vec<String>,
    actions: [(&'static str, &'static str); 4],
    note: Option<String>,
}

/// The refusal page, unless the signed-in person may manage retention policies.
fn refused(signed_in: &SignedIn) -> Option<Response> {
    rules::manage_retention(&signed_in.actor())
        .err()
        .map(|refusal| problem_page(Problem::Forbidden(refusal.message().to_owned())))
}

/// The names the forms offer: saved selections and admins.
async fn choices(state: &WebState) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let selections = state
        .store
        .list_selections()
        .await?
        .into_iter()
        .map(|selection| selection.name)
        .collect();
    let admins = state
        .store
        .list_users()
        .await?
        .into_iter()
        .filter(|user| user.is_admin())
        .map(|user| user.name)
        .collect();
    Ok((selections, admins))
}

async fn list_page(
    state: &WebState,
    signed_in: &SignedIn,
    form: Form,
) -> Result<PoliciesPage, StoreError> {
    let policies = state.store.policies(&signed_in.actor()).await?;
    let (selections, admins) = choices(state).await?;
    Ok(PoliciesPage {
        frame: Frame::of(state, signed_in, Section::Policies).await,
        rows: policies
            .into_iter()
            .map(|policy| PolicyRow {
                state: state_words(&policy),
                policy,
            })
            .collect(),
        form,
        entities: state
            .store
            .schema()
            .entity_names()
            .map(str::to_owned)
            .collect(),
        selections,
        admins,
        actions: ACTIONS,
    })
}

fn fresh_form(signed_in: &SignedIn) -> Form {
    Form {
        fields: PolicyFields {
            entity: "contact".to_owned(),
            action: "notify".to_owned(),
            schedule: "0 3 * * *".to_owned(),
            time_zone: "UTC".to_owned(),
            owner: signed_in.user.name.clone(),
            ..PolicyFields::default()
        },
        errors: FieldErrors::default(),
    }
}

pub async fn list(
    State(state): State<WebState>,
    signed_in: SignedIn,
) -> Result<Response, Rejection> {
    if let Some(refused) = refused(&signed_in) {
        return Ok(refused);
    }
    Ok(
        match list_page(&state, &signed_in, fresh_form(&signed_in)).await {
            Ok(page) => render(StatusCode::OK, &page),
            Err(error) => store_problem(error),
        },
    )
}

fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Adds a policy, disabled, and shows its page; a wrong part is shown next to its field,
/// the form as typed, and nothing is added.
pub async fn add(
    State(state): State<WebState>,
    SignedForm { signed_in, form }: SignedForm<PolicyFields>,
) -> Result<Response, Rejection> {
    if let Some(refused) = refused(&signed_in) {
        return Ok(refused);
    }
    let new = NewPolicy {
        name: form.name.trim().to_owned(),
        entity: form.entity.trim().to_owned(),
        filter: form.filter.trim().to_owned(),
        selection: optional(&form.selection),
        action: form.action.trim().to_owned(),
        schedule: form.schedule.trim().to_owned(),
        time_zone: form.time_zone.trim().to_owned(),
        legal_basis: form.legal_basis.trim().to_owned(),
        owner: optional(&form.owner),
    };
    let error = match state.store.add_policy(&new, &signed_in.actor()).await {
        Ok(policy) => {
            return Ok(Redirect::to(&format!("/policies/{}?added=1", policy.name)).into_response());
        }
        Err(error) => error,
    };
    let Some(field) = field_of(&error, &form) else {
        return Ok(store_problem(error));
    };
    let typed = Form {
        fields: form,
        errors: FieldErrors(vec![field]),
    };
    Ok(match list_page(&state, &signed_in, typed).await {
        Ok(page) => render(StatusCode::UNPROCESSABLE_ENTITY, &page),
        Err(error) => store_problem(error),
    })
}

/// The edit form of a policy as it is.
fn form_of(policy: &RetentionPolicy) -> Form {
    Form {
        fields: PolicyFields {
            name: policy.name.clone(),
            entity: policy.entity.clone(),
            filter: policy.filter.clone(),
            selection: policy.selection.clone().unwrap_or_default(),
            action: policy.action.clone(),
            schedule: policy.schedule.clone(),
            time_zone: policy.time_zone.clone(),
            legal_basis: policy.legal_basis.clone(),
            owner: policy.owner.clone().unwrap_or_default(),
        },
        errors: FieldErrors::default(),
    }
}

async fn policy_page(
    state: &WebState,
    signed_in: &SignedIn,
    name: &str,
    dry_run: Option<i64>,
) -> Result<PolicyPage, StoreError> {
    let actor = signed_in.actor();
    let policy = state.store.policy(name, &actor).await?;
    let runs = state.store.policy_history(name, 20, &actor).await?;
    let dry = match dry_run {
        Some(id) => {
            let run = state.store.policy_run(id).await?;
            (run.kind == "dry_run" && run.policy == policy.name).then(|| run_view(run))
        }
        None => None,
    };
    let (selections, admins) = choices(state).await?;
    let destructive = policy.action != "notify";
    Ok(PolicyPage {
        frame: Frame::of(state, signed_in, Section::Policies).await,
        state: state_words(&policy),
        destructive,
        action_words: ACTIONS
            .iter()
            .find(|(action, _)| *action == policy.action)
            .map_or("", |(_, words)| words),
        may_approve: destructive
            && policy.approved_at.is_none()
            && policy.changed_by.as_deref() != Some(signed_in.user.name.as_str()),
        dry,
        typed: String::new(),
        confirm_error: None,
        runs: runs.into_iter().map(run_view).collect(),
        form: form_of(&policy),
        policy,
        selections,
        admins,
        actions: ACTIONS,
        note: None,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct PolicyQuery {
    /// A dry run to show, to run exactly.
    dry_run: Option<i64>,
    added: Option<u8>,
    /// What a step did: approved, enabled, disabled, changed.
    done: Option<String>,
    /// A run just made.
    ran: Option<i64>,
}

fn note_for(query: &PolicyQuery, policy: &RetentionPolicy) -> Option<String> {
    if query.added.is_some() {
        return Some(format!(
            "Policy {} was added, disabled. Dry-run it to see what it would do{}.",
            policy.name,
            if policy.action == "notify" {
                ", then enable it"
            } else {
                "; a second admin approves it, and then it can be enabled"
            }
        ));
    }
    if let Some(run) = query.ran {
        return Some(format!("Run {run} was made; its job is listed below."));
    }
    query.done.as_deref().map(|done| match done {
        "approved" => "You approved this version of the policy.".to_owned(),
        "enabled" => "The policy is enabled: its schedule runs it.".to_owned(),
        "disabled" => "The policy is disabled: its schedule no longer runs it.".to_owned(),
        _ => "The policy was changed.".to_owned(),
    })
}

pub async fn show(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(name): Path<String>,
    Query(query): Query<PolicyQuery>,
) -> Result<Response, Rejection> {
    if let Some(refused) = refused(&signed_in) {
        return Ok(refused);
    }
    Ok(
        match policy_page(&state, &signed_in, &name, query.dry_run).await {
            Ok(mut page) => {
                page.note = note_for(&query, &page.policy);
                render(StatusCode::OK, &page)
            }
            Err(error) => store_problem(error),
        },
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct NoFields {}

/// Approve, enable or disable: one step, then the policy's page says what it did.
async fn step(
    state: &WebState,
    signed_in: &SignedIn,
    name: &str,
    done: &str,
) -> Result<Response, Rejection> {
    if let Some(refused) = refused(signed_in) {
        return Ok(refused);
    }
    let actor = signed_in.actor();
    let result = match done {
        "approved" => state.store.approve_policy(name, &actor).await,
        "enabled" => state.store.enable_policy(name, &actor).await,
        _ => state.store.disable_policy(name, &actor).await,
    };
    Ok(match result {
        Ok(policy) => {
            Redirect::to(&format!("/policies/{}?done={done}", policy.name)).into_response()
        }
        Err(error) => store_problem(error),
    })
}

pub async fn approve(
    State(state): State<WebState>,
    Path(name): Path<String>,
    SignedForm { signed_in, .. }: SignedForm<NoFields>,
) -> Result<Response, Rejection> {
    step(&state, &signed_in, &name, "approved").await
}

pub async fn enable(
    State(state): State<WebState>,
    Path(name): Path<String>,
    SignedForm { signed_in, .. }: SignedForm<NoFields>,
) -> Result<Response, Rejection> {
    step(&state, &signed_in, &name, "enabled").await
}

pub async fn disable(
    State(state): State<WebState>,
    Path(name): Path<String>,
    SignedForm { signed_in, .. }: SignedForm<NoFields>,
) -> Result<Response, Rejection> {
    step(&state, &signed_in, &name, "disabled").await
}

/// Dry-runs the policy and shows what a run would do, ready to run exactly that.
pub async fn dry_run(
    State(state): State<WebState>,
    Path(name): Path<String>,
    SignedForm { signed_in, .. }: SignedForm<NoFields>,
) -> Result<Response, Rejection> {
    if let Some(refused) = refused(&signed_in) {
        return Ok(refused);
    }
    Ok(
        match state.store.dry_run_policy(&name, &signed_in.actor()).await {
            Ok(run) => Redirect::to(&format!("/policies/{}?dry_run={}", run.policy, run.id))
                .into_response(),
            Err(error) => store_problem(error),
        },
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct RunFields {
    #[serde(default)]
    from_dry_run: String,
    /// The policy's name, typed to confirm a run that trashes, anonymises or purges.
    #[serde(default)]
    typed: String,
}

/// Runs exactly a dry run: a destructive run once the policy's name is typed. The job it
/// starts runs on the server's worker; the page shows the run with its job.
pub async fn run(
    State(state): State<WebState>,
    Path(name): Path<String>,
    SignedForm { signed_in, form }: SignedForm<RunFields>,
) -> Result<Response, Rejection> {
    if let Some(refused) = refused(&signed_in) {
        return Ok(refused);
    }
    let Ok(dry_run) = form.from_dry_run.trim().parse::<i64>() else {
        return Ok(problem_page(Problem::BadForm(
            "A run from the page acts on a dry run: dry-run the policy first, then run exactly that."
                .to_owned(),
        )));
    };
    let policy = match state.store.policy(&name, &signed_in.actor()).await {
        Ok(policy) => policy,
        Err(error) => return Ok(store_problem(error)),
    };
    if policy.action != "notify" && form.typed.trim() != policy.name {
        let mut page = match policy_page(&state, &signed_in, &name, Some(dry_run)).await {
            Ok(page) => page,
            Err(error) => return Ok(store_problem(error)),
        };
        page.typed = form.typed;
        page.confirm_error = Some(format!(
            "Type {} to run it. Nothing was changed.",
            policy.name
        ));
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    Ok(
        match state
            .store
            .run_policy(&name, Some(dry_run), &signed_in.actor())
            .await
        {
            Ok(run) => {
                if let Some(job) = run.job_id {
                    state.store.run_job_in_background(job);
                }
                Redirect::to(&format!("/policies/{}?ran={}", run.policy, run.id)).into_response()
            }
            Err(error) => store_problem(error),
        },
    )
}

/// Changes the policy; a wrong part is shown next to its field, as typed, and nothing is
/// changed.
pub async fn edit(
    State(state): State<WebState>,
    Path(name): Path<String>,
    SignedForm { signed_in, form }: SignedForm<PolicyFields>,
) -> Result<Response, Rejection> {
    if let Some(refused) = refused(&signed_in) {
        return Ok(refused);
    }
    let selection = optional(&form.selection);
    let edit = PolicyEdit {
        // The form holds one of the two: a selection chosen replaces the filter.
        filter: selection.is_none().then(|| form.filter.trim().to_owned()),
        selection,
        action: Some(form.action.trim().to_owned()),
        schedule: Some(form.schedule.trim().to_owned()),
        time_zone: Some(form.time_zone.trim().to_owned()),
        legal_basis: Some(form.legal_basis.trim().to_owned()),
        owner: optional(&form.owner),
    };
    let error = match state
        .store
        .edit_policy(&name, &edit, &signed_in.actor())
        .await
    {
        Ok(policy) => {
            return Ok(
                Redirect::to(&format!("/policies/{}?done=changed", policy.name)).into_response(),
            );
        }
        Err(error) => error,
    };
    let Some(field) = field_of(&error, &PolicyFields::default()) else {
        return Ok(store_problem(error));
    };
    let mut page = match policy_page(&state, &signed_in, &name, None).await {
        Ok(page) => page,
        Err(error) => return Ok(store_problem(error)),
    };
    page.form = Form {
        fields: PolicyFields {
            name: page.policy.name.clone(),
            entity: page.policy.entity.clone(),
            ..form
        },
        errors: FieldErrors(vec![field]),
    };
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn run(kind: &str, counts: Value) -> PolicyRun {
        PolicyRun {
            id: 3,
            policy: "p".to_owned(),
            kind: kind.to_owned(),
            due_at: None,
            snapshot_id: Some(1),
            job_id: None,
            dry_run_id: None,
            members: 12,
            counts,
            actor: "ann".to_owned(),
            at: "2026-03-01T00:00:00.000000Z".to_owned(),
            finished: true,
        }
    }

    #[test]
    fn a_runs_counts_are_said_per_entity_with_the_blocked_and_their_reasons() {
        let counts = serde_json::json!({
            "acted_on": [{"entity": "contact", "records": 1200}, {"entity": "deal", "records": 0}, {"entity": "note", "records": 3}],
            "blocked": 2,
            "blocked_sample": [{"record_id": 9, "kind": "blocked", "entity": "deal", "count": 1, "reason": "an open deal holds it"}],
        });
        let view = run_view(run("dry_run", counts));
        assert_eq!(view.kind, "dry run");
        assert_eq!(view.acted_on, ["1,200 contact", "3 note"]);
        assert_eq!(view.blocked, 2);
        assert_eq!(
            view.blocked_sample,
            [(9, "an open deal holds it".to_owned())]
        );
        let purge = run_view(run(
            "scheduled",
            serde_json::json!({"batches": [{"batch": 4}, {"batch": 7}]}),
        ));
        assert_eq!((purge.kind, purge.batches), ("scheduled run", vec![4, 7]));
    }

    #[test]
    fn a_refusal_lands_next_to_the_field_it_names() {
        let fields = PolicyFields {
            name: "p".to_owned(),
            ..PolicyFields::default()
        };
        let (field, message) = field_of(
            &StoreError::invalid_option("schedule", "`0 3 * *` is not a cron schedule"),
            &fields,
        )
        .unwrap();
        assert_eq!(
            (field, message.as_str()),
            ("schedule", "`0 3 * *` is not a cron schedule.")
        );
        assert_eq!(
            field_of(&StoreError::Conflict("exists".to_owned()), &fields)
                .unwrap()
                .0,
            "name"
        );
        assert!(field_of(&StoreError::Internal("x".to_owned()), &fields).is_none());
    }
}
