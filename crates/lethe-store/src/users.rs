//! Users, roles and API tokens (SPEC §7). A token is shown once when it is made and stored
//! only as a SHA-256 hash: tokens are 256 random bits, so a fast hash is enough to make a
//! stolen database useless for logging in, and lookups stay a single indexed read.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lethe_schema::ValueType;
use rand::TryRngCore;
use schemars::JsonSchema;
use sea_query::{Alias, Expr, ExprTrait, Query};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Pool;
use time::OffsetDateTime;

use crate::dialect::Dialect;
use crate::error::StoreError;
use crate::value::Value;
use crate::{Pools, Store, dispatch};

/// What a user may do. Admins may do everything; users may read and write records and act
/// on what they created (SPEC §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

impl Role {
    pub fn parse(raw: &str) -> Result<Role, StoreError> {
        match raw {
            "admin" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            other => Err(StoreError::BadRequest(format!(
                "unknown role `{other}`; expected admin or user"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
}

/// A user of Lethe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct User {
    pub id: i64,
    /// The user's name: 1 to 64 letters, digits, `_`, `-`, `.`, `@`.
    pub name: String,
    pub role: Role,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// This user as the actor of an operation.
    pub fn actor(&self) -> Actor {
        Actor::user(self.id, &self.name, self.is_admin())
    }
}

pub use lethe_domain::Actor;

const TOKEN_PREFIX: &str = "lethe_";

fn new_token() -> Result<String, StoreError> {
    new_secret(TOKEN_PREFIX)
}

/// A fresh secret for a token or a session: `prefix` and 32 random bytes, URL-safe.
pub(crate) fn new_secret(prefix: &str) -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|error| StoreError::Internal(format!("no randomness for a secret: {error}")))?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// A random token of 32 bytes, URL-safe, for one-off uses such as a form's token.
pub fn random_token() -> Result<String, StoreError> {
    new_secret("")
}

/// What is kept of a token's or a session's secret: its SHA-256, in hex.
pub(crate) fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn valid_user_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadRequest(format!(
            "`{name}` is not a valid user name: use 1 to 64 letters, digits, `_`, `-`, `.` or `@`"
        )))
    }
}

impl Store {
    /// Creates a user and a first API token; returns the token, which is never shown again.
    pub async fn add_user(&self, name: &str, role: Role) -> Result<(User, String), StoreError> {
        self.add_user_inner(name, role, None).await
    }

    /// Creates a user (with a password when one is given) and a first API token.
    pub(crate) async fn add_user_inner(
        &self,
        name: &str,
        role: Role,
        password: Option<&crate::passwords::NewPassword<'_>>,
    ) -> Result<(User, String), StoreError> {
        valid_user_name(name)?;
        let token = new_token()?;
        let now = self.now();
        dispatch!(self, pool => add_user::<_>(pool, name, role, &token, password, now).await)
            .map(|user| (user, token))
    }

    /// Issues another token for an existing user (the old ones stay valid).
    pub async fn issue_token(&self, name: &str, label: &str) -> Result<(User, String), StoreError> {
        let user = self.find_user(name).await?.ok_or_else(|| {
            StoreError::BadRequest(format!(
                "there is no user `{name}`; create it with `lethe user add {name}`"
            ))
        })?;
        let token = new_token()?;
        let now = self.now();
        dispatch!(self, pool => add_token::<_>(pool, user.id, &token, label, now).await)?;
        Ok((user, token))
    }

    /// A user who has not been removed, by name.
    pub async fn find_user(&self, name: &str) -> Result<Option<User>, StoreError> {
        dispatch!(self, pool => find_user::<_>(pool, Expr::col(Alias::new("name")).eq(name)).await)
    }

    /// All users, by id.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        dispatch!(self, pool => list_users::<_>(pool).await)
    }

    /// The user a bearer token belongs to, if the token is valid.
    ///
    /// No secret is compared in Rust, so there is no `==` here for a timing attack to
    /// measure. The only checks on the raw token are its public prefix and a length cap; the
    /// token is then hashed, and the database looks the hash up in `lethe_token.token_hash`
    /// (a bound value in `WHERE token_hash = ?`). How long that index lookup takes depends on
    /// the SHA-256 of what was sent, which an attacker cannot steer towards a stored hash byte
    /// by byte (that would need SHA-256 preimages), so response times cannot be used to guess
    /// a valid token. A constant-time compare (`subtle`) would only be needed if a stored
    /// secret were ever compared in memory.
    pub async fn authenticate(&self, token: &str) -> Result<Option<User>, StoreError> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 200 {
            return Ok(None);
        }
        let hash = hash_token(token);
        dispatch!(self, pool => authenticate::<_>(pool, &hash).await)
    }
}

async fn add_token<DB: Dialect>(
    pool: &Pool<DB>,
    user_id: i64,
    token: &str,
    label: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut connection = pool.acquire().await?;
    insert_token::<DB>(&mut connection, user_id, token, label, now).await
}

async fn insert_token<DB: Dialect>(
    connection: &mut DB::Connection,
    user_id: i64,
    token: &str,
    label: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let (sql, values) = DB::build(
        Query::insert()
            .into_table(Alias::new("lethe_token"))
            .columns([
                Alias::new("user_id"),
                Alias::new("token_hash"),
                Alias::new("label"),
                Alias::new("created_at"),
            ])
            .values_panic([
                Expr::val(user_id),
                Expr::val(hash_token(token)),
                Expr::val(label),
                Expr::val(DB::bind_value(
                    &ValueType::Timestamp,
                    &Value::Timestamp(now),
                )),
            ]),
    );
    DB::execute(connection, sql, values).await?;
    Ok(())
}

async fn add_user<DB: Dialect>(
    pool: &Pool<DB>,
    name: &str,
    role: Role,
    token: &str,
    password: Option<&crate::passwords::NewPassword<'_>>,
    now: OffsetDateTime,
) -> Result<User, StoreError> {
    let mut transaction = crate::dialect::begin_write(pool).await?;
    let (sql, values) = DB::build(
        Query::insert()
            .into_table(Alias::new("lethe_user"))
            .columns([
                Alias::new("name"),
                Alias::new("role"),
                Alias::new("created_at"),
            ])
            .values_panic([
                Expr::val(name),
                Expr::val(role.as_str()),
                Expr::val(DB::bind_value(
                    &ValueType::Timestamp,
                    &Value::Timestamp(now),
                )),
            ])
            .returning_col(Alias::new("id")),
    );
    let row = DB::fetch_optional(&mut transaction, sql, values)
        .await
        .map_err(|error| match &error {
            sqlx::Error::Database(database_error) if database_error.is_unique_violation() => {
                StoreError::BadRequest(format!("a user named `{name}` already exists"))
            }
            _ => StoreError::Database(error),
        })?;
    let id = match row
        .map(|row| DB::decode(&row, 0, &ValueType::Integer))
        .transpose()?
    {
        Some(Value::Integer(id)) => id,
        _ => {
            return Err(StoreError::Internal(
                "creating a user returned no id".to_owned(),
            ));
        }
    };
    insert_token::<DB>(&mut transaction, id, token, "created with the user", now).await?;
    if let Some(password) = password {
        crate::passwords::store_new::<DB>(&mut transaction, password, id, name, now).await?;
    }
    transaction.commit().await?;
    Ok(User {
        id,
        name: name.to_owned(),
        role,
    })
}

pub(crate) fn decode_user<DB: Dialect>(row: &DB::Row) -> Result<User, StoreError> {
    let (Value::Integer(id), Value::Text(name), Value::Text(role)) = (
        DB::decode(row, 0, &ValueType::Integer)?,
        DB::decode(row, 1, &ValueType::Text)?,
        DB::decode(row, 2, &ValueType::Text)?,
    ) else {
        return Err(StoreError::Internal("a user row is incomplete".to_owned()));
    };
    Ok(User {
        id,
        name,
        role: Role::parse(&role)?,
    })
}

async fn find_user<DB: Dialect>(
    pool: &Pool<DB>,
    condition: sea_query::SimpleExpr,
) -> Result<Option<User>, StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .columns([Alias::new("id"), Alias::new("name"), Alias::new("role")])
            .from(Alias::new("lethe_user"))
            .and_where(condition)
            .and_where(Expr::col(Alias::new("removed_at")).is_null()),
    );
    let mut connection = pool.acquire().await?;
    let row = DB::fetch_optional(&mut connection, sql, values).await?;
    row.map(|row| decode_user::<DB>(&row)).transpose()
}

async fn list_users<DB: Dialect>(pool: &Pool<DB>) -> Result<Vec<User>, StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .columns([Alias::new("id"), Alias::new("name"), Alias::new("role")])
            .from(Alias::new("lethe_user"))
            .and_where(Expr::col(Alias::new("removed_at")).is_null())
            .order_by(Alias::new("id"), sea_query::Order::Asc),
    );
    let mut connection = pool.acquire().await?;
    let rows = DB::fetch_all(&mut connection, sql, values).await?;
    rows.iter().map(decode_user::<DB>).collect()
}

async fn authenticate<DB: Dialect>(
    pool: &Pool<DB>,
    hash: &str,
) -> Result<Option<User>, StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .expr(Expr::col((Alias::new("lethe_user"), Alias::new("id"))))
            .expr(Expr::col((Alias::new("lethe_user"), Alias::new("name"))))
            .expr(Expr::col((Alias::new("lethe_user"), Alias::new("role"))))
            .from(Alias::new("lethe_token"))
            .inner_join(
                Alias::new("lethe_user"),
                Expr::col((Alias::new("lethe_user"), Alias::new("id")))
                    .equals((Alias::new("lethe_token"), Alias::new("user_id"))),
            )
            .and_where(Expr::col((Alias::new("lethe_token"), Alias::new("token_hash"))).eq(hash))
            .and_where(Expr::col((Alias::new("lethe_token"), Alias::new("revoked_at"))).is_null())
            .and_where(Expr::col((Alias::new("lethe_user"), Alias::new("removed_at"))).is_null()),
    );
    let mut connection = pool.acquire().await?;
    let row = DB::fetch_optional(&mut connection, sql, values).await?;
    row.map(|row| decode_user::<DB>(&row)).transpose()
}
