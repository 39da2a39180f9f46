//! Where notifications go besides the in-app feed (SPEC §7): a user's e-mail address and
//! which kinds of event they want by e-mail (all of them unless turned off), and the webhook
//! endpoints an admin adds, each with the kinds it listens to and a secret that signs what it
//! is sent. Every change is written to the history (never an address or a secret).

use lethe_domain::Actor;
use lethe_domain::notification::{Listens, NotificationKind};
use lethe_domain::policy;
use schemars::JsonSchema;
use sea_query::{Alias, Expr, ExprTrait, Order, Query};
use serde::Serialize;
use sqlx::Pool;
use time::OffsetDateTime;

use crate::dialect::{Dialect, begin_write};
use crate::error::StoreError;
use crate::users::User;
use crate::value::format_timestamp;
use crate::{HistoryKey, Pools, Store, dispatch, rows};
use lethe_db::col;

/// Where a user's notifications go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct DeliverySettings {
    pub user: String,
    /// The address e-mails go to; null: no e-mail.
    pub email: Option<String>,
    /// Per kind of event: who hears of it, and whether this user gets it by e-mail (the
    /// in-app feed always has it).
    pub kinds: Vec<KindChoice>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct KindChoice {
    pub kind: String,
    /// The e-mail's subject, in words.
    pub title: String,
    pub heard_by: String,
    pub email: bool,
}

/// A webhook endpoint, without its secret (shown once, when it is added).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    /// `*` for every event, or the kinds it listens to, comma-separated.
    pub events: String,
    /// Who added it.
    pub created_by: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
}

/// The longest e-mail address accepted (RFC 5321's path limit).
const LONGEST_ADDRESS: usize = 254;

/// Checks an e-mail address the way a person expects: one `@` between a local part and a
/// domain with a dot, no spaces or control characters.
pub fn check_email(address: &str) -> Result<(), StoreError> {
    let wrong = |why: &str| {
        Err(StoreError::BadRequest(format!(
            "`{address}` is not an e-mail address Lethe can send to: {why}"
        )))
    };
    if address.len() > LONGEST_ADDRESS {
        return wrong("it is longer than 254 characters");
    }
    if address
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
    {
        return wrong("it holds a space, a control character or one of < > , ;");
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return wrong("it has no @");
    };
    if local.is_empty() || local.contains('@') {
        return wrong("it needs exactly one @ with something before it");
    }
    if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
        return wrong("the part after @ must be a domain such as example.org");
    }
    Ok(())
}

/// Checks a webhook URL: `http://` or `https://` with a host.
pub fn check_webhook_url(url: &str) -> Result<(), StoreError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
    match host {
        Some(host) if !host.is_empty() && !url.chars().any(char::is_whitespace) => Ok(()),
        _ => Err(StoreError::BadRequest(format!(
            "`{url}` is not a webhook URL: give one that starts with https:// (or http://) and a host, e.g. https://hooks.example.org/lethe"
        ))),
    }
}

async fn settings<DB: Dialect>(
    pool: &Pool<DB>,
    user: &User,
) -> Result<DeliverySettings, StoreError> {
    let mut connection = pool.acquire().await?;
    let (sql, values) = DB::build(
        Query::select()
            .column(Alias::new("email"))
            .from(Alias::new("lethe_user"))
            .and_where(col("id").eq(user.id)),
    );
    let email = match DB::fetch_optional(&mut connection, sql, values).await? {
        Some(row) => rows::text::<DB>(&row, 0)?,
        None => None,
    };
    let (sql, values) = DB::build(
        Query::select()
            .column(Alias::new("kind"))
            .from(Alias::new("lethe_channel_choice"))
            .and_where(col("user_id").eq(user.id))
            .and_where(col("channel").eq("email"))
            .and_where(col("enabled").eq(false)),
    );
    let off: Vec<String> = DB::fetch_all(&mut connection, sql, values)
        .await?
        .iter()
        .map(|row| rows::text::<DB>(row, 0).map(Option::unwrap_or_default))
        .collect::<Result<_, _>>()?;
    Ok(DeliverySettings {
        user: user.name.clone(),
        email,
        kinds: NotificationKind::ALL
            .into_iter()
            .map(|kind| KindChoice {
                kind: kind.as_str().to_owned(),
                title: kind.title().to_owned(),
                heard_by: kind.heard_by().to_owned(),
                email: !off.iter().any(|name| name == kind.as_str()),
            })
            .collect(),
    })
}

/// What a user asks to change about where their notifications go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryChange {
    /// `Some(None)` removes the address; `None` leaves it.
    pub email: Option<Option<String>>,
    /// Kinds to get (true) or not get (false) by e-mail; kinds not named are left.
    pub email_kinds: Vec<(NotificationKind, bool)>,
}

async fn change<DB: Dialect>(
    pool: &Pool<DB>,
    key: &HistoryKey,
    user: &User,
    change: &DeliveryChange,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut transaction = begin_write(pool).await?;
    if let Some(email) = &change.email {
        let (sql, values) = DB::build(
            Query::update()
                .table(Alias::new("lethe_user"))
                .value(
                    Alias::new("email"),
                    Expr::val(rows::bind_opt_text::<DB>(email.as_deref())),
                )
                .and_where(col("id").eq(user.id))
                .and_where(col("removed_at").is_null()),
        );
        if DB::execute(&mut transaction, sql, values).await? != 1 {
            return Err(StoreError::Conflict(format!(
                "user `{}` was removed meanwhile",
                user.name
            )));
        }
    }
    for (kind, enabled) in &change.email_kinds {
        let (sql, values) = DB::build(
            Query::delete()
                .from_table(Alias::new("lethe_channel_choice"))
                .and_where(col("user_id").eq(user.id))
                .and_where(col("kind").eq(kind.as_str()))
                .and_where(col("channel").eq("email")),
        );
        DB::execute(&mut transaction, sql, values).await?;
        let (sql, values) = DB::build(
            Query::insert()
                .into_table(Alias::new("lethe_channel_choice"))
                .columns(["user_id", "kind", "channel", "enabled"].map(Alias::new))
                .values_panic([
                    Expr::val(user.id),
                    Expr::val(kind.as_str()),
                    Expr::val("email"),
                    Expr::val(*enabled),
                ]),
        );
        DB::execute(&mut transaction, sql, values).await?;
    }
    let kinds: serde_json::Map<String, serde_json::Value> = change
        .email_kinds
        .iter()
        .map(|(kind, on)| (kind.as_str().to_owned(), serde_json::Value::Bool(*on)))
        .collect();
    crate::history::append::<DB>(
        &mut transaction,
        key,
        now,
        actor,
        "user.delivery_changed",
        None,
        serde_json::json!({
            "user": user.id,
            "name": user.name,
            "email": change.email.as_ref().map(|email| if email.is_some() { "set" } else { "removed" }),
            "email_kinds": kinds,
        }),
    )
    .await?;
    transaction.commit().await?;
    Ok(())
}

fn select_webhooks() -> sea_query::SelectStatement {
    let hook = |name: &str| Expr::col((Alias::new("lethe_webhook"), Alias::new(name)));
    Query::select()
        .expr(hook("id"))
        .expr(hook("url"))
        .expr(hook("kinds"))
        .expr(Expr::col((Alias::new("lethe_user"), Alias::new("name"))))
        .expr(hook("created_at"))
        .from(Alias::new("lethe_webhook"))
        .left_join(
            Alias::new("lethe_user"),
            Expr::col((Alias::new("lethe_user"), Alias::new("id")))
                .equals((Alias::new("lethe_webhook"), Alias::new("created_by"))),
        )
        .and_where(hook("removed_at").is_null())
        .to_owned()
}

fn webhook<DB: Dialect>(row: &DB::Row) -> Result<Webhook, StoreError> {
    let kinds = rows::text::<DB>(row, 2)?.unwrap_or_default();
    Ok(Webhook {
        id: rows::int::<DB>(row, 0)?.unwrap_or_default(),
        url: rows::text::<DB>(row, 1)?.unwrap_or_default(),
        events: match Listens::from_stored(&kinds) {
            Listens::All => "*".to_owned(),
            listens => listens.words().replace(' ', ""),
        },
        created_by: rows::text::<DB>(row, 3)?,
        created_at: rows::timestamp::<DB>(row, 4)?
            .map(format_timestamp)
            .unwrap_or_default(),
    })
}

/// Where webhooks' secrets are kept, sealed (see [`crate::sealed`]).
pub(crate) const WEBHOOK_SECRET: &str = "lethe_webhook.secret";

/// Seals the webhook secrets stored before Lethe sealed them (a few rows: one per endpoint),
/// each in its own statement that only changes a value still unsealed; returns how many.
pub(crate) async fn seal_stored_secrets<DB: Dialect>(
    pool: &Pool<DB>,
    key: &HistoryKey,
) -> Result<u64, StoreError> {
    let mut connection = pool.acquire().await?;
    let (sql, values) = DB::build(
        Query::select()
            .columns([Alias::new("id"), Alias::new("secret")])
            .from(Alias::new("lethe_webhook")),
    );
    let plain = DB::fetch_all(&mut connection, sql, values).await?;
    drop(connection);
    let mut sealed = 0;
    for row in &plain {
        let id = rows::int::<DB>(row, 0)?.unwrap_or_default();
        let secret = rows::text::<DB>(row, 1)?.unwrap_or_default();
        if crate::sealed::is_sealed(&secret) {
            continue;
        }
        let (sql, values) = DB::build(
            Query::update()
                .table(Alias::new("lethe_webhook"))
                .value(
                    Alias::new("secret"),
                    crate::sealed::seal(key, WEBHOOK_SECRET, &secret)?,
                )
                .and_where(col("id").eq(id))
                .and_where(col("secret").eq(secret.as_str())),
        );
        let mut transaction = begin_write(pool).await?;
        sealed += DB::execute(&mut transaction, sql, values).await?;
        transaction.commit().await?;
    }
    Ok(sealed)
}

async fn add_webhook<DB: Dialect>(
    pool: &Pool<DB>,
    key: &HistoryKey,
    url: &str,
    listens: &Listens,
    secret: &str,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Webhook, StoreError> {
    let sealed = crate::sealed::seal(key, WEBHOOK_SECRET, secret)?;
    let mut transaction = begin_write(pool).await?;
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new("lethe_webhook"))
        .columns(["url", "secret", "kinds", "created_by", "created_at"].map(Alias::new))
        .values_panic([
            Expr::val(url),
            Expr::val(sealed),
            Expr::val(listens.stored()),
            Expr::val(rows::bind_opt_int::<DB>(actor.user_id)),
            Expr::val(rows::bind_time::<DB>(now)),
        ]);
    let id = rows::insert_id::<DB>(&mut transaction, &mut insert, "webhook").await?;
    crate::history::append::<DB>(
        &mut transaction,
        key,
        now,
        actor,
        "webhook.added",
        None,
        serde_json::json!({"webhook": id, "url": url, "events": listens.stored()}),
    )
    .await?;
    let mut query = select_webhooks();
    query.and_where(Expr::col((Alias::new("lethe_webhook"), Alias::new("id"))).eq(id));
    let (sql, values) = DB::build(&query);
    let added = match DB::fetch_optional(&mut transaction, sql, values).await? {
        Some(row) => webhook::<DB>(&row)?,
        None => {
            return Err(StoreError::Internal(
                "the webhook just added is gone".to_owned(),
            ));
        }
    };
    transaction.commit().await?;
    Ok(added)
}

async fn list_webhooks<DB: Dialect>(pool: &Pool<DB>) -> Result<Vec<Webhook>, StoreError> {
    let mut connection = pool.acquire().await?;
    let mut query = select_webhooks();
    query.order_by((Alias::new("lethe_webhook"), Alias::new("id")), Order::Asc);
    let (sql, values) = DB::build(&query);
    DB::fetch_all(&mut connection, sql, values)
        .await?
        .iter()
        .map(webhook::<DB>)
        .collect()
}

/// Removes a webhook: it hears of nothing more, and what still waited for it is given up.
async fn remove_webhook<DB: Dialect>(
    pool: &Pool<DB>,
    key: &HistoryKey,
    id: i64,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let mut transaction = begin_write(pool).await?;
    let at = || Expr::val(rows::bind_time::<DB>(now));
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_webhook"))
            .value(Alias::new("removed_at"), at())
            .and_where(col("id").eq(id))
            .and_where(col("removed_at").is_null()),
    );
    if DB::execute(&mut transaction, sql, values).await? != 1 {
        return Err(StoreError::NamedNotFound(format!(
            "there is no webhook {id}; see `lethe webhook list`"
        )));
    }
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_outbox"))
            .value(Alias::new("given_up_at"), at())
            .value(Alias::new("last_error"), "the webhook was removed")
            .and_where(col("webhook_id").eq(id))
            .and_where(col("delivered_at").is_null())
            .and_where(col("given_up_at").is_null()),
    );
    let dropped = DB::execute(&mut transaction, sql, values).await?;
    crate::history::append::<DB>(
        &mut transaction,
        key,
        now,
        actor,
        "webhook.removed",
        None,
        serde_json::json!({"webhook": id, "undelivered_given_up": dropped}),
    )
    .await?;
    transaction.commit().await?;
    Ok(dropped)
}

impl Store {
    /// Where user `name`'s notifications go: theirs or an admin's to see.
    pub async fn delivery_settings(
        &self,
        name: &str,
        actor: &Actor,
    ) -> Result<DeliverySettings, StoreError> {
        let user = self
            .user_for(name, actor, |id| policy::set_delivery(actor, id, name))
            .await?;
        dispatch!(self, pool => settings::<_>(pool, &user).await)
    }

    /// Changes where user `name`'s notifications go (their e-mail address, which kinds come
    /// by e-mail): theirs or an admin's to change. Written to the history, without the
    /// address.
    pub async fn change_delivery(
        &self,
        name: &str,
        delivery: &DeliveryChange,
        actor: &Actor,
    ) -> Result<DeliverySettings, StoreError> {
        let user = self
            .user_for(name, actor, |id| policy::set_delivery(actor, id, name))
            .await?;
        if let Some(Some(email)) = &delivery.email {
            check_email(email)?;
        }
        let key = self.history_key();
        let now = self.now();
        dispatch!(self, pool => change::<_>(pool, &key, &user, delivery, actor, now).await)?;
        dispatch!(self, pool => settings::<_>(pool, &user).await)
    }

    /// Adds a webhook endpoint (an admin) listening to `events` (`*` or kinds,
    /// comma-separated). Returns it with its secret, which is shown this once.
    pub async fn add_webhook(
        &self,
        url: &str,
        events: &str,
        actor: &Actor,
    ) -> Result<(Webhook, String), StoreError> {
        policy::manage_webhooks(actor)?;
        check_webhook_url(url)?;
        let listens = Listens::parse(events).map_err(StoreError::BadRequest)?;
        let secret = format!("whsec_{}", crate::users::random_token()?);
        let key = self.history_key();
        let now = self.now();
        let added = dispatch!(self, pool => add_webhook::<_>(pool, &key, url, &listens, &secret, actor, now).await)?;
        Ok((added, secret))
    }

    /// The webhook endpoints (an admin's to see), oldest first, without their secrets.
    pub async fn webhooks(&self, actor: &Actor) -> Result<Vec<Webhook>, StoreError> {
        policy::manage_webhooks(actor)?;
        dispatch!(self, pool => list_webhooks::<_>(pool).await)
    }

    /// Removes a webhook endpoint (an admin); returns how many undelivered messages for it
    /// were given up.
    pub async fn remove_webhook(&self, id: i64, actor: &Actor) -> Result<u64, StoreError> {
        policy::manage_webhooks(actor)?;
        let key = self.history_key();
        let now = self.now();
        dispatch!(self, pool => remove_webhook::<_>(pool, &key, id, actor, now).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_people_type_are_told_apart_from_mistakes() {
        for good in ["dpo@example.org", "a.b+c@mail.example.co.uk"] {
            assert!(check_email(good).is_ok(), "{good}");
        }
        for bad in [
            "dpo",
            "@example.org",
            "dpo@example",
            "dpo@@example.org",
            "dpo @example.org",
            "dpo@example.org\r\nBcc: x@y.z",
            "a,b@example.org",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_webhook_url_is_http_or_https_with_a_host() {
        assert!(check_webhook_url("https://hooks.example.org/lethe").is_ok());
        assert!(check_webhook_url("http://127.0.0.1:8080/in").is_ok());
        for bad in ["ftp://x", "https://", "hooks.example.org", "http:// x"] {
            assert!(check_webhook_url(bad).is_err(), "{bad}");
        }
    }
}
