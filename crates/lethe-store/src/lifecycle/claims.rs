//! One confirmation, one operation: what a job acts on is claimed in the transaction that
//! creates the job, and a second job for the same thing is refused, naming the first. A
//! snapshot is consumed by the first trash, anonymisation or update that claims it (a person
//! who confirmed twice, or whose click was sent three times, gets one operation, whose undo
//! restores everything they picked); a deletion batch is held by a restore job until that
//! job is done.
//!
//! The claim is a row with a unique subject. On SQLite write transactions are exclusive, so
//! the second claim finds the first; on PostgreSQL the second `INSERT … ON CONFLICT DO
//! NOTHING` waits for the first transaction and then inserts nothing.

use sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};

use crate::dialect::Dialect;
use crate::error::StoreError;
use crate::rows;

/// What a claim is on.
#[derive(Debug, Clone, Copy)]
pub(super) enum Subject {
    Snapshot(i64),
    /// A deletion batch being restored.
    Batch(i64),
}

impl Subject {
    fn key(self) -> String {
        match self {
            Subject::Snapshot(id) => format!("snapshot:{id}"),
            Subject::Batch(id) => format!("batch:{id}"),
        }
    }

    fn refusal(self, job: i64) -> String {
        match self {
            Subject::Snapshot(id) => format!(
                "snapshot {id} was already confirmed for job {job}: one confirmation starts one operation; follow job {job}, or make a new snapshot"
            ),
            Subject::Batch(id) => format!(
                "deletion batch {id} is already being restored by job {job}; follow that job, and restore what is left once it is done"
            ),
        }
    }
}

/// Claims `subject` for `job` in the caller's transaction, or says which job has it.
pub(super) async fn claim<DB: Dialect>(
    connection: &mut DB::Connection,
    subject: Subject,
    job: i64,
) -> Result<(), StoreError> {
    let key = subject.key();
    let (sql, values) = DB::build(
        Query::insert()
            .into_table(Alias::new("lethe_claim"))
            .columns([Alias::new("subject"), Alias::new("job_id")])
            .values_panic([Expr::val(key.clone()), Expr::val(job)])
            .on_conflict(
                OnConflict::column(Alias::new("subject"))
                    .do_nothing()
                    .to_owned(),
            ),
    );
    if DB::execute(connection, sql, values).await? == 1 {
        return Ok(());
    }
    let (sql, values) = DB::build(
        Query::select()
            .column(Alias::new("job_id"))
            .from(Alias::new("lethe_claim"))
            .and_where(Expr::col(Alias::new("subject")).eq(key)),
    );
    let holder = match DB::fetch_optional(connection, sql, values).await? {
        Some(row) => rows::int::<DB>(&row, 0)?.unwrap_or(0),
        None => 0,
    };
    Err(StoreError::Conflict(subject.refusal(holder)))
}

/// Lets go of the deletion batch a finished restore job held (snapshots stay consumed).
pub(super) async fn release_batch<DB: Dialect>(
    connection: &mut DB::Connection,
    job: i64,
) -> Result<(), StoreError> {
    let (sql, values) = DB::build(
        Query::delete()
            .from_table(Alias::new("lethe_claim"))
            .and_where(Expr::col(Alias::new("job_id")).eq(job))
            .and_where(Expr::col(Alias::new("subject")).like("batch:%")),
    );
    DB::execute(connection, sql, values).await?;
    Ok(())
}
