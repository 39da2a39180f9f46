//! Signing in to the web pages (SPEC §7): a name and password open a session whose secret
//! travels in a cookie; only the secret's hash is kept. A session ends when its user signs
//! out, after an hour without a request or twelve hours in all (`lethe_domain::session`),
//! when the user or an admin ends it, when the password changes, and when the user is
//! removed. Wrong passwords in a row for one name make the next tries wait.

use lethe_db::col;
use lethe_domain::session;
use schemars::JsonSchema;
use sea_query::{Alias, Expr, ExprTrait, OnConflict, Order, Query};
use serde::Serialize;
use sqlx::Pool;
use time::OffsetDateTime;

use crate::dialect::{Dialect, begin_write};
use crate::error::StoreError;
use crate::users::{Actor, User, hash_token, new_secret};
use crate::{HistoryKey, Pools, Store, dispatch, rows};

/// What the secret of a session starts with (a token starts with `lethe_`).
const SESSION_PREFIX: &str = "lethe_session_";

/// The answer to a sign-in.
#[derive(Debug)]
pub enum SignIn {
    /// Right: the new session's secret, to be set as a cookie and never shown or kept.
    Welcome { user: User, secret: String },
    /// A wrong name or password (which of the two is not said); `wait`, when this failure
    /// was one too many, says how long the next try must wait, in words.
    Wrong { wait: Option<String> },
    /// Too many wrong passwords in a row for this name, or another try for it is being
    /// checked: try again after the wait, in words. The password was not checked.
    Wait { wait: String },
}

/// The live session a request carries.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: i64,
    pub user: User,
    pub created_at: OffsetDateTime,
    /// When it ends unless used again.
    pub ends_at: OffsetDateTime,
}

/// A session in a list (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SessionInfo {
    pub id: i64,
    pub user_id: i64,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub last_seen_at: String,
    /// When it ends unless used again.
    #[schemars(extend("format" = "date-time"))]
    pub ends_at: String,
}

/// Ended sessions older than this are deleted when their user next signs in.
const KEEP_ENDED: time::Duration = time::Duration::days(30);

/// The longest name worth remembering failures for: longer ones belong to nobody.
const MAX_NAME_BYTES: usize = 64;

impl Store {
    /// Signs `name` in with `password`: a session on success. Wrong passwords in a row for
    /// the name are counted; from the sixth on, each try waits
    /// ([`lethe_domain::session::wait_after`]); two tries for one name are never checked
    /// at once. A wrong name and a wrong password get the same answer.
    pub async fn sign_in(&self, name: &str, password: &str) -> Result<SignIn, StoreError> {
        let now = self.now();
        let counted = name.len() <= MAX_NAME_BYTES;
        if counted {
            let held = dispatch!(self, pool => hold_name::<_>(pool, name, now).await)?;
            if let Err(wait) = held {
                return Ok(SignIn::Wait {
                    wait: session::describe_wait(wait),
                });
            }
        }
        let Some(user) = self.check_password(name, password).await? else {
            let wait = if counted {
                dispatch!(self, pool => release_name::<_>(pool, name, self.now()).await)?
            } else {
                None
            };
            return Ok(SignIn::Wrong {
                wait: wait.map(session::describe_wait),
            });
        };
        let secret = new_secret(SESSION_PREFIX)?;
        let now = self.now();
        dispatch!(self, pool => open::<_>(pool, &user, &secret, now).await)?;
        tracing::info!(user = %user.name, "signed in");
        Ok(SignIn::Welcome { user, secret })
    }

    /// The live session whose secret this is, if any; a request with it keeps it alive.
    pub async fn session(&self, secret: &str) -> Result<Option<Session>, StoreError> {
        if !secret.starts_with(SESSION_PREFIX) || secret.len() > 200 {
            return Ok(None);
        }
        let now = self.now();
        dispatch!(self, pool => find_live::<_>(pool, &hash_token(secret), now).await)
    }

    /// Ends the session whose secret this is (signing out); nothing if it already ended.
    pub async fn sign_out(&self, secret: &str) -> Result<(), StoreError> {
        let now = self.now();
        let hash = hash_token(secret);
        dispatch!(self, pool => sign_out::<_>(pool, &hash, now).await)?;
        Ok(())
    }

    /// The live sessions of the user `name`: theirs to see, or an admin's.
    pub async fn sessions_of(
        &self,
        name: &str,
        actor: &Actor,
    ) -> Result<Vec<SessionInfo>, StoreError> {
        let user = self
            .user_for(name, actor, |id| {
                lethe_domain::policy::handle_sessions(actor, id, name)
            })
            .await?;
        let now = self.now();
        dispatch!(self, pool => live_sessions::<_>(pool, user.id, now).await)
    }

    /// Ends session `id` at once: its user or an admin; written to the history.
    pub async fn end_session(&self, id: i64, actor: &Actor) -> Result<(), StoreError> {
        let key = self.history_key();
        let now = self.now();
        dispatch!(self, pool => end_one::<_>(pool, &key, id, actor, now).await)
    }

    /// Ends every session of the user `name` (they must sign in again): theirs to do, or an
    /// admin's; written to the history. Returns how many had not ended.
    pub async fn end_sessions_of(&self, name: &str, actor: &Actor) -> Result<u64, StoreError> {
        let user = self
            .user_for(name, actor, |id| {
                lethe_domain::policy::handle_sessions(actor, id, name)
            })
            .await?;
        let key = self.history_key();
        let now = self.now();
        dispatch!(self, pool => end_all::<_>(pool, &key, &user, actor, now).await)
    }
}

/// Takes the name's turn to have a password checked: counts the try and holds the name for
/// [`session::CHECK_HOLD`], in one statement, unless the name must still wait (or another
/// try holds it), which is answered with the wait left.
async fn hold_name<DB: Dialect>(
    pool: &Pool<DB>,
    name: &str,
    now: OffsetDateTime,
) -> Result<Result<(), time::Duration>, StoreError> {
    let table = Alias::new("lethe_sign_in_failure");
    let hold = rows::bind_time::<DB>(now + session::CHECK_HOLD);
    let (sql, values) = DB::build(
        Query::insert()
            .into_table(table.clone())
            .columns(["name", "failures", "next_try_at"].map(Alias::new))
            .values_panic([Expr::val(name), Expr::val(1), Expr::val(hold.clone())])
            .on_conflict(
                OnConflict::column(Alias::new("name"))
                    .values([
                        (
                            Alias::new("failures"),
                            Expr::col((table.clone(), Alias::new("failures"))).add(1),
                        ),
                        (Alias::new("next_try_at"), Expr::val(hold)),
                    ])
                    .action_and_where(
                        Expr::col((table.clone(), Alias::new("next_try_at")))
                            .lte(Expr::val(rows::bind_time::<DB>(now))),
                    )
                    .to_owned(),
            )
            .returning_col(Alias::new("failures")),
    );
    let mut connection = pool.acquire().await?;
    if DB::fetch_optional(&mut connection, sql, values)
        .await?
        .is_some()
    {
        return Ok(Ok(()));
    }
    let (sql, values) = DB::build(
        Query::select()
            .column(Alias::new("next_try_at"))
            .from(table)
            .and_where(col("name").eq(name)),
    );
    let next_try = match DB::fetch_optional(&mut connection, sql, values).await? {
        Some(row) => rows::timestamp::<DB>(&row, 0)?,
        None => None,
    };
    Ok(Err(next_try.map_or(time::Duration::SECOND, |at| at - now)))
}

/// After a wrong password: the name's next try waits as long as its failures in a row say
/// (none for the first five). Returns that wait. Rows of names nobody tried for a day go.
async fn release_name<DB: Dialect>(
    pool: &Pool<DB>,
    name: &str,
    now: OffsetDateTime,
) -> Result<Option<time::Duration>, StoreError> {
    let mut transaction = begin_write(pool).await?;
    let (sql, values) = DB::build(
        Query::select()
            .column(Alias::new("failures"))
            .from(Alias::new("lethe_sign_in_failure"))
            .and_where(col("name").eq(name)),
    );
    let failures = match DB::fetch_optional(&mut transaction, sql, values).await? {
        Some(row) => rows::int::<DB>(&row, 0)?.unwrap_or(0),
        None => 0,
    };
    let wait = session::wait_after(u32::try_from(failures).unwrap_or(u32::MAX));
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_sign_in_failure"))
            .value(
                Alias::new("next_try_at"),
                Expr::val(rows::bind_time::<DB>(now + wait.unwrap_or_default())),
            )
            .and_where(col("name").eq(name)),
    );
    DB::execute(&mut transaction, sql, values).await?;
    let (sql, values) = DB::build(
        Query::delete()
            .from_table(Alias::new("lethe_sign_in_failure"))
            .and_where(
                col("next_try_at").lt(Expr::val(rows::bind_time::<DB>(now - time::Duration::DAY))),
            ),
    );
    DB::execute(&mut transaction, sql, values).await?;
    transaction.commit().await?;
    Ok(wait)
}

/// After a right password: forgets the name's failures, deletes the user's sessions that
/// ended long ago, and opens a session.
async fn open<DB: Dialect>(
    pool: &Pool<DB>,
    user: &User,
    secret: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut transaction = begin_write(pool).await?;
    let (sql, values) = DB::build(
        Query::delete()
            .from_table(Alias::new("lethe_sign_in_failure"))
            .and_where(col("name").eq(user.name.as_str())),
    );
    DB::execute(&mut transaction, sql, values).await?;
    let long_ago = Expr::val(rows::bind_time::<DB>(now - KEEP_ENDED));
    let (sql, values) = DB::build(
        Query::delete()
            .from_table(Alias::new("lethe_session"))
            .and_where(col("user_id").eq(user.id))
            .and_where(
                col("ended_at")
                    .lt(long_ago.clone())
                    .or(col("last_seen_at").lt(long_ago)),
            ),
    );
    DB::execute(&mut transaction, sql, values).await?;
    let at = Expr::val(rows::bind_time::<DB>(now));
    let (sql, values) = DB::build(
        Query::insert()
            .into_table(Alias::new("lethe_session"))
            .columns(["user_id", "secret_hash", "created_at", "last_seen_at"].map(Alias::new))
            .values_panic([
                Expr::val(user.id),
                Expr::val(hash_token(secret)),
                at.clone(),
                at,
            ]),
    );
    DB::execute(&mut transaction, sql, values).await?;
    transaction.commit().await?;
    Ok(())
}

/// The columns read for a session, its user's id, name and role first (as
/// [`crate::users::decode_user`] reads them).
fn session_select() -> sea_query::SelectStatement {
    let session = Alias::new("lethe_session");
    let user = Alias::new("lethe_user");
    Query::select()
        .expr(Expr::col((user.clone(), Alias::new("id"))))
        .expr(Expr::col((user.clone(), Alias::new("name"))))
        .expr(Expr::col((user.clone(), Alias::new("role"))))
        .expr(Expr::col((session.clone(), Alias::new("id"))))
        .expr(Expr::col((session.clone(), Alias::new("created_at"))))
        .expr(Expr::col((session.clone(), Alias::new("last_seen_at"))))
        .from(session.clone())
        .inner_join(
            user.clone(),
            Expr::col((user.clone(), Alias::new("id")))
                .equals((session.clone(), Alias::new("user_id"))),
        )
        .and_where(Expr::col((session, Alias::new("ended_at"))).is_null())
        .and_where(Expr::col((user, Alias::new("removed_at"))).is_null())
        .to_owned()
}

/// A session row of [`session_select`]: the session and when it was last seen.
fn decode_session<DB: Dialect>(row: &DB::Row) -> Result<(Session, OffsetDateTime), StoreError> {
    let user = crate::users::decode_user::<DB>(row)?;
    let incomplete = || StoreError::Internal("a session row is incomplete".to_owned());
    let id = rows::int::<DB>(row, 3)?.ok_or_else(incomplete)?;
    let created_at = rows::timestamp::<DB>(row, 4)?.ok_or_else(incomplete)?;
    let last_seen_at = rows::timestamp::<DB>(row, 5)?.ok_or_else(incomplete)?;
    Ok((
        Session {
            id,
            user,
            created_at,
            ends_at: session::ends_at(created_at, last_seen_at),
        },
        last_seen_at,
    ))
}

async fn find_live<DB: Dialect>(
    pool: &Pool<DB>,
    secret_hash: &str,
    now: OffsetDateTime,
) -> Result<Option<Session>, StoreError> {
    let (sql, values) = DB::build(session_select().and_where(
        Expr::col((Alias::new("lethe_session"), Alias::new("secret_hash"))).eq(secret_hash),
    ));
    let mut connection = pool.acquire().await?;
    let Some(row) = DB::fetch_optional(&mut connection, sql, values).await? else {
        return Ok(None);
    };
    let (mut found, last_seen_at) = decode_session::<DB>(&row)?;
    if !session::alive(found.created_at, last_seen_at, now) {
        return Ok(None);
    }
    if now - last_seen_at >= session::SEEN_GRANULARITY {
        let (sql, values) = DB::build(
            Query::update()
                .table(Alias::new("lethe_session"))
                .value(
                    Alias::new("last_seen_at"),
                    Expr::val(rows::bind_time::<DB>(now)),
                )
                .and_where(col("id").eq(found.id)),
        );
        DB::execute(&mut connection, sql, values).await?;
        found.ends_at = session::ends_at(found.created_at, now);
    }
    Ok(Some(found))
}

async fn live_sessions<DB: Dialect>(
    pool: &Pool<DB>,
    user: i64,
    now: OffsetDateTime,
) -> Result<Vec<SessionInfo>, StoreError> {
    let (sql, values) = DB::build(
        session_select()
            .and_where(Expr::col((Alias::new("lethe_session"), Alias::new("user_id"))).eq(user))
            .order_by((Alias::new("lethe_session"), Alias::new("id")), Order::Asc),
    );
    let mut connection = pool.acquire().await?;
    let mut listed = Vec::new();
    for row in DB::fetch_all(&mut connection, sql, values).await? {
        let (found, last_seen_at) = decode_session::<DB>(&row)?;
        if session::alive(found.created_at, last_seen_at, now) {
            listed.push(SessionInfo {
                id: found.id,
                user_id: found.user.id,
                created_at: crate::format_timestamp(found.created_at),
                last_seen_at: crate::format_timestamp(last_seen_at),
                ends_at: crate::format_timestamp(found.ends_at),
            });
        }
    }
    Ok(listed)
}

async fn sign_out<DB: Dialect>(
    pool: &Pool<DB>,
    secret_hash: &str,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let mut connection = pool.acquire().await?;
    end::<DB>(
        &mut connection,
        col("secret_hash").eq(secret_hash),
        "signed out",
        now,
    )
    .await
}

/// Ends the sessions matching `condition` that have not ended, saying `why`; answers how many.
pub(crate) async fn end<DB: Dialect>(
    connection: &mut DB::Connection,
    condition: Expr,
    why: &str,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_session"))
            .value(
                Alias::new("ended_at"),
                Expr::val(rows::bind_time::<DB>(now)),
            )
            .value(Alias::new("ended_by"), Expr::val(why))
            .and_where(condition)
            .and_where(col("ended_at").is_null()),
    );
    Ok(DB::execute(connection, sql, values).await?)
}

async fn end_one<DB: Dialect>(
    pool: &Pool<DB>,
    key: &HistoryKey,
    id: i64,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut transaction = begin_write(pool).await?;
    let (sql, values) = DB::build(
        session_select()
            .and_where(Expr::col((Alias::new("lethe_session"), Alias::new("id"))).eq(id)),
    );
    let found = match DB::fetch_optional(&mut transaction, sql, values).await? {
        Some(row) => Some(decode_session::<DB>(&row)?),
        None => None,
    };
    let Some((found, _)) =
        found.filter(|(found, seen)| session::alive(found.created_at, *seen, now))
    else {
        return Err(StoreError::NamedNotFound(format!(
            "there is no live session {id}: it may have ended already"
        )));
    };
    lethe_domain::policy::handle_sessions(actor, found.user.id, &found.user.name)?;
    end::<DB>(&mut transaction, col("id").eq(id), &actor.name, now).await?;
    crate::history::append::<DB>(
        &mut transaction,
        key,
        now,
        actor,
        "session.ended",
        None,
        serde_json::json!({"session": id, "user": found.user.id, "name": found.user.name}),
    )
    .await?;
    transaction.commit().await?;
    Ok(())
}

async fn end_all<DB: Dialect>(
    pool: &Pool<DB>,
    key: &HistoryKey,
    user: &User,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let mut transaction = begin_write(pool).await?;
    let ended = end::<DB>(
        &mut transaction,
        col("user_id").eq(user.id),
        &actor.name,
        now,
    )
    .await?;
    crate::history::append::<DB>(
        &mut transaction,
        key,
        now,
        actor,
        "session.ended_all",
        None,
        serde_json::json!({"user": user.id, "name": user.name, "sessions": ended}),
    )
    .await?;
    transaction.commit().await?;
    Ok(ended)
}
