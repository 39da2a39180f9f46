//! `lethe job list`, `show` and `resume`: the jobs on record, one job with its skipped
//! members, and running interrupted jobs to the end.

use lethe_store::{Job, JobRunner};
use serde_json::json;

use super::{counts_line, run_with_progress, skips_json};
use crate::cli::JobCommand;
use crate::commands::Context;
use crate::output::print_json;

fn job_line(job: &Job) -> String {
    format!(
        "job {:>5}  {:<8} {:<8} {:<12} {}/{} members  batch {}  {}",
        job.id,
        job.kind.as_str(),
        job.state,
        job.entity,
        job.done,
        job.total,
        job.batch_id
            .map_or_else(|| "-".to_owned(), |b| b.to_string()),
        job.created_at
    )
}

pub async fn job(context: &Context, command: JobCommand) -> anyhow::Result<()> {
    let store = context.open().await?;
    match command {
        JobCommand::List { limit } => {
            let jobs = store
                .jobs_for(limit, &context.acting(&store).await?)
                .await?;
            if context.json() {
                print_json(&json!({"jobs": jobs}));
            } else if jobs.is_empty() {
                println!("No jobs yet.");
            } else {
                for job in &jobs {
                    println!("{}", job_line(job));
                }
            }
        }
        JobCommand::Show { id, skips } => {
            let job = store.job_for(id, &context.acting(&store).await?).await?;
            let listed = store.job_skips(id, skips.max(1)).await?;
            if context.json() {
                let listed = skips_json(&listed, &job.entity);
                print_json(&json!({"job": job, "skips": listed}));
            } else {
                println!("{}", job_line(&job));
                println!("  from: {}", job.source);
                println!("  by: {}", job.actor);
                if let Some(reason) = &job.reason {
                    println!("  reason: {reason}");
                }
                println!("  changed: {}", counts_line(&job));
                println!("  blocked: {}, skipped: {}", job.blocked, job.skipped);
                if let Some(rate) = job.rate_per_second {
                    println!("  rate: {rate:.0} members/s");
                }
                if let Some(left) = job.seconds_left {
                    println!("  time left: about {left:.0} s");
                }
                if let Some(error) = &job.error {
                    println!("  error: {error}");
                }
                for skip in &listed {
                    println!("  {}", skip.message(&job.entity));
                }
            }
        }
        JobCommand::Resume { id } => {
            let finished = match id {
                Some(id) => {
                    let actor = context.acting(&store).await?;
                    let job = store.resume_job(id, &actor).await?;
                    let job = run_with_progress(context, &store, &job).await?;
                    usize::from(job.is_finished())
                }
                None => store.run_runnable_jobs(&JobRunner::default()).await?,
            };
            if context.json() {
                print_json(&json!({"finished": finished}));
            } else {
                println!("{finished} job(s) finished.");
            }
        }
    }
    Ok(())
}
