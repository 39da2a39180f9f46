//! The small schema the differential tests run on, the pools of values that make boundaries
//! likely (equal texts up to case and spaces, instants exactly at `now - 3y`), and random
//! data sets over it.
//!
//! The schema is described twice: once as the TOML the store reads, and once as the
//! [`Ent`] tables below, which the data and filter generators and the in-memory evaluator
//! read. A test checks that the two agree.

use std::fmt;

use lethe_filter::{RelativeTime, TimeBase, TimeUnit};
use lethe_store::{Value, format_date, format_timestamp};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use rust_decimal::Decimal;
use time::macros::datetime;
use time::{Date, Duration, OffsetDateTime};

/// The store's clock in every differential test: a leap day, so that `now - 1y` clamps, and
/// a time with a fraction of a second, so that `now` is not a round value.
pub const NOW: OffsetDateTime = datetime!(2024-02-29 12:00:00.25 UTC);

/// A parent (`org`), the main entity (`person`), a plain child (`event`) and a child of
/// either through a polymorphic owner (`file`).
pub const SCHEMA_TOML: &str = r#"
version = 1

[entities.org]
description = "An organisation: the parent of people and of files."
fields.name = { type = "text" }
fields.tier = { type = "enum", values = ["gold", "silver", "bronze"] }

[entities.person]
description = "The main entity, with a field of every type."
fields.org_id = { type = "reference", to = "org", on_delete = "cascade" }
fields.email = { type = "text", personal = true, anonymize = "hash" }
fields.kind = { type = "enum", values = ["lead", "customer", "lost"] }
fields.score = { type = "integer" }
fields.amount = { type = "decimal", scale = 2 }
fields.born_on = { type = "date" }
fields.seen_at = { type = "timestamp" }
fields.vip = { type = "boolean" }
fields.extra = { type = "json" }

[entities.event]
description = "Something that happened to a person."
fields.person_id = { type = "reference", to = "person", on_delete = "cascade" }
fields.type = { type = "enum", values = ["call", "mail", "visit"] }
fields.at = { type = "timestamp" }

[entities.file]
description = "A file owned by an org or a person."
fields.owner = { type = "owner", entities = ["org", "person"], on_delete = "cascade" }
fields.name = { type = "text" }
fields.size = { type = "integer" }
"#;

/// The entities of [`SCHEMA_TOML`], parents first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ent {
    Org,
    Person,
    Event,
    File,
}

/// What a column holds, as far as generating values and filters goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Enum(&'static [&'static str]),
    Integer,
    Decimal,
    Boolean,
    Date,
    Timestamp,
    Json,
    /// A plain reference to the given parent (with a foreign key).
    Reference(Ent),
    /// The discriminator of the polymorphic owner: `"org"` or `"person"`.
    OwnerEntity,
    /// The id of the polymorphic owner (no foreign key: it may point at nothing).
    OwnerId,
}

#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub kind: Kind,
}

const fn column(name: &'static str, kind: Kind) -> ColumnSpec {
    ColumnSpec { name, kind }
}

pub const TIERS: &[&str] = &["gold", "silver", "bronze"];
pub const KINDS: &[&str] = &["lead", "customer", "lost"];
pub const EVENT_TYPES: &[&str] = &["call", "mail", "visit"];
pub const OWNER_ENTITIES: &[&str] = &["org", "person"];

const ORG_COLUMNS: &[ColumnSpec] = &[
    column("name", Kind::Text),
    column("tier", Kind::Enum(TIERS)),
];
const PERSON_COLUMNS: &[ColumnSpec] = &[
    column("org_id", Kind::Reference(Ent::Org)),
    column("email", Kind::Text),
    column("kind", Kind::Enum(KINDS)),
    column("score", Kind::Integer),
    column("amount", Kind::Decimal),
    column("born_on", Kind::Date),
    column("seen_at", Kind::Timestamp),
    column("vip", Kind::Boolean),
    column("extra", Kind::Json),
];
const EVENT_COLUMNS: &[ColumnSpec] = &[
    column("person_id", Kind::Reference(Ent::Person)),
    column("type", Kind::Enum(EVENT_TYPES)),
    column("at", Kind::Timestamp),
];
const FILE_COLUMNS: &[ColumnSpec] = &[
    column("owner_entity", Kind::OwnerEntity),
    column("owner_id", Kind::OwnerId),
    column("name", Kind::Text),
    column("size", Kind::Integer),
];

/// The built-in columns a filter may name, with their kinds.
pub const BUILTIN_COLUMNS: &[ColumnSpec] = &[
    column("id", Kind::Integer),
    column("created_at", Kind::Timestamp),
    column("created_by", Kind::Integer),
    column("updated_at", Kind::Timestamp),
];

impl Ent {
    pub const ALL: [Ent; 4] = [Ent::Org, Ent::Person, Ent::Event, Ent::File];

    pub fn name(self) -> &'static str {
        match self {
            Ent::Org => "org",
            Ent::Person => "person",
            Ent::Event => "event",
            Ent::File => "file",
        }
    }

    pub fn from_name(name: &str) -> Ent {
        Ent::ALL
            .into_iter()
            .find(|ent| ent.name() == name)
            .unwrap_or_else(|| panic!("`{name}` is not an entity of the test schema"))
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// The entity's own columns, in schema order.
    pub fn columns(self) -> &'static [ColumnSpec] {
        match self {
            Ent::Org => ORG_COLUMNS,
            Ent::Person => PERSON_COLUMNS,
            Ent::Event => EVENT_COLUMNS,
            Ent::File => FILE_COLUMNS,
        }
    }

    pub fn column_index(self, name: &str) -> Option<usize> {
        self.columns().iter().position(|column| column.name == name)
    }

    /// The parents reachable with a path (`org.tier`): plain references only.
    pub fn parents(self) -> Vec<Ent> {
        self.columns()
            .iter()
            .filter_map(|column| match column.kind {
                Kind::Reference(parent) => Some(parent),
                _ => None,
            })
            .collect()
    }

    /// The entities that can be children of this one (`exists event`, `exists file`).
    pub fn children(self) -> &'static [Ent] {
        match self {
            Ent::Org => &[Ent::Person, Ent::File],
            Ent::Person => &[Ent::Event, Ent::File],
            Ent::Event | Ent::File => &[],
        }
    }
}

/// One value of a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Int(i64),
    Dec(Decimal),
    Bool(bool),
    Date(Date),
    Ts(OffsetDateTime),
    Json(serde_json::Value),
}

impl Cell {
    pub fn to_value(&self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Text(text) => Value::Text(text.clone()),
            Cell::Int(number) => Value::Integer(*number),
            Cell::Dec(decimal) => Value::Decimal(*decimal),
            Cell::Bool(flag) => Value::Boolean(*flag),
            Cell::Date(date) => Value::Date(*date),
            Cell::Ts(at) => Value::Timestamp(*at),
            Cell::Json(json) => Value::Json(json.clone()),
        }
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Null => f.write_str("NULL"),
            Cell::Text(text) => write!(f, "{text:?}"),
            Cell::Int(number) => write!(f, "{number}"),
            Cell::Dec(decimal) => write!(f, "{decimal}"),
            Cell::Bool(flag) => write!(f, "{flag}"),
            Cell::Date(date) => f.write_str(&format_date(*date)),
            Cell::Ts(at) => f.write_str(&format_timestamp(*at)),
            Cell::Json(json) => write!(f, "json:{json}"),
        }
    }
}

/// One record: the built-in columns, then one cell per column of [`Ent::columns`].
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: i64,
    pub created_at: OffsetDateTime,
    pub created_by: Option<i64>,
    pub updated_at: OffsetDateTime,
    /// The deletion batch holding the record; `None` while it is active.
    pub trash_batch_id: Option<i64>,
    pub cells: Vec<Cell>,
}

/// The deletion batches records may be in; the tests create them once per database.
pub const TRASH_BATCHES: [i64; 2] = [1, 2];

/// The rows of every entity, indexed by [`Ent::index`]. Ids are 1, 2, 3, … in every table,
/// so that ids of different entities coincide (a file owned by `person` 3 must not count as
/// a file of `org` 3).
#[derive(Clone, PartialEq)]
pub struct Dataset {
    pub tables: [Vec<Row>; 4],
}

impl Dataset {
    pub fn rows(&self, ent: Ent) -> &[Row] {
        &self.tables[ent.index()]
    }

    pub fn row(&self, ent: Ent, id: i64) -> Option<&Row> {
        self.rows(ent).iter().find(|row| row.id == id)
    }
}

impl fmt::Debug for Dataset {
    /// One line per record, `[T1]` marking records in trash batch 1.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for ent in Ent::ALL {
            let rows = self.rows(ent);
            writeln!(f, "{} ({} rows):", ent.name(), rows.len())?;
            for row in rows {
                let trash = row
                    .trash_batch_id
                    .map_or_else(|| "  ".to_owned(), |batch| format!("T{batch}"));
                let created_by = row
                    .created_by
                    .map_or_else(|| "NULL".to_owned(), |by| by.to_string());
                write!(
                    f,
                    "  #{:<2} {trash} created_at={} created_by={created_by} updated_at={} |",
                    row.id,
                    format_timestamp(row.created_at),
                    format_timestamp(row.updated_at),
                )?;
                for (spec, cell) in ent.columns().iter().zip(&row.cells) {
                    write!(f, " {}={cell}", spec.name)?;
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

/// Texts that are equal up to case or surrounding whitespace, non-ASCII letters (also in
/// decomposed form), the LIKE wildcards, quotes and backslashes.
pub const TEXTS: &[&str] = &[
    "ann@x.io",
    "Ann@X.io",
    "  ann@x.io ",
    "\tANN@x.io\r\n",
    "\u{a0}ann@x.io",
    "bo@y.org",
    "bo@y.org ",
    "",
    " ",
    "\n\t",
    "Øy",
    "øy",
    "ØY",
    "é",
    "e\u{301}",
    "É",
    "ÅSE",
    "åse",
    "100%",
    "100_",
    "a%b",
    "a_b",
    "%",
    "_",
    "x\\y",
    "say \"hi\"",
    "日本",
];

/// Pieces of [`TEXTS`] for `contains` and `starts_with`.
pub const NEEDLES: &[&str] = &[
    "", "a", "A", "ann", "Ann", "ANN", "@", "x.io", "@x.", " ", "\t", "\r\n", "Ø", "ø", "é", "e",
    "\u{301}", "%", "_", "a%", "a_", "0%", "0_", "\\", "\"", "日", "\u{a0}",
];

/// Characters random short texts are made of.
const TEXT_CHARS: &[char] = &['a', 'A', 'b', '%', '_', ' ', 'Ø', 'é', '\t', '\\'];

pub const INTEGERS: &[i64] = &[-3, -1, 0, 1, 2, 42, 1_000_000_000_000, i64::MIN, i64::MAX];

/// Relative amounts used both for the data and for the filters, so that records sit exactly
/// on the boundaries the filters draw.
pub const RELATIVE_AMOUNTS: &[i64] = &[-18, -3, -2, -1, 0, 1, 2, 3, 90];

/// Creation times: few, so that `duplicate(…, keep …)` meets ties.
pub const CREATED_AT: &[OffsetDateTime] = &[
    datetime!(2023-01-01 00:00 UTC),
    datetime!(2023-06-01 08:30 UTC),
    datetime!(2024-01-01 00:00 UTC),
];

/// Instants for timestamp fields: `now`, `today`, the resolutions of relative times, each
/// also one microsecond later, and the ends of the range both databases store.
pub fn instants() -> Vec<OffsetDateTime> {
    let mut instants = vec![
        datetime!(0001-01-01 00:00 UTC),
        datetime!(1970-01-01 00:00 UTC),
        datetime!(1999-12-31 23:59:59.999999 UTC),
        datetime!(2000-01-01 00:00 UTC),
        datetime!(9999-12-31 23:59:59.999999 UTC),
    ];
    for base in [TimeBase::Now, TimeBase::Today] {
        for unit in TimeUnit::ALL {
            for &amount in RELATIVE_AMOUNTS {
                let at = RelativeTime { base, amount, unit }.resolve(NOW);
                instants.push(at);
                instants.push(at + Duration::microseconds(1));
                instants.push(at - Duration::microseconds(1));
            }
        }
    }
    instants.sort();
    instants.dedup();
    instants
}

/// Dates for date fields: the UTC dates of [`instants`] and the day before each (but not
/// the year 0, which PostgreSQL's text input refuses).
pub fn dates() -> Vec<Date> {
    let mut dates: Vec<Date> = instants()
        .into_iter()
        .flat_map(|at| [Some(at.date()), at.date().previous_day()])
        .flatten()
        .filter(|date| date.year() >= 1)
        .collect();
    dates.push(datetime!(2024-02-29 00:00 UTC).date());
    dates.sort();
    dates.dedup();
    dates
}

/// Decimal values with at most 15 significant digits (beyond that SQLite's `real` cannot
/// tell them apart).
pub fn decimals() -> Vec<Decimal> {
    [
        0_i64,
        1,
        -1,
        5,
        -5,
        10,
        100,
        1250,
        -1250,
        99_999_999_999_999,
        -99_999_999_999_999,
    ]
    .into_iter()
    .map(|cents| Decimal::new(cents, 2))
    .collect()
}

/// A short random text made of [`TEXT_CHARS`].
pub fn random_text() -> BoxedStrategy<String> {
    vec(select(TEXT_CHARS), 0..=4)
        .prop_map(|chars| chars.into_iter().collect())
        .boxed()
}

fn cell_strategy(kind: Kind) -> BoxedStrategy<Cell> {
    let text = |value: &str| Cell::Text(value.to_owned());
    match kind {
        Kind::Text => prop_oneof![
            1 => Just(Cell::Null),
            5 => select(TEXTS).prop_map(text),
            2 => random_text().prop_map(Cell::Text),
        ]
        .boxed(),
        Kind::Enum(values) => prop_oneof![
            1 => Just(Cell::Null),
            4 => select(values).prop_map(text),
        ]
        .boxed(),
        Kind::OwnerEntity => prop_oneof![
            1 => Just(Cell::Null),
            6 => select(OWNER_ENTITIES).prop_map(text),
        ]
        .boxed(),
        Kind::Integer => prop_oneof![
            1 => Just(Cell::Null),
            4 => (-3_i64..=5).prop_map(Cell::Int),
            1 => select(INTEGERS).prop_map(Cell::Int),
        ]
        .boxed(),
        Kind::Decimal => prop_oneof![
            1 => Just(Cell::Null),
            3 => (-2_000_i64..=2_000).prop_map(|cents| Cell::Dec(Decimal::new(cents, 2))),
            2 => select(decimals()).prop_map(Cell::Dec),
        ]
        .boxed(),
        Kind::Boolean => prop_oneof![
            1 => Just(Cell::Null),
            3 => any::<bool>().prop_map(Cell::Bool),
        ]
        .boxed(),
        Kind::Date => prop_oneof![
            1 => Just(Cell::Null),
            4 => select(dates()).prop_map(Cell::Date),
        ]
        .boxed(),
        Kind::Timestamp => prop_oneof![
            1 => Just(Cell::Null),
            4 => select(instants()).prop_map(Cell::Ts),
        ]
        .boxed(),
        // A JSON `null` is a value, not SQL NULL: `extra is null` is FALSE for it.
        Kind::Json => prop_oneof![
            2 => Just(Cell::Null),
            1 => Just(Cell::Json(serde_json::Value::Null)),
            1 => Just(Cell::Json(serde_json::json!({"a": 1}))),
            1 => Just(Cell::Json(serde_json::json!(["x"]))),
        ]
        .boxed(),
        // 0 stands for "no link"; references past the last parent become NULL when the data
        // set is put together, so shrinking the parents never leaves a dangling key.
        Kind::Reference(_) | Kind::OwnerId => prop_oneof![
            1 => Just(Cell::Int(0)),
            4 => (1_i64..=6).prop_map(Cell::Int),
            2 => (1_i64..=42).prop_map(Cell::Int),
        ]
        .boxed(),
    }
}

/// A record without its id: (created_at, created_by, updated_at, trash batch, cells).
type RawRow = (
    OffsetDateTime,
    Option<i64>,
    OffsetDateTime,
    Option<i64>,
    Vec<Cell>,
);

fn raw_row(ent: Ent) -> impl Strategy<Value = RawRow> {
    let cells: Vec<BoxedStrategy<Cell>> = ent
        .columns()
        .iter()
        .map(|column| cell_strategy(column.kind))
        .collect();
    (
        select(CREATED_AT),
        prop_oneof![Just(None), (1_i64..=2).prop_map(Some)],
        select(instants()),
        prop_oneof![3 => Just(None), 1 => select(&TRASH_BATCHES[..]).prop_map(Some)],
        cells,
    )
}

/// Random data sets with up to `max_rows` records per entity, some of them in the trash
/// (in every entity, whatever their parents' state).
pub fn dataset(max_rows: usize) -> impl Strategy<Value = Dataset> {
    (
        vec(raw_row(Ent::Org), 0..=max_rows),
        vec(raw_row(Ent::Person), 0..=max_rows),
        vec(raw_row(Ent::Event), 0..=max_rows),
        vec(raw_row(Ent::File), 0..=max_rows),
    )
        .prop_map(|(orgs, persons, events, files)| assemble([orgs, persons, events, files]))
}

fn assemble(raw: [Vec<RawRow>; 4]) -> Dataset {
    let counts: Vec<i64> = raw
        .iter()
        .map(|rows| i64::try_from(rows.len()).expect("few rows"))
        .collect();
    let tables = Ent::ALL.map(|ent| {
        raw[ent.index()]
            .iter()
            .enumerate()
            .map(
                |(index, (created_at, created_by, updated_at, trash, cells))| {
                    let cells = ent
                        .columns()
                        .iter()
                        .zip(cells)
                        .map(|(spec, cell)| match (spec.kind, cell) {
                            (Kind::Reference(parent), Cell::Int(id))
                                if *id < 1 || *id > counts[parent.index()] =>
                            {
                                Cell::Null
                            }
                            (Kind::OwnerId, Cell::Int(0)) => Cell::Null,
                            _ => cell.clone(),
                        })
                        .collect();
                    Row {
                        id: i64::try_from(index).expect("few rows") + 1,
                        created_at: *created_at,
                        created_by: *created_by,
                        updated_at: *updated_at,
                        trash_batch_id: *trash,
                        cells,
                    }
                },
            )
            .collect()
    });
    Dataset { tables }
}
