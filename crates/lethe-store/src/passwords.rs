//! Users' passwords, for signing in to the web pages (SPEC §7): set by the user or an admin,
//! stored only as an argon2id hash with a salt of its own, and checked so that a wrong
//! password, an unknown user and a user without a password take the same time.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use lethe_db::col;
use sea_query::{Alias, Expr, ExprTrait, Query};
use sqlx::Pool;
use time::OffsetDateTime;

use crate::dialect::{Dialect, begin_write};
use crate::error::StoreError;
use crate::users::{Actor, Role, User};
use crate::{Pools, Store, dispatch, rows};

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest, in bytes: hashing is deliberately slow, and a huge input would make it slower.
pub const MAX_PASSWORD_BYTES: usize = 1_024;

/// Whether `password` may be a password: at least [`MIN_PASSWORD_CHARS`] characters, at most
/// [`MAX_PASSWORD_BYTES`] bytes.
fn check_strength(password: &str) -> Result<(), StoreError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(StoreError::invalid_option(
            "password",
            format!("the password must have at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(StoreError::invalid_option(
            "password",
            format!("the password may have at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn hash(password: &str) -> Result<String, StoreError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| StoreError::Internal(format!("hashing a password: {error}")))
}

/// A hash of a password nobody has, checked against when there is no stored hash, so that
/// "no such user" takes as long as "wrong password".
fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("lethe: no password is set for this name").unwrap_or_default())
}

fn matches(stored: &str, password: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A password being given to a user: its hash, and who gives it (for the history).
pub(crate) struct NewPassword<'a> {
    pub hash: &'a str,
    pub history_key: &'a crate::HistoryKey,
    pub actor: &'a Actor,
}

impl NewPassword<'_> {
    /// The column values that store it.
    fn values<DB: Dialect>(&self, now: OffsetDateTime) -> [(Alias, Expr); 2] {
        [
            (Alias::new("password_hash"), Expr::val(self.hash)),
            (
                Alias::new("password_set_at"),
                Expr::val(rows::bind_time::<DB>(now)),
            ),
        ]
    }

    /// Records in the history that `user`'s password was set, by whom; never the password.
    async fn record<DB: Dialect>(
        &self,
        connection: &mut DB::Connection,
        user: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        crate::history::append::<DB>(
            connection,
            self.history_key,
            now,
            self.actor,
            "user.password_set",
            None,
            serde_json::json!({"user": user}),
        )
        .await?;
        Ok(())
    }
}

/// Stores `password` for the user just inserted with id `user` in `connection`'s
/// transaction, and records it in the history.
pub(crate) async fn store_new<DB: Dialect>(
    connection: &mut DB::Connection,
    password: &NewPassword<'_>,
    user: i64,
    name: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_user"))
            .values(password.values::<DB>(now))
            .and_where(col("id").eq(user)),
    );
    DB::execute(connection, sql, values).await?;
    password.record::<DB>(connection, name, now).await
}

impl Store {
    /// Creates a user with a password to sign in with and a first API token, in one
    /// transaction; returns the token, which is never shown again.
    pub async fn add_user_with_password(
        &self,
        name: &str,
        role: Role,
        password: &str,
        actor: &Actor,
    ) -> Result<(User, String), StoreError> {
        check_strength(password)?;
        let hashed = hash(password)?;
        let key = self.history_key();
        let new = NewPassword {
            hash: &hashed,
            history_key: &key,
            actor,
        };
        self.add_user_inner(name, role, Some(&new)).await
    }

    /// Sets the password user `name` signs in with: the user or an admin (the policy), at
    /// least [`MIN_PASSWORD_CHARS`] characters. Every session of theirs ends: they sign in
    /// again with the new password. The history records who set it, never it.
    pub async fn set_password(
        &self,
        name: &str,
        password: &str,
        actor: &Actor,
    ) -> Result<User, StoreError> {
        let user = self
            .user_for(name, actor, |id| {
                lethe_domain::policy::set_password(actor, id, name)
            })
            .await?;
        check_strength(password)?;
        let hashed = hash(password)?;
        let now = self.now();
        let key = self.history_key();
        let new = NewPassword {
            hash: &hashed,
            history_key: &key,
            actor,
        };
        dispatch!(self, pool => store_hash::<_>(pool, &new, &user, now).await)?;
        Ok(user)
    }

    /// The user whose name and password these are; `None` for a wrong password, an unknown
    /// or removed user, or a user who has no password (each takes about as long).
    pub async fn check_password(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Option<User>, StoreError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(None);
        }
        let found = dispatch!(self, pool => stored_hash::<_>(pool, name).await)?;
        let (user, stored) = match found {
            Some((user, Some(stored))) => (Some(user), stored),
            Some((_, None)) | None => (None, decoy().to_owned()),
        };
        let password = password.to_owned();
        let right = tokio::task::spawn_blocking(move || matches(&stored, &password))
            .await
            .map_err(|error| StoreError::Internal(format!("checking a password: {error}")))?;
        Ok(user.filter(|_| right))
    }
}

async fn store_hash<DB: Dialect>(
    pool: &Pool<DB>,
    password: &NewPassword<'_>,
    user: &User,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut transaction = begin_write(pool).await?;
    let (sql, values) = DB::build(
        Query::update()
            .table(Alias::new("lethe_user"))
            .values(password.values::<DB>(now))
            .and_where(col("id").eq(user.id))
            .and_where(col("removed_at").is_null()),
    );
    if DB::execute(&mut transaction, sql, values).await? != 1 {
        return Err(StoreError::NamedNotFound(format!(
            "user `{}` was removed meanwhile",
            user.name
        )));
    }
    // A new password ends every session opened with the old one.
    crate::sessions::end::<DB>(
        &mut transaction,
        col("user_id").eq(user.id),
        "password changed",
        now,
    )
    .await?;
    password
        .record::<DB>(&mut transaction, &user.name, now)
        .await?;
    transaction.commit().await?;
    Ok(())
}

/// The user named `name` (not removed) and their password hash, if any.
async fn stored_hash<DB: Dialect>(
    pool: &Pool<DB>,
    name: &str,
) -> Result<Option<(User, Option<String>)>, StoreError> {
    let (sql, values) = DB::build(
        Query::select()
            .columns(["id", "name", "role", "password_hash"].map(Alias::new))
            .from(Alias::new("lethe_user"))
            .and_where(col("name").eq(name))
            .and_where(col("removed_at").is_null()),
    );
    let mut connection = pool.acquire().await?;
    let Some(row) = DB::fetch_optional(&mut connection, sql, values).await? else {
        return Ok(None);
    };
    let user = crate::users::decode_user::<DB>(&row)?;
    Ok(Some((user, rows::text::<DB>(&row, 3)?)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_matches_its_password_only_and_salts_differ() {
        let first = hash("correct horse battery").unwrap();
        let second = hash("correct horse battery").unwrap();
        assert_ne!(first, second, "every hash has a salt of its own");
        assert!(first.starts_with("$argon2id$"), "{first}");
        assert!(matches(&first, "correct horse battery"));
        assert!(!matches(&first, "correct horse batterx"));
        assert!(!matches("not a hash", "correct horse battery"));
        assert!(!matches(decoy(), ""));
    }

    #[test]
    fn short_and_huge_passwords_are_refused_by_name() {
        let short = check_strength("elevenchars").unwrap_err();
        assert!(matches!(
            short,
            StoreError::InvalidOption {
                option: "password",
                ..
            }
        ));
        assert!(check_strength("twelve chars").is_ok());
        assert!(check_strength(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
    }
}
