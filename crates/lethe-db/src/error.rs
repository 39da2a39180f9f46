//! What can go wrong in the store, in words a user can act on.

/// An error from the store. Every variant except [`StoreError::Database`] and
/// [`StoreError::Internal`] is caused by the request and says what to change.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unknown entity `{name}`{}", hint(.suggestion))]
    UnknownEntity {
        name: String,
        suggestion: Option<String>,
    },

    #[error("unknown field `{field}` on {entity}{}", hint(.suggestion))]
    UnknownField {
        entity: String,
        field: String,
        suggestion: Option<String>,
    },

    #[error("`{field}` is managed by Lethe and cannot be written")]
    ReadOnlyField { field: String },

    #[error(
        "{entity}.{field} is decided by Lethe for the file it keeps (where the file lives, and its measured size) and cannot be written; send the file itself instead (HTTP: a multipart upload with a `file` part; CLI: --file PATH)"
    )]
    FileField { entity: String, field: String },

    #[error(
        "{entity} records are files: create one together with its file (HTTP: POST multipart/form-data with a `record` part holding the fields as JSON and a `file` part; CLI: `lethe record create {entity} FIELD=VALUE ... --file PATH`)"
    )]
    FileRequired { entity: String },

    #[error("{entity}.{field}: {message}")]
    InvalidValue {
        entity: String,
        field: String,
        message: String,
    },

    #[error("{entity}: missing required field(s): {}", .fields.join(", "))]
    MissingRequired { entity: String, fields: Vec<String> },

    #[error("{entity} {id} does not exist")]
    NotFound { entity: String, id: i64 },

    /// A thing known by its name (a saved selection, a user) that does not exist; the message
    /// names it and says where to look.
    #[error("{0}")]
    NamedNotFound(String),

    #[error("{entity} {id} is in the trash (deletion batch {batch}); restore it first")]
    InTrash { entity: String, id: i64, batch: i64 },

    #[error("{entity}.{field}: {target} {id} does not exist")]
    MissingReference {
        entity: String,
        field: String,
        target: String,
        id: i64,
    },

    #[error("{entity}.{field}: {target} {id} is in the trash; nothing new may point at the trash")]
    ReferenceInTrash {
        entity: String,
        field: String,
        target: String,
        id: i64,
    },

    #[error("{entity}.{field}: another {entity} already has this value; it must be unique")]
    UniqueViolation { entity: String, field: String },

    #[error(
        "the request took longer than the {seconds} s a filter may run (LETHE_QUERY_TIMEOUT) and was stopped; nothing was changed. Narrow the filter (fewer `exists`/`contains` over large tables), or count a saved snapshot instead"
    )]
    TooExpensive { seconds: f64 },

    #[error("{0}")]
    BadRequest(String),

    /// An option of an operation is out of its range: the batch size, the grace period, the
    /// reason's length, the records chosen. `option` names it (`batch_size`, `grace`,
    /// `reason`, `records`), so a form can mark it.
    #[error("{message}")]
    InvalidOption {
        option: &'static str,
        message: String,
    },

    /// The request is well formed but the state of the data does not allow it (a purge of a
    /// record that is not in the trash, a cancel of a purge that already ran).
    #[error("{0}")]
    Conflict(String),

    /// A deletion batch or a job is not in a state that allows what was asked (a restore of
    /// a purged batch, a cancel of a purge that has started); the message says why.
    #[error(transparent)]
    Transition(#[from] lethe_domain::state::IllegalTransition),

    /// The user may not do this; the policy's answer says who may.
    #[error("{0}")]
    Forbidden(lethe_domain::policy::Refusal),

    /// A restore would show a record under a `cascade` parent that is still in the trash, in
    /// deletion batch `parent_batch`: that batch must be restored first (SPEC §11).
    #[error("{message}")]
    ParentInTrash { parent_batch: i64, message: String },

    /// Another worker holds job `job` (or claimed it at this very moment): it runs there.
    /// Not a failure of the job.
    #[error("{message}")]
    JobElsewhere { job: i64, message: String },

    #[error(transparent)]
    Filter(#[from] lethe_filter::FilterError),

    #[error("the database schema cannot be brought to this schema automatically:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    IncompatibleSchema(Vec<String>),

    #[error("cannot open the database {target}: {message}")]
    Connect { target: String, message: String },

    #[error("{}", describe_database_error(.0))]
    Database(#[from] sqlx::Error),

    #[error("internal error: {0}")]
    Internal(String),
}

/// The first words of a database error: what kind of trouble, and what to do about it.
/// sqlx's own message follows in the error chain.
fn describe_database_error(error: &sqlx::Error) -> &'static str {
    if let sqlx::Error::Database(inner) = error
        && let Some(code) = inner.code()
    {
        let sqlite = code.parse::<u32>().ok().map(|number| number & 0xff);
        if code == "53100" || sqlite == Some(13) {
            return "the disk holding the database is full: free space, then try again";
        }
        if matches!(sqlite, Some(5 | 6)) {
            return "the database is busy (another writer holds it): try again";
        }
    }
    if database_unavailable(error) {
        return "the database cannot be reached or used right now (it may be restarting): try again when it is back";
    }
    "database error"
}

fn hint(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(close) => format!("; did you mean `{close}`?"),
        None => String::new(),
    }
}

/// The broad class of an error, which the HTTP layer maps to a status code and the CLI to an
/// exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The thing asked for does not exist.
    NotFound,
    /// The request is malformed or does not fit the schema.
    Invalid,
    /// The request conflicts with the current state (unique values, the trash).
    Conflict,
    /// The user is not allowed to do this.
    Forbidden,
    /// A fault of the server or the database, not of the request.
    Internal,
    /// The database cannot be used right now: unreachable, restarting, out of connections,
    /// its disk full. Nothing was changed; the same request may work once it is back.
    Unavailable,
}

/// Whether a database error means the database cannot be used right now (rather than that
/// a statement was wrong): no connection could be had or kept, the server is shutting down
/// or starting, or its disk or memory ran out. PostgreSQL's SQLSTATE classes 08 (connection),
/// 53 (insufficient resources) and 57P (operator intervention); SQLite's BUSY, LOCKED, IOERR,
/// FULL and CANTOPEN.
fn database_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(inner) => {
            let Some(code) = inner.code() else {
                return false;
            };
            if ["08", "53", "57P"]
                .iter()
                .any(|class| code.starts_with(class))
            {
                return true;
            }
            // SQLite reports its (extended) result code; the primary code is the low byte.
            code.parse::<u32>()
                .is_ok_and(|number| matches!(number & 0xff, 5 | 6 | 10 | 13 | 14))
        }
        _ => false,
    }
}

impl From<lethe_domain::policy::Refusal> for StoreError {
    fn from(refusal: lethe_domain::policy::Refusal) -> StoreError {
        StoreError::Forbidden(refusal)
    }
}

impl StoreError {
    /// Whether the error is a lost or refused connection to the database (rather than a full
    /// disk or a wrong statement): the kind of trouble that passes when the server is back.
    pub fn connection_lost(&self) -> bool {
        match self {
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed,
            ) => true,
            StoreError::Database(sqlx::Error::Database(inner)) => inner
                .code()
                .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
            _ => false,
        }
    }

    /// An [`StoreError::InvalidOption`] about `option`.
    pub fn invalid_option(option: &'static str, message: impl Into<String>) -> StoreError {
        StoreError::InvalidOption {
            option,
            message: message.into(),
        }
    }

    pub fn class(&self) -> ErrorClass {
        match self {
            StoreError::UnknownEntity { .. }
            | StoreError::NotFound { .. }
            | StoreError::NamedNotFound(_) => ErrorClass::NotFound,
            StoreError::UnknownField { .. }
            | StoreError::ReadOnlyField { .. }
            | StoreError::FileField { .. }
            | StoreError::FileRequired { .. }
            | StoreError::TooExpensive { .. }
            | StoreError::InvalidValue { .. }
            | StoreError::MissingRequired { .. }
            | StoreError::MissingReference { .. }
            | StoreError::BadRequest(_)
            | StoreError::InvalidOption { .. }
            | StoreError::Filter(_)
            | StoreError::IncompatibleSchema(_) => ErrorClass::Invalid,
            StoreError::Forbidden(_) => ErrorClass::Forbidden,
            StoreError::InTrash { .. }
            | StoreError::Conflict(_)
            | StoreError::Transition(_)
            | StoreError::JobElsewhere { .. }
            | StoreError::ParentInTrash { .. }
            | StoreError::ReferenceInTrash { .. }
            | StoreError::UniqueViolation { .. } => ErrorClass::Conflict,
            StoreError::Database(inner) if database_unavailable(inner) => ErrorClass::Unavailable,
            StoreError::Connect { .. } | StoreError::Database(_) | StoreError::Internal(_) => {
                ErrorClass::Internal
            }
        }
    }

    /// A stable machine-readable code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::UnknownEntity { .. } => "unknown_entity",
            StoreError::UnknownField { .. } => "unknown_field",
            StoreError::ReadOnlyField { .. } | StoreError::FileField { .. } => "read_only_field",
            StoreError::FileRequired { .. } => "file_required",
            StoreError::TooExpensive { .. } => "filter_too_expensive",
            StoreError::InvalidValue { .. } => "invalid_value",
            StoreError::MissingRequired { .. } => "missing_required",
            StoreError::NotFound { .. } | StoreError::NamedNotFound(_) => "not_found",
            StoreError::InTrash { .. } => "in_trash",
            StoreError::MissingReference { .. } => "missing_reference",
            StoreError::ReferenceInTrash { .. } => "reference_in_trash",
            StoreError::UniqueViolation { .. } => "unique_violation",
            StoreError::BadRequest(_) | StoreError::InvalidOption { .. } => "bad_request",
            StoreError::Conflict(_) | StoreError::Transition(_) => "conflict",
            StoreError::JobElsewhere { .. } => "job_elsewhere",
            StoreError::ParentInTrash { .. } => "parent_in_trash",
            StoreError::Forbidden(_) => "forbidden",
            StoreError::Filter(_) => "invalid_filter",
            StoreError::IncompatibleSchema(_) => "incompatible_schema",
            StoreError::Connect { .. } => "connect_failed",
            StoreError::Database(inner) if database_unavailable(inner) => "database_unavailable",
            StoreError::Database(_) => "database_error",
            StoreError::Internal(_) => "internal_error",
        }
    }

    /// The field the error is about, if any, so clients can mark it in a form.
    pub fn field(&self) -> Option<&str> {
        match self {
            StoreError::UnknownField { field, .. }
            | StoreError::ReadOnlyField { field }
            | StoreError::FileField { field, .. }
            | StoreError::InvalidValue { field, .. }
            | StoreError::MissingReference { field, .. }
            | StoreError::ReferenceInTrash { field, .. }
            | StoreError::UniqueViolation { field, .. } => Some(field),
            StoreError::InvalidOption { option, .. } => Some(option),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_error_says_lethes_words_and_keeps_the_databases_text_underneath() {
        let error = StoreError::Database(sqlx::Error::Protocol(
            "duplicate key: (email)=(jane@example.org)".to_owned(),
        ));
        assert_eq!(error.to_string(), "database error");
        let lost = StoreError::Database(sqlx::Error::PoolTimedOut);
        assert!(
            lost.to_string()
                .starts_with("the database cannot be reached")
        );
        assert!(lost.connection_lost());
        assert!(!error.connection_lost());
        // The database's text is the error's source, for the job's page and the log.
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert!(source.is_some_and(|text| text.contains("jane@example.org")));
    }
}
