//! Monitors (SPEC §4, SuperOffice SAINT): a saved selection evaluated on a schedule that
//! tells its subscribers which records entered it — and, when asked, which left — listing
//! their ids. Add, change, enable, disable and remove them; subscribe and unsubscribe
//! people; run one now; run what is due on schedule, once per due time however many
//! instances look; list a run's hits.
//!
//! The members as of the last evaluation are kept in `lethe_monitor_member`, so an
//! evaluation is two set differences in SQL and never holds a member list in memory
//! (`evaluate.rs`). A new monitor, or one pointed at another selection, takes a *baseline*
//! first: the selection's members then, recorded without telling anyone, so that
//! subscribers hear of what changes after they asked, not of the thousands already there.
//! Who may do what is the policy module's.

mod evaluate;
mod rows;

pub(crate) use self::evaluate::forget_records;
pub(crate) use self::rows::watching;

use lethe_domain::Actor;
use lethe_domain::policy;
use lethe_domain::retention::Schedule;
use schemars::JsonSchema;
use serde::Serialize;

use self::evaluate::{claim_due, due, evaluate, pending, request_run};
use self::rows::{Also, Checked, change, hits, insert, list, one, remove, runs};
use crate::error::StoreError;
use crate::set_columns::Set;
use crate::value::format_timestamp;
use crate::{Pools, Store, dispatch};

/// A monitor as people see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Monitor {
    pub id: i64,
    pub name: String,
    /// The saved selection it watches.
    pub selection: String,
    /// The entity of the selection's records.
    pub entity: String,
    /// The cron pattern, and the time zone it is read in.
    pub schedule: String,
    pub time_zone: String,
    /// The schedule in words.
    pub schedule_words: String,
    /// Whether subscribers are also told of records that left the selection.
    pub notify_on_leave: bool,
    /// Who added it; they (and admins) change it.
    pub owner: Option<String>,
    pub enabled: bool,
    /// The users told of its hits, by name.
    pub subscribers: Vec<String>,
    /// How many records were members at the last evaluation.
    pub members: u64,
    /// When the schedule next evaluates it, while enabled.
    #[schemars(extend("format" = "date-time"))]
    pub next_run_at: Option<String>,
    pub changed_by: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub changed_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
}

/// A new monitor, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewMonitor {
    pub name: String,
    /// The saved selection to watch.
    pub selection: String,
    pub schedule: String,
    pub time_zone: String,
    /// Tell subscribers of records that left, too.
    pub notify_on_leave: bool,
    /// The users to tell, by name.
    pub subscribers: Vec<String>,
}

/// What an edit changes; `None` leaves a part as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorEdit {
    /// Another saved selection to watch (a new baseline is taken).
    pub selection: Option<String>,
    pub schedule: Option<String>,
    pub time_zone: Option<String>,
    pub notify_on_leave: Option<bool>,
}

/// One evaluation of a monitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MonitorRun {
    pub id: i64,
    pub monitor: String,
    /// `baseline` (the members when it was added or its selection changed; nobody told),
    /// `run` (asked for) or `scheduled`.
    #[schemars(extend("enum" = ["baseline", "run", "scheduled"]))]
    pub kind: String,
    /// For a scheduled run: the due time it ran for.
    #[schemars(extend("format" = "date-time"))]
    pub due_at: Option<String>,
    /// `due` (claimed, not evaluated yet) or `done`.
    #[schemars(extend("enum" = ["due", "done"]))]
    pub state: String,
    /// How many records entered the selection (for a baseline: its members).
    pub entered: u64,
    /// How many members left it.
    pub left: u64,
    /// How many subscribers were told.
    pub notified: u64,
    /// Who it ran as.
    pub actor: String,
    #[schemars(extend("format" = "date-time"))]
    pub claimed_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub done_at: Option<String>,
}

/// A record that entered or left a monitored selection in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MonitorHit {
    pub record_id: i64,
    /// `entered` or `left`.
    #[schemars(extend("enum" = ["entered", "left"]))]
    pub change: String,
}

/// A page of a run's hits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MonitorHits {
    pub run: MonitorRun,
    /// By record id.
    pub hits: Vec<MonitorHit>,
    /// The last record id of this page when there may be more: pass it as `after`.
    pub next_after: Option<i64>,
}

/// The most hits one page lists.
pub const MAX_HITS_PAGE: u64 = 1_000;

fn check_name(name: &str) -> Result<(), StoreError> {
    crate::names::check_name(name, "monitor")
}

fn schedule(pattern: &str, zone: &str) -> Result<Schedule, StoreError> {
    Schedule::parse(pattern, zone).map_err(|message| {
        let option = if message.contains("is not a time zone") {
            "time_zone"
        } else {
            "schedule"
        };
        StoreError::invalid_option(option, message)
    })
}

impl Store {
    /// The saved selection `name`, which `actor` may monitor: an unknown name is refused
    /// with the closest known one.
    async fn monitorable(
        &self,
        name: &str,
        actor: &Actor,
    ) -> Result<crate::SavedSelection, StoreError> {
        let selection = self
            .get_selection(name)
            .await
            .map_err(|error| match error {
                StoreError::NamedNotFound(message) => StoreError::invalid_option(
                    "selection",
                    format!("{message}; see `lethe selection list`"),
                ),
                other => other,
            })?;
        // Saved selections are shared: every user sees every one (SPEC §4).
        policy::add_monitor(actor, name, true)?;
        Ok(selection)
    }

    async fn user_id(&self, name: &str) -> Result<i64, StoreError> {
        match self.find_user(name).await? {
            Some(user) => Ok(user.id),
            None => Err(StoreError::invalid_option(
                "subscriber",
                format!("there is no user `{name}` to subscribe; see `lethe user list`"),
            )),
        }
    }

    /// Adds a monitor, enabled, and takes its baseline (the selection's members now, of
    /// which nobody is told). Nothing is written when any part is wrong.
    pub async fn add_monitor(
        &self,
        new: &NewMonitor,
        actor: &Actor,
    ) -> Result<Monitor, StoreError> {
        check_name(&new.name)?;
        let selection = self.monitorable(&new.selection, actor).await?;
        let parsed = schedule(&new.schedule, &new.time_zone)?;
        let mut subscribers = Vec::new();
        for name in &new.subscribers {
            let user = self.user_id(name).await?;
            // The one adding it owns it, so may subscribe anyone; asked all the same.
            policy::subscribe_to_monitor(actor, &new.name, actor.user_id, user)?;
            if !subscribers.contains(&user) {
                subscribers.push(user);
            }
        }
        let checked = Checked {
            name: &new.name,
            selection_id: selection.id,
            selection: &selection.name,
            entity: &selection.entity,
            schedule: &parsed,
            notify_on_leave: new.notify_on_leave,
            subscribers,
        };
        let key = self.history_key();
        let now = self.now();
        dispatch!(self, pool => insert::<_>(pool, self.schema(), &key, &checked, actor, now).await)?;
        self.monitor(&new.name).await
    }

    /// The monitors, by name (everyone may see them, as everyone sees saved selections).
    pub async fn monitors(&self) -> Result<Vec<Monitor>, StoreError> {
        dispatch!(self, pool => list::<_>(pool).await)
    }

    /// One monitor.
    pub async fn monitor(&self, name: &str) -> Result<Monitor, StoreError> {
        Ok(dispatch!(self, pool => one::<_>(pool, name).await)?.monitor)
    }

    /// Changes a monitor's selection, schedule or leave notices (an admin or its owner). A
    /// new selection takes a new baseline.
    pub async fn edit_monitor(
        &self,
        name: &str,
        edit: &MonitorEdit,
        actor: &Actor,
    ) -> Result<Monitor, StoreError> {
        let row = dispatch!(self, pool => one::<_>(pool, name).await)?;
        policy::change_monitor(actor, name, row.owner_id)?;
        let current = &row.monitor;
        let selection = match &edit.selection {
            Some(selection) if *selection != current.selection => {
                Some(self.monitorable(selection, actor).await?)
            }
            _ => None,
        };
        let parsed = schedule(
            edit.schedule.as_deref().unwrap_or(&current.schedule),
            edit.time_zone.as_deref().unwrap_or(&current.time_zone),
        )?;
        let now = self.now();
        let next = current.enabled.then(|| parsed.next_after(now)).flatten();
        let mut values = vec![
            ("schedule", Set::Text(parsed.pattern().to_owned())),
            ("time_zone", Set::Text(parsed.zone().to_owned())),
            (
                "notify_on_leave",
                Set::Flag(edit.notify_on_leave.unwrap_or(current.notify_on_leave)),
            ),
            ("next_run_at", Set::Time(next)),
        ];
        let also = match &selection {
            Some(selection) => {
                values.push(("selection_id", Set::Id(Some(selection.id))));
                values.push(("entity", Set::Text(selection.entity.clone())));
                Also::Baseline {
                    selection: &selection.name,
                    entity: &selection.entity,
                }
            }
            None => Also::Nothing,
        };
        let detail = serde_json::json!({
            "monitor": name, "selection": selection.as_ref().map(|s| s.name.clone()),
            "schedule": parsed.pattern(), "time_zone": parsed.zone(),
        });
        self.change(current.id, &values, also, "monitor.changed", detail, actor)
            .await?;
        self.monitor(name).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn change(
        &self,
        id: i64,
        values: &[(&'static str, Set)],
        also: Also<'_>,
        action: &str,
        detail: serde_json::Value,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let key = self.history_key();
        let now = self.now();
        dispatch!(self, pool => change::<_>(pool, self.schema(), &key, id, values, also, action, detail, actor, now).await)
    }

    /// Enables (`on`) or disables a monitor (an admin or its owner): enabled, its schedule
    /// evaluates it from now on; disabled, it stops (a run already claimed is finished).
    pub async fn enable_monitor(
        &self,
        name: &str,
        on: bool,
        actor: &Actor,
    ) -> Result<Monitor, StoreError> {
        let row = dispatch!(self, pool => one::<_>(pool, name).await)?;
        policy::change_monitor(actor, name, row.owner_id)?;
        let parsed = schedule(&row.monitor.schedule, &row.monitor.time_zone)?;
        let next = on.then(|| parsed.next_after(self.now())).flatten();
        let values = [("enabled", Set::Flag(on)), ("next_run_at", Set::Time(next))];
        let action = if on {
            "monitor.enabled"
        } else {
            "monitor.disabled"
        };
        let detail =
            serde_json::json!({"monitor": name, "next_run_at": next.map(format_timestamp)});
        self.change(
            row.monitor.id,
            &values,
            Also::Nothing,
            action,
            detail,
            actor,
        )
        .await?;
        self.monitor(name).await
    }

    /// Subscribes (`on`) or unsubscribes the user `user`: anyone themselves, the owner or
    /// an admin anyone.
    pub async fn subscribe_monitor(
        &self,
        name: &str,
        user: &str,
        on: bool,
        actor: &Actor,
    ) -> Result<Monitor, StoreError> {
        let row = dispatch!(self, pool => one::<_>(pool, name).await)?;
        let user_id = self.user_id(user).await?;
        policy::subscribe_to_monitor(actor, name, row.owner_id, user_id)?;
        let action = if on {
            "monitor.subscribed"
        } else {
            "monitor.unsubscribed"
        };
        let detail = serde_json::json!({"monitor": name, "user": user});
        let also = Also::Subscriber { user: user_id, on };
        self.change(row.monitor.id, &[], also, action, detail, actor)
            .await?;
        self.monitor(name).await
    }

    /// Removes a monitor with its members, runs and hits (an admin or its owner).
    pub async fn remove_monitor(&self, name: &str, actor: &Actor) -> Result<(), StoreError> {
        let row = dispatch!(self, pool => one::<_>(pool, name).await)?;
        policy::change_monitor(actor, name, row.owner_id)?;
        let key = self.history_key();
        let now = self.now();
        dispatch!(self, pool => remove::<_>(pool, &key, &row.monitor, actor, now).await)
    }

    /// Evaluates a monitor now (an admin or its owner), telling its subscribers what entered
    /// (and left) since the last evaluation.
    pub async fn run_monitor(&self, name: &str, actor: &Actor) -> Result<MonitorRun, StoreError> {
        let row = dispatch!(self, pool => one::<_>(pool, name).await)?;
        policy::change_monitor(actor, name, row.owner_id)?;
        let now = self.now();
        let run =
            dispatch!(self, pool => request_run::<_>(pool, row.monitor.id, actor, now).await)?;
        self.evaluate_run(run).await?;
        self.monitor_run(run).await
    }

    /// Evaluates run `run` when it is still due; true when this call did it.
    async fn evaluate_run(&self, run: i64) -> Result<bool, StoreError> {
        let now = self.now();
        let done = dispatch!(self, pool => evaluate::<_>(pool, self.schema(), run, now).await)?;
        Ok(done.is_some())
    }

    /// One run.
    pub async fn monitor_run(&self, id: i64) -> Result<MonitorRun, StoreError> {
        dispatch!(self, pool => runs::<_>(pool, None, Some(id), false, 1).await)?
            .into_iter()
            .next()
            .ok_or_else(|| {
                StoreError::NamedNotFound(format!(
                    "there is no monitor run {id}; see `lethe monitor history NAME`"
                ))
            })
    }

    /// A monitor's runs, newest first.
    pub async fn monitor_history(
        &self,
        name: &str,
        limit: u64,
    ) -> Result<Vec<MonitorRun>, StoreError> {
        let monitor = self.monitor(name).await?;
        let limit = limit.clamp(1, 1_000);
        dispatch!(self, pool => runs::<_>(pool, Some(monitor.id), None, false, limit).await)
    }

    /// The records that entered or left in run `run` of a monitor — by default its latest
    /// run that found any, or else its latest run (the baseline, which lists none) — by
    /// record id, after `after`, at most `limit`. Records purged
    /// since are no longer listed.
    pub async fn monitor_hits(
        &self,
        name: &str,
        run: Option<i64>,
        after: Option<i64>,
        limit: u64,
    ) -> Result<MonitorHits, StoreError> {
        let monitor = self.monitor(name).await?;
        let run = match run {
            Some(id) => {
                let run = self.monitor_run(id).await?;
                if run.monitor != monitor.name {
                    return Err(StoreError::invalid_option(
                        "run",
                        format!(
                            "run {id} is not a run of monitor `{name}`; see `lethe monitor history {name}`"
                        ),
                    ));
                }
                run
            }
            None => {
                let found = dispatch!(self, pool => runs::<_>(pool, Some(monitor.id), None, true, 1).await)?;
                let latest = match found.into_iter().next() {
                    Some(run) => Some(run),
                    None => dispatch!(self, pool => runs::<_>(pool, Some(monitor.id), None, false, 1).await)?
                        .into_iter()
                        .next(),
                };
                latest.ok_or_else(|| {
                    StoreError::Internal(format!(
                        "monitor `{name}` has no run, not even its baseline"
                    ))
                })?
            }
        };
        let limit = limit.clamp(1, MAX_HITS_PAGE);
        let hits = dispatch!(self, pool => hits::<_>(pool, run.id, after, limit).await)?;
        let next_after = (hits.len() as u64 == limit)
            .then(|| hits.last().map(|hit| hit.record_id))
            .flatten();
        Ok(MonitorHits {
            run,
            hits,
            next_after,
        })
    }

    /// Claims, for this instance, the scheduled run of every enabled monitor whose time has
    /// come — each once per due time however many instances look — and records it as due.
    /// Returns the runs claimed. [`Store::run_due_monitors`] claims and then evaluates.
    pub async fn claim_due_monitors(&self) -> Result<Vec<i64>, StoreError> {
        let now = self.now();
        let mut claimed = Vec::new();
        for due in dispatch!(self, pool => due::<_>(pool, now).await)? {
            let next = schedule(&due.schedule, &due.time_zone)?.next_after(now);
            let actor = Actor::operator();
            if let Some(run) = dispatch!(self, pool => claim_due::<_>(pool, due.monitor, due.at, next, &actor, now).await)?
            {
                claimed.push(run);
            }
        }
        Ok(claimed)
    }

    /// Claims what is due ([`Store::claim_due_monitors`]), then evaluates every run still
    /// due — those just claimed, and any that an instance claimed and did not finish because
    /// it stopped or was killed. Each run is evaluated once: one that another instance is
    /// evaluating now is skipped. Returns the runs evaluated here; a run that fails stays
    /// due, and its error is returned only when no other run was evaluated.
    pub async fn run_due_monitors(&self) -> Result<Vec<MonitorRun>, StoreError> {
        self.claim_due_monitors().await?;
        let mut done = Vec::new();
        // One run that cannot be evaluated (its selection no longer parses, the database
        // refused it) stays due and is tried again; it does not hold the others up.
        let mut first_error = None;
        for run in dispatch!(self, pool => pending::<_>(pool).await)? {
            match self.evaluate_run(run).await {
                Ok(true) => done.push(self.monitor_run(run).await?),
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(run, %error, "a monitor run could not be evaluated; it stays due");
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) if done.is_empty() => Err(error),
            _ => Ok(done),
        }
    }
}
