//! The validated schema: entity types, their columns, and the relations between them with the
//! rule that says what happens to a child when its parent is deleted (SPEC §2).
//!
//! A `Schema` can only be built by [`crate::Schema::from_toml`] (or the built-in default), so
//! every value of these types has passed validation: names are identifiers, references point
//! at entities that exist, personal columns have an anonymisation strategy, relations have no
//! cycle.

use std::collections::HashMap;

use crate::names::{ColumnName, EntityName};

/// Columns every entity table has besides its own fields. They are managed by Lethe, never
/// written by users directly.
pub mod builtin {
    /// Primary key, assigned by the database.
    pub const ID: &str = "id";
    /// When the record was created (UTC).
    pub const CREATED_AT: &str = "created_at";
    /// The user who created the record (a `lethe_user` id), if known.
    pub const CREATED_BY: &str = "created_by";
    /// When the record was last changed (UTC).
    pub const UPDATED_AT: &str = "updated_at";
    /// The deletion batch that put this record in the trash; `NULL` while it is active.
    pub const TRASH_BATCH_ID: &str = "trash_batch_id";
    /// When the record was put in the trash.
    pub const TRASHED_AT: &str = "trashed_at";
    /// The user who put the record in the trash.
    pub const TRASHED_BY: &str = "trashed_by";

    /// All built-in columns, in table order.
    pub const ALL: [&str; 7] = [
        ID,
        CREATED_AT,
        CREATED_BY,
        UPDATED_AT,
        TRASH_BATCH_ID,
        TRASHED_AT,
        TRASHED_BY,
    ];

    /// Whether a name is reserved for a built-in column.
    pub fn is_builtin(name: &str) -> bool {
        ALL.contains(&name)
    }
}

/// What kind of value a column holds. This is what records are parsed into and what the SQL
/// column type is generated from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueType {
    Text,
    Integer,
    /// A fixed-point number with `scale` digits after the point (money).
    Decimal {
        scale: u32,
    },
    Boolean,
    /// A calendar date without time (`2024-05-31`).
    Date,
    /// An instant in UTC (`2024-05-31T12:00:00Z`).
    Timestamp,
    /// One of a fixed list of text values.
    Enum {
        values: Vec<String>,
    },
    /// Free-form JSON (custom fields).
    Json,
    /// The id of a record of another entity (a relation column).
    Reference,
    /// The name of the entity a polymorphic owner id points into (one of `entities`).
    OwnerEntity {
        entities: Vec<EntityName>,
    },
}

impl ValueType {
    /// The name used in schema files and error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            ValueType::Text => "text",
            ValueType::Integer => "integer",
            ValueType::Decimal { .. } => "decimal",
            ValueType::Boolean => "boolean",
            ValueType::Date => "date",
            ValueType::Timestamp => "timestamp",
            ValueType::Enum { .. } => "enum",
            ValueType::Json => "json",
            ValueType::Reference => "reference",
            ValueType::OwnerEntity { .. } => "owner entity",
        }
    }
}

/// How a personal column is overwritten when its record is anonymised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anonymize {
    /// Set to `NULL`.
    Null,
    /// Set to a fixed text such as "Deleted User".
    Fixed(String),
    /// Replaced by a keyed hash of the value, so equal values stay equal (statistics,
    /// suppression lists) but the value cannot be read back.
    Hash,
}

/// What happens to a child record when its parent is deleted (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OnDelete {
    /// The child goes with the parent.
    Cascade,
    /// The parent may not be deleted while such a child exists.
    Restrict,
    /// The link is cut; the child stays.
    SetNull,
    /// The child stays, points to the "Deleted User" placeholder, and its own personal
    /// fields are anonymised.
    Anonymize,
}

impl OnDelete {
    pub fn as_str(self) -> &'static str {
        match self {
            OnDelete::Cascade => "cascade",
            OnDelete::Restrict => "restrict",
            OnDelete::SetNull => "set_null",
            OnDelete::Anonymize => "anonymize",
        }
    }
}

/// A default value for a column when a record is created without it.
#[derive(Debug, Clone, PartialEq)]
pub enum DefaultValue {
    Text(String),
    Integer(i64),
    Boolean(bool),
    Decimal(String),
}

/// One column of an entity table, as users see it in records.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: ColumnName,
    pub value_type: ValueType,
    pub required: bool,
    pub unique: bool,
    /// Whether the column has an index (relation columns and unique columns always do).
    pub indexed: bool,
    pub personal: bool,
    pub anonymize: Option<Anonymize>,
    pub default: Option<DefaultValue>,
    /// The schema field this column comes from (an `owner` field makes two columns).
    pub field: String,
}

/// A child → parent link and its deletion rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    pub child: EntityName,
    /// The child's column that holds the parent id.
    pub column: ColumnName,
    /// The parent entity, or for a polymorphic owner every entity it may point into.
    pub parents: Vec<EntityName>,
    /// For a polymorphic owner, the child's column that names the parent entity.
    pub discriminator: Option<ColumnName>,
    pub on_delete: OnDelete,
}

impl Relation {
    /// Whether this relation can point at records of `entity`.
    pub fn points_to(&self, entity: &EntityName) -> bool {
        self.parents.contains(entity)
    }
}

/// "Records matching `when` may be purged only if they also match `require`."
/// Both are conjunctions of `column ∈ values` tests on enum or text columns (APRO CRM: a task
/// may be purged only in status removed or verified).
#[derive(Debug, Clone, PartialEq)]
pub struct PurgePrecondition {
    pub when: Vec<(ColumnName, Vec<String>)>,
    pub require: Vec<(ColumnName, Vec<String>)>,
    pub reason: String,
}

/// An entity type: a table of records.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub name: EntityName,
    pub description: String,
    pub columns: Vec<Column>,
    pub purge_preconditions: Vec<PurgePrecondition>,
    pub(crate) column_index: HashMap<String, usize>,
}

impl Entity {
    /// The column with this name, if the entity has one (built-in columns are not included).
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.column_index
            .get(name)
            .map(|&index| &self.columns[index])
    }

    /// The names of the entity's own columns, for error hints.
    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|column| column.name.as_str())
    }

    /// The columns a list may be sorted by (keyset paging needs an index): the id, the
    /// timestamps and every indexed column. The one statement of this rule.
    pub fn sortable_columns(&self) -> impl Iterator<Item = &str> {
        [builtin::ID, builtin::CREATED_AT, builtin::UPDATED_AT]
            .into_iter()
            .chain(
                self.columns
                    .iter()
                    .filter(|column| column.indexed)
                    .map(|column| column.name.as_str()),
            )
    }

    /// Whether a list may be sorted by `name` (see [`Entity::sortable_columns`]).
    pub fn is_sortable(&self, name: &str) -> bool {
        self.sortable_columns().any(|column| column == name)
    }

    /// The personal columns, which anonymisation overwrites.
    pub fn personal_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|column| column.personal)
    }
}

/// A validated schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub(crate) entities: Vec<Entity>,
    pub(crate) entity_index: HashMap<String, usize>,
    pub(crate) relations: Vec<Relation>,
}

impl Schema {
    /// Entities ordered so that every parent comes before its children.
    pub fn entities(&self) -> &[Entity] {
        &self.entities
    }

    pub fn entity(&self, name: &str) -> Option<&Entity> {
        self.entity_index
            .get(name)
            .map(|&index| &self.entities[index])
    }

    pub fn entity_names(&self) -> impl Iterator<Item = &str> {
        self.entities.iter().map(|entity| entity.name.as_str())
    }

    /// Every child → parent relation.
    pub fn relations(&self) -> &[Relation] {
        &self.relations
    }

    /// Relations whose child is `entity` (its outgoing links).
    pub fn relations_from<'a>(
        &'a self,
        entity: &'a EntityName,
    ) -> impl Iterator<Item = &'a Relation> {
        self.relations
            .iter()
            .filter(move |relation| &relation.child == entity)
    }

    /// Relations that can point at `entity` (its children).
    pub fn relations_to<'a>(
        &'a self,
        entity: &'a EntityName,
    ) -> impl Iterator<Item = &'a Relation> {
        self.relations
            .iter()
            .filter(move |relation| relation.points_to(entity))
    }

    /// The relation held in a given child column, if that column is a link.
    pub fn relation_for_column(&self, entity: &EntityName, column: &str) -> Option<&Relation> {
        self.relations
            .iter()
            .find(|relation| &relation.child == entity && relation.column == column)
    }
}
