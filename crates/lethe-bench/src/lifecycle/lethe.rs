//! Lethe's side: trash, restore, trash again and purge of the picked contacts through the
//! store's jobs, timed, with reads over HTTP measured while idle and while the purge runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use lethe_store::{Actor, DatabaseUrl, Job, JobRunner, Role, Store};
use serde_json::{Value as Json, json};
use sqlx::AssertSqlSafe;

use super::load::{Load, samples_json};
use super::{SideArgs, open_and_pick, peak_mib, pick, reset_peak, secs};

fn job_json(job: &Job, seconds: f64, peak: f64) -> Json {
    json!({
        "job": job.id,
        "seconds": seconds,
        "peak_mib": (peak * 10.0).round() / 10.0,
        "done": job.done,
        "counts": job.counts,
        "rewritten": job.rewritten,
        "blocked": job.blocked,
        "skipped": job.skipped,
    })
}

pub(super) async fn lethe_side(args: &SideArgs) -> anyhow::Result<Json> {
    let (store, snapshot, snapshot_seconds) = open_and_pick(args).await?;
    let mut settings = store.settings();
    settings.files_dir = Some(args.files_dir.clone());
    store.set_settings(settings);
    let actor = Actor::operator();
    let runner = JobRunner::default();
    let role = &args.role;

    let trash = async |store: &Store, snapshot: i64| -> anyhow::Result<(Job, f64, f64)> {
        reset_peak();
        let started = Instant::now();
        let job = store
            .start_trash(
                snapshot,
                Some("lifecycle benchmark"),
                &actor,
                args.lethe_batch,
            )
            .await?;
        let job = store.run_job(job.id, &runner, &mut |_| {}).await?;
        let seconds = secs(started.elapsed());
        ensure!(job.is_finished(), "the trash job ended {}", job.state);
        Ok((job, seconds, peak_mib()))
    };

    let (trashed, seconds, peak) = trash(&store, snapshot.id).await?;
    eprintln!(
        "[{role}] trash: {seconds} s, {:?}, blocked {}",
        trashed.counts, trashed.blocked
    );
    let trash_json = job_json(&trashed, seconds, peak);
    let batch = trashed
        .batch_id
        .context("the trash job has no deletion batch")?;

    reset_peak();
    let started = Instant::now();
    let job = store
        .start_restore(batch, None, &actor, args.lethe_batch)
        .await?;
    let restored = store.run_job(job.id, &runner, &mut |_| {}).await?;
    let seconds = secs(started.elapsed());
    ensure!(
        restored.is_finished(),
        "the restore job ended {}",
        restored.state
    );
    eprintln!("[{role}] restore: {seconds} s, {:?}", restored.counts);
    let restore_json = job_json(&restored, seconds, peak_mib());

    // One confirmation starts one operation: trashing again freezes the same filter's
    // members anew, as a person previewing and confirming again does.
    let again = store
        .create_snapshot(&pick(&store, args)?, "lifecycle benchmark, again", None)
        .await?;
    ensure!(
        again.member_count == snapshot.member_count,
        "the restore brought back {} of {} members",
        again.member_count,
        snapshot.member_count
    );
    let (trashed_again, seconds, peak) = trash(&store, again.id).await?;
    eprintln!("[{role}] trash again: {seconds} s");
    let trash_again_json = job_json(&trashed_again, seconds, peak);
    let batch = trashed_again
        .batch_id
        .context("the trash job has no deletion batch")?;

    // The HTTP server on loopback, and ids of active contacts outside the set to read.
    let (_, token) = store.add_user("bench-reader", Role::Admin).await?;
    let ids = Arc::new(active_ids(&args.db, snapshot.id).await?);
    let (listener, address) = lethe_http::bind("127.0.0.1:0".parse()?).await?;
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(lethe_http::serve(
        listener,
        store.clone(),
        lethe_http::WebOptions::default(),
        async move {
            let _ = server_stopped.await;
        },
    ));
    let base = format!("http://{address}");
    let load = Load {
        base,
        token,
        ids,
        readers: args.readers,
        pause: Duration::from_millis(args.read_pause_ms),
    };
    let idle = load
        .run(Arc::new(AtomicBool::new(false)), Duration::from_secs(15))
        .await?;
    let idle_json = samples_json(&idle);
    eprintln!("[{role}] reads while idle: {idle_json}");

    reset_peak();
    let stop = Arc::new(AtomicBool::new(false));
    let readers = {
        let load = load.clone();
        let stop = stop.clone();
        tokio::spawn(async move { load.run(stop, Duration::from_secs(3_600)).await })
    };
    let load_started = Instant::now();
    let started = Instant::now();
    let job = store
        .request_purge(
            batch,
            &actor,
            Some(time::Duration::ZERO),
            false,
            None,
            args.lethe_batch,
        )
        .await?;
    let mut batches_done: Option<Instant> = None;
    let mut progress = |job: &Job| {
        if batches_done.is_none() && job.total > 0 && job.done >= job.total {
            batches_done = Some(Instant::now());
        }
    };
    let purged = store.run_job(job.id, &runner, &mut progress).await;
    let ended = Instant::now();
    stop.store(true, Ordering::Relaxed);
    let samples = readers.await??;
    let purged = purged?;
    ensure!(purged.is_finished(), "the purge job ended {}", purged.state);
    let seconds = secs(ended - started);
    let batches_end = batches_done.unwrap_or(ended);
    let mut purge_json = job_json(&purged, seconds, peak_mib());
    purge_json["batches_seconds"] = json!(secs(batches_end - started));
    purge_json["physical_seconds"] = json!(secs(ended - batches_end));
    purge_json["receipt"] = purged.receipt.clone().unwrap_or(Json::Null);
    eprintln!(
        "[{role}] purge: {seconds} s ({} s after the last batch), {:?}, rewritten {:?}, blocked {}",
        secs(ended - batches_end),
        purged.counts,
        purged.rewritten,
        purged.blocked
    );
    let split = batches_end - load_started;
    let during_batches: Vec<_> = samples
        .iter()
        .filter(|sample| sample.0 < split)
        .cloned()
        .collect();
    let during_physical: Vec<_> = samples
        .iter()
        .filter(|sample| sample.0 >= split)
        .cloned()
        .collect();
    let liveness = json!({
        "readers": args.readers,
        "pause_ms": args.read_pause_ms,
        "idle": idle_json,
        "during_purge": samples_json(&samples),
        "during_batches": samples_json(&during_batches),
        "during_physical": samples_json(&during_physical),
    });
    eprintln!(
        "[{role}] reads during the purge: {}",
        liveness["during_purge"]
    );
    let _ = stop_server.send(());
    let _ = server.await;
    store.close().await;
    Ok(json!({
        "members": snapshot.member_count,
        "snapshot_seconds": snapshot_seconds,
        "batch_size": args.lethe_batch.unwrap_or(store.default_batch_size()),
        "purge_batch_size": args.lethe_batch.unwrap_or(lethe_store::DEFAULT_PURGE_BATCH_SIZE),
        "trash": trash_json,
        "restore": restore_json,
        "trash_again": trash_again_json,
        "purge": purge_json,
        "liveness": liveness,
    }))
}

/// Up to 5,000 random active contacts outside the picked set.
async fn active_ids(db: &str, snapshot: i64) -> anyhow::Result<Vec<i64>> {
    let url = DatabaseUrl::parse(db)?;
    let pool = crate::HandPool::open(&url).await?;
    let sql = format!(
        "SELECT id FROM contact WHERE trash_batch_id IS NULL AND id > 0 AND id NOT IN \
         (SELECT record_id FROM lethe_snapshot_member WHERE snapshot_id = {snapshot}) \
         ORDER BY random() LIMIT 5000"
    );
    let ids: Vec<i64> = match &pool {
        crate::HandPool::Sqlite(pool) => {
            let ids = sqlx::query_scalar(AssertSqlSafe(sql))
                .fetch_all(pool)
                .await?;
            pool.close().await;
            ids
        }
        crate::HandPool::Postgres(pool) => {
            let ids = sqlx::query_scalar(AssertSqlSafe(sql))
                .fetch_all(pool)
                .await?;
            pool.close().await;
            ids
        }
    };
    ensure!(!ids.is_empty(), "no active contact outside the set to read");
    Ok(ids)
}
