//! The tables the demo fills, the columns it writes in each, and the in-memory chunk of rows
//! that is generated, handed to the store in one `bulk_insert` per table, and dropped.
//!
//! The column lists are fixed here rather than read from the schema: the generators know what
//! each field means, so they can only fill fields they know. [`check_schema`] makes sure the
//! store's schema has every one of them and nothing required that the demo would leave empty.

use anyhow::bail;
use lethe_schema::{Schema, ValueType};
use lethe_store::Value;

use crate::files::DemoFile;

/// The built-in columns every demo row starts with, in this order.
const BUILTIN_COLUMNS: [&str; 4] = ["id", "created_at", "created_by", "updated_at"];

/// One table of the default CRM schema that the demo fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Company,
    Contact,
    Consent,
    Deal,
    Project,
    Activity,
    Note,
    Message,
    Ticket,
    TicketComment,
    SurveyRating,
    Invoice,
    TimeEntry,
    CampaignMembership,
    Attachment,
}

impl Kind {
    pub(crate) const ALL: [Kind; 15] = [
        Kind::Company,
        Kind::Contact,
        Kind::Consent,
        Kind::Deal,
        Kind::Project,
        Kind::Activity,
        Kind::Note,
        Kind::Message,
        Kind::Ticket,
        Kind::TicketComment,
        Kind::SurveyRating,
        Kind::Invoice,
        Kind::TimeEntry,
        Kind::CampaignMembership,
        Kind::Attachment,
    ];

    /// The entity (and table) name.
    pub(crate) fn entity(self) -> &'static str {
        match self {
            Kind::Company => "company",
            Kind::Contact => "contact",
            Kind::Consent => "consent",
            Kind::Deal => "deal",
            Kind::Project => "project",
            Kind::Activity => "activity",
            Kind::Note => "note",
            Kind::Message => "message",
            Kind::Ticket => "ticket",
            Kind::TicketComment => "ticket_comment",
            Kind::SurveyRating => "survey_rating",
            Kind::Invoice => "invoice",
            Kind::TimeEntry => "time_entry",
            Kind::CampaignMembership => "campaign_membership",
            Kind::Attachment => "attachment",
        }
    }

    /// The columns a row of this table has, built-in columns first.
    #[rustfmt::skip]
    pub(crate) fn columns(self) -> &'static [&'static str] {
        match self {
            Kind::Company => &[
                "id", "created_at", "created_by", "updated_at", "name", "org_number", "address",
                "phone", "website", "category",
            ],
            Kind::Contact => &[
                "id", "created_at", "created_by", "updated_at", "company_id", "first_name",
                "last_name", "email", "phone", "job_title", "address", "category", "legal_basis",
                "custom",
            ],
            Kind::Consent => &[
                "id", "created_at", "created_by", "updated_at", "contact_id", "purpose", "source",
                "granted_at", "withdrawn_at",
            ],
            Kind::Deal => &[
                "id", "created_at", "created_by", "updated_at", "contact_id", "company_id", "title",
                "amount", "status",
            ],
            Kind::Project => &[
                "id", "created_at", "created_by", "updated_at", "company_id", "contact_id", "name",
                "status",
            ],
            Kind::Activity => &[
                "id", "created_at", "created_by", "updated_at", "contact_id", "kind", "subject",
                "body", "status", "happened_at",
            ],
            Kind::Note => &[
                "id", "created_at", "created_by", "updated_at", "contact_id", "body",
            ],
            Kind::Message => &[
                "id", "created_at", "created_by", "updated_at", "contact_id", "channel",
                "direction", "body", "sent_at",
            ],
            Kind::Ticket => &[
                "id", "created_at", "created_by", "updated_at", "contact_id", "subject", "status",
            ],
            Kind::TicketComment => &[
                "id", "created_at", "created_by", "updated_at", "ticket_id", "contact_id", "body",
            ],
            Kind::SurveyRating => &[
                "id", "created_at", "created_by", "updated_at", "ticket_id", "contact_id", "score",
                "comment",
            ],
            Kind::Invoice => &[
                "id", "created_at", "created_by", "updated_at", "company_id", "contact_id",
                "number", "amount", "issued_at",
            ],
            Kind::TimeEntry => &[
                "id", "created_at", "created_by", "updated_at", "project_id", "contact_id",
                "minutes", "spent_on",
            ],
            Kind::CampaignMembership => &[
                "id", "created_at", "created_by", "updated_at", "contact_id", "campaign",
                "joined_at",
            ],
            Kind::Attachment => &[
                "id", "created_at", "created_by", "updated_at", "owner_entity", "owner_id",
                "file_name", "size_bytes", "storage_key",
            ],
        }
    }

    /// The entity's own columns the demo writes (without the built-in ones).
    pub(crate) fn own_columns(self) -> &'static [&'static str] {
        &self.columns()[BUILTIN_COLUMNS.len()..]
    }
}

/// The rows of one table within a chunk.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Table {
    pub(crate) kind: Kind,
    pub(crate) rows: Vec<Vec<Value>>,
}

/// Everything generated for one range of companies or contacts: rows for every table, and the
/// attachment files to write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chunk {
    /// One table per [`Kind`], in [`Kind::ALL`] order (possibly empty).
    pub(crate) tables: Vec<Table>,
    pub(crate) files: Vec<DemoFile>,
    /// How many contacts this chunk holds (0 for a chunk of companies).
    pub(crate) contacts: u64,
}

impl Chunk {
    pub(crate) fn new() -> Chunk {
        Chunk {
            tables: Kind::ALL
                .iter()
                .map(|&kind| Table {
                    kind,
                    rows: Vec::new(),
                })
                .collect(),
            files: Vec::new(),
            contacts: 0,
        }
    }

    /// Adds one row: the built-in columns followed by the entity's own `fields`, which must be
    /// in the order of [`Kind::columns`].
    pub(crate) fn push<const FIELDS: usize>(
        &mut self,
        kind: Kind,
        builtin: Builtin,
        fields: [Value; FIELDS],
    ) {
        debug_assert_eq!(
            kind.own_columns().len(),
            FIELDS,
            "wrong number of fields for {kind:?}"
        );
        let mut row = Vec::with_capacity(BUILTIN_COLUMNS.len() + FIELDS);
        row.push(Value::Integer(builtin.id));
        row.push(Value::Timestamp(builtin.created_at));
        row.push(builtin.created_by);
        row.push(Value::Timestamp(builtin.updated_at));
        row.extend(fields);
        self.table_mut(kind).rows.push(row);
    }

    #[cfg(test)]
    pub(crate) fn table(&self, kind: Kind) -> &Table {
        &self.tables[kind as usize]
    }

    fn table_mut(&mut self, kind: Kind) -> &mut Table {
        &mut self.tables[kind as usize]
    }

    /// Rows in the whole chunk, for logs.
    pub(crate) fn row_count(&self) -> usize {
        self.tables.iter().map(|table| table.rows.len()).sum()
    }
}

/// The values of a row's built-in columns.
#[derive(Debug, Clone)]
pub(crate) struct Builtin {
    pub(crate) id: i64,
    pub(crate) created_at: time::OffsetDateTime,
    pub(crate) created_by: Value,
    pub(crate) updated_at: time::OffsetDateTime,
}

/// Refuses a schema the demo cannot fill: one that lacks an entity or column of the default CRM
/// schema, has a different type for one, or requires a field the demo does not write.
pub(crate) fn check_schema(schema: &Schema) -> anyhow::Result<()> {
    let default_schema = Schema::default_crm();
    let mut problems = Vec::new();
    for kind in Kind::ALL {
        let entity_name = kind.entity();
        let Some(entity) = schema.entity(entity_name) else {
            problems.push(format!("it has no `{entity_name}` entity"));
            continue;
        };
        for &column_name in kind.own_columns() {
            let Some(column) = entity.column(column_name) else {
                problems.push(format!("`{entity_name}` has no field `{column_name}`"));
                continue;
            };
            let default_type = default_schema
                .entity(entity_name)
                .and_then(|default_entity| default_entity.column(column_name))
                .map(|default_column| &default_column.value_type);
            if !type_fits(kind, column_name, &column.value_type, default_type) {
                problems.push(format!(
                    "`{entity_name}.{column_name}` is a {} field that does not take what the \
                     default schema's field takes",
                    column.value_type.type_name()
                ));
            }
        }
        for column in &entity.columns {
            if column.required
                && column.default.is_none()
                && !kind.own_columns().contains(&column.name.as_str())
            {
                problems.push(format!(
                    "`{entity_name}.{}` is required and the demo does not fill it",
                    column.name
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "the demo needs the default CRM schema, and this database's schema differs: {}",
            problems.join("; ")
        );
    }
    Ok(())
}

/// Whether a column of the store's schema takes the values the generator writes: an enum must
/// allow every value the generator may produce; any other column must have the type it has in
/// the default schema (a decimal also the same scale).
fn type_fits(
    kind: Kind,
    column_name: &str,
    actual: &ValueType,
    default_type: Option<&ValueType>,
) -> bool {
    let allows_all = |allowed: &[String], generated: &[&str]| {
        generated
            .iter()
            .all(|value| allowed.iter().any(|allowed| allowed == value))
    };
    match (crate::enums::generated_values(kind, column_name), actual) {
        (Some(generated), ValueType::Enum { values }) => allows_all(values, generated),
        (Some(generated), ValueType::OwnerEntity { entities }) => {
            let entities: Vec<String> = entities.iter().map(ToString::to_string).collect();
            allows_all(&entities, generated)
        }
        (Some(_), _) => false,
        (None, actual) => default_type == Some(actual),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_index_the_chunk_tables_in_declaration_order() {
        let chunk = Chunk::new();
        for (index, kind) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, index);
            assert_eq!(chunk.tables[index].kind, kind);
        }
    }

    #[test]
    fn the_default_schema_is_accepted() {
        assert!(check_schema(&Schema::default_crm()).is_ok());
    }

    #[test]
    fn every_demo_table_follows_the_default_schema_order_of_parents_first() {
        let schema = Schema::default_crm();
        let order: Vec<&str> = schema.entity_names().collect();
        for kind in Kind::ALL {
            assert!(order.contains(&kind.entity()), "{} missing", kind.entity());
        }
    }

    #[test]
    fn a_schema_with_a_different_field_type_is_refused() {
        let toml = lethe_schema::DEFAULT_SCHEMA_TOML.replace(
            "fields.minutes = { type = \"integer\"",
            "fields.minutes = { type = \"text\"",
        );
        let schema = Schema::from_toml(&toml).expect("the changed schema is valid");
        let error = check_schema(&schema)
            .expect_err("minutes is text")
            .to_string();
        assert!(
            error.contains("`time_entry.minutes` is a text field"),
            "{error}"
        );
    }

    #[test]
    fn a_schema_without_campaign_memberships_is_refused_with_a_reason() {
        let toml = lethe_schema::DEFAULT_SCHEMA_TOML;
        let start = toml.find("[entities.campaign_membership]").unwrap_or(0);
        let end = toml.find("[entities.attachment]").unwrap_or(toml.len());
        let reduced = format!("{}{}", &toml[..start], &toml[end..]);
        let schema = Schema::from_toml(&reduced).expect("the reduced schema is valid");
        let error = check_schema(&schema)
            .expect_err("an entity is missing")
            .to_string();
        assert!(error.contains("no `campaign_membership` entity"), "{error}");
    }
}
