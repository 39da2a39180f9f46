//! Changing and taking away access: listing a user's API tokens, revoking one, changing a
//! user's role, and removing a user (SPEC §7). A user's own tokens are theirs to list and revoke; an admin may do it for
//! anyone, and only an admin changes a role or removes a user; the last admin stays one. A removed user keeps their name in the history
//! (entries name who did what), but every token of theirs stops working at once and they
//! cannot be acted as. Each change is written to the history.

use schemars::JsonSchema;
use sea_query::{Alias, Expr, ExprTrait, Order, Query};
use serde::Serialize;
use sqlx::Pool;
use time::OffsetDateTime;

use crate::dialect::{Dialect, begin_write};
use crate::error::StoreError;
use crate::users::{Actor, User};
use crate::{HistoryKey, Pools, Store, dispatch, rows};
use lethe_db::col;

/// One API token, without its secret (which Lethe never keeps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(rename = "Token")]
pub struct TokenInfo {
    pub id: i64,
    /// The user the token belongs to.
    pub user_id: i64,
    /// What the token is for, as its owner named it.
    pub label: String,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    /// When it was revoked; null while it works.
    #[schemars(extend("format" = "date-time"))]
    pub revoked_at: Option<String>,
}

async fn tokens<DB: Dialect>(
    connection: &mut DB::Connection,
    condition: Expr,
) -> Result<Vec<TokenInfo>, StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .columns(["id", "user_id", "label", "created_at", "revoked_at"].map(Alias::new))
            .from(Alias::new("lethe_token"))
            .and_where(condition)
            .order_by(Alias::new("id"), Order::Asc),
    );
    let mut listed = Vec::new();
    for row in DB::fetch_all(connection, sql, values).await? {
        listed.push(TokenInfo {
            id: rows::int::<DB>(&row, 0)?.unwrap_or(0),
            user_id: rows::int::<DB>(&row, 1)?.unwrap_or(0),
            label: rows::text::<DB>(&row, 2)?.unwrap_or_default(),
            created_at: rows::timestamp::<DB>(&row, 3)?
                .map(crate::format_timestamp)
                .unwrap_or_default(),
            revoked_at: rows::timestamp::<DB>(&row, 4)?.map(crate::format_timestamp),
        });
    }
    Ok(listed)
}

/// Sets the time column `column` of `table` to `now` on the rows matching `condition` where it
/// is still empty (a token revoked, a user removed); answers how many rows it set.
async fn stamp<DB: Dialect>(
    connection: &mut DB::Connection,
    table: &str,
    column: &str,
    condition: Expr,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new(table))
            .value(Alias::new(column), Expr::val(rows::bind_time::<DB>(now)))
            .and_where(condition)
            .and_where(col(column).is_null()),
    );
    Ok(DB::execute(connection, sql, values).await?)
}

async fn list_tokens<DB: Dialect>(
    pool: &Pool<DB>,
    user: i64,
) -> Result<Vec<TokenInfo>, StoreError> {
    let mut connection = pool.acquire().await?;
    tokens::<DB>(&mut connection, col("user_id").eq(user)).await
}

async fn revoke<DB: Dialect>(
    pool: &Pool<DB>,
    key: &HistoryKey,
    token: i64,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<TokenInfo, StoreError> {
    let mut transaction = begin_write(pool).await?;
    let Some(found) = tokens::<DB>(&mut transaction, col("id").eq(token))
        .await?
        .pop()
    else {
        return Err(StoreError::NotFound {
            entity: "token".to_owned(),
            id: token,
        });
    };
    lethe_domain::policy::revoke_token(actor, token, found.user_id)?;
    if found.revoked_at.is_some() {
        return Err(StoreError::Conflict(format!(
            "token {token} was already revoked"
        )));
    }
    stamp::<DB>(
        &mut transaction,
        "lethe_token",
        "revoked_at",
        col("id").eq(token),
        now,
    )
    .await?;
    crate::history::append::<DB>(
        &mut transaction,
        key,
        now,
        actor,
        "token.revoked",
        None,
        serde_json::json!({"token": token, "user": found.user_id, "label": found.label}),
    )
    .await?;
    transaction.commit().await?;
    Ok(TokenInfo {
        revoked_at: Some(crate::format_timestamp(now)),
        ..found
    })
}

/// Refuses to leave Lethe without an admin: `doing` to the last admin is a conflict.
async fn keep_an_admin<DB: Dialect>(
    connection: &mut DB::Connection,
    user: &User,
    doing: &str,
) -> Result<(), StoreError> {
    if !user.is_admin() {
        return Ok(());
    }
    let (sql, values) = DB::build(
        Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from(Alias::new("lethe_user"))
            .and_where(col("role").eq("admin"))
            .and_where(col("removed_at").is_null()),
    );
    let admins = match DB::fetch_optional(connection, sql, values).await? {
        Some(row) => rows::count::<DB>(&row, 0)?,
        None => 0,
    };
    if admins <= 1 {
        return Err(StoreError::Conflict(format!(
            "`{}` is the last admin: add another admin before {doing}, or Lethe would have nobody to purge, cancel or manage users",
            user.name
        )));
    }
    Ok(())
}

async fn change_role<DB: Dialect>(
    pool: &Pool<DB>,
    key: &HistoryKey,
    user: &User,
    role: crate::Role,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut transaction = begin_write(pool).await?;
    if role != crate::Role::Admin {
        keep_an_admin::<DB>(&mut transaction, user, "making them a user").await?;
    }
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_user"))
            .value(Alias::new("role"), Expr::val(role.as_str()))
            .and_where(col("id").eq(user.id))
            .and_where(col("removed_at").is_null()),
    );
    if DB::execute(&mut transaction, sql, values).await? != 1 {
        return Err(StoreError::Conflict(format!(
            "user `{}` was removed meanwhile",
            user.name
        )));
    }
    crate::history::append::<DB>(
        &mut transaction,
        key,
        now,
        actor,
        "user.role_changed",
        None,
        serde_json::json!({"user": user.id, "name": user.name, "from": user.role.as_str(), "to": role.as_str()}),
    )
    .await?;
    transaction.commit().await?;
    Ok(())
}

async fn remove<DB: Dialect>(
    pool: &Pool<DB>,
    key: &HistoryKey,
    user: &User,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let mut transaction = begin_write(pool).await?;
    keep_an_admin::<DB>(&mut transaction, user, "removing them").await?;
    let revoked = stamp::<DB>(
        &mut transaction,
        "lethe_token",
        "revoked_at",
        col("user_id").eq(user.id),
        now,
    )
    .await?;
    crate::sessions::end::<DB>(
        &mut transaction,
        col("user_id").eq(user.id),
        "user removed",
        now,
    )
    .await?;
    let removed = stamp::<DB>(
        &mut transaction,
        "lethe_user",
        "removed_at",
        col("id").eq(user.id),
        now,
    );
    if removed.await? != 1 {
        return Err(StoreError::Conflict(format!(
            "user `{}` was already removed",
            user.name
        )));
    }
    crate::history::append::<DB>(
        &mut transaction,
        key,
        now,
        actor,
        "user.removed",
        None,
        serde_json::json!({"user": user.id, "name": user.name, "role": user.role.as_str(), "tokens_revoked": revoked}),
    )
    .await?;
    transaction.commit().await?;
    Ok(revoked)
}

impl Store {
    /// The API tokens of the user `name` (never their secrets): theirs to see, or an admin's.
    pub async fn tokens_of(&self, name: &str, actor: &Actor) -> Result<Vec<TokenInfo>, StoreError> {
        let user = self
            .user_for(name, actor, |id| {
                lethe_domain::policy::handle_tokens(actor, id, name)
            })
            .await?;
        dispatch!(self, pool => list_tokens::<_>(pool, user.id).await)
    }

    /// Revokes a token at once: its owner or an admin; written to the history.
    pub async fn revoke_token(&self, token: i64, actor: &Actor) -> Result<TokenInfo, StoreError> {
        let key = self.history_key();
        let now = self.now();
        dispatch!(self, pool => revoke::<_>(pool, &key, token, actor, now).await)
    }

    /// Removes a user (an admin only): every token of theirs is revoked, they can no longer
    /// be acted as, and their name stays in the history. Returns how many tokens were revoked.
    pub async fn remove_user(&self, name: &str, actor: &Actor) -> Result<u64, StoreError> {
        lethe_domain::policy::manage_users(actor, lethe_domain::policy::UserAction::Remove)?;
        let user = self.existing_user(name).await?;
        let key = self.history_key();
        let now = self.now();
        dispatch!(self, pool => remove::<_>(pool, &key, &user, actor, now).await)
    }

    /// Makes user `name` an admin or a plain user (an admin only); the last admin stays one.
    /// Written to the history.
    pub async fn set_role(
        &self,
        name: &str,
        role: crate::Role,
        actor: &Actor,
    ) -> Result<User, StoreError> {
        lethe_domain::policy::manage_users(actor, lethe_domain::policy::UserAction::ChangeRole)?;
        let user = self.existing_user(name).await?;
        if user.role == role {
            return Ok(user);
        }
        let key = self.history_key();
        let now = self.now();
        dispatch!(self, pool => change_role::<_>(pool, &key, &user, role, actor, now).await)?;
        Ok(User { role, ..user })
    }

    /// The user `name`, for `actor` to act on under the rule `ask` (given the user's id). A
    /// plain user naming someone else is asked first, with no one's id, so that the refusal
    /// does not tell whether the name exists: only admins may list users.
    pub(crate) async fn user_for(
        &self,
        name: &str,
        actor: &Actor,
        ask: impl Fn(i64) -> lethe_domain::policy::Verdict,
    ) -> Result<User, StoreError> {
        if !actor.admin && actor.name != name {
            ask(i64::MIN)?;
        }
        let user = self.existing_user(name).await?;
        ask(user.id)?;
        Ok(user)
    }

    pub(crate) async fn existing_user(&self, name: &str) -> Result<User, StoreError> {
        self.find_user(name).await?.ok_or_else(|| {
            StoreError::NamedNotFound(format!("there is no user `{name}`; see `lethe user list`"))
        })
    }
}
