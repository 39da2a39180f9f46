//! `lethe serve`: the HTTP API and the web pages until Ctrl-C or SIGTERM.

use std::net::SocketAddr;

use anyhow::Context as _;
use lethe_http::WebOptions;
use lethe_store::Store;
use serde_json::json;

use super::Context;
use crate::cli::ServeArgs;
use crate::output::UsageError;

pub async fn run(context: &Context, args: ServeArgs) -> anyhow::Result<()> {
    let store = context.open().await?;
    let web = WebOptions {
        behind_tls: args.behind_tls,
    };
    let deliveries = !args.no_deliveries;
    serve(context, store, args.listen, web, None, deliveries).await
}

/// What `lethe demo` prints for its admin: the API token, and the password to sign in to
/// the pages with when it has just set one.
#[derive(Debug)]
pub struct DemoAdmin {
    pub token: String,
    pub password: Option<String>,
}

/// Serves `store`, printing the URL first (tests read it from the first line of stdout), and
/// sends what waits in the outbox unless `deliveries` is false.
pub async fn serve(
    context: &Context,
    store: Store,
    listen: SocketAddr,
    web: WebOptions,
    admin: Option<DemoAdmin>,
    deliveries: bool,
) -> anyhow::Result<()> {
    // Bad delivery settings stop the start, before anything listens.
    let deliverer = super::deliver::Deliverer::from_settings(context)?;
    let admin_token = admin.as_ref().map(|admin| admin.token.clone());
    let admin_password = admin.as_ref().and_then(|admin| admin.password.clone());
    let (listener, address) = match lethe_http::bind(listen).await {
        Ok(bound) => bound,
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
            return Err(UsageError(format!(
                "{listen} is already in use (another Lethe, or another program, listens there): choose another address with --listen, e.g. --listen 127.0.0.1:8081, or --listen 127.0.0.1:0 for any free port"
            ))
            .into());
        }
        Err(error) => {
            return Err(anyhow::Error::new(error).context(format!(
                "listening on {listen} (choose another address with --listen)"
            )));
        }
    };
    let url = format!("http://{address}");
    if context.json() {
        println!(
            "{}",
            json!({"url": url, "admin_token": admin_token, "admin_password": admin_password, "database": store.url().display_safe()})
        );
    } else {
        println!(
            "Lethe serves {url} (database {}).",
            store.url().display_safe()
        );
        if admin.is_some() {
            match &admin_password {
                Some(password) => {
                    println!("Open {url}/ and sign in as admin with the password {password}")
                }
                None => println!(
                    "Open {url}/ and sign in as admin (the password printed when this demo was built; set a new one with `lethe user passwd admin`)"
                ),
            }
        }
        if let Some(token) = &admin_token {
            println!("Admin token: {token}");
            println!(
                "Try: curl -H 'Authorization: Bearer {token}' {url}/api/v1/records/contact?limit=3"
            );
        }
        println!("Stop with Ctrl-C.");
    }
    let worker = tokio::spawn(work_jobs(store.clone()));
    let messenger =
        deliveries.then(|| tokio::spawn(super::deliver::work_deliveries(store.clone(), deliverer)));
    let served = lethe_http::serve(listener, store.clone(), web, shutdown_signal())
        .await
        .context("serving HTTP");
    worker.abort();
    if let Some(messenger) = messenger {
        messenger.abort();
    }
    served?;
    store.close().await;
    Ok(())
}

/// The job worker and scheduler: runs the retention policies and evaluates the monitors
/// whose time has come (and monitor runs another instance left unfinished), sends the
/// reminders of requests' deadlines (each once, whatever the number of instances), requests
/// auto-purges of batches past the retention window, runs due purges, queued jobs and jobs a dead worker left behind (after a crash or
/// `kill -9`) from their last committed batch. A batch is one transaction, so
/// stopping the worker at any moment loses at most the batch in flight.
async fn work_jobs(store: Store) {
    let runner = lethe_store::JobRunner::default();
    loop {
        match store.run_due(&runner).await {
            Ok((0, 0)) => {}
            Ok((scheduled, finished)) => {
                tracing::info!(scheduled, finished, "auto-purges requested, jobs finished")
            }
            Err(error) => {
                tracing::warn!(%error, "a job failed; `lethe job show` has the error and `lethe job resume` retries it")
            }
        }
        match store.run_due_policies().await {
            Ok(runs) => {
                for run in runs {
                    tracing::info!(policy = %run.policy, run = run.id, job = ?run.job_id, "a retention policy ran on schedule")
                }
            }
            Err(error) => {
                tracing::warn!(%error, "a retention policy could not run; `lethe policy show` has its last runs")
            }
        }
        match store.send_request_reminders().await {
            Ok(sent) if sent.reminded + sent.overdue > 0 => {
                tracing::info!(
                    reminded = sent.reminded,
                    overdue = sent.overdue,
                    "request deadline reminders sent"
                )
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "request deadline reminders could not be sent; they are tried again")
            }
        }
        match store.run_due_monitors().await {
            Ok(runs) => {
                for run in runs {
                    tracing::info!(monitor = %run.monitor, run = run.id, entered = run.entered, left = run.left, "a monitor was evaluated on schedule")
                }
            }
            Err(error) => {
                tracing::warn!(%error, "a monitor could not be evaluated; it is tried again on the next pass, `lethe monitor history` has its runs")
            }
        }
        if let Err(error) = store.anchor_history().await {
            tracing::warn!(%error, "the history's head could not be written to the anchor file");
        }
        tokio::time::sleep(JOB_POLL).await;
    }
}

/// How often the worker looks for jobs to run.
const JOB_POLL: std::time::Duration = std::time::Duration::from_secs(1);

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
