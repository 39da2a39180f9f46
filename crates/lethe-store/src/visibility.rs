//! Who may see what an operation leaves behind (SPEC §7): a job with its skips, a snapshot
//! with its members, and the previews made from them. An admin sees everything; a user sees
//! the jobs they started and the snapshots they made, because those hold what an operation
//! was about (its filter, its reason, its members) and another user's may be about people
//! they were not meant to see. Every door (CLI with `--as`, HTTP) asks these functions.

use crate::error::StoreError;
use crate::users::Actor;
use crate::{Job, Snapshot, Store};

pub use lethe_domain::policy::may_see;

impl Store {
    /// A job, when `actor` may see it.
    pub async fn job_for(&self, id: i64, actor: &Actor) -> Result<Job, StoreError> {
        let job = self.job(id).await?;
        lethe_domain::policy::see_job(actor, id, job.started_by)?;
        Ok(job)
    }

    /// The newest jobs `actor` may see, newest first: all of them for an admin, their own
    /// for a user.
    pub async fn jobs_for(&self, limit: u64, actor: &Actor) -> Result<Vec<Job>, StoreError> {
        if lethe_domain::policy::sees_everyones(actor) {
            return self.jobs(limit).await;
        }
        let Some(user) = actor.user_id else {
            return Ok(Vec::new());
        };
        self.jobs_started_by(user, limit).await
    }

    /// A snapshot, when `actor` may see it (and the previews and members made from it).
    pub async fn snapshot_for(&self, id: i64, actor: &Actor) -> Result<Snapshot, StoreError> {
        let snapshot = self.get_snapshot(id).await?;
        lethe_domain::policy::see_snapshot(actor, id, snapshot.created_by)?;
        Ok(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admins_see_everything_and_users_their_own() {
        let admin = Actor {
            user_id: Some(1),
            name: "ada".to_owned(),
            admin: true,
        };
        let user = Actor {
            user_id: Some(2),
            name: "uma".to_owned(),
            admin: false,
        };
        let cases = [
            (&admin, None, true),
            (&admin, Some(2), true),
            (&user, Some(2), true),
            (&user, Some(1), false),
            (&user, None, false),
            (&Actor::operator(), Some(2), true),
        ];
        for (actor, owner, expected) in cases {
            assert_eq!(may_see(actor, owner), expected, "{actor:?} {owner:?}");
        }
    }
}
