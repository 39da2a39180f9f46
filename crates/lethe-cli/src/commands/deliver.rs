//! Delivering the outbox (SPEC §7): `lethe deliver` once, `lethe serve` all the time; and
//! `lethe deliveries list|retry` and `lethe webhook add|list|remove` for admins.
//!
//! A worker claims what is due (a lease, so that several instances never send one message at
//! the same time), sends each e-mail through the SMTP server of the settings and each webhook
//! message signed with its endpoint's secret, and records how each try went; the outbox's
//! retry rule decides when the next try is or that the message is given up.
//!
//! A claim is held for the lease (`LETHE_DELIVERY_LEASE`); a worker that dies, or is
//! killed, lets it run out and another instance sends what it held. So that a live worker is
//! never overtaken, it claims no more than it can send and record within half the lease.

use std::sync::Arc;
use std::time::Duration;

use lethe_notify::{Mailer, SendError, SmtpSettings, SmtpTls, WebhookSender};
use lethe_store::notification::Retries;
use lethe_store::{Channel, DeliveryState, Outgoing, Store, TryResult};
use serde_json::json;

use super::{Context, given, parse_duration};
use crate::cli::{DeliveriesCommand, WebhookCommand};
use crate::output::{UsageError, print_json};

/// The most messages a worker claims at a time.
const CLAIM: u64 = 50;

/// How many messages of a claim are sent at once.
const AT_ONCE: usize = 8;

/// How long a worker holds what it claims, unless set otherwise (and at least twice the
/// timeout).
const LEASE: Duration = Duration::from_secs(120);

/// What sends the outbox's messages, built once from the settings.
#[derive(Debug, Clone)]
pub struct Deliverer {
    mailer: Option<Arc<Mailer>>,
    webhooks: WebhookSender,
    retries: Retries,
    public_url: Option<String>,
    owner: String,
    /// How long a claim is held.
    lease: Duration,
    /// How many messages one claim takes (see [`claim_size`]).
    claim: u64,
    /// How long a delivered message stays in the outbox.
    kept: Duration,
}

/// How long a delivered message stays in the outbox, unless set otherwise.
const KEPT: Duration = Duration::from_secs(30 * 86_400);

/// How often `lethe serve` removes the delivered messages older than that.
const PRUNE_EVERY: Duration = Duration::from_secs(3_600);

/// What one pass delivered.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub sent: u64,
    pub failed: u64,
}

impl Deliverer {
    /// From the settings: the SMTP server (if one is set), the retry rule, the timeout.
    pub fn from_settings(context: &Context) -> anyhow::Result<Deliverer> {
        let settings = &context.global.settings;
        let timeout = match given(&settings.delivery_timeout) {
            Some(raw) => parse_duration(raw)
                .map_err(|error| UsageError(format!("LETHE_DELIVERY_TIMEOUT: {error}")))?
                .try_into()
                .unwrap_or(Duration::from_secs(10)),
            None => Duration::from_secs(10),
        };
        let lease = match given(&settings.delivery_lease) {
            Some(raw) => {
                let lease: Duration = parse_duration(raw)
                    .map_err(|error| UsageError(format!("LETHE_DELIVERY_LEASE: {error}")))?
                    .try_into()
                    .unwrap_or(Duration::ZERO);
                if lease < timeout.saturating_mul(2) {
                    return Err(UsageError(format!(
                        "LETHE_DELIVERY_LEASE: `{}` is shorter than twice the delivery timeout ({}s): a worker must be able to send a message and record it before another instance may take it over; set a longer lease or a shorter LETHE_DELIVERY_TIMEOUT",
                        raw.trim(),
                        timeout.as_secs()
                    ))
                    .into());
                }
                lease
            }
            None => LEASE.max(timeout.saturating_mul(2)),
        };
        let mut retries = Retries::default();
        if let Some(raw) = given(&settings.delivery_tries) {
            retries.tries = raw
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|tries| *tries >= 1)
                .ok_or_else(|| {
                    UsageError(format!(
                        "LETHE_DELIVERY_TRIES: `{raw}` is not a whole number of tries of at least 1"
                    ))
                })?;
        }
        if let Some(raw) = given(&settings.delivery_first_wait) {
            retries.first_wait = parse_duration(raw)
                .map_err(|error| UsageError(format!("LETHE_DELIVERY_FIRST_WAIT: {error}")))?
                .try_into()
                .unwrap_or(retries.first_wait);
        }
        let kept = match given(&settings.delivered_kept) {
            Some(raw) => parse_duration(raw)
                .map_err(|error| UsageError(format!("LETHE_DELIVERED_KEPT: {error}")))?
                .try_into()
                .unwrap_or(KEPT),
            None => KEPT,
        };
        let mailer = match given(&settings.smtp_host) {
            None => None,
            Some(host) => {
                let tls: SmtpTls = match given(&settings.smtp_tls) {
                    Some(raw) => raw
                        .parse()
                        .map_err(|error| UsageError(format!("LETHE_SMTP_TLS: {error}")))?,
                    None => SmtpTls::StartTls,
                };
                let port = match given(&settings.smtp_port) {
                    Some(raw) => raw
                        .trim()
                        .parse::<u16>()
                        .ok()
                        .filter(|port| *port > 0)
                        .ok_or_else(|| {
                            UsageError(format!(
                                "LETHE_SMTP_PORT: `{raw}` is not a port (1 to 65535)"
                            ))
                        })?,
                    None => tls.default_port(),
                };
                let smtp = SmtpSettings {
                    host: host.trim().to_owned(),
                    port,
                    tls,
                    username: given(&settings.smtp_username).map(str::to_owned),
                    password: given(&settings.smtp_password).map(str::to_owned),
                    from: given(&settings.smtp_from)
                        .unwrap_or("Lethe <lethe@localhost>")
                        .to_owned(),
                    timeout,
                };
                let mailer = Mailer::new(&smtp)
                    .map_err(|error| UsageError(format!("the SMTP settings: {error}")))?;
                Some(Arc::new(mailer))
            }
        };
        Ok(Deliverer {
            mailer,
            webhooks: WebhookSender::new(timeout),
            retries,
            public_url: given(&settings.public_url)
                .map(|url| url.trim().trim_end_matches('/').to_owned()),
            owner: lethe_store::lease_owner(),
            lease,
            claim: claim_size(lease, timeout),
            kept,
        })
    }

    /// Removes the messages delivered longer ago than the settings keep them; says how many
    /// in the log. A failure only waits for the next time.
    pub async fn prune(&self, store: &Store) {
        match store.prune_deliveries(self.kept).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "delivered notifications left the outbox"),
            Err(error) => {
                tracing::warn!(%error, "delivered notifications could not be removed from the outbox")
            }
        }
    }

    /// Sends everything due now, claim by claim, until nothing is due.
    pub async fn deliver_due(&self, store: &Store) -> anyhow::Result<Delivered> {
        let mut delivered = Delivered::default();
        loop {
            let claimed = store
                .claim_deliveries(&self.owner, self.claim, self.lease)
                .await?;
            if claimed.is_empty() {
                return Ok(delivered);
            }
            let mut pending = tokio::task::JoinSet::new();
            for message in claimed {
                while pending.len() >= AT_ONCE {
                    if let Some(done) = pending.join_next().await {
                        count(&mut delivered, done)?;
                    }
                }
                let deliverer = self.clone();
                let store = store.clone();
                pending.spawn(async move {
                    let result = deliverer.send(&message).await;
                    store
                        .report_delivery(&message, &deliverer.owner, &result, &deliverer.retries)
                        .await?;
                    Ok::<bool, anyhow::Error>(result == TryResult::Delivered)
                });
            }
            while let Some(done) = pending.join_next().await {
                count(&mut delivered, done)?;
            }
        }
    }

    async fn send(&self, message: &Outgoing) -> TryResult {
        let sent = match &message.channel {
            Channel::Email { to } => match &self.mailer {
                None => Err(SendError::Permanent(
                    "no SMTP server is set: set LETHE_SMTP_HOST (and restart Lethe), then send the message again".to_owned(),
                )),
                Some(mailer) => {
                    mailer
                        .send_identified(
                            &message_name(message),
                            to,
                            &message.subject,
                            &self.email_text(message),
                        )
                        .await
                }
            },
            Channel::Webhook { url, secret } => {
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                self.webhooks
                    .send(
                        url,
                        secret.as_bytes(),
                        &message.kind,
                        message.id,
                        message.body.as_bytes(),
                        now,
                    )
                    .await
            }
        };
        match sent {
            Ok(()) => TryResult::Delivered,
            Err(error) => TryResult::Failed {
                permanent: !error.is_transient(),
                asked_wait: error.asked_wait(),
                error: error.message().to_owned(),
            },
        }
    }

    /// The e-mail's text: what happened, where to look, and why this person gets it.
    fn email_text(&self, message: &Outgoing) -> String {
        let mut text = message.body.clone();
        if let (Some(url), Some(job)) = (&self.public_url, message.job_id) {
            text.push_str(&format!("\n\nOpen it in Lethe: {url}/jobs/{job}"));
        }
        text.push_str(
            "\n\n--\nLethe tells you of this kind of event. Choose which come by e-mail on your account page in Lethe, or with `lethe user delivery`.",
        );
        text
    }
}

/// The name every try of a message carries (an e-mail's `Message-ID` before the `@`): its
/// outbox id and the microsecond it was written, which no other message of this or another
/// Lethe shares in practice.
fn message_name(message: &Outgoing) -> String {
    format!(
        "lethe.delivery.{}.{}",
        message.id,
        message.created_at.unix_timestamp_nanos() / 1_000
    )
}

/// How many messages one claim may take: as many as can all be sent, [`AT_ONCE`] at a time
/// and each within `timeout`, in half the `lease`, at most [`CLAIM`]. A worker that claimed
/// more would still be sending the last of them when its lease ran out, and another instance
/// would send them too. The other half of the lease is room for the database and for clocks
/// that differ between hosts.
fn claim_size(lease: Duration, timeout: Duration) -> u64 {
    let rounds = (lease / 2).as_nanos() / timeout.as_nanos().max(1);
    let at_once = u64::try_from(AT_ONCE).unwrap_or(1);
    u64::try_from(rounds)
        .unwrap_or(u64::MAX)
        .saturating_mul(at_once)
        .clamp(1, CLAIM)
}

fn count(
    delivered: &mut Delivered,
    done: Result<anyhow::Result<bool>, tokio::task::JoinError>,
) -> anyhow::Result<()> {
    match done {
        Ok(Ok(true)) => delivered.sent += 1,
        Ok(Ok(false)) => delivered.failed += 1,
        Ok(Err(error)) => return Err(error),
        Err(error) => return Err(anyhow::anyhow!("a delivery task stopped: {error}")),
    }
    Ok(())
}

/// `lethe deliver`: one pass.
pub async fn deliver_once(context: &Context) -> anyhow::Result<()> {
    let store = context.open().await?;
    let deliverer = Deliverer::from_settings(context)?;
    let delivered = deliverer.deliver_due(&store).await?;
    deliverer.prune(&store).await;
    if context.json() {
        print_json(&json!({"sent": delivered.sent, "failed": delivered.failed}));
    } else {
        println!(
            "Sent {} notification(s); {} failed (see `lethe deliveries list`).",
            delivered.sent, delivered.failed
        );
    }
    Ok(())
}

/// `lethe serve`'s delivery worker: a pass every second, and old delivered messages removed
/// every hour.
pub async fn work_deliveries(store: Store, deliverer: Deliverer) {
    let mut pruned: Option<std::time::Instant> = None;
    loop {
        if pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            deliverer.prune(&store).await;
            pruned = Some(std::time::Instant::now());
        }
        match deliverer.deliver_due(&store).await {
            Ok(Delivered { sent: 0, failed: 0 }) => {}
            Ok(delivered) => {
                tracing::info!(
                    sent = delivered.sent,
                    failed = delivered.failed,
                    "notifications delivered"
                )
            }
            Err(error) => {
                tracing::warn!(%error, "notifications could not be delivered; they wait in the outbox")
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub async fn deliveries(context: &Context, command: DeliveriesCommand) -> anyhow::Result<()> {
    let store = context.open().await?;
    let actor = context.acting(&store).await?;
    match command {
        DeliveriesCommand::List { state, limit } => {
            let state: Option<DeliveryState> = match state {
                Some(raw) => Some(raw.parse()?),
                None => None,
            };
            let list = store.deliveries(state, None, limit, &actor).await?;
            let counts = store.delivery_counts(&actor).await?;
            if context.json() {
                print_json(&json!({"deliveries": list, "counts": counts}));
            } else if list.is_empty() {
                println!("The outbox is empty.");
            } else {
                println!(
                    "{} waiting, {} delivered, {} given up.",
                    counts.waiting, counts.delivered, counts.given_up
                );
                println!(
                    "{:>6}  {:<8}  {:<16}  {:<9}  {:>5}  to / last error",
                    "id", "channel", "kind", "state", "tries"
                );
                for message in list {
                    println!(
                        "{:>6}  {:<8}  {:<16}  {:<9}  {:>5}  {}{}",
                        message.id,
                        message.channel,
                        message.kind,
                        message.state,
                        message.attempts,
                        message.to,
                        message
                            .last_error
                            .map(|error| format!(" — {error}"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        DeliveriesCommand::Retry { id } => {
            let message = store.retry_delivery(id, &actor).await?;
            if context.json() {
                print_json(&json!({"delivery": message}));
            } else {
                println!(
                    "Delivery {id} to {} is due again; the next pass of a worker sends it.",
                    message.to
                );
            }
        }
    }
    Ok(())
}

pub async fn webhook(context: &Context, command: WebhookCommand) -> anyhow::Result<()> {
    let store = context.open().await?;
    let actor = context.acting(&store).await?;
    match command {
        WebhookCommand::Add { url, events } => {
            let (hook, secret) = store.add_webhook(&url, &events, &actor).await?;
            if context.json() {
                print_json(&json!({"webhook": hook, "secret": secret}));
            } else {
                println!(
                    "Added webhook {} ({}) for {}.",
                    hook.id, hook.url, hook.events
                );
                println!("Its signing secret (shown only now; give it to the receiver):\n{secret}");
            }
        }
        WebhookCommand::List => {
            let hooks = store.webhooks(&actor).await?;
            if context.json() {
                print_json(&json!({"webhooks": hooks}));
            } else if hooks.is_empty() {
                println!("No webhooks. Add one with `lethe webhook add URL`.");
            } else {
                println!("{:>4}  {:<40}  events", "id", "url");
                for hook in hooks {
                    println!("{:>4}  {:<40}  {}", hook.id, hook.url, hook.events);
                }
            }
        }
        WebhookCommand::Remove { id } => {
            let dropped = store.remove_webhook(id, &actor).await?;
            if context.json() {
                print_json(&json!({"removed": id, "undelivered_given_up": dropped}));
            } else {
                println!("Removed webhook {id}; {dropped} undelivered message(s) given up.");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_no_more_than_can_be_sent_in_half_the_lease() {
        let seconds = Duration::from_secs;
        // The defaults: six rounds of eight in a minute.
        assert_eq!(claim_size(LEASE, seconds(10)), 48);
        // A long lease is capped; a slow receiver's timeout makes claims small.
        assert_eq!(claim_size(seconds(3_600), seconds(10)), CLAIM);
        assert_eq!(claim_size(seconds(120), seconds(30)), 16);
        assert_eq!(claim_size(seconds(120), seconds(60)), 8);
        assert_eq!(claim_size(seconds(8), seconds(4)), 8);
        for (lease, timeout) in [(120, 10), (120, 30), (120, 60), (8, 4), (7, 3), (600, 1)] {
            let claim = claim_size(seconds(lease), seconds(timeout));
            let rounds = claim.div_ceil(8);
            assert!(
                rounds * timeout <= lease / 2,
                "{lease}s, {timeout}s: {claim}"
            );
        }
    }
}
