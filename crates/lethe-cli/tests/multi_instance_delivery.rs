//! Several `lethe serve` instances on one PostgreSQL database deliver the outbox together:
//! however their workers race for the messages, every e-mail reaches its admin once and every
//! webhook message its receiver once; a message claimed by an instance that is killed
//! (`kill -9`) before it records the try is sent by another instance once the claim's lease
//! has run out; and an instance busy with slow receivers is never overtaken by another while
//! it still sends what it claimed (SPEC §7; `lethe-store/src/notifications/outbox.rs`,
//! `lethe-cli/src/commands/deliver.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(unused_imports)]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use futures_util::future::join_all;
use lethe_testkit::smtp::SmtpSink;
use serde_json::{Value, json};
use sqlx::{Connection as _, PgConnection, Row as _};
use support::{TestDatabase, TestServer, add_user, lethe};

/// The admins with an address: every purge request and every cancel e-mails each of them.
const ADMINS: [&str; 3] = ["ann", "bob", "cyd"];
/// Trashed contacts, one deletion batch each; each batch is requested for purge and the
/// purge cancelled, all at once: 60 events, 180 e-mails and 60 webhook messages.
const BATCHES: usize = 30;
/// The instances' delivery settings: a lease short enough for the test to wait out, the
/// timeout a receiver has to answer (the lease must be at least twice it).
const LEASE: &str = "8s";
const TIMEOUT: &str = "4s";
/// How long the slow route keeps every request before it answers: long enough for the test
/// to find and kill the instance waiting for it, shorter than the timeout, so that the
/// instance that takes the message over gets its answer.
const SLOW: Duration = Duration::from_secs(3);
/// Batches of the busy-instance test: 48 slow messages, six rounds of eight, more than one
/// instance can send within one lease.
const BUSY_BATCHES: usize = 24;
/// A grace period no purge of these tests reaches.
const GRACE_SECONDS: i64 = 7 * 86_400;

const REQUESTED: &str = "Lethe: a permanent deletion was requested";
const CANCELLED: &str = "Lethe: a permanent deletion was cancelled";

/// Milliseconds since 1970, the unit the test compares the receiver's clock and the
/// database's lease with (one machine, one clock).
fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// One request a webhook route received.
#[derive(Debug, Clone)]
struct Arrival {
    route: &'static str,
    /// The `Lethe-Delivery` header: the outbox row's id.
    delivery: i64,
    event: String,
    job: Option<i64>,
    at_ms: i64,
}

/// A webhook receiver on 127.0.0.1 that writes down every request: `/hook` answers at once,
/// `/slow` after [`SLOW`].
struct Receiver {
    base: String,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let record = |route: &'static str, arrivals: &Arc<Mutex<Vec<Arrival>>>| {
            let arrivals = Arc::clone(arrivals);
            move |headers: HeaderMap, body: axum::body::Bytes| async move {
                let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                arrivals.lock().unwrap().push(Arrival {
                    route,
                    delivery: headers["lethe-delivery"].to_str().unwrap().parse().unwrap(),
                    event: headers["lethe-event"].to_str().unwrap().to_owned(),
                    job: event["job"].as_i64(),
                    at_ms: now_ms(),
                });
                if route == "/slow" {
                    tokio::time::sleep(SLOW).await;
                }
                StatusCode::NO_CONTENT
            }
        };
        let app = Router::new()
            .route("/hook", post(record("/hook", &arrivals)))
            .route("/slow", post(record("/slow", &arrivals)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { base, arrivals }
    }

    fn url(&self, route: &str) -> String {
        format!("{}{route}", self.base)
    }

    fn arrivals(&self, route: &str) -> Vec<Arrival> {
        self.arrivals
            .lock()
            .unwrap()
            .iter()
            .filter(|arrival| arrival.route == route)
            .cloned()
            .collect()
    }
}

/// Waits up to `limit` for `found` to give something.
async fn wait_for<T>(what: &str, limit: Duration, mut found: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = found().await {
            return value;
        }
        assert!(start.elapsed() < limit, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The whole outbox, as an admin lists it.
fn outbox(database: &TestDatabase, state: Option<&str>) -> Vec<Value> {
    let mut args = vec!["deliveries", "list", "--limit", "1000", "--json"];
    if let Some(state) = state {
        args.extend(["--state", state]);
    }
    let run = lethe(database, &args);
    assert_eq!(run.status, 0, "{}", run.stderr);
    run.json()["deliveries"].as_array().unwrap().clone()
}

/// How many e-mails the sink received per (recipient, subject, job); the job is read from
/// the link to it that every e-mail carries.
fn mails_received(sink: &SmtpSink) -> BTreeMap<(String, String, i64), usize> {
    let mut received = BTreeMap::new();
    for mail in sink.messages() {
        let text = mail.text.unwrap_or_default();
        let job = text
            .split("https://lethe.example.org/jobs/")
            .nth(1)
            .and_then(|rest| {
                rest.split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|digits| digits.parse::<i64>().ok())
            })
            .unwrap_or_else(|| panic!("an e-mail without a link to its job: {text}"));
        *received.entry((mail.to, mail.subject, job)).or_default() += 1;
    }
    received
}

/// Which instances hold claims in the outbox, sampled until `stop` is set: the process ids
/// in `lease_owner` (`host:pid:nonce`), to show that the workers did compete.
fn watch_claim_holders(
    url: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<BTreeSet<i64>> {
    tokio::spawn(async move {
        let mut connection = PgConnection::connect(&url).await.unwrap();
        let mut holders = BTreeSet::new();
        while !stop.load(Ordering::SeqCst) {
            let rows = sqlx::query(
                "SELECT DISTINCT split_part(lease_owner, ':', 2)::bigint FROM lethe_outbox \
                 WHERE lease_owner IS NOT NULL",
            )
            .fetch_all(&mut connection)
            .await
            .unwrap();
            holders.extend(rows.iter().map(|row| row.get::<i64, _>(0)));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        holders
    })
}

/// How many times each key was seen.
fn tally<K: Ord>(keys: impl IntoIterator<Item = K>) -> BTreeMap<K, usize> {
    let mut counts = BTreeMap::new();
    for key in keys {
        *counts.entry(key).or_default() += 1;
    }
    counts
}

/// Each of `expected` was seen exactly once, and nothing else was; the message names only
/// what differs.
fn assert_each_exactly_once<K: Ord + std::fmt::Debug>(
    what: &str,
    seen: &BTreeMap<K, usize>,
    expected: &BTreeSet<K>,
) {
    let repeated: Vec<(&K, &usize)> = seen.iter().filter(|(_, count)| **count > 1).collect();
    let missing: Vec<&K> = expected
        .iter()
        .filter(|key| !seen.contains_key(key))
        .collect();
    let unexpected: Vec<&K> = seen.keys().filter(|key| !expected.contains(key)).collect();
    assert!(
        repeated.is_empty() && missing.is_empty() && unexpected.is_empty(),
        "{what}: seen more than once {repeated:?}; missing {missing:?}; not expected {unexpected:?}"
    );
}

/// Every outbox row is delivered, at the first try that was recorded.
fn assert_all_delivered_at_the_first_try(rows: &[Value]) {
    for row in rows {
        assert_eq!(row["state"], "delivered", "{row}");
        assert_eq!(row["attempts"], 1, "{row}");
        assert!(row["last_error"].is_null(), "{row}");
    }
}

/// `count` contacts, each trashed as a deletion batch of its own through the instances in
/// turn (one pick at a time: an instance lets each user run two at once); the batches.
async fn trashed_batches(
    servers: &[Option<TestServer>],
    tokens: &[String],
    count: usize,
) -> Vec<i64> {
    let live: Vec<&TestServer> = servers.iter().flatten().collect();
    let mut jobs = Vec::new();
    for index in 0..count {
        let server = live[index % live.len()];
        let token = &tokens[index % tokens.len()];
        let contact = server
            .create(
                token,
                "contact",
                json!({"last_name": format!("Delivery {index}")}),
            )
            .await;
        let snapshot = server
            .snapshot(token, json!({"entity": "contact", "include": [contact]}))
            .await;
        let job = server
            .accepted(token, "/api/v1/trash", &json!({"snapshot_id": snapshot}))
            .await;
        jobs.push((server, token, job["id"].as_i64().unwrap()));
    }
    let batches: Vec<i64> = join_all(jobs.into_iter().map(|(server, token, job)| async move {
        server.wait_for_job(token, job).await["batch_id"]
            .as_i64()
            .unwrap()
    }))
    .await;
    assert_eq!(batches.iter().collect::<BTreeSet<_>>().len(), count);
    batches
}

/// Requests a purge of every batch at once, through the instances and the admins in turn;
/// the purge jobs.
async fn request_purges(
    servers: &[Option<TestServer>],
    tokens: &[String],
    batches: &[i64],
) -> Vec<i64> {
    let live: Vec<&TestServer> = servers.iter().flatten().collect();
    join_all(batches.iter().enumerate().map(|(index, batch)| {
        let server = live[index % live.len()];
        let token = &tokens[(index + 1) % tokens.len()];
        async move {
            let job = server
                .accepted(
                    token,
                    &format!("/api/v1/batches/{batch}/purge"),
                    &json!({"grace_seconds": GRACE_SECONDS}),
                )
                .await;
            assert_eq!(job["state"], "pending", "{job}");
            job["id"].as_i64().unwrap()
        }
    }))
    .await
}

/// Cancels every purge at once, through the instances and the admins in turn.
async fn cancel_purges(servers: &[Option<TestServer>], tokens: &[String], purges: &[i64]) {
    let live: Vec<&TestServer> = servers.iter().flatten().collect();
    join_all(purges.iter().enumerate().map(|(index, purge)| {
        let server = live[(index + 1) % live.len()];
        let token = &tokens[index % tokens.len()];
        async move {
            let (status, cancelled) = server
                .post(
                    Some(token),
                    &format!("/api/v1/purges/{purge}/cancel"),
                    &json!({}),
                )
                .await;
            assert_eq!(status, 200, "{cancelled}");
            assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
        }
    }))
    .await;
}

/// Waits until nothing in the outbox waits, then a second more: a message sent twice would
/// have been by then, since a message is sent only while it is claimed.
async fn wait_for_an_empty_outbox(database: &TestDatabase, limit: Duration) {
    wait_for("the outbox to empty", limit, async || {
        outbox(database, Some("waiting")).is_empty().then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// `lethe webhook add URL --events EVENTS`: the webhook's id.
fn add_webhook(database: &TestDatabase, url: &str, events: &str) -> i64 {
    let run = lethe(
        database,
        &["webhook", "add", url, "--events", events, "--json"],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    run.json()["webhook"]["id"].as_i64().unwrap()
}

/// The delivery settings every instance of these tests runs with.
const DELIVERY_ENV: [(&str, &str); 2] = [
    ("LETHE_DELIVERY_LEASE", LEASE),
    ("LETHE_DELIVERY_TIMEOUT", TIMEOUT),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_deliver_every_notification_once_and_take_over_a_killed_ones() {
    let Some(database) = TestDatabase::postgres().await else {
        eprintln!("skipped: PostgreSQL is not available");
        return;
    };
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let started = Instant::now();

    // Arrange: three admins with an address; a webhook that hears every event; three
    // instances; thirty batches in the trash.
    let mut tokens = Vec::new();
    for name in ADMINS {
        tokens.push(add_user(&database, name, "admin").1);
        let address = format!("{name}@lethe.example");
        let run = lethe(&database, &["user", "delivery", name, "--email", &address]);
        assert_eq!(run.status, 0, "{}", run.stderr);
    }
    let receiver = Receiver::start().await;
    let every_event = add_webhook(&database, &receiver.url("/hook"), "*");
    let port = sink.port().to_string();
    let mut env = vec![
        ("LETHE_SMTP_HOST", sink.host()),
        ("LETHE_SMTP_PORT", port.as_str()),
        ("LETHE_SMTP_TLS", "none"),
        ("LETHE_SMTP_FROM", "Lethe <lethe@lethe.example>"),
        ("LETHE_PUBLIC_URL", "https://lethe.example.org"),
    ];
    env.extend(DELIVERY_ENV);
    let mut servers: Vec<Option<TestServer>> = (0..3)
        .map(|_| Some(TestServer::start_with_env(&database, &env)))
        .collect();
    let batches = trashed_batches(&servers, &tokens, BATCHES).await;
    let quiet = outbox(&database, None);
    assert!(quiet.is_empty(), "trashing notifies nobody: {quiet:?}");

    // Act: thirty purge requests at once, then their thirty cancels at once, through the
    // three instances, while their workers deliver what the first ones wrote.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_claim_holders(database.url.clone(), Arc::clone(&stop));
    let purges = request_purges(&servers, &tokens, &batches).await;
    cancel_purges(&servers, &tokens, &purges).await;
    wait_for_an_empty_outbox(&database, Duration::from_secs(30)).await;
    let delivered_after = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let holders = watcher.await.unwrap();
    let pids: BTreeSet<i64> = servers
        .iter()
        .flatten()
        .map(|server| i64::from(server.pid()))
        .collect();
    assert!(
        holders.len() >= 2 && holders.is_subset(&pids),
        "the workers did not compete: claims were held by {holders:?} of {pids:?}"
    );

    // Assert: the outbox holds exactly the expected messages, each delivered at its first
    // recorded try.
    let rows = outbox(&database, None);
    assert_all_delivered_at_the_first_try(&rows);
    let mut expected_mails = BTreeSet::new();
    for purge in &purges {
        for name in ADMINS {
            for subject in [REQUESTED, CANCELLED] {
                expected_mails.insert((
                    format!("{name}@lethe.example"),
                    subject.to_owned(),
                    *purge,
                ));
            }
        }
    }
    let email_rows = tally(
        rows.iter()
            .filter(|row| row["channel"] == "email")
            .map(|row| {
                (
                    row["to"].as_str().unwrap().to_owned(),
                    row["subject"].as_str().unwrap().to_owned(),
                    row["job_id"].as_i64().unwrap(),
                )
            }),
    );
    assert_each_exactly_once("the outbox's e-mails", &email_rows, &expected_mails);

    // Every e-mail arrived exactly once.
    assert_each_exactly_once(
        "e-mails at the SMTP server",
        &mails_received(&sink),
        &expected_mails,
    );

    // Every webhook message arrived exactly once: each delivery id once, the ids those of
    // the outbox's webhook rows, one request and one cancel per purge.
    let hook_rows: BTreeSet<i64> = rows
        .iter()
        .filter(|row| row["channel"] == "webhook")
        .inspect(|row| assert_eq!(row["webhook_id"], every_event, "{row}"))
        .map(|row| row["id"].as_i64().unwrap())
        .collect();
    assert_eq!(hook_rows.len(), 2 * BATCHES);
    assert_eq!(rows.len(), hook_rows.len() + expected_mails.len());
    let arrivals = receiver.arrivals("/hook");
    assert_each_exactly_once(
        "webhook deliveries",
        &tally(arrivals.iter().map(|arrival| arrival.delivery)),
        &hook_rows,
    );
    let expected_events: BTreeSet<(String, i64)> = purges
        .iter()
        .flat_map(|purge| {
            [
                ("purge_requested".to_owned(), *purge),
                ("purge_cancelled".to_owned(), *purge),
            ]
        })
        .collect();
    assert_each_exactly_once(
        "webhook events",
        &tally(
            arrivals
                .iter()
                .map(|arrival| (arrival.event.clone(), arrival.job.unwrap())),
        ),
        &expected_events,
    );
    eprintln!(
        "{} messages delivered once each, claimed by {} instances, {delivered_after:?} after the start",
        rows.len(),
        holders.len()
    );

    // Takeover. A second webhook, whose receiver takes its time, hears purge requests; one
    // more request makes one message for it, beside the three e-mails and the first webhook's.
    let slow_hook = add_webhook(&database, &receiver.url("/slow"), "purge_requested");
    let purge = request_purges(&servers, &tokens, &batches[..1]).await[0];

    // The moment one instance's request reaches the slow route, that instance holds the
    // message under its lease and waits for the answer. Once the event's other messages are
    // delivered (so that the kill cuts into nothing else), the instance holding the slow one
    // is killed.
    let first = wait_for(
        "the slow route's first request",
        Duration::from_secs(10),
        async || receiver.arrivals("/slow").first().cloned(),
    )
    .await;
    let message = first.delivery;
    assert_eq!(first.job, Some(purge));
    let scalar = async |sql: String| database.scalar(&sql).await;
    assert_eq!(
        scalar(format!(
            "SELECT COALESCE(MAX(webhook_id), 0) FROM lethe_outbox WHERE id = {message} AND job_id = {purge}"
        ))
        .await,
        slow_hook
    );
    wait_for("the event's other messages", SLOW, async || {
        let left = scalar(format!(
            "SELECT COUNT(*) FROM lethe_outbox WHERE delivered_at IS NULL AND id <> {message}"
        ))
        .await;
        (left == 0).then_some(())
    })
    .await;
    // The lease's holder (`host:pid:nonce`) and when it runs out.
    let lease_of = async |message: i64| {
        let pid = scalar(format!(
            "SELECT COALESCE(split_part(lease_owner, ':', 2)::bigint, 0) FROM lethe_outbox WHERE id = {message}"
        ))
        .await;
        let expires_ms = scalar(format!(
            "SELECT COALESCE((EXTRACT(EPOCH FROM lease_expires_at) * 1000)::bigint, 0) FROM lethe_outbox WHERE id = {message}"
        ))
        .await;
        (pid, expires_ms)
    };
    let (holder, expires_ms) = lease_of(message).await;
    let index = servers
        .iter()
        .position(|server| {
            server
                .as_ref()
                .is_some_and(|server| i64::from(server.pid()) == holder)
        })
        .unwrap_or_else(|| panic!("message {message} is held by {holder}, none of the three"));
    let mut killed = servers[index].take().unwrap();
    killed.kill_now();
    let killed_ms = now_ms();
    assert!(
        killed_ms < first.at_ms + i64::try_from(SLOW.as_millis()).unwrap(),
        "the kill came after the slow route answered: nothing was left to take over"
    );
    assert_eq!(
        scalar(format!(
            "SELECT COUNT(*) FROM lethe_outbox WHERE id = {message} AND delivered_at IS NULL AND attempts = 0"
        ))
        .await,
        1,
        "the killed instance recorded its try of message {message}"
    );
    eprintln!(
        "killed instance {index} (pid {holder}) holding message {message}, its lease ending in {} ms",
        expires_ms - killed_ms
    );

    // Another instance sends it again, not before the lease ran out: the same delivery id,
    // under a lease of its own, while the slow route keeps it waiting.
    let second = wait_for(
        "the message taken over",
        Duration::from_secs(20),
        async || receiver.arrivals("/slow").get(1).cloned(),
    )
    .await;
    let (taker, _) = lease_of(message).await;
    assert_eq!(second.delivery, message);
    assert!(
        second.at_ms >= expires_ms,
        "taken over {} ms before the lease ran out",
        expires_ms - second.at_ms
    );
    let survivors: Vec<i64> = servers
        .iter()
        .flatten()
        .map(|server| i64::from(server.pid()))
        .collect();
    assert!(
        survivors.contains(&taker),
        "message {message} is held by {taker}, not by a surviving instance {survivors:?}"
    );
    wait_for_an_empty_outbox(&database, Duration::from_secs(10)).await;

    // The killed instance's request reached the receiver, but its answer was never recorded:
    // the outbox delivers at least once, and this is the one case where a message arrives
    // twice, with the same `Lethe-Delivery` id for the receiver to drop the repeat. Exactly
    // twice: once from the killed instance, once from the one that took it over.
    let slow = receiver.arrivals("/slow");
    assert_eq!(
        slow.iter()
            .map(|arrival| arrival.delivery)
            .collect::<Vec<_>>(),
        [message, message],
        "{slow:?}"
    );
    // The outbox records one try: the killed instance's never was.
    let rows = outbox(&database, None);
    assert_all_delivered_at_the_first_try(&rows);
    assert_eq!(rows.len(), 4 * 2 * BATCHES + 5);
    let row = rows.iter().find(|row| row["id"] == message).unwrap();
    assert_eq!(row["webhook_id"], slow_hook, "{row}");

    // The event's other messages, sent before the kill, arrived once each.
    for name in ADMINS {
        expected_mails.insert((format!("{name}@lethe.example"), REQUESTED.to_owned(), purge));
    }
    assert_each_exactly_once(
        "e-mails at the SMTP server",
        &mails_received(&sink),
        &expected_mails,
    );
    let arrivals = receiver.arrivals("/hook");
    assert_eq!(arrivals.len(), 2 * BATCHES + 1);
    assert_each_exactly_once(
        "webhook deliveries",
        &tally(arrivals.iter().map(|arrival| arrival.delivery)),
        &arrivals.iter().map(|arrival| arrival.delivery).collect(),
    );
    assert!(
        arrivals
            .iter()
            .any(|arrival| arrival.event == "purge_requested" && arrival.job == Some(purge))
    );
    eprintln!("the takeover test took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_instance_is_not_overtaken_while_it_sends_what_it_claimed() {
    let Some(database) = TestDatabase::postgres().await else {
        eprintln!("skipped: PostgreSQL is not available");
        return;
    };
    let started = Instant::now();

    // Arrange: two instances, and only a slow webhook: each message keeps a worker busy for
    // most of the timeout. An instance that claimed more than it can send within its lease
    // would still hold some unsent when the lease ran out, and the other instance would send
    // them too.
    let tokens = vec![add_user(&database, "ann", "admin").1];
    let receiver = Receiver::start().await;
    add_webhook(&database, &receiver.url("/slow"), "*");
    let servers: Vec<Option<TestServer>> = (0..2)
        .map(|_| Some(TestServer::start_with_env(&database, &DELIVERY_ENV)))
        .collect();
    let batches = trashed_batches(&servers, &tokens, BUSY_BATCHES).await;

    // Act: twice as many messages at once as fit in one lease, eight at a time.
    let purges = request_purges(&servers, &tokens, &batches).await;
    cancel_purges(&servers, &tokens, &purges).await;
    wait_for_an_empty_outbox(&database, Duration::from_secs(40)).await;

    // Assert: each message reached the receiver once, at its first recorded try.
    let rows = outbox(&database, None);
    assert_eq!(rows.len(), 2 * BUSY_BATCHES);
    assert_all_delivered_at_the_first_try(&rows);
    assert_each_exactly_once(
        "slow webhook deliveries",
        &tally(
            receiver
                .arrivals("/slow")
                .iter()
                .map(|arrival| arrival.delivery),
        ),
        &rows.iter().map(|row| row["id"].as_i64().unwrap()).collect(),
    );
    eprintln!("the busy-instance test took {:?}", started.elapsed());
}
