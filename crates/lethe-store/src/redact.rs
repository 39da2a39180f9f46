//! What Lethe keeps about an operation must not keep the personal data the operation erases
//! (SPEC §6, §12). Two kinds of text outlive a purge in the history, jobs, deletion batches
//! and snapshots:
//! - the filter the members were picked with: it is kept only in redacted form, every value
//!   compared with a personal field replaced by a keyed tag ([`filter_tag`]), so the same
//!   value always gives the same tag under the same history key, and the tag reveals nothing
//!   without the key;
//! - free text people write (a reason, a snapshot's note): before it is stored, every whole
//!   word or phrase in it that equals a personal value of the records the operation is about
//!   is replaced by [`ERASED`].

use lethe_schema::{Schema, ValueType};
use sea_query::{Alias, Expr, ExprTrait, Query};

use crate::dialect::{Backend, Dialect, quoted};
use crate::error::StoreError;
use crate::history::HistoryKey;
use crate::{Pools, dispatch};

/// What a personal value in free text is replaced by.
pub const ERASED: &str = "[erased]";

/// The most distinct personal values looked for in one text.
const MAX_VALUES: u64 = 1_000;

/// The tag that stands for a value compared with a personal field in a kept filter.
pub(crate) fn filter_tag(key: &HistoryKey, value: &str) -> String {
    let mut mac = key.mac(format!("lethe filter value\n{value}").as_bytes());
    mac.truncate(16);
    format!("hash:{mac}")
}

/// `text` with every personal value of the records of `entity` matching `condition` (on
/// `t0`) that it names replaced by [`ERASED`]. Values are matched as whole words or phrases
/// (their neighbours are not letters or digits), ignoring case; values shorter than two
/// characters are not looked for.
pub(crate) async fn without_values_of<DB: Dialect>(
    connection: &mut DB::Connection,
    schema: &Schema,
    entity: &str,
    condition: Expr,
    text: &str,
) -> Result<String, StoreError> {
    let Some(entity) = schema.entity(entity) else {
        return Ok(text.to_owned());
    };
    if text.trim().is_empty() {
        return Ok(text.to_owned());
    }
    let columns: Vec<&str> = entity
        .personal_columns()
        .filter(|column| column.value_type == ValueType::Text)
        .map(|column| column.name.as_str())
        .collect();
    // Whether `t0.column` is a value of at least two characters found in the text.
    let found = |column: &str| {
        // The column's name may be a reserved word (`from`): quoted.
        let column_sql = format!("t0.{}", quoted(column));
        let (position, length) = match DB::BACKEND {
            Backend::Sqlite => (
                "instr(lower(?), lower({column})) > 0",
                "length({column}) >= 2",
            ),
            Backend::Postgres => (
                "strpos(lower($1), lower({column})) > 0",
                "char_length({column}) >= 2",
            ),
        };
        Expr::cust(length.replace("{column}", &column_sql)).and(Expr::cust_with_values(
            position.replace("{column}", &column_sql),
            [text.to_owned()],
        ))
    };
    // Usually one pass over the records finds every value: the distinct combinations of
    // found values, while there are few. Past that, one statement per column.
    let mut combined = Query::select();
    combined
        .distinct()
        .from_as(Alias::new(entity.name.as_str()), Alias::new("t0"))
        .and_where(condition.clone())
        .limit(MAX_VALUES + 1);
    let mut any: Option<Expr> = None;
    for column in &columns {
        let field = Expr::col((Alias::new("t0"), Alias::new(*column)));
        combined.expr(Expr::case(found(column), field).finally(Expr::null()));
        any = Some(match any {
            None => found(column),
            Some(other) => other.or(found(column)),
        });
    }
    let Some(any) = any else {
        return Ok(text.to_owned());
    };
    combined.and_where(any);
    let (sql, bound) = DB::build(&combined);
    let rows = DB::fetch_all(connection, sql, bound).await?;
    let mut values = Vec::new();
    if rows.len() as u64 <= MAX_VALUES {
        for row in &rows {
            for index in 0..columns.len() {
                if let Some(value) = crate::rows::text::<DB>(row, index)?
                    && !values.contains(&value)
                {
                    values.push(value);
                }
            }
        }
        return Ok(redact_words(text, &values));
    }
    for column in &columns {
        let field = Expr::col((Alias::new("t0"), Alias::new(*column)));
        let (sql, bound) = DB::build(
            Query::select()
                .distinct()
                .expr(field)
                .from_as(Alias::new(entity.name.as_str()), Alias::new("t0"))
                .and_where(condition.clone())
                .and_where(found(column))
                .limit(MAX_VALUES),
        );
        for row in DB::fetch_all(connection, sql, bound).await? {
            if let Some(value) = crate::rows::text::<DB>(&row, 0)? {
                values.push(value);
            }
        }
    }
    Ok(redact_words(text, &values))
}

/// Replaces every whole-word, case-insensitive occurrence of each of `values` in `text` by
/// [`ERASED`], longest values first.
pub(crate) fn redact_words(text: &str, values: &[String]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let mut ordered: Vec<Vec<char>> = values
        .iter()
        .map(|value| value.trim().chars().collect::<Vec<char>>())
        .filter(|value| value.len() >= 2)
        .collect();
    ordered.sort_by_key(|value| std::cmp::Reverse(value.len()));
    let erased: Vec<char> = ERASED.chars().collect();
    let same = |a: char, b: char| a == b || a.to_lowercase().eq(b.to_lowercase());
    let word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric());
    for value in ordered {
        let mut at = 0;
        while at + value.len() <= chars.len() {
            let matches = chars[at..at + value.len()]
                .iter()
                .zip(&value)
                .all(|(a, b)| same(*a, *b));
            // A value that starts (ends) with a letter or digit must not continue a word
            // before (after) it: "Ann" is not in "Annual".
            let joined_before =
                word(at.checked_sub(1).and_then(|before| chars.get(before))) && word(value.first());
            let joined_after = word(chars.get(at + value.len())) && word(value.last());
            let bounded = !joined_before && !joined_after;
            if matches && bounded {
                chars.splice(at..at + value.len(), erased.iter().copied());
                at += erased.len();
            } else {
                at += 1;
            }
        }
    }
    chars.into_iter().collect()
}

/// The condition (on `t0`) for the members of a snapshot.
pub(crate) fn snapshot_members(snapshot: i64) -> Expr {
    Expr::col((Alias::new("t0"), Alias::new(lethe_schema::builtin::ID))).in_subquery(
        Query::select()
            .column(Alias::new("record_id"))
            .from(Alias::new("lethe_snapshot_member"))
            .and_where(Expr::col(Alias::new("snapshot_id")).eq(snapshot))
            .to_owned(),
    )
}

impl crate::Store {
    /// `text` (a reason, a note) without the personal values of the records of `entity`
    /// matching `condition` (on `t0`); see [`without_values_of`].
    pub(crate) async fn text_without_values_of(
        &self,
        entity: &str,
        condition: Expr,
        text: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let Some(text) = text else { return Ok(None) };
        let schema = self.schema();
        dispatch!(self, pool => text_without::<_>(pool, schema, entity, condition, text).await)
            .map(Some)
    }
}

async fn text_without<DB: Dialect>(
    pool: &sqlx::Pool<DB>,
    schema: &Schema,
    entity: &str,
    condition: Expr,
    text: &str,
) -> Result<String, StoreError> {
    let mut connection = pool.acquire().await?;
    without_values_of::<DB>(&mut connection, schema, entity, condition, text).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_are_erased_whatever_their_case() {
        let values = [
            "ann.berg@example.com".to_owned(),
            "Ann".to_owned(),
            "Berg".to_owned(),
            "Åse Ødegård".to_owned(),
        ];
        assert_eq!(
            redact_words(
                "Art. 17 request from ANN.BERG@example.com (Ann Berg); annual clean-up; åse ødegård asked too",
                &values
            ),
            "Art. 17 request from [erased] ([erased] [erased]); annual clean-up; [erased] asked too"
        );
        assert_eq!(
            redact_words("Annual Bergen trip", &values),
            "Annual Bergen trip"
        );
        assert_eq!(redact_words("", &values), "");
        assert_eq!(
            redact_words("x", &["x".to_owned()]),
            "x",
            "one letter is not looked for"
        );
    }
}
