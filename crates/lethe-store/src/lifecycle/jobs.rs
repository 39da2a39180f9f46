//! The lifecycle's kinds of job plugged into the job queue (`lethe-jobs`): one
//! [`JobKinds`] implementation that hands each batch to its kind's file — `trash.rs`,
//! `restore.rs`, `purge.rs` (purge and anonymise), `update.rs` — by the job's [`Work`].

pub(crate) use lethe_jobs::batch::*;
pub(crate) use lethe_jobs::lease::*;
pub(crate) use lethe_jobs::row::*;
pub(crate) use lethe_jobs::run::resume;

use lethe_db::StoreError;
use lethe_db::dialect::Dialect;
use lethe_jobs::JobKinds;
use lethe_plan::Plan;
use lethe_schema::Schema;
use sqlx::Pool;
use time::OffsetDateTime;

use super::{JobKind, JobPayload, LifecycleSettings, Work};

/// What a run carries from batch to batch: the settings, and the erased values a purge looks
/// for in the database files afterwards (in memory only, bounded).
pub(crate) struct RunContext {
    pub settings: LifecycleSettings,
    pub probe: super::purge::ErasureProbe,
    /// Whether this run continued a job that had already committed batches (after a stop):
    /// then the erased values of those batches are not known to it.
    pub resumed: bool,
}

/// The lifecycle's jobs, for one run.
pub(crate) struct Kinds<'a> {
    pub schema: &'a Schema,
    pub settings: &'a LifecycleSettings,
}

impl<DB: Dialect> JobKinds<DB> for Kinds<'_> {
    type Run = RunContext;

    fn plan(&self, job: &JobRow) -> Result<Plan, StoreError> {
        let operation = match job.kind {
            JobKind::Purge => lethe_plan::Operation::Purge,
            _ => lethe_plan::Operation::Trash,
        };
        lethe_plan::plan(self.schema, &job.payload.entity, operation)
            .map_err(|error| StoreError::BadRequest(error.to_string()))
    }

    fn begin(&self, job: &JobRow, plan: &Plan) -> Result<RunContext, StoreError> {
        if job.kind == JobKind::Purge {
            super::purge::check_files_folder(self.schema, plan, self.settings, job.id)?;
        }
        Ok(RunContext {
            settings: self.settings.clone(),
            probe: super::purge::ErasureProbe::default(),
            resumed: job.done > 0,
        })
    }

    async fn before_batch<'a>(
        &'a self,
        pool: &'a Pool<DB>,
        job: &'a JobRow,
        run: &'a mut RunContext,
    ) -> Result<(), StoreError> {
        if job.kind == JobKind::Purge {
            let tally =
                super::purge::erase_files::<DB>(pool, self.schema, job.id, &run.settings).await?;
            run.probe.files.merge(tally);
        }
        Ok(())
    }

    async fn batch<'a>(
        &'a self,
        connection: &'a mut DB::Connection,
        batch: &'a Batch<'a>,
        run: &'a mut RunContext,
    ) -> Result<Totals, StoreError> {
        match &batch.payload.work {
            Work::Trash { batch: into } => {
                super::trash::batch::<DB>(connection, batch, *into).await
            }
            Work::Restore { batch: from } => {
                super::restore::batch::<DB>(connection, batch, *from).await
            }
            Work::Purge { batch: erasing, .. } => {
                super::purge::batch::<DB>(connection, batch, *erasing, run).await
            }
            Work::Anonymize => {
                let key = run.settings.hash_key.as_deref();
                super::purge::anonymize_batch::<DB>(connection, batch, key).await
            }
            Work::Update { changes } => {
                super::update::batch::<DB>(connection, batch, changes).await
            }
            Work::Import { staging, update } => {
                crate::import::job::batch::<DB>(connection, batch, staging, update).await
            }
        }
    }

    async fn after_last_batch<'a>(
        &'a self,
        pool: &'a Pool<DB>,
        plan: &'a Plan,
        job: &'a JobRow,
        run: &'a mut RunContext,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        if job.kind != JobKind::Purge {
            return Ok(None);
        }
        super::purge::make_physical::<DB>(pool, self.schema, plan, job, run)
            .await
            .map(Some)
    }

    async fn finish<'a>(
        &'a self,
        connection: &'a mut DB::Connection,
        plan: &'a Plan,
        job: &'a JobRow,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        match &job.payload.work {
            Work::Trash { batch } => super::trash::finish::<DB>(connection, job, *batch, now).await,
            Work::Restore { batch } => {
                super::restore::finish::<DB>(connection, plan, job, *batch).await
            }
            Work::Purge { batch, .. } => {
                super::purge::finish::<DB>(connection, plan, job, *batch, now).await
            }
            Work::Import { staging, .. } => {
                crate::import::job::finish::<DB>(connection, staging).await
            }
            Work::Anonymize | Work::Update { .. } => Ok(()),
        }
    }

    async fn failed<'a>(
        &'a self,
        connection: &'a mut DB::Connection,
        job: &'a JobRow,
        _message: &'a str,
        said: &'a str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        // The notice says the error in Lethe's words only, never a database's own text,
        // which can quote a value: the notice goes out by e-mail and webhook. The whole
        // error is on the job's page.
        let stop = if said.ends_with(['.', '!', '?']) {
            ""
        } else {
            "."
        };
        use crate::notifications::{Recipients, notify};
        use lethe_domain::notification::NotificationKind;
        if job.kind != JobKind::Purge {
            // The one who started it hears of it (the operator reads it on the terminal).
            let Some(user) = job.payload.actor.user_id else {
                return Ok(());
            };
            let notice = format!(
                "Job {} ({} of {} records) stopped after {} of {} member(s): {said}{stop} The whole error is on the job's page (`lethe job show {}`); it can be resumed where it stopped (`lethe job resume {}`).",
                job.id,
                job.kind.as_str(),
                job.payload.entity,
                job.done,
                job.total,
                job.id,
                job.id,
            );
            return notify::<DB>(
                connection,
                Recipients::User(user),
                NotificationKind::JobFailed,
                &notice,
                Some(job.id),
                now,
            )
            .await;
        }
        // Every admin hears of it: a purge that stopped leaves erased records' files or whole
        // members waiting until someone fixes the cause and resumes it.
        let notice = format!(
            "Purge of deletion batch {} failed (job {}) after {} of {} member(s): {said}{stop} The whole error is on the job's page (`lethe job show {}`); the purge can be resumed where it stopped once the cause is fixed.",
            job.payload
                .deletion_batch()
                .map_or_else(|| "?".to_owned(), |batch| batch.to_string()),
            job.id,
            job.done,
            job.total,
            job.id,
        );
        notify::<DB>(
            connection,
            Recipients::Admins,
            NotificationKind::PurgeFailed,
            &notice,
            Some(job.id),
            now,
        )
        .await
    }

    async fn done<'a>(&'a self, pool: &'a Pool<DB>, job: &'a JobRow) {
        // A purge analyses the tables it touched itself (for its receipt). An update or
        // anonymise counts what it changed as `rewritten`.
        if job.kind == JobKind::Purge {
            return;
        }
        let mut changed = job.totals.counts.clone();
        for (entity, count) in &job.totals.rewritten {
            *changed.entry(entity.clone()).or_default() += count;
        }
        for (entity, count) in &changed {
            if let Some(entity) = self.schema.entity(entity) {
                crate::statistics::after_write(pool, entity.name.as_str(), *count).await;
            }
        }
    }
}

/// A job about to be created.
pub(crate) struct NewJob<'a> {
    pub payload: &'a JobPayload,
    /// The snapshot's member count.
    pub members: u64,
    pub batch_size: u64,
    /// A purge's end of grace; `None` runs as soon as a worker takes it.
    pub not_before: Option<OffsetDateTime>,
    /// What the job claims (a purge claims nothing: its batch's state guards it instead).
    pub claim: Option<super::claims::Subject>,
    /// What the `KIND.requested` history entry adds for this kind.
    pub details: serde_json::Value,
}

/// The one start sequence of every kind of job, inside the transaction that creates it: the
/// job's row, its claim on what it acts on, and the `KIND.requested` history entry (the job,
/// its deletion batch, snapshot, member count and source, and the kind's details).
pub(crate) async fn start_job<DB: Dialect>(
    connection: &mut DB::Connection,
    history_key: &crate::HistoryKey,
    new: NewJob<'_>,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    let payload = new.payload;
    let job = insert_job::<DB>(
        connection,
        payload,
        new.members,
        new.batch_size,
        now,
        new.not_before,
    )
    .await?;
    if let Some(subject) = new.claim {
        super::claims::claim::<DB>(connection, subject, job).await?;
    }
    let mut details = serde_json::json!({
        "job": job,
        "batch": payload.deletion_batch(),
        "snapshot": payload.snapshot_id,
        "members": new.members,
        "source": payload.source,
    });
    if let (Some(all), serde_json::Value::Object(extra)) = (details.as_object_mut(), new.details) {
        all.extend(extra);
    }
    crate::history::append::<DB>(
        connection,
        history_key,
        now,
        &payload.actor,
        &format!("{}.requested", payload.kind().as_str()),
        Some(&payload.entity),
        details,
    )
    .await?;
    Ok(job)
}
