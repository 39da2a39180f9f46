//! Lethe's job queue (SPEC §5, §11): bulk operations run as persisted, resumable jobs shared
//! by every instance on a database.
//!
//! A job row (`lethe_job`) holds its payload (what to do, for whom), a cursor (the last member
//! id whose batch committed), running totals and a lease. A worker claims a job by taking its
//! lease ([`lease`]) and walks the job's snapshot in ascending id order, a bounded batch of
//! members per transaction ([`run`]); each batch applies the kind's change, records the
//! members it skipped with the reason ([`batch`]), advances the cursor and the totals, and
//! appends the batch's history entry — all in one transaction. A crash loses at most the
//! batch in flight, which the next run redoes; the cursor and the lease check make sure no
//! batch is applied or counted twice. What each kind of job does is not known here: the
//! lifecycle implements [`JobKinds`].

pub mod batch;
pub mod lease;
pub mod row;
pub mod run;

pub use batch::{Batch, Skip};
pub use lease::{JobRunner, lease_owner};
pub use row::{Job, JobRow, Totals};
pub use run::{JobKinds, RunWith};
