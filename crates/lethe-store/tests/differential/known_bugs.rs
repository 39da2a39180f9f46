//! The disagreements the differential tests found, each in its smallest form, as tests that
//! are ignored until the store is fixed (`cargo test -p lethe-store --test differential --
//! --ignored` shows them failing). Each compares both backends with the in-memory meaning
//! on a few hand-written records.
//!
//! The random tests keep clear of the last three (their literals stay within a microsecond,
//! within PostgreSQL's years, and within 15 significant digits); the first one they meet
//! all the time and tolerate unless `LETHE_DIFFERENTIAL_STRICT=1`.

use lethe_store::Scope;
use lethe_testkit::TestBackend;
use rust_decimal::Decimal;
use time::macros::{date, datetime};

use crate::databases::{self, Backend};
use crate::memory::Evaluator;
use crate::model::{CREATED_AT, Cell, Dataset, Ent, NOW, Row};

/// An active person with the given fields set and every other field NULL.
fn person(id: i64, fields: &[(&str, Cell)]) -> Row {
    let mut cells = vec![Cell::Null; Ent::Person.columns().len()];
    for (name, cell) in fields {
        let index = Ent::Person
            .column_index(name)
            .unwrap_or_else(|| panic!("person has no column `{name}`"));
        cells[index] = cell.clone();
    }
    Row {
        id,
        created_at: CREATED_AT[0],
        created_by: None,
        updated_at: CREATED_AT[0],
        trash_batch_id: None,
        cells,
    }
}

fn people(rows: Vec<Row>) -> Dataset {
    Dataset {
        tables: [Vec::new(), rows, Vec::new(), Vec::new()],
    }
}

/// Runs each filter on `person` in the active scope on every backend and panics with a
/// table of every disagreement with the in-memory meaning.
fn assert_backends_follow_the_meaning(data: &Dataset, filters: &[&str]) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let disagreements = runtime.block_on(async {
        let mut backends = Vec::new();
        for backend in [TestBackend::Sqlite, TestBackend::Postgres] {
            if let Some(backend) = Backend::open(backend).await {
                backend.load(data).await;
                backends.push(backend);
            }
        }
        let mut disagreements = Vec::new();
        for text in filters {
            let filter = lethe_filter::parse(&databases::schema(), "person", text)
                .unwrap_or_else(|error| panic!("`{text}` does not parse: {error}"));
            let expected = Evaluator {
                data,
                scope: Scope::Active,
                now: NOW,
                known_bug_duplicate_of_null_is_unknown: false,
            }
            .selected(&filter);
            for backend in &backends {
                let outcome = match backend.select(&filter, Scope::Active).await {
                    Ok((ids, _)) if ids == expected => continue,
                    Ok((ids, _)) => format!("{ids:?}"),
                    Err(error) => format!("error: {error:?}"),
                };
                disagreements.push(format!(
                    "{text}\n    memory: {expected:?}\n    {}: {outcome}",
                    backend.label
                ));
            }
        }
        disagreements
    });
    assert!(
        disagreements.is_empty(),
        "{} disagreement(s):\n{}\ndata set:\n{data:?}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// `duplicate(column)` is documented never to be UNKNOWN: a NULL value, or text that is
/// empty once normalised, is never a duplicate, so `not duplicate(email)` selects such
/// records. The SQL is `NOT (key IN (SELECT key … HAVING COUNT(*) > 1))`, UNKNOWN for a NULL
/// key as soon as some key is duplicated, so both backends leave them out. (`duplicate(…,
/// keep …)` compiles to `id IN (…)` and is right.)
#[test]
fn not_duplicate_selects_the_records_whose_value_is_null_or_empty() {
    let text = |value: &str| Cell::Text(value.to_owned());
    let data = people(vec![
        person(1, &[]),
        person(2, &[("email", text(" "))]),
        person(3, &[("email", text("ann@x.io")), ("score", Cell::Int(7))]),
        person(4, &[("email", text("Ann@X.io ")), ("score", Cell::Int(7))]),
    ]);
    assert_backends_follow_the_meaning(&data, &["not duplicate(email)", "not duplicate(score)"]);
}

/// A timestamp literal is an exact instant, but the compiler binds it truncated to the
/// microsecond (SQLite: its text form; PostgreSQL: `timestamptz`), so a record at
/// `…12:00:00.250000` is taken to equal `…12:00:00.2500001`. The same happens to `now +
/// 20000y`, which saturates at `9999-12-31T23:59:59.999999999`.
#[test]
fn timestamps_compare_on_the_microsecond_grid() {
    let data = people(vec![
        person(
            1,
            &[("seen_at", Cell::Ts(datetime!(2024-02-29 12:00:00.25 UTC)))],
        ),
        person(
            2,
            &[(
                "seen_at",
                Cell::Ts(datetime!(9999-12-31 23:59:59.999999 UTC)),
            )],
        ),
    ]);
    // A saturated relative time lies on the microsecond grid like every stored time.
    assert_backends_follow_the_meaning(
        &data,
        &["seen_at < now + 20000y", "seen_at <= now + 20000y"],
    );
    // A literal finer than a microsecond cannot compare exactly with stored times: refused.
    let schema =
        lethe_schema::Schema::from_toml(crate::model::SCHEMA_TOML).expect("the test schema");
    let error = lethe_filter::parse(&schema, "person", "seen_at < 2024-02-29T12:00:00.2500001Z")
        .expect_err("finer than a microsecond");
    assert!(
        error.to_string().contains("finer than a microsecond"),
        "{error}"
    );
}

/// Relative times saturate at the ends of `time::Date` (year -9999) "instead of failing";
/// PostgreSQL's `timestamptz` and `date` start in 4713 BC and refuse the bound value
/// ("timestamp out of range", "date out of range"). SQLite compares them as text and is
/// right.
#[test]
fn relative_times_far_in_the_past_work_on_postgres() {
    let data = people(vec![person(
        1,
        &[
            ("seen_at", Cell::Ts(datetime!(2024-02-29 12:00:00.25 UTC))),
            ("born_on", Cell::Date(date!(2024 - 02 - 29))),
        ],
    )]);
    assert_backends_follow_the_meaning(
        &data,
        &[
            "seen_at > now - 20000y",
            "seen_at > now - 7000y",
            "born_on > today - 20000y",
        ],
    );
}

/// Decimal columns are `real` on SQLite, so values with more than 15 significant digits
/// (the filter language accepts 28) collide: on SQLite `amount = 12345678901234567.02` also
/// selects a record holding `12345678901234567.01`. PostgreSQL (`numeric`) is right.
#[test]
fn decimals_with_more_than_15_digits_compare_exactly_on_sqlite() {
    let amount = |text: &str| Cell::Dec(text.parse::<Decimal>().expect("a decimal"));
    let data = people(vec![
        person(1, &[("amount", amount("12345678901234567.01"))]),
        person(2, &[("amount", amount("12345678901234567.02"))]),
    ]);
    assert_backends_follow_the_meaning(
        &data,
        &[
            "amount = 12345678901234567.02",
            "amount < 12345678901234567.02",
            "amount in [12345678901234567.01]",
        ],
    );
}
