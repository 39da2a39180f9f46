//! The outbox on both backends: an event writes, with its feed notifications, an e-mail for
//! each recipient who has an address and wants that kind by e-mail and a message per
//! listening webhook; workers claim what is due under a lease (never two at once), report
//! each try, wait longer after each failure and give up in the end; an admin sees the list
//! and sends a given-up message again. Nothing a purge erases is in a message.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use lethe_domain::notification::{NotificationKind, Retries};
use lethe_schema::Schema;
use lethe_store::{
    Actor, Channel, DatabaseUrl, DeliveryChange, DeliveryState, JobRunner, MemberPick, PickSource,
    Role, Scope, Store, StoreError, TryResult,
};
use lethe_testkit::{TestDatabase, both_backends};
use serde_json::json;

const START: &str = "2026-03-01T12:00:00Z";

/// How long the workers of these tests hold what they claim (as `lethe serve` by default).
const LEASE: Duration = Duration::from_secs(120);

async fn open(database: &TestDatabase) -> (Store, lethe_store::Clock) {
    let clock = lethe_store::Clock::fixed(lethe_store::parse_timestamp(START).unwrap());
    let store = Store::open(
        &DatabaseUrl::parse(&database.url).unwrap(),
        Schema::default_crm(),
        &support::options(clock.clone()),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    (store, clock)
}

/// Trashes one new contact named `name` as `actor`; returns the deletion batch.
async fn trashed_contact(store: &Store, actor: &Actor, name: &str) -> i64 {
    let contact = store
        .create_record(
            "contact",
            json!({"last_name": name, "email": format!("{name}@example.org")})
                .as_object()
                .unwrap(),
            None,
        )
        .await
        .unwrap()
        .id;
    let pick = MemberPick {
        entity: "contact".to_owned(),
        source: PickSource::Filter(store.parse_filter("contact", "all").unwrap()),
        all_matching: false,
        include: vec![contact],
        exclude: Vec::new(),
        scope: Scope::Active,
    };
    let snapshot = store
        .create_snapshot(&pick, "", actor.user_id)
        .await
        .unwrap();
    let job = store
        .start_trash(snapshot.id, None, actor, None)
        .await
        .unwrap();
    let job = store
        .run_job(job.id, &JobRunner::default(), &mut |_| {})
        .await
        .unwrap();
    job.batch_id.unwrap()
}

/// Trashes one new contact named `name` as `actor` and requests the purge of its batch: an
/// event every admin hears of.
async fn request_a_purge(store: &Store, actor: &Actor, name: &str) {
    let batch = trashed_contact(store, actor, name).await;
    store
        .request_purge(batch, actor, None, true, None, None)
        .await
        .unwrap();
}

/// Writes `value` as webhook `id`'s stored secret, behind the store's back.
async fn store_secret(database: &TestDatabase, id: i64, value: &str) {
    database
        .execute(&format!(
            "UPDATE lethe_webhook SET secret = '{value}' WHERE id = {id}"
        ))
        .await;
}

async fn set_email(store: &Store, name: &str, email: &str, off: &[NotificationKind]) {
    let change = DeliveryChange {
        email: Some(Some(email.to_owned())),
        email_kinds: off.iter().map(|kind| (*kind, false)).collect(),
    };
    store
        .change_delivery(name, &change, &Actor::operator())
        .await
        .unwrap();
}

fn retries() -> Retries {
    Retries {
        tries: 3,
        first_wait: Duration::from_secs(30),
        longest_wait: Duration::from_secs(600),
    }
}

both_backends!(
    an_event_fills_the_outbox_workers_deliver_retry_and_give_up,
    |database: TestDatabase| async move {
        let (store, clock) = open(&database).await;
        let (ann, _) = store.add_user("ann", Role::Admin).await.unwrap();
        store.add_user("bob", Role::Admin).await.unwrap();
        store.add_user("carl", Role::Admin).await.unwrap();
        let (ula, _) = store.add_user("ula", Role::User).await.unwrap();
        set_email(&store, "ann", "ann@lethe.example", &[]).await;
        set_email(
            &store,
            "bob",
            "bob@lethe.example",
            &[NotificationKind::PurgeRequested],
        )
        .await;
        set_email(&store, "ula", "ula@lethe.example", &[]).await;
        let operator = Actor::operator();
        let (only_purges, secret) = store
            .add_webhook("http://127.0.0.1:9/purges", "purge_requested", &operator)
            .await
            .unwrap();
        assert!(secret.starts_with("whsec_") && secret.len() > 30);
        let (everything, _) = store
            .add_webhook("https://hooks.example.org/all", "*", &operator)
            .await
            .unwrap();
        store
            .add_webhook("http://127.0.0.1:9/other", "job_failed", &operator)
            .await
            .unwrap();

        let batch = trashed_contact(&store, &ann.actor(), "Erasable").await;
        let purge = store
            .request_purge(batch, &ann.actor(), None, true, None, None)
            .await
            .unwrap();

        // The feed: every admin; the outbox: ann's e-mail (bob turned it off, carl has no
        // address, ula is no admin) and the two webhooks that listen.
        for name in ["ann", "bob", "carl"] {
            let user = store.find_user(name).await.unwrap().unwrap();
            let feed = store.notifications(user.id, false, 10).await.unwrap();
            assert_eq!(feed.len(), 1, "{name}: {feed:?}");
            assert_eq!(feed[0].kind, "purge_requested");
        }
        assert!(
            store
                .notifications(ula.id, false, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let waiting = store
            .deliveries(Some(DeliveryState::Waiting), None, 100, &operator)
            .await
            .unwrap();
        let mut to: Vec<&str> = waiting.iter().map(|message| message.to.as_str()).collect();
        to.sort_unstable();
        assert_eq!(
            to,
            [
                "ann@lethe.example",
                "http://127.0.0.1:9/purges",
                "https://hooks.example.org/all"
            ]
        );
        assert!(
            waiting
                .iter()
                .all(|message| message.job_id == Some(purge.id)
                    && message.kind == "purge_requested"
                    && message.subject == "Lethe: a permanent deletion was requested")
        );

        // One worker claims them all; another, at the same time, gets none.
        let claimed = store.claim_deliveries("worker-1", 10, LEASE).await.unwrap();
        assert_eq!(claimed.len(), 3);
        assert!(
            store
                .claim_deliveries("worker-2", 10, LEASE)
                .await
                .unwrap()
                .is_empty()
        );
        let body_of = |channel: &Channel| {
            claimed
                .iter()
                .find(|message| &message.channel == channel)
                .unwrap()
                .clone()
        };
        let email = body_of(&Channel::Email {
            to: "ann@lethe.example".to_owned(),
        });
        assert!(
            email.body.contains(&format!("deletion batch {batch}")),
            "{}",
            email.body
        );
        let hook = body_of(&Channel::Webhook {
            url: "http://127.0.0.1:9/purges".to_owned(),
            secret: secret.clone(),
        });
        let event: serde_json::Value = serde_json::from_str(&hook.body).unwrap();
        assert_eq!(event["event"], "purge_requested");
        assert_eq!(event["job"], json!(purge.id));
        assert_eq!(event["at"], "2026-03-01T12:00:00.000000Z");
        // Nothing of the record the purge will erase travels in any message.
        for message in &claimed {
            assert!(
                !message.body.contains("Erasable") && !message.body.contains("@example.org"),
                "{}",
                message.body
            );
        }
        let all = claimed
            .iter()
            .find(|message| {
                matches!(&message.channel, Channel::Webhook { url, .. } if url.ends_with("/all"))
            })
            .unwrap()
            .clone();

        // Delivered; failed for now; refused for good.
        assert!(
            store
                .report_delivery(&email, "worker-1", &TryResult::Delivered, &retries())
                .await
                .unwrap()
        );
        let failed = TryResult::Failed {
            error: "the webhook at http://127.0.0.1:9/purges answered 500".to_owned(),
            permanent: false,
            asked_wait: None,
        };
        assert!(
            store
                .report_delivery(&hook, "worker-1", &failed, &retries())
                .await
                .unwrap()
        );
        let refused = TryResult::Failed {
            error: "the webhook answered 404 Not Found".to_owned(),
            permanent: true,
            asked_wait: None,
        };
        // A worker that lost the lease changes nothing.
        assert!(
            !store
                .report_delivery(&all, "worker-2", &refused, &retries())
                .await
                .unwrap()
        );
        assert!(
            store
                .report_delivery(&all, "worker-1", &refused, &retries())
                .await
                .unwrap()
        );
        let state_of = |id: i64| {
            let store = store.clone();
            async move {
                store
                    .deliveries(None, None, 100, &Actor::operator())
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|message| message.id == id)
                    .unwrap()
            }
        };
        let delivered = state_of(email.id).await;
        assert_eq!(delivered.state, "delivered");
        assert_eq!(delivered.attempts, 1);
        let waiting = state_of(hook.id).await;
        assert_eq!(waiting.state, "waiting");
        assert_eq!(
            waiting.next_try_at.as_deref(),
            Some("2026-03-01T12:00:30.000000Z")
        );
        assert_eq!(
            waiting.last_error.as_deref(),
            Some("the webhook at http://127.0.0.1:9/purges answered 500")
        );
        let given_up = state_of(all.id).await;
        assert_eq!(given_up.state, "given_up");
        assert!(given_up.given_up_at.is_some());

        // Not due until its wait is over; then tried again, and given up after the third.
        assert!(
            store
                .claim_deliveries("worker-1", 10, LEASE)
                .await
                .unwrap()
                .is_empty()
        );
        for (wait, expected) in [(30, "waiting"), (60, "given_up")] {
            clock.set(clock.now() + time::Duration::seconds(wait));
            let again = store.claim_deliveries("worker-2", 10, LEASE).await.unwrap();
            assert_eq!(again.len(), 1);
            assert_eq!(again[0].id, hook.id);
            store
                .report_delivery(&again[0], "worker-2", &failed, &retries())
                .await
                .unwrap();
            assert_eq!(state_of(hook.id).await.state, expected);
        }
        assert_eq!(state_of(hook.id).await.attempts, 3);

        // An admin sends it again: due now, its tries start over; a delivered one cannot be.
        let ula_actor = ula.actor();
        assert!(matches!(
            store.retry_delivery(hook.id, &ula_actor).await,
            Err(StoreError::Forbidden(_))
        ));
        assert!(matches!(
            store.deliveries(None, None, 10, &ula_actor).await,
            Err(StoreError::Forbidden(_))
        ));
        let retried = store.retry_delivery(hook.id, &operator).await.unwrap();
        assert_eq!((retried.state.as_str(), retried.attempts), ("waiting", 0));
        assert!(matches!(
            store.retry_delivery(email.id, &operator).await,
            Err(StoreError::Conflict(_))
        ));
        let history = store.history(None, 100).await.unwrap();
        assert!(
            history
                .iter()
                .any(|entry| entry.action == "delivery.retried")
        );

        // Removing a webhook gives up what still waited for it.
        assert_eq!(
            store
                .remove_webhook(only_purges.id, &operator)
                .await
                .unwrap(),
            1
        );
        assert_eq!(state_of(hook.id).await.state, "given_up");
        assert!(
            store
                .claim_deliveries("worker-1", 10, LEASE)
                .await
                .unwrap()
                .is_empty()
        );
        // It cannot be sent again: it has nowhere to go, and stays given up.
        let refused = store.retry_delivery(hook.id, &operator).await.unwrap_err();
        assert!(
            matches!(&refused, StoreError::Conflict(message) if message.contains("was removed")),
            "{refused}"
        );
        assert_eq!(state_of(hook.id).await.state, "given_up");
        assert!(
            store
                .claim_deliveries("worker-1", 10, LEASE)
                .await
                .unwrap()
                .is_empty()
        );
        let hooks = store.webhooks(&operator).await.unwrap();
        assert_eq!(hooks.len(), 2);
        assert_eq!(hooks[0].id, everything.id);
        assert_eq!(hooks[0].events, "*");
        assert_eq!(hooks[1].events, "job_failed");
    }
);

both_backends!(
    a_message_whose_lease_ran_out_is_taken_over_and_its_first_worker_records_nothing,
    |database: TestDatabase| async move {
        let (store, _) = open(&database).await;
        let (ann, _) = store.add_user("ann", Role::Admin).await.unwrap();
        set_email(&store, "ann", "ann@lethe.example", &[]).await;
        request_a_purge(&store, &ann.actor(), "Erasable").await;

        // Leases follow the wall clock, not the store's clock: a real short one.
        let short = Duration::from_millis(300);
        let first = store.claim_deliveries("worker-1", 10, short).await.unwrap();
        assert_eq!(first.len(), 1);
        assert!(
            store
                .claim_deliveries("worker-2", 10, LEASE)
                .await
                .unwrap()
                .is_empty(),
            "taken over before the lease ran out"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        let taken = store.claim_deliveries("worker-2", 10, LEASE).await.unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].id, first[0].id);
        assert_eq!(taken[0].attempts, 0);

        // The first worker wakes up late: its report changes nothing; the second's counts.
        assert!(
            !store
                .report_delivery(&first[0], "worker-1", &TryResult::Delivered, &retries())
                .await
                .unwrap()
        );
        assert!(
            store
                .report_delivery(&taken[0], "worker-2", &TryResult::Delivered, &retries())
                .await
                .unwrap()
        );
        let listed = store
            .deliveries(None, None, 10, &Actor::operator())
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].state.as_str(), listed[0].attempts),
            ("delivered", 1)
        );
        assert!(
            store
                .claim_deliveries("worker-3", 10, short)
                .await
                .unwrap()
                .is_empty()
        );
    }
);

both_backends!(
    where_notifications_go_is_each_persons_or_an_admins_to_change,
    |database: TestDatabase| async move {
        let (store, _) = open(&database).await;
        let (ann, _) = store.add_user("ann", Role::Admin).await.unwrap();
        let (ula, _) = store.add_user("ula", Role::User).await.unwrap();
        store.add_user("olaf", Role::User).await.unwrap();
        let settings = store.delivery_settings("ula", &ula.actor()).await.unwrap();
        assert_eq!(settings.email, None);
        assert_eq!(settings.kinds.len(), NotificationKind::ALL.len());
        assert!(settings.kinds.iter().all(|kind| kind.email));

        let change = DeliveryChange {
            email: Some(Some("ula@lethe.example".to_owned())),
            email_kinds: vec![(NotificationKind::JobFailed, false)],
        };
        let after = store
            .change_delivery("ula", &change, &ula.actor())
            .await
            .unwrap();
        assert_eq!(after.email.as_deref(), Some("ula@lethe.example"));
        let job_failed = after
            .kinds
            .iter()
            .find(|kind| kind.kind == "job_failed")
            .unwrap();
        assert!(!job_failed.email);

        // Another plain user may not, whether the name exists or not; an admin may.
        for name in ["ula", "nobody"] {
            let olaf = store.find_user("olaf").await.unwrap().unwrap().actor();
            assert!(
                matches!(
                    store.delivery_settings(name, &olaf).await,
                    Err(StoreError::Forbidden(_))
                ),
                "{name}"
            );
        }
        store.delivery_settings("ula", &ann.actor()).await.unwrap();

        // Bad input is refused and changes nothing.
        for bad in ["ula", "ula@lethe", "ula@lethe.example\r\nBcc: x@y.z"] {
            let change = DeliveryChange {
                email: Some(Some(bad.to_owned())),
                email_kinds: Vec::new(),
            };
            let refused = store
                .change_delivery("ula", &change, &ula.actor())
                .await
                .unwrap_err();
            assert!(matches!(refused, StoreError::BadRequest(_)), "{refused}");
        }
        assert_eq!(
            store
                .delivery_settings("ula", &ula.actor())
                .await
                .unwrap()
                .email
                .as_deref(),
            Some("ula@lethe.example")
        );
        for (url, events) in [
            ("ftp://x", "*"),
            ("https://hooks.example.org", "purge_done"),
        ] {
            assert!(matches!(
                store.add_webhook(url, events, &ann.actor()).await,
                Err(StoreError::BadRequest(_))
            ));
        }
        assert!(matches!(
            store
                .add_webhook("https://hooks.example.org", "*", &ula.actor())
                .await,
            Err(StoreError::Forbidden(_))
        ));
        assert!(store.webhooks(&ann.actor()).await.unwrap().is_empty());
        // The history says what changed, never the address.
        let history = store.history(None, 100).await.unwrap();
        let entry = history
            .iter()
            .find(|entry| entry.action == "user.delivery_changed")
            .unwrap();
        let text = serde_json::to_string(entry).unwrap();
        assert!(!text.contains("ula@lethe.example"), "{text}");
        assert!(text.contains("job_failed"), "{text}");
    }
);

both_backends!(
    counts_follow_the_states_a_receivers_wait_is_kept_and_old_delivered_messages_leave,
    |database: TestDatabase| async move {
        let (store, clock) = open(&database).await;
        let operator = Actor::operator();
        let (ann, _) = store.add_user("ann", Role::Admin).await.unwrap();
        store.add_user("bob", Role::Admin).await.unwrap();
        set_email(&store, "ann", "ann@lethe.example", &[]).await;
        set_email(&store, "bob", "bob@lethe.example", &[]).await;
        let empty = store.delivery_counts(&operator).await.unwrap();
        assert_eq!(empty, lethe_store::DeliveryCounts::default());
        let (ula, _) = store.add_user("ula", Role::User).await.unwrap();
        assert!(matches!(
            store.delivery_counts(&ula.actor()).await,
            Err(StoreError::Forbidden(_))
        ));
        // Three purge requests: an e-mail to each admin for each.
        for name in ["One", "Two", "Three"] {
            request_a_purge(&store, &ann.actor(), name).await;
        }
        let claimed = store.claim_deliveries("worker-1", 10, LEASE).await.unwrap();
        assert_eq!(claimed.len(), 6);
        // Two delivered, one given up, one told to wait ten minutes, two left waiting.
        let busy = TryResult::Failed {
            error: "the webhook answered 503 and asked to wait 600 s".to_owned(),
            permanent: false,
            asked_wait: Some(Duration::from_secs(600)),
        };
        let refused = TryResult::Failed {
            error: "550 no such mailbox".to_owned(),
            permanent: true,
            asked_wait: None,
        };
        for (message, result) in claimed.iter().zip([
            &TryResult::Delivered,
            &TryResult::Delivered,
            &refused,
            &busy,
        ]) {
            assert!(
                store
                    .report_delivery(message, "worker-1", result, &retries())
                    .await
                    .unwrap()
            );
        }
        assert_eq!(
            store.delivery_counts(&operator).await.unwrap(),
            lethe_store::DeliveryCounts {
                waiting: 3,
                delivered: 2,
                given_up: 1,
            }
        );
        // The receiver's ten minutes, not the rule's thirty seconds.
        let waiting = store
            .deliveries(Some(DeliveryState::Waiting), None, 10, &operator)
            .await
            .unwrap();
        let told = waiting
            .iter()
            .find(|message| message.id == claimed[3].id)
            .unwrap();
        assert_eq!(
            told.next_try_at.as_deref(),
            Some("2026-03-01T12:10:00.000000Z")
        );

        // Pruning keeps what is younger than the period, and anything not delivered.
        assert_eq!(
            store
                .prune_deliveries(Duration::from_secs(86_400))
                .await
                .unwrap(),
            0
        );
        clock.set(clock.now() + time::Duration::days(31));
        assert_eq!(
            store
                .prune_deliveries(Duration::from_secs(30 * 86_400))
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            store.delivery_counts(&operator).await.unwrap(),
            lethe_store::DeliveryCounts {
                waiting: 3,
                delivered: 0,
                given_up: 1,
            }
        );
        let left: Vec<i64> = store
            .deliveries(None, None, 10, &operator)
            .await
            .unwrap()
            .iter()
            .map(|message| message.id)
            .collect();
        assert!(!left.contains(&claimed[0].id) && !left.contains(&claimed[1].id));
        assert!(left.contains(&claimed[2].id) && left.contains(&claimed[3].id));
    }
);

both_backends!(
    webhook_secrets_are_stored_sealed_and_an_old_plain_one_is_sealed_by_migrate,
    |database: TestDatabase| async move {
        let (store, _) = open(&database).await;
        let operator = Actor::operator();
        let (ann, _) = store.add_user("ann", Role::Admin).await.unwrap();
        let (webhook, secret) = store
            .add_webhook("https://hooks.example.org/in", "*", &operator)
            .await
            .unwrap();
        // The database holds no secret, only a sealed value.
        let stored = database.dump("lethe_webhook", "id").await.join("\n");
        assert!(!stored.contains(&secret), "{stored}");
        assert!(!stored.contains("whsec_"), "{stored}");
        assert!(stored.contains("sealed:v1:"), "{stored}");
        // A worker gets the secret itself, to sign with.
        request_a_purge(&store, &ann.actor(), "Sealed").await;
        let claimed = store.claim_deliveries("worker-1", 10, LEASE).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(
            claimed[0].channel,
            Channel::Webhook {
                url: "https://hooks.example.org/in".to_owned(),
                secret: secret.clone(),
            }
        );
        store
            .report_delivery(&claimed[0], "worker-1", &TryResult::Delivered, &retries())
            .await
            .unwrap();

        // A secret stored before Lethe sealed them is sealed by `migrate`, and still signs.
        store_secret(&database, webhook.id, "whsec_stored_plain").await;
        store.migrate().await.unwrap();
        let stored = database.dump("lethe_webhook", "id").await.join("\n");
        assert!(!stored.contains("whsec_stored_plain"), "{stored}");
        request_a_purge(&store, &ann.actor(), "Plain").await;
        let claimed = store.claim_deliveries("worker-1", 10, LEASE).await.unwrap();
        assert!(
            matches!(&claimed[0].channel, Channel::Webhook { secret, .. } if secret == "whsec_stored_plain"),
            "{claimed:?}"
        );
        store
            .report_delivery(&claimed[0], "worker-1", &TryResult::Delivered, &retries())
            .await
            .unwrap();

        // A sealed value that does not open gives its message up, saying why, at once.
        store_secret(&database, webhook.id, "sealed:v1:AAAA").await;
        request_a_purge(&store, &ann.actor(), "Broken").await;
        assert!(
            store
                .claim_deliveries("worker-1", 10, LEASE)
                .await
                .unwrap()
                .is_empty()
        );
        let given_up = store
            .deliveries(Some(DeliveryState::GivenUp), None, 10, &operator)
            .await
            .unwrap();
        assert_eq!(given_up.len(), 1);
        assert!(
            given_up[0].last_error.as_deref().is_some_and(
                |error| error.contains("does not open with this instance's history key")
            ),
            "{given_up:?}"
        );
    }
);
