//! Retention policies (SPEC §4): add, change, approve (four eyes), enable and disable them;
//! dry-run one (its snapshot frozen and previewed, nothing changed); run one, from a dry run's
//! snapshot so that the counts are those shown, or from a snapshot of its own; and run what
//! is due on schedule, once per due time however many instances look. Every step is written
//! to the history; the rules of who may do what are the policy module's.

mod rows;

use lethe_domain::Actor;
use lethe_domain::policy;
use lethe_domain::retention::{RetentionAction, SHIPPED, Schedule};
use schemars::JsonSchema;
use serde::Serialize;
use time::OffsetDateTime;

use self::rows::{
    Checked, Notice, RunRecord, change, insert, list, one, record_run, runs, take_due,
    take_over_stale,
};
use crate::error::StoreError;
use crate::notifications::Recipients;
use crate::set_columns::Set;
use crate::value::format_timestamp;
use crate::{MemberPick, PickSource, Pools, Scope, Store, dispatch};
use lethe_domain::notification::NotificationKind;

/// A retention policy as people see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RetentionPolicy {
    pub id: i64,
    pub name: String,
    pub entity: String,
    /// The filter that finds the records (its relative dates are the age rule); empty when
    /// a saved selection finds them.
    pub filter: String,
    /// The saved selection that finds the records, in place of a filter: the policy follows
    /// the selection as it is changed.
    pub selection: Option<String>,
    /// `notify`, `trash`, `anonymize` or `purge`.
    pub action: String,
    /// The cron pattern, and the time zone it is read in.
    pub schedule: String,
    pub time_zone: String,
    /// The schedule in words.
    pub schedule_words: String,
    /// Why the data may be kept this long, and no longer.
    pub legal_basis: String,
    /// The admin the runs are made as and who hears of them.
    pub owner: Option<String>,
    pub enabled: bool,
    /// The second admin who approved this version (destructive policies need one).
    pub approved_by: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub approved_at: Option<String>,
    pub changed_by: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub changed_at: String,
    /// When the schedule next runs it, while enabled.
    #[schemars(extend("format" = "date-time"))]
    pub next_run_at: Option<String>,
}

/// A new policy, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPolicy {
    pub name: String,
    pub entity: String,
    /// The filter; empty when `selection` is given.
    pub filter: String,
    /// A saved selection of `entity` in place of the filter.
    pub selection: Option<String>,
    pub action: String,
    pub schedule: String,
    pub time_zone: String,
    pub legal_basis: String,
    /// The owner's user name; the one adding it when absent.
    pub owner: Option<String>,
}

/// A dry run or a run of a policy.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PolicyRun {
    pub id: i64,
    pub policy: String,
    /// `dry_run`, `run` or `scheduled`.
    pub kind: String,
    /// For a scheduled run: the due time it ran for.
    #[schemars(extend("format" = "date-time"))]
    pub due_at: Option<String>,
    /// The frozen members (a run from a dry run acts on the dry run's snapshot).
    pub snapshot_id: Option<i64>,
    /// The job it started, if its action starts one.
    pub job_id: Option<i64>,
    /// The dry run this run confirmed.
    pub dry_run_id: Option<i64>,
    /// How many records the filter found.
    pub members: u64,
    /// What the run does or would do: per entity type the records acted on, the members
    /// blocked by a rule, the deletion batches a purge takes.
    pub counts: serde_json::Value,
    pub actor: String,
    #[schemars(extend("format" = "date-time"))]
    pub at: String,
    /// False while a scheduled run an instance took is still running (or its instance died
    /// and another one will finish it).
    pub finished: bool,
}

/// How long a scheduled run may stay claimed and unfinished before another instance takes
/// it over: its instance is taken to have died.
const CLAIM_STALE: time::Duration = time::Duration::minutes(10);

fn check_name(name: &str) -> Result<(), StoreError> {
    crate::names::check_name(name, "policy")
}

impl Store {
    async fn check_policy(&self, new: &NewPolicy) -> Result<RetentionAction, StoreError> {
        check_name(&new.name)?;
        self.entity(&new.entity)?;
        match &new.selection {
            Some(name) => {
                if !new.filter.trim().is_empty() {
                    return Err(StoreError::invalid_option(
                        "filter",
                        "give a filter or a saved selection, not both",
                    ));
                }
                let selection = self.get_selection(name).await?;
                if selection.entity != new.entity {
                    return Err(StoreError::invalid_option(
                        "selection",
                        format!(
                            "saved selection `{name}` holds {} records, not {} records",
                            selection.entity, new.entity
                        ),
                    ));
                }
            }
            None if new.filter.trim().is_empty() => {
                return Err(StoreError::invalid_option(
                    "filter",
                    "give the filter that finds the records (e.g. 'created_at < now - 3y'), or a saved selection",
                ));
            }
            None => {
                // The entity is known (checked above): what is wrong is in the filter.
                self.parse_filter(&new.entity, &new.filter)
                    .map_err(|error| {
                        StoreError::invalid_option("filter", format!("the filter: {error}"))
                    })?;
            }
        }
        let action: RetentionAction = new
            .action
            .parse()
            .map_err(|message: String| StoreError::invalid_option("action", message))?;
        Schedule::parse(&new.schedule, &new.time_zone)
            .map_err(|message| StoreError::invalid_option("schedule", message))?;
        if new.legal_basis.trim().is_empty() {
            return Err(StoreError::invalid_option(
                "legal_basis",
                "say why the data may be kept this long and no longer (the legal basis); it is shown with every run",
            ));
        }
        Ok(action)
    }

    /// Adds a retention policy, disabled (admins). Nothing is written when any part is wrong.
    pub async fn add_policy(
        &self,
        new: &NewPolicy,
        actor: &Actor,
    ) -> Result<RetentionPolicy, StoreError> {
        policy::manage_retention(actor)?;
        let action = self.check_policy(new).await?;
        let owner = match &new.owner {
            Some(name) => Some(self.existing_user(name).await?.id),
            None => actor.user_id,
        };
        let key = self.history_key();
        let now = self.now();
        let checked = Checked { new, action, owner };
        let notice = approval_notice(&new.name, action, &actor.name);
        dispatch!(self, pool => insert::<_>(pool, &key, &checked, notice.as_ref(), actor, now).await)?;
        self.policy(&new.name, actor).await
    }

    /// The retention policies, by name (admins).
    pub async fn policies(&self, actor: &Actor) -> Result<Vec<RetentionPolicy>, StoreError> {
        policy::manage_retention(actor)?;
        dispatch!(self, pool => list::<_>(pool).await)
    }

    /// One retention policy (admins).
    pub async fn policy(&self, name: &str, actor: &Actor) -> Result<RetentionPolicy, StoreError> {
        policy::manage_retention(actor)?;
        Ok(dispatch!(self, pool => one::<_>(pool, name).await)?.policy)
    }

    /// Changes a policy's filter, action, schedule, legal basis or owner (admins). A change
    /// takes back its approval: a destructive policy is disabled until a second admin
    /// approves the new version.
    pub async fn edit_policy(
        &self,
        name: &str,
        edit: &PolicyEdit,
        actor: &Actor,
    ) -> Result<RetentionPolicy, StoreError> {
        policy::manage_retention(actor)?;
        let row = dispatch!(self, pool => one::<_>(pool, name).await)?;
        let current = &row.policy;
        let merged = NewPolicy {
            name: current.name.clone(),
            entity: current.entity.clone(),
            filter: match (&edit.filter, &edit.selection) {
                (Some(filter), _) => filter.clone(),
                (None, Some(_)) => String::new(),
                (None, None) => current.filter.clone(),
            },
            selection: match (&edit.filter, &edit.selection) {
                (_, Some(selection)) => Some(selection.clone()),
                (Some(_), None) => None,
                (None, None) => current.selection.clone(),
            },
            action: edit
                .action
                .clone()
                .unwrap_or_else(|| current.action.clone()),
            schedule: edit
                .schedule
                .clone()
                .unwrap_or_else(|| current.schedule.clone()),
            time_zone: edit
                .time_zone
                .clone()
                .unwrap_or_else(|| current.time_zone.clone()),
            legal_basis: edit
                .legal_basis
                .clone()
                .unwrap_or_else(|| current.legal_basis.clone()),
            owner: None,
        };
        let action = self.check_policy(&merged).await?;
        let owner = match &edit.owner {
            Some(owner) => Some(self.existing_user(owner).await?.id),
            None => row.owner_id,
        };
        let now = self.now();
        let schedule = Schedule::parse(&merged.schedule, &merged.time_zone)
            .map_err(|message| StoreError::invalid_option("schedule", message))?;
        // A destructive policy's change needs a new approval, and it stops until then.
        let enabled = current.enabled && !action.is_destructive();
        let next = enabled.then(|| schedule.next_after(now)).flatten();
        let values = vec![
            ("filter", Set::Text(merged.filter.clone())),
            ("selection", Set::OptText(merged.selection.clone())),
            ("action", Set::Text(action.as_str().to_owned())),
            ("schedule", Set::Text(merged.schedule.trim().to_owned())),
            ("time_zone", Set::Text(merged.time_zone.trim().to_owned())),
            ("legal_basis", Set::Text(merged.legal_basis.clone())),
            ("owner_id", Set::Id(owner)),
            ("enabled", Set::Flag(enabled)),
            ("approved_by", Set::Id(None)),
            ("approved_at", Set::Time(None)),
            ("changed_by", Set::Id(actor.user_id)),
            ("changed_at", Set::Time(Some(now))),
            ("next_run_at", Set::Time(next)),
        ];
        let key = self.history_key();
        let detail = serde_json::json!({
            "policy": name, "action": action.as_str(), "schedule": merged.schedule.trim(),
            "time_zone": merged.time_zone.trim(),
            "filter_changed": edit.filter.is_some() || edit.selection.is_some(),
            "selection": merged.selection,
            "disabled_until_approved": current.enabled && !enabled,
        });
        let notice = approval_notice(name, action, &actor.name);
        dispatch!(self, pool => change::<_>(pool, &key, row.policy.id, &values, "policy.changed", detail, notice.as_ref(), actor, now).await)?;
        self.policy(name, actor).await
    }

    /// Approves the current version of a policy (four eyes): an admin other than the one who
    /// last changed it.
    pub async fn approve_policy(
        &self,
        name: &str,
        actor: &Actor,
    ) -> Result<RetentionPolicy, StoreError> {
        let row = dispatch!(self, pool => one::<_>(pool, name).await)?;
        policy::approve_retention(actor, name, row.changed_by)?;
        let now = self.now();
        let values = vec![
            ("approved_by", Set::Id(actor.user_id)),
            ("approved_at", Set::Time(Some(now))),
        ];
        let key = self.history_key();
        let detail = serde_json::json!({"policy": name});
        dispatch!(self, pool => change::<_>(pool, &key, row.policy.id, &values, "policy.approved", detail, None, actor, now).await)?;
        self.policy(name, actor).await
    }

    /// Enables a policy: its schedule runs it from now on. A destructive policy must have
    /// been approved by an admin other than the one enabling it.
    pub async fn enable_policy(
        &self,
        name: &str,
        actor: &Actor,
    ) -> Result<RetentionPolicy, StoreError> {
        policy::manage_retention(actor)?;
        let row = dispatch!(self, pool => one::<_>(pool, name).await)?;
        let action: RetentionAction = row.policy.action.parse().map_err(StoreError::Internal)?;
        if action.is_destructive() {
            match row.approved_by {
                _ if row.policy.approved_at.is_none() => {
                    return Err(StoreError::Conflict(format!(
                        "policy `{name}` would {action} records: a second admin must approve it first (`lethe policy approve {name}`)"
                    )));
                }
                Some(approver) if actor.is(Some(approver)) => {
                    return Err(StoreError::Conflict(format!(
                        "policy `{name}` was approved by `{}`, who may not also enable it: another admin enables it",
                        actor.name
                    )));
                }
                _ => {}
            }
        }
        let schedule = Schedule::parse(&row.policy.schedule, &row.policy.time_zone)
            .map_err(|message| StoreError::invalid_option("schedule", message))?;
        let now = self.now();
        let next = schedule.next_after(now);
        let values = vec![
            ("enabled", Set::Flag(true)),
            ("next_run_at", Set::Time(next)),
        ];
        let key = self.history_key();
        let detail = serde_json::json!({"policy": name, "next_run_at": next.map(format_timestamp)});
        dispatch!(self, pool => change::<_>(pool, &key, row.policy.id, &values, "policy.enabled", detail, None, actor, now).await)?;
        self.policy(name, actor).await
    }

    /// Disables a policy: its schedule stops; a run under way goes on.
    pub async fn disable_policy(
        &self,
        name: &str,
        actor: &Actor,
    ) -> Result<RetentionPolicy, StoreError> {
        policy::manage_retention(actor)?;
        let row = dispatch!(self, pool => one::<_>(pool, name).await)?;
        let now = self.now();
        let values = vec![
            ("enabled", Set::Flag(false)),
            ("next_run_at", Set::Time(None)),
        ];
        let key = self.history_key();
        let detail = serde_json::json!({"policy": name});
        dispatch!(self, pool => change::<_>(pool, &key, row.policy.id, &values, "policy.disabled", detail, None, actor, now).await)?;
        self.policy(name, actor).await
    }

    /// Freezes what the policy's filter finds now and counts what acting on it would do.
    async fn freeze(
        &self,
        policy: &RetentionPolicy,
        action: RetentionAction,
        actor: &Actor,
    ) -> Result<(Option<crate::Snapshot>, serde_json::Value), StoreError> {
        if action == RetentionAction::Purge {
            let batches = self.trashed_batches_of_policy(policy.id).await?;
            let mut per_batch = Vec::new();
            for batch in &batches {
                let preview = self.preview_purge(*batch).await?;
                per_batch.push(serde_json::json!({"batch": batch, "acted_on": preview.acted_on, "blocked": preview.blocked}));
            }
            return Ok((None, serde_json::json!({"batches": per_batch})));
        }
        let source = match &policy.selection {
            Some(selection) => PickSource::Selection(selection.clone()),
            None => PickSource::Filter(self.parse_filter(&policy.entity, &policy.filter)?),
        };
        let pick = MemberPick {
            entity: policy.entity.clone(),
            source,
            all_matching: true,
            include: Vec::new(),
            exclude: Vec::new(),
            scope: Scope::Active,
        };
        let note = format!("retention policy {}", policy.name);
        let snapshot = self.create_snapshot(&pick, &note, actor.user_id).await?;
        let counts = match action {
            RetentionAction::Trash => {
                let preview = self.preview_trash(snapshot.id).await?;
                serde_json::json!({
                    "acted_on": preview.acted_on, "blocked": preview.blocked,
                    "blocked_sample": preview.blocked_sample, "not_applicable": preview.not_applicable,
                })
            }
            _ => {
                serde_json::json!({"acted_on": [{"entity": policy.entity, "records": snapshot.member_count}]})
            }
        };
        Ok((Some(snapshot), counts))
    }

    /// The deletion batches this policy's earlier runs trashed that are still in the trash.
    async fn trashed_batches_of_policy(&self, policy: i64) -> Result<Vec<i64>, StoreError> {
        let mut batches = Vec::new();
        for run in dispatch!(self, pool => runs::<_>(pool, Some(policy), None, 1_000).await)? {
            if let Some(job) = run.job_id
                && run.kind != "dry_run"
                && let Ok(job) = self.job(job).await
                && job.kind == crate::JobKind::Trash
                && let Some(batch) = job.batch_id
                && self.deletion_batch(batch).await?.state == crate::BatchState::Trashed
            {
                batches.push(batch);
            }
        }
        Ok(batches)
    }

    /// Lists exactly what the next run would do (admins): freezes the members in a snapshot,
    /// counts the records acted on per entity and the blocked ones with their reasons, and
    /// records it. A run from this dry run acts on this snapshot.
    pub async fn dry_run_policy(&self, name: &str, actor: &Actor) -> Result<PolicyRun, StoreError> {
        policy::manage_retention(actor)?;
        let policy = self.policy(name, actor).await?;
        let action: RetentionAction = policy.action.parse().map_err(StoreError::Internal)?;
        let (snapshot, counts) = self.freeze(&policy, action, actor).await?;
        let key = self.history_key();
        let now = self.now();
        let record = RunRecord {
            kind: "dry_run",
            due_at: None,
            claimed: None,
            snapshot: snapshot.as_ref(),
            job: None,
            dry_run: None,
            counts,
        };
        let id = dispatch!(self, pool => record_run::<_>(pool, &key, &policy, record, None, actor, now).await)?;
        self.policy_run(id).await
    }

    /// Runs a policy now (admins): from dry run `from_dry_run` (acting on its snapshot) or
    /// from a snapshot frozen now. Returns the run, with the job it started.
    pub async fn run_policy(
        &self,
        name: &str,
        from_dry_run: Option<i64>,
        actor: &Actor,
    ) -> Result<PolicyRun, StoreError> {
        policy::manage_retention(actor)?;
        let policy = self.policy(name, actor).await?;
        self.run(&policy, from_dry_run, None, actor).await
    }

    /// Runs `policy`; `scheduled` is the due time and the claimed run of a scheduled run.
    async fn run(
        &self,
        policy: &RetentionPolicy,
        from_dry_run: Option<i64>,
        scheduled: Option<(OffsetDateTime, i64)>,
        actor: &Actor,
    ) -> Result<PolicyRun, StoreError> {
        let action: RetentionAction = policy.action.parse().map_err(StoreError::Internal)?;
        let (snapshot, counts) = match from_dry_run {
            Some(dry_run) => {
                let run = self.policy_run(dry_run).await?;
                if run.policy != policy.name || run.kind != "dry_run" {
                    return Err(StoreError::invalid_option(
                        "from_dry_run",
                        format!("run {dry_run} is not a dry run of policy `{}`", policy.name),
                    ));
                }
                let snapshot = match run.snapshot_id {
                    Some(id) => Some(self.get_snapshot(id).await?),
                    None => None,
                };
                (snapshot, run.counts)
            }
            None => self.freeze(policy, action, actor).await?,
        };
        let reason = format!("retention policy {}: {}", policy.name, policy.legal_basis);
        let job = match (action, &snapshot) {
            (RetentionAction::Trash, Some(snapshot)) if snapshot.member_count > 0 => Some(
                self.start_trash(snapshot.id, Some(&reason), actor, None)
                    .await?
                    .id,
            ),
            (RetentionAction::Anonymize, Some(snapshot)) if snapshot.member_count > 0 => {
                Some(self.start_anonymize(snapshot.id, actor, None).await?.id)
            }
            (RetentionAction::Purge, _) => {
                let mut first = None;
                for batch in self.trashed_batches_of_policy(policy.id).await? {
                    let job = self
                        .request_purge(batch, actor, None, true, Some(&reason), None)
                        .await?;
                    first.get_or_insert(job.id);
                }
                first
            }
            _ => None,
        };
        let notice = match (action, &snapshot) {
            (RetentionAction::Notify, Some(snapshot)) => Some(Notice {
                recipients: self.owner_of(policy).await?,
                kind: NotificationKind::PolicyReview,
                message: format!(
                    "Retention policy {} found {} {} record(s) due for review (snapshot {}; `lethe policy show {}`).",
                    policy.name, snapshot.member_count, policy.entity, snapshot.id, policy.name
                ),
            }),
            _ => None,
        };
        let record = RunRecord {
            kind: if scheduled.is_some() {
                "scheduled"
            } else {
                "run"
            },
            due_at: scheduled.map(|(due, _)| due),
            claimed: scheduled.map(|(_, claimed)| claimed),
            snapshot: snapshot.as_ref(),
            job,
            dry_run: from_dry_run,
            counts,
        };
        let key = self.history_key();
        let now = self.now();
        let id = dispatch!(self, pool => record_run::<_>(pool, &key, policy, record, notice.as_ref(), actor, now).await)?;
        self.policy_run(id).await
    }

    /// Who hears of a policy's runs: its owner, or every admin when it has none.
    async fn owner_of(&self, policy: &RetentionPolicy) -> Result<Recipients, StoreError> {
        let owner = match &policy.owner {
            Some(name) => self.find_user(name).await?,
            None => None,
        };
        Ok(match owner {
            Some(user) => Recipients::User(user.id),
            None => Recipients::Admins,
        })
    }

    /// One dry run or run.
    pub async fn policy_run(&self, id: i64) -> Result<PolicyRun, StoreError> {
        dispatch!(self, pool => runs::<_>(pool, None, Some(id), 1).await)?
            .into_iter()
            .next()
            .ok_or_else(|| {
                StoreError::NamedNotFound(format!(
                    "there is no policy run {id}; see `lethe policy history NAME`"
                ))
            })
    }

    /// A policy's dry runs and runs, newest first (admins).
    pub async fn policy_history(
        &self,
        name: &str,
        limit: u64,
        actor: &Actor,
    ) -> Result<Vec<PolicyRun>, StoreError> {
        let policy = self.policy(name, actor).await?;
        let limit = limit.clamp(1, 1_000);
        dispatch!(self, pool => runs::<_>(pool, Some(policy.id), None, limit).await)
    }

    /// Runs every enabled policy whose time has come, each once per due time however many
    /// instances call this at once, and finishes the scheduled runs whose instance died
    /// (claimed more than ten minutes ago and never finished); returns the runs made here. A
    /// run is made as the policy's owner (or the operator when it has none).
    ///
    /// An instance takes a due run by moving the policy's next run time on and recording the
    /// run as claimed, in one transaction; the run is marked finished in the transaction that
    /// records what it did. Dying in between leaves a claimed run, which is taken over: its
    /// action may then start twice, which for trash, anonymise and purge requests finds the
    /// records already done.
    pub async fn run_due_policies(&self) -> Result<Vec<PolicyRun>, StoreError> {
        let now = self.now();
        let mut made = Vec::new();
        let stale_before = now - CLAIM_STALE;
        for (claimed, name, due) in
            dispatch!(self, pool => take_over_stale::<_>(pool, stale_before, now).await)?
        {
            let policy = dispatch!(self, pool => one::<_>(pool, &name).await)?.policy;
            let actor = self.run_as(&policy).await?;
            made.push(
                self.run(&policy, None, Some((due, claimed)), &actor)
                    .await?,
            );
        }
        for policy in dispatch!(self, pool => list::<_>(pool).await)? {
            let Some(due) = policy
                .next_run_at
                .as_deref()
                .and_then(|at| crate::parse_timestamp(at).ok())
            else {
                continue;
            };
            if !policy.enabled || due > now {
                continue;
            }
            let schedule = Schedule::parse(&policy.schedule, &policy.time_zone)
                .map_err(|message| StoreError::invalid_option("schedule", message))?;
            let next = schedule.next_after(now);
            let actor = self.run_as(&policy).await?;
            let Some(claimed) = dispatch!(self, pool => take_due::<_>(pool, &policy, due, next, &actor, now).await)?
            else {
                continue;
            };
            made.push(
                self.run(&policy, None, Some((due, claimed)), &actor)
                    .await?,
            );
        }
        Ok(made)
    }

    /// Who a scheduled run is made as: the policy's owner, or the operator.
    async fn run_as(&self, policy: &RetentionPolicy) -> Result<Actor, StoreError> {
        Ok(match &policy.owner {
            Some(name) => match self.find_user(name).await? {
                Some(user) => Actor::user(user.id, &user.name, true),
                None => Actor::operator(),
            },
            None => Actor::operator(),
        })
    }

    /// Adds the policies Lethe ships (disabled) that the schema can hold and that are not
    /// there yet; returns how many were added.
    pub async fn add_shipped_policies(&self) -> Result<usize, StoreError> {
        let mut added = 0;
        let operator = Actor::operator();
        for shipped in SHIPPED {
            let new = NewPolicy {
                name: shipped.name.to_owned(),
                entity: shipped.entity.to_owned(),
                filter: shipped.filter.to_owned(),
                selection: None,
                action: shipped.action.as_str().to_owned(),
                schedule: shipped.schedule.to_owned(),
                time_zone: shipped.zone.to_owned(),
                legal_basis: shipped.legal_basis.to_owned(),
                owner: None,
            };
            if self.check_policy(&new).await.is_err() {
                continue;
            }
            match self.add_policy(&new, &operator).await {
                Ok(_) => added += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(added)
    }
}

/// What an edit changes; `None` leaves a part as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyEdit {
    /// A new filter; it replaces the saved selection, if the policy had one.
    pub filter: Option<String>,
    /// A saved selection in place of the filter.
    pub selection: Option<String>,
    pub action: Option<String>,
    pub schedule: Option<String>,
    pub time_zone: Option<String>,
    pub legal_basis: Option<String>,
    pub owner: Option<String>,
}

/// The notice to every admin that a destructive policy, added or changed, waits for a second
/// admin's approval before it can be enabled.
fn approval_notice(name: &str, action: RetentionAction, by: &str) -> Option<Notice> {
    action.is_destructive().then(|| Notice {
        recipients: Recipients::Admins,
        kind: NotificationKind::PolicyApproval,
        message: format!(
            "Retention policy {name} ({action}) was added or changed by {by} and waits for a second admin's approval: `lethe policy dry-run {name}`, then `lethe policy approve {name}`."
        ),
    })
}
