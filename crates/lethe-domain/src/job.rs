//! What a job is asked to do: its kind, and a payload that carries exactly what that kind
//! needs — a trash job always has its deletion batch, an update always has its changes.
//!
//! The payload is stored as one flat JSON object in `lethe_job.payload` (the form every
//! version of Lethe has written), with the kind in its own column; [`JobPayload::from_stored`]
//! reads the two back into the typed form and says what is missing when a row is damaged.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Actor;

/// The kinds of bulk operation that run as jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Moves the members and their cascade children into a deletion batch in the trash.
    Trash,
    /// Brings back a deletion batch, or chosen members of it.
    Restore,
    /// Erases a deletion batch's records for good, after a grace period.
    Purge,
    /// Overwrites the members' personal fields; the records stay.
    Anonymize,
    /// Sets fields on every member.
    Update,
    /// Writes the rows of an import, staged and checked before the job was made.
    Import,
}

impl JobKind {
    pub const ALL: [JobKind; 6] = [
        JobKind::Trash,
        JobKind::Restore,
        JobKind::Purge,
        JobKind::Anonymize,
        JobKind::Update,
        JobKind::Import,
    ];

    /// The name stored in `lethe_job.kind` and shown to users.
    pub const fn as_str(self) -> &'static str {
        match self {
            JobKind::Trash => "trash",
            JobKind::Restore => "restore",
            JobKind::Purge => "purge",
            JobKind::Anonymize => "anonymize",
            JobKind::Update => "update",
            JobKind::Import => "import",
        }
    }

    pub fn parse(raw: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// What one kind of job works on, beyond the members of its snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// Moves the members and their cascade into the deletion batch `batch`.
    Trash { batch: i64 },
    /// Brings the members of deletion batch `batch` back.
    Restore { batch: i64 },
    /// Erases what is left of deletion batch `batch` once its grace period (`grace_seconds`,
    /// 0 for an urgent erasure) has passed.
    Purge { batch: i64, grace_seconds: i64 },
    /// Overwrites the members' personal fields by the schema's strategies.
    Anonymize,
    /// Sets fields of the members to the values given (checked before the job was made).
    Update {
        changes: serde_json::Map<String, serde_json::Value>,
    },
    /// Creates records from the rows staged in the table `staging` (and, for rows that
    /// matched an existing record, sets the fields `update` on it; none: they are skipped).
    Import {
        staging: String,
        update: Vec<String>,
    },
}

impl Work {
    pub fn kind(&self) -> JobKind {
        match self {
            Work::Trash { .. } => JobKind::Trash,
            Work::Restore { .. } => JobKind::Restore,
            Work::Purge { .. } => JobKind::Purge,
            Work::Anonymize => JobKind::Anonymize,
            Work::Update { .. } => JobKind::Update,
            Work::Import { .. } => JobKind::Import,
        }
    }

    /// The deletion batch the job fills, empties or erases.
    pub fn deletion_batch(&self) -> Option<i64> {
        match self {
            Work::Trash { batch } | Work::Restore { batch } | Work::Purge { batch, .. } => {
                Some(*batch)
            }
            Work::Anonymize | Work::Update { .. } | Work::Import { .. } => None,
        }
    }
}

/// Everything needed to run or resume a job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPayload {
    /// The entity of the members.
    pub entity: String,
    /// The snapshot whose members the job walks; an import walks its staged rows instead.
    pub snapshot_id: Option<i64>,
    pub reason: Option<String>,
    /// What the members were picked from, in words.
    pub source: String,
    /// Who asked for the job; its history entries and notices name them.
    pub actor: Actor,
    pub work: Work,
}

/// A stored payload that does not fit its job's kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {kind} job's payload {problem}")]
pub struct DamagedPayload {
    pub kind: JobKind,
    pub problem: String,
}

/// The stored JSON form: flat, every kind's parts optional.
#[derive(Deserialize)]
struct Stored {
    entity: String,
    #[serde(default)]
    snapshot_id: Option<i64>,
    batch_id: Option<i64>,
    reason: Option<String>,
    source: String,
    actor: Actor,
    #[serde(default)]
    grace_seconds: Option<i64>,
    #[serde(default)]
    changes: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    staging: Option<String>,
    #[serde(default)]
    update: Option<Vec<String>>,
}

impl JobPayload {
    pub fn kind(&self) -> JobKind {
        self.work.kind()
    }

    /// The deletion batch the job fills, empties or erases.
    pub fn deletion_batch(&self) -> Option<i64> {
        self.work.deletion_batch()
    }

    /// The form stored in `lethe_job.payload`.
    pub fn to_stored(&self) -> serde_json::Value {
        let (grace_seconds, changes) = match &self.work {
            Work::Purge { grace_seconds, .. } => (Some(*grace_seconds), None),
            Work::Update { changes } => (None, Some(changes.clone())),
            Work::Trash { .. } | Work::Restore { .. } | Work::Anonymize | Work::Import { .. } => {
                (None, None)
            }
        };
        let (staging, update) = match &self.work {
            Work::Import { staging, update } => (Some(staging), Some(update)),
            _ => (None, None),
        };
        serde_json::json!({
            "staging": staging,
            "update": update,
            "entity": self.entity,
            "snapshot_id": self.snapshot_id,
            "batch_id": self.deletion_batch(),
            "reason": self.reason,
            "source": self.source,
            "actor": self.actor,
            "grace_seconds": grace_seconds,
            "changes": changes,
        })
    }

    /// Reads a stored payload back for a job of `kind`.
    pub fn from_stored(
        kind: JobKind,
        json: serde_json::Value,
    ) -> Result<JobPayload, DamagedPayload> {
        let damaged = |problem: String| DamagedPayload { kind, problem };
        let stored: Stored = serde_json::from_value(json)
            .map_err(|error| damaged(format!("cannot be read: {error}")))?;
        let batch = || {
            stored
                .batch_id
                .ok_or_else(|| damaged("names no deletion batch".to_owned()))
        };
        let work = match kind {
            JobKind::Trash => Work::Trash { batch: batch()? },
            JobKind::Restore => Work::Restore { batch: batch()? },
            JobKind::Purge => Work::Purge {
                batch: batch()?,
                grace_seconds: stored.grace_seconds.unwrap_or(0),
            },
            JobKind::Anonymize => Work::Anonymize,
            JobKind::Update => Work::Update {
                changes: stored
                    .changes
                    .clone()
                    .ok_or_else(|| damaged("holds no changes".to_owned()))?,
            },
            JobKind::Import => Work::Import {
                staging: stored
                    .staging
                    .clone()
                    .ok_or_else(|| damaged("names no staged rows".to_owned()))?,
                update: stored.update.clone().unwrap_or_default(),
            },
        };
        Ok(JobPayload {
            entity: stored.entity,
            snapshot_id: stored.snapshot_id,
            reason: stored.reason,
            source: stored.source,
            actor: stored.actor,
            work,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn payload(work: Work) -> JobPayload {
        JobPayload {
            entity: "contact".to_owned(),
            snapshot_id: Some(12),
            reason: Some("clean-up".to_owned()),
            source: "filter `x = 1`".to_owned(),
            actor: Actor::user(3, "ann", true),
            work,
        }
    }

    #[test]
    fn every_kind_round_trips_through_the_stored_form() {
        let mut changes = serde_json::Map::new();
        changes.insert("status".to_owned(), serde_json::json!("lost"));
        for work in [
            Work::Trash { batch: 4 },
            Work::Restore { batch: 4 },
            Work::Purge {
                batch: 4,
                grace_seconds: 0,
            },
            Work::Anonymize,
            Work::Update { changes },
            Work::Import {
                staging: "lethe_import_1".to_owned(),
                update: vec!["phone".to_owned()],
            },
        ] {
            let original = payload(work);
            let stored = original.to_stored();
            let back = JobPayload::from_stored(original.kind(), stored).unwrap();
            assert_eq!(back, original);
        }
    }

    #[test]
    fn a_payload_written_by_an_earlier_version_still_reads() {
        // No `grace_seconds` or `changes` keys at all, as early versions wrote them.
        let json = serde_json::json!({
            "entity": "contact", "snapshot_id": 1, "batch_id": 2, "reason": null,
            "source": "s", "actor": {"user_id": null, "name": "operator", "admin": true}
        });
        let payload = JobPayload::from_stored(JobKind::Trash, json).unwrap();
        assert_eq!(payload.work, Work::Trash { batch: 2 });
        assert_eq!(payload.actor, Actor::operator());
    }

    #[test]
    fn a_payload_missing_what_its_kind_needs_is_named_as_damaged() {
        let json = serde_json::json!({
            "entity": "contact", "snapshot_id": 1, "batch_id": null, "reason": null,
            "source": "s", "actor": {"user_id": null, "name": "operator", "admin": true}
        });
        let error = JobPayload::from_stored(JobKind::Trash, json.clone()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "a trash job's payload names no deletion batch"
        );
        assert!(JobPayload::from_stored(JobKind::Update, json.clone()).is_err());
        assert!(JobPayload::from_stored(JobKind::Anonymize, json).is_ok());
        assert!(JobPayload::from_stored(JobKind::Purge, serde_json::json!([1])).is_err());
    }

    #[test]
    fn kind_names_round_trip() {
        for kind in JobKind::ALL {
            assert_eq!(JobKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
        assert_eq!(JobKind::parse("delete"), None);
    }
}
