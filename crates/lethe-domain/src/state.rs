//! Where a deletion batch and a job are in their lives, and the moves between states that
//! Lethe allows (SPEC §3, §11). The store reads a state, asks here what a request makes of it,
//! and writes the answer with a condition on the state it read; it never compares state
//! names itself.
//!
//! A purge request is a purge job: [`JobState::Pending`] until its grace period ends, then
//! [`JobState::Running`] to [`JobState::Done`] (or [`JobState::Failed`]), unless an admin
//! cancels it first ([`JobState::Cancelled`]). Its deletion batch is
//! [`BatchState::PurgePending`] meanwhile.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A move a state does not allow, in words that say why and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct IllegalTransition {
    /// The state the thing was in (its stored name).
    pub from: &'static str,
    /// What was asked of it: `restore`, `purge`, `claim`, `resume`, `cancel`, `finish`.
    pub action: &'static str,
    message: String,
}

impl IllegalTransition {
    pub(crate) fn new(
        from: &'static str,
        action: &'static str,
        message: String,
    ) -> IllegalTransition {
        IllegalTransition {
            from,
            action,
            message,
        }
    }
}

/// A stored state name that is not one of Lethe's (a database written by something else).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a state Lethe knows")]
pub struct UnknownState(pub String);

/// Where a deletion batch is in its life.
///
/// ```text
/// Trashing ──filled──▶ Trashed ◀──────────── cancel ───────────┐
///                       │  ▲                                   │
///            request purge  └── restore (some left) ──┐        │
///                       ▼                             │        │
///                  PurgePending ──purge──▶ Purged / Held / Trashed / Restored
/// Trashed, PurgePending, Held ──restore (nothing left)──▶ Restored
/// Held ──request purge──▶ PurgePending
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    /// A trash job is still moving records into it.
    Trashing,
    /// Its records are in the trash.
    Trashed,
    /// A purge of it is waiting for its grace period; its records may still be restored.
    PurgePending,
    /// A purge ran but a rule kept some members: they stay in the trash, restorable, and
    /// are not purged again by the retention window until an admin asks.
    Held,
    /// Every record of it is erased.
    Purged,
    /// Every record of it is back.
    Restored,
}

impl BatchState {
    pub const ALL: [BatchState; 6] = [
        BatchState::Trashing,
        BatchState::Trashed,
        BatchState::PurgePending,
        BatchState::Held,
        BatchState::Purged,
        BatchState::Restored,
    ];

    /// The name stored in `lethe_deletion_batch.state` and shown to users.
    pub const fn as_str(self) -> &'static str {
        match self {
            BatchState::Trashing => "trashing",
            BatchState::Trashed => "trashed",
            BatchState::PurgePending => "purge_pending",
            BatchState::Held => "held",
            BatchState::Purged => "purged",
            BatchState::Restored => "restored",
        }
    }

    pub fn parse(text: &str) -> Result<BatchState, UnknownState> {
        BatchState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| UnknownState(text.to_owned()))
    }

    /// The trash job that fills the batch has finished.
    pub fn filled(self, batch: i64) -> Result<BatchState, IllegalTransition> {
        match self {
            BatchState::Trashing => Ok(BatchState::Trashed),
            other => Err(IllegalTransition::new(
                other.as_str(),
                "finish",
                format!(
                    "deletion batch {batch} is {} and is not being filled",
                    other.as_str()
                ),
            )),
        }
    }

    /// Whether records of the batch may be restored now: while they are in the trash, also
    /// during a purge's grace period (the purge then skips them) and when a rule held them.
    /// `filling_job` names the trash job of a batch still being filled.
    pub fn restore(self, batch: i64, filling_job: Option<i64>) -> Result<(), IllegalTransition> {
        let refuse =
            |message: String| Err(IllegalTransition::new(self.as_str(), "restore", message));
        match self {
            BatchState::Trashed | BatchState::PurgePending | BatchState::Held => Ok(()),
            BatchState::Trashing => refuse(format!(
                "deletion batch {batch} is still being filled by job {}; wait for it to finish",
                filling_job.unwrap_or(0)
            )),
            BatchState::Restored => {
                refuse(format!("deletion batch {batch} has already been restored"))
            }
            BatchState::Purged => refuse(format!(
                "deletion batch {batch} is purged and cannot be restored: its records are erased"
            )),
        }
    }

    /// The state after a restore job, with `left` records of the batch still in the trash.
    /// A batch whose purge is pending stays pending while anything of it is left to purge.
    pub fn restored(self, left: u64) -> BatchState {
        match (left, self) {
            (0, _) => BatchState::Restored,
            (_, BatchState::PurgePending) => BatchState::PurgePending,
            _ => BatchState::Trashed,
        }
    }

    /// A purge is requested: only a batch in the trash, or held by a rule (an admin asks
    /// again after lifting what held it), may be purged.
    pub fn request_purge(self, batch: i64) -> Result<BatchState, IllegalTransition> {
        let refuse = |message: String| Err(IllegalTransition::new(self.as_str(), "purge", message));
        match self {
            BatchState::Trashed | BatchState::Held => Ok(BatchState::PurgePending),
            BatchState::PurgePending => refuse(format!(
                "a purge of deletion batch {batch} is already pending; see `lethe purge list`"
            )),
            BatchState::Purged => refuse(format!("deletion batch {batch} has already been purged")),
            BatchState::Restored => refuse(format!(
                "deletion batch {batch} was restored: its records are not in the trash, and only trashed records can be purged"
            )),
            BatchState::Trashing => refuse(format!(
                "deletion batch {batch} is still being filled by its trash job; request its purge once that job has finished"
            )),
        }
    }

    /// The pending purge of the batch was cancelled: its records stay in the trash.
    pub fn purge_cancelled(self) -> BatchState {
        match self {
            BatchState::PurgePending => BatchState::Trashed,
            other => other,
        }
    }

    /// The state after a purge job: `left` records of the batch still in the trash, `erased`
    /// records erased, `blocked` members a rule kept.
    pub fn purged(left: u64, erased: u64, blocked: u64) -> BatchState {
        match (left, erased) {
            (0, 0) => BatchState::Restored,
            (0, _) => BatchState::Purged,
            _ if blocked > 0 => BatchState::Held,
            _ => BatchState::Trashed,
        }
    }

    /// Whether the retention window purges the batch by itself when it is old enough: not a
    /// held batch, which waits for an admin.
    pub fn auto_purged(self) -> bool {
        self == BatchState::Trashed
    }
}

impl std::fmt::Display for BatchState {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Where a job is in its life.
///
/// ```text
/// Queued ──claim──▶ Running ──▶ Done
///   ▲                 │
///   └──── resume ── Failed
/// Pending ──grace over, claim──▶ Running      Pending ──cancel──▶ Cancelled
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// A worker has claimed it (or had, and died: then its lease runs out and another takes
    /// it).
    Running,
    /// Every member handled.
    Done,
    /// Stopped by an error; a resume tries again from the last committed batch.
    Failed,
    /// A purge waiting for its grace period to end; any admin may cancel it.
    Pending,
    /// A pending purge an admin cancelled before it started.
    Cancelled,
}

/// What claiming a job means for the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The worker runs it: the job becomes [`JobState::Running`].
    Run,
    /// The job has finished: there is nothing to run.
    Finished,
}

/// What resuming a job means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// A failed job becomes [`JobState::Queued`] and continues after its last batch.
    Requeue,
    /// It runs already, or a worker takes it up (also after its worker died): nothing to do.
    AlreadyRunnable,
}

impl JobState {
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Running,
        JobState::Done,
        JobState::Failed,
        JobState::Pending,
        JobState::Cancelled,
    ];

    /// The name stored in `lethe_job.state` and shown to users.
    pub const fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Pending => "pending",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Result<JobState, UnknownState> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| UnknownState(text.to_owned()))
    }

    /// A new job: a purge with a grace period waits for it; any other job is queued.
    pub fn new_job(waits_for_grace: bool) -> JobState {
        if waits_for_grace {
            JobState::Pending
        } else {
            JobState::Queued
        }
    }

    /// The states a worker may pick a job up from without asking anyone: queued, running
    /// under a lease that ran out, and pending once due.
    pub const RUNNABLE: [JobState; 3] = [JobState::Queued, JobState::Running, JobState::Pending];

    /// A worker claims job `id`. `grace_until` is the end of a pending purge's grace period
    /// when it has not ended yet.
    pub fn claim(self, id: i64, grace_until: Option<&str>) -> Result<Claim, IllegalTransition> {
        let refuse = |message: String| Err(IllegalTransition::new(self.as_str(), "claim", message));
        match self {
            JobState::Done => Ok(Claim::Finished),
            JobState::Queued | JobState::Running => Ok(Claim::Run),
            JobState::Pending => match grace_until {
                Some(due) => refuse(format!(
                    "purge job {id} is in its grace period until {due}; it runs after that unless an admin cancels it"
                )),
                None => Ok(Claim::Run),
            },
            JobState::Cancelled => {
                refuse(format!("job {id} was cancelled; nothing is left to run"))
            }
            JobState::Failed => refuse(format!(
                "job {id} failed; `lethe job resume {id}` continues it after its last committed batch"
            )),
        }
    }

    /// Someone asks to resume job `id`.
    pub fn resume(self, id: i64) -> Result<Resume, IllegalTransition> {
        let refuse = |why: &str| {
            Err(IllegalTransition::new(
                self.as_str(),
                "resume",
                format!("job {id} cannot be resumed: {why}"),
            ))
        };
        match self {
            JobState::Failed => Ok(Resume::Requeue),
            JobState::Queued | JobState::Running => Ok(Resume::AlreadyRunnable),
            JobState::Done => refuse("it has finished"),
            JobState::Cancelled => refuse("it was cancelled"),
            JobState::Pending => {
                refuse("it is a purge waiting for its grace period, and runs by itself then")
            }
        }
    }

    /// An admin cancels purge job `id`: only while it waits for its grace period.
    pub fn cancel(self, id: i64) -> Result<JobState, IllegalTransition> {
        let why = match self {
            JobState::Pending => return Ok(JobState::Cancelled),
            JobState::Done => "it has already been executed".to_owned(),
            JobState::Cancelled => "it was already cancelled".to_owned(),
            other => format!("it has already started ({other})"),
        };
        Err(IllegalTransition::new(
            self.as_str(),
            "cancel",
            format!("purge job {id} cannot be cancelled: {why}"),
        ))
    }

    pub fn is_finished(self) -> bool {
        self == JobState::Done
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for state in BatchState::ALL {
            assert_eq!(BatchState::parse(state.as_str()), Ok(state));
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                serde_json::json!(state.as_str())
            );
        }
        for state in JobState::ALL {
            assert_eq!(JobState::parse(state.as_str()), Ok(state));
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                serde_json::json!(state.as_str())
            );
        }
        assert!(BatchState::parse("deleted").is_err());
        assert!(JobState::parse("DONE").is_err());
    }

    #[test]
    fn a_batch_moves_only_along_the_allowed_paths() {
        use BatchState::*;
        // Which states may be restored and purged.
        let restorable: Vec<_> = BatchState::ALL
            .into_iter()
            .filter(|state| state.restore(1, None).is_ok())
            .collect();
        assert_eq!(restorable, [Trashed, PurgePending, Held]);
        let purgeable: Vec<_> = BatchState::ALL
            .into_iter()
            .filter(|state| state.request_purge(1).is_ok())
            .collect();
        assert_eq!(purgeable, [Trashed, Held]);
        assert_eq!(Trashed.request_purge(1), Ok(PurgePending));
        assert_eq!(Trashing.filled(1), Ok(Trashed));
        assert!(Trashed.filled(1).is_err());
        let refused = Trashing.restore(4, Some(9)).unwrap_err();
        assert_eq!(refused.from, "trashing");
        assert_eq!(refused.action, "restore");
        assert_eq!(
            refused.to_string(),
            "deletion batch 4 is still being filled by job 9; wait for it to finish"
        );
        assert_eq!(
            PurgePending.request_purge(4).unwrap_err().to_string(),
            "a purge of deletion batch 4 is already pending; see `lethe purge list`"
        );
        // After a restore.
        assert_eq!(Trashed.restored(0), Restored);
        assert_eq!(PurgePending.restored(0), Restored);
        assert_eq!(PurgePending.restored(3), PurgePending);
        assert_eq!(Held.restored(3), Trashed);
        // After a purge and a cancel.
        assert_eq!(BatchState::purged(0, 0, 0), Restored);
        assert_eq!(BatchState::purged(0, 5, 0), Purged);
        assert_eq!(BatchState::purged(2, 5, 2), Held);
        assert_eq!(BatchState::purged(2, 5, 0), Trashed);
        assert_eq!(PurgePending.purge_cancelled(), Trashed);
        assert_eq!(Purged.purge_cancelled(), Purged);
        assert!(Trashed.auto_purged());
        assert!(!Held.auto_purged());
    }

    #[test]
    fn a_job_moves_only_along_the_allowed_paths() {
        use JobState::*;
        assert_eq!(JobState::new_job(true), Pending);
        assert_eq!(JobState::new_job(false), Queued);
        assert_eq!(Queued.claim(1, None), Ok(Claim::Run));
        assert_eq!(Running.claim(1, None), Ok(Claim::Run));
        assert_eq!(Pending.claim(1, None), Ok(Claim::Run));
        assert_eq!(Done.claim(1, None), Ok(Claim::Finished));
        assert_eq!(
            Pending
                .claim(7, Some("2030-01-01T00:00:00.000000Z"))
                .unwrap_err()
                .to_string(),
            "purge job 7 is in its grace period until 2030-01-01T00:00:00.000000Z; it runs after that unless an admin cancels it"
        );
        assert!(Cancelled.claim(1, None).is_err());
        assert!(Failed.claim(1, None).is_err());

        let resumable: Vec<_> = JobState::ALL
            .into_iter()
            .filter(|state| state.resume(1) == Ok(Resume::Requeue))
            .collect();
        assert_eq!(resumable, [Failed]);
        assert_eq!(Running.resume(1), Ok(Resume::AlreadyRunnable));
        assert_eq!(
            Done.resume(3).unwrap_err().to_string(),
            "job 3 cannot be resumed: it has finished"
        );

        let cancellable: Vec<_> = JobState::ALL
            .into_iter()
            .filter(|state| state.cancel(1).is_ok())
            .collect();
        assert_eq!(cancellable, [Pending]);
        assert_eq!(
            Running.cancel(5).unwrap_err().to_string(),
            "purge job 5 cannot be cancelled: it has already started (running)"
        );
    }
}
