//! The OpenAPI 3.1 document, generated from the schema in use: every entity gets its own
//! paths and record shapes, with the real field types and enum values, so clients and API
//! fuzzers see exactly what the server accepts.

use lethe_schema::{Column, Entity, Schema, ValueType};
use lethe_store::MAX_HISTORY_PAGE;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use crate::error::ErrorBody;
use crate::lifecycle::{JobSkip, VerificationAnswer};

/// How the components are derived: JSON Schema 2020-12 (the dialect of OpenAPI 3.1's schema
/// objects) describing what is *sent* (serde's serialisation, not what it would accept), with
/// every `$ref` pointing into `#/components/schemas`.
fn component_generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .for_serialize()
        .with(|settings| {
            settings.definitions_path = "/components/schemas".into();
            settings.meta_schema = None;
        })
        .into_generator()
}

/// The component schemas of everything the API returns that has a Rust type, derived from
/// that type (`schemars::JsonSchema`), so the document cannot drift from the code: a field
/// added to [`lethe_store::Job`] is in the document with the next build. Each schema's name
/// is its type's (or its `#[schemars(rename)]`); the types they contain (enums of states and
/// kinds, nested structs) come along as components of their own.
pub(crate) fn derived_components() -> Map<String, Value> {
    let mut generator = component_generator();
    generator.subschema_for::<ErrorBody>();
    generator.subschema_for::<lethe_store::User>();
    generator.subschema_for::<lethe_store::TokenInfo>();
    generator.subschema_for::<lethe_store::SavedSelection>();
    generator.subschema_for::<lethe_store::Snapshot>();
    generator.subschema_for::<lethe_store::Preview>();
    generator.subschema_for::<lethe_store::Job>();
    generator.subschema_for::<lethe_store::ImportCheck>();
    generator.subschema_for::<JobSkip>();
    generator.subschema_for::<lethe_store::DeletionBatch>();
    generator.subschema_for::<lethe_store::HistoryEntry>();
    generator.subschema_for::<VerificationAnswer>();
    generator.subschema_for::<lethe_store::Notification>();
    generator.subschema_for::<lethe_store::Stats>();
    generator.subschema_for::<lethe_store::DeliverySettings>();
    generator.subschema_for::<lethe_store::Webhook>();
    generator.subschema_for::<lethe_store::Delivery>();
    generator.subschema_for::<lethe_store::DeliveryCounts>();
    generator.subschema_for::<lethe_store::SubjectRequest>();
    generator.subschema_for::<lethe_store::Monitor>();
    generator.subschema_for::<lethe_store::MonitorRun>();
    generator.subschema_for::<lethe_store::MonitorHits>();
    generator.subschema_for::<lethe_store::RetentionPolicy>();
    generator.subschema_for::<lethe_store::PolicyRun>();
    generator.take_definitions(true)
}

fn field_schema(column: &Column) -> Value {
    let mut schema = match &column.value_type {
        ValueType::Text => json!({"type": "string"}),
        ValueType::Integer | ValueType::Reference => json!({"type": "integer", "format": "int64"}),
        ValueType::Decimal { scale } => json!({
            "type": ["string", "number"],
            "description": format!("a decimal number with at most {scale} digits after the point; returned as a string")
        }),
        ValueType::Boolean => json!({"type": "boolean"}),
        ValueType::Date => json!({"type": "string", "format": "date"}),
        ValueType::Timestamp => json!({"type": "string", "format": "date-time"}),
        ValueType::Enum { values } => json!({"type": "string", "enum": values}),
        ValueType::OwnerEntity { entities } => {
            json!({"type": "string", "enum": entities.iter().map(|e| e.as_str()).collect::<Vec<_>>()})
        }
        ValueType::Json => json!({}),
    };
    if let Value::Object(object) = &mut schema {
        if !column.required && column.value_type != ValueType::Json {
            // Optional fields accept and return null.
            let existing = object.remove("type");
            let mut types = match existing {
                Some(Value::Array(types)) => types,
                Some(single) => vec![single],
                None => Vec::new(),
            };
            types.push(json!("null"));
            object.insert("type".to_owned(), Value::Array(types));
            if let Some(Value::Array(values)) = object.get_mut("enum") {
                values.push(Value::Null);
            }
        }
        if column.personal {
            object.insert("x-personal".to_owned(), json!(true));
        }
    }
    schema
}

fn entity_schemas(entity: &Entity) -> (Value, Value, Value) {
    let mut record = Map::new();
    record.insert("id".into(), json!({"type": "integer", "format": "int64"}));
    record.insert(
        "created_at".into(),
        json!({"type": "string", "format": "date-time"}),
    );
    record.insert(
        "created_by".into(),
        json!({"type": ["integer", "null"], "format": "int64"}),
    );
    record.insert(
        "updated_at".into(),
        json!({"type": "string", "format": "date-time"}),
    );
    let mut input = Map::new();
    let mut required_input = Vec::new();
    for column in &entity.columns {
        let schema = field_schema(column);
        record.insert(column.name.to_string(), schema.clone());
        if lethe_store::is_managed_file_column(entity, column.name.as_str()) {
            // Where a file lives and its size are Lethe's to write.
            continue;
        }
        input.insert(column.name.to_string(), schema);
        if column.required && column.default.is_none() {
            required_input.push(column.name.to_string());
        }
    }
    let mut record_required: Vec<String> = ["id", "created_at", "created_by", "updated_at"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    record_required.extend(entity.columns.iter().map(|column| column.name.to_string()));
    (
        json!({"type": "object", "description": entity.description, "properties": record, "required": record_required}),
        json!({"type": "object", "properties": input, "required": required_input, "additionalProperties": false}),
        json!({"type": "object", "properties": input, "minProperties": 1, "additionalProperties": false}),
    )
}

fn error_responses(codes: &[&str]) -> Map<String, Value> {
    let mut responses = Map::new();
    for code in codes {
        let description = match *code {
            "400" => "malformed request",
            "401" => "missing or invalid token",
            "403" => "the user's role may not do this",
            "404" => {
                "no such entity, record, user, saved selection, snapshot, job, deletion batch, webhook or message"
            }
            "409" => {
                "conflicts with existing data or its state (a unique value, the trash, a finished job, a message not given up on)"
            }
            "413" => "the body is larger than 2 MiB, the most one request may send",
            "422" => {
                "the values do not fit the schema, or a filter ran longer than the query time limit (filter_too_expensive)"
            }
            "429" => {
                "the user already has two counts, selections or previews running; try again when one has finished (Retry-After)"
            }
            "503" => {
                "the database cannot be used right now (unreachable, restarting, out of space); nothing was changed; retry after the Retry-After seconds"
            }
            _ => "error",
        };
        responses.insert(
            (*code).to_owned(),
            json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
    }
    responses
}

/// Every operation's answers: its success, its own errors, and 503 — any request may meet a
/// database that cannot be used right now.
fn with_errors(mut success: Map<String, Value>, codes: &[&str]) -> Value {
    success.extend(error_responses(codes));
    success.extend(error_responses(&["503"]));
    Value::Object(success)
}

/// What the store accepts as a user name (1 to 64 letters, digits, `_`, `-`, `.`, `@`).
const USER_NAME_PATTERN: &str = "^[A-Za-z0-9_.@-]{1,64}$";

/// What the store accepts as a saved selection's name (1 to 80 letters, digits, `_`, `-`,
/// `.`).
const SELECTION_NAME_PATTERN: &str = "^[A-Za-z0-9_.-]{1,80}$";

/// Builds the OpenAPI document for `schema`.
pub fn document(schema: &Schema) -> Value {
    let mut paths = Map::new();
    // The shapes of what the store and this crate return come from their Rust types; only
    // what has no type of its own (per-entity records, small envelopes) is written here.
    let mut components = derived_components();
    components.insert(
        "Count".into(),
        json!({"type": "object", "properties": {"entity": {"type": "string"}, "filter": {"type": "string"}, "scope": {"type": "string"}, "count": {"type": "integer"}}, "required": ["entity", "filter", "scope", "count"]}),
    );
    let id_parameter = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "format": "int64"}});
    for entity in schema.entities() {
        let name = entity.name.as_str();
        let (record, input, patch) = entity_schemas(entity);
        components.insert(name.to_owned(), record);
        components.insert(format!("{name}_input"), input);
        components.insert(format!("{name}_patch"), patch);
        let record_ref = json!({"$ref": format!("#/components/schemas/{name}")});
        let sortable: Vec<&str> = entity.sortable_columns().collect();
        let mut list_ok = Map::new();
        list_ok.insert("200".into(), json!({"description": format!("a page of {name} records"), "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {"records": {"type": "array", "items": record_ref}, "next_cursor": {"type": ["string", "null"]}},
            "required": ["records", "next_cursor"]
        }}}}));
        let mut created = Map::new();
        created.insert("201".into(), json!({"description": "created", "content": {"application/json": {"schema": record_ref}}}));
        paths.insert(
            format!("/api/v1/records/{name}"),
            json!({
                "get": {
                    "summary": format!("List active {name} records (keyset paging)"),
                    "operationId": format!("list_{name}"),
                    "parameters": [
                        {"name": "sort", "in": "query", "schema": {"type": "string", "enum": sortable}},
                        {"name": "order", "in": "query", "schema": {"type": "string", "enum": ["asc", "desc"]}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {"name": "filter", "in": "query", "description": "a filter in the text form of the filter language", "schema": {"type": "string"}},
                        {"name": "scope", "in": "query", "schema": {"type": "string", "enum": ["active", "trashed", "all"]}}
                    ],
                    "responses": with_errors(list_ok, &["400", "401", "422", "429"])
                },
                "post": if lethe_store::holds_files(entity) {
                    json!({
                        "summary": format!("Upload a file as a new {name}"),
                        "description": "A multipart upload: a `record` part with the fields as a JSON object, and a `file` part with the content (its file name fills `file_name` when that field is not given). Lethe stores the file under a key of its own and measures its size; a JSON body is refused (`file_required`).",
                        "operationId": format!("create_{name}"),
                        "requestBody": {"required": true, "content": {"multipart/form-data": {"schema": {
                            "type": "object",
                            "properties": {
                                "record": {"$ref": format!("#/components/schemas/{name}_input")},
                                "file": {"type": "string", "format": "binary"}
                            },
                            "required": ["file"]
                        }, "encoding": {"record": {"contentType": "application/json"}}}}},
                        "responses": with_errors(created, &["400", "401", "409", "413", "422"])
                    })
                } else {
                    json!({
                        "summary": format!("Create a {name}"),
                        "operationId": format!("create_{name}"),
                        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}_input")}}}},
                        "responses": with_errors(created, &["400", "401", "409", "422"])
                    })
                }
            }),
        );
        let mut file_ok = Map::new();
        file_ok.insert("200".into(), json!({"description": format!("the file of the {name}"), "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}));
        if lethe_store::holds_files(entity) {
            paths.insert(
                format!("/api/v1/records/{name}/{{id}}/file"),
                json!({
                    "parameters": [id_parameter.clone()],
                    "get": {
                        "summary": format!("Download the file of an active {name}"),
                        "operationId": format!("download_{name}"),
                        "responses": with_errors(file_ok, &["400", "401", "404", "409", "422"])
                    }
                }),
            );
        }
        let mut export_ok = Map::new();
        export_ok.insert("200".into(), json!({
            "description": "the records, streamed: CSV (RFC 4180, a header line; text cells a spreadsheet would run as a formula get a ' in front, as the Lethe-Formula-Guard header says) or NDJSON (one record a line, as the records API writes them). With related=true, NDJSON lines name their entity under `_entity`, and CSV is a zip of one file per entity",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/zip": {"schema": {"type": "string", "format": "binary"}},
                "application/x-ndjson": {"schema": {"type": "string"}}
            }
        }));
        paths.insert(
            format!("/api/v1/export/{name}"),
            json!({"get": {
                "summary": format!("Export {name} records: what a filter selects, a snapshot's members, or what a deletion batch holds in the trash (admins for the trash); recorded in the history"),
                "operationId": format!("export_{name}"),
                "parameters": [
                    {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["csv", "ndjson"], "default": "csv"}},
                    {"name": "filter", "in": "query", "schema": {"type": "string"}},
                    {"name": "scope", "in": "query", "schema": {"type": "string", "enum": ["active", "trashed", "all"]}},
                    {"name": "snapshot", "in": "query", "description": "export this snapshot's members instead", "schema": {"type": "integer", "format": "int64"}},
                    {"name": "batch", "in": "query", "description": "export what this deletion batch holds in the trash instead", "schema": {"type": "integer", "format": "int64"}},
                    {"name": "related", "in": "query", "description": "also export every record that points at these through the schema's relations, directly or through others", "schema": {"type": "boolean", "default": false}}
                ],
                "responses": with_errors(export_ok, &["400", "401", "403", "404", "422", "429"])
            }}),
        );
        if !lethe_store::holds_files(entity) {
            let answer = |dry: bool| {
                json!({"type": "object", "properties": {
                "dry_run": {"type": "boolean", "const": dry},
                "check": {"$ref": "#/components/schemas/ImportCheck"},
                "job": if dry { json!({"type": "null"}) } else { json!({"anyOf": [{"$ref": "#/components/schemas/Job"}, {"type": "null"}]}) }
            }, "required": ["dry_run", "check", "job"]})
            };
            let mut import_ok = success(
                "200",
                "a dry run, or nothing left to write: what the import would do, with every problem's line and column; nothing was written",
                answer(true),
            );
            import_ok.extend(success("202", "the rows are being written by the job (Location: the job); the check says what it does", answer(false)));
            import_ok.insert("422".into(), json!({"description": "a row has a problem and on_error is stop: nothing was written; `check` lists the problems (or a field or mapping that does not fit)", "content": {"application/json": {"schema": {"type": "object", "properties": {
                "error": {"type": "string"}, "code": {"type": "string"}, "field": {"type": ["string", "null"]},
                "check": {"$ref": "#/components/schemas/ImportCheck"}
            }, "required": ["error", "code"]}}}}));
            paths.insert(
                format!("/api/v1/import/{name}"),
                json!({"post": {
                    "summary": format!("Import {name} records from a CSV file (admins): every row is checked first; a dry run or a refused import writes nothing"),
                    "operationId": format!("import_{name}"),
                    "parameters": [
                        {"name": "dry_run", "in": "query", "schema": {"type": "boolean", "default": false}},
                        {"name": "on_error", "in": "query", "description": "stop: any row with a problem and nothing is written; skip: the good rows are written", "schema": {"type": "string", "enum": ["stop", "skip"], "default": "stop"}},
                        {"name": "match", "in": "query", "description": "match rows with the records in use by this field (text ignoring case and surrounding spaces)", "schema": {"type": "string"}},
                        {"name": "on_match", "in": "query", "description": "what a matching row does: skip it, or update the record (empty cells keep its values)", "schema": {"type": "string", "enum": ["skip", "update"], "default": "skip"}},
                        {"name": "map", "in": "query", "description": "a JSON object of the file's column names to fields: FIELD, FIELD.UNIQUE_FIELD (a reference by the parent's unique field), or \"\" to leave the column out", "schema": {"type": "string"}},
                        {"name": "batch_size", "in": "query", "schema": {"type": "integer", "minimum": 1}}
                    ],
                    "requestBody": {"required": true, "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}}},
                    "responses": with_errors(import_ok, &["400", "401", "403", "404", "413"])
                }}),
            );
        }
        let mut count_ok = Map::new();
        count_ok.insert("200".into(), json!({"description": "how many records match", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Count"}}}}));
        paths.insert(
            format!("/api/v1/records/{name}/count"),
            json!({"get": {
                "summary": format!("Count {name} records matching a filter"),
                "operationId": format!("count_{name}"),
                "parameters": [
                    {"name": "filter", "in": "query", "schema": {"type": "string"}},
                    {"name": "scope", "in": "query", "schema": {"type": "string", "enum": ["active", "trashed", "all"]}}
                ],
                "responses": with_errors(count_ok, &["400", "401", "422", "429"])
            }}),
        );
        let mut query_ok = Map::new();
        query_ok.insert("200".into(), json!({"description": "the count and, unless count_only, a page of records", "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {
                "entity": {"type": "string"}, "filter": {"type": "string"}, "scope": {"type": "string"}, "count": {"type": "integer"},
                "records": {"type": "array", "items": record_ref}, "next_cursor": {"type": ["string", "null"]}
            },
            "required": ["entity", "filter", "scope", "count"]
        }}}}));
        paths.insert(
            format!("/api/v1/query/{name}"),
            json!({"post": {
                "summary": format!("Select {name} records with a filter in text or JSON form"),
                "operationId": format!("query_{name}"),
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {
                        "filter": {"description": "the filter: a string in the text form, or the JSON form", "type": ["string", "object", "null"]},
                        "scope": {"type": "string", "enum": ["active", "trashed", "all"]},
                        "sort": {"type": "string", "enum": sortable},
                        "order": {"type": "string", "enum": ["asc", "desc"]},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
                        "cursor": {"type": "string"},
                        "count_only": {"type": "boolean"}
                    },
                    "additionalProperties": false
                }}}},
                "responses": with_errors(query_ok, &["400", "401", "422", "429"])
            }}),
        );
        let mut read_ok = Map::new();
        read_ok.insert("200".into(), json!({"description": format!("the {name}"), "content": {"application/json": {"schema": record_ref}}}));
        paths.insert(
            format!("/api/v1/records/{name}/{{id}}"),
            json!({
                "parameters": [id_parameter],
                "get": {
                    "summary": format!("Read one active {name}"),
                    "operationId": format!("get_{name}"),
                    "responses": with_errors(read_ok.clone(), &["400", "401", "404", "409"])
                },
                "patch": {
                    "summary": format!("Change fields of a {name}"),
                    "operationId": format!("update_{name}"),
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}_patch")}}}},
                    "responses": with_errors(read_ok, &["400", "401", "404", "409", "422"])
                }
            }),
        );
    }
    let mut me_ok = Map::new();
    me_ok.insert("200".into(), json!({"description": "the user the token belongs to", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}}}));
    paths.insert("/api/v1/me".into(), json!({"get": {"summary": "Who am I", "operationId": "me", "responses": with_errors(me_ok, &["401"])}}));
    let mut schema_ok = Map::new();
    schema_ok.insert("200".into(), json!({"description": "the effective schema", "content": {"application/json": {"schema": {"type": "object"}}}}));
    paths.insert("/api/v1/schema".into(), json!({"get": {"summary": "The schema in use", "operationId": "schema", "responses": with_errors(schema_ok, &["401"])}}));
    let mut users_ok = Map::new();
    users_ok.insert("200".into(), json!({"description": "all users", "content": {"application/json": {"schema": {"type": "object", "properties": {"users": {"type": "array", "items": {"$ref": "#/components/schemas/User"}}}, "required": ["users"]}}}}));
    let mut user_created = Map::new();
    user_created.insert("201".into(), json!({"description": "the user and its first token, shown only this once", "content": {"application/json": {"schema": {"type": "object", "properties": {"user": {"$ref": "#/components/schemas/User"}, "token": {"type": "string"}}, "required": ["user", "token"]}}}}));
    paths.insert(
        "/api/v1/users".into(),
        json!({
            "get": {"summary": "List users (admin)", "operationId": "list_users", "responses": with_errors(users_ok, &["401", "403"])},
            "post": {
                "summary": "Create a user and its first API token (admin)",
                "operationId": "create_user",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {"name": {"type": "string", "pattern": USER_NAME_PATTERN}, "role": {"type": "string", "enum": ["admin", "user"]}},
                    "required": ["name", "role"], "additionalProperties": false
                }}}},
                "responses": with_errors(user_created, &["400", "401", "403", "422"])
            }
        }),
    );
    let user_parameter = json!({"name": "user", "in": "path", "required": true, "schema": {"type": "string", "pattern": USER_NAME_PATTERN}});
    let mut user_removed = Map::new();
    user_removed.insert("200".into(), json!({"description": "the user is removed and every token of theirs revoked", "content": {"application/json": {"schema": {"type": "object", "properties": {"removed": {"type": "string"}, "tokens_revoked": {"type": "integer"}}, "required": ["removed", "tokens_revoked"]}}}}));
    paths.insert(
        "/api/v1/users/{user}".into(),
        json!({"parameters": [user_parameter], "delete": {"summary": "Remove a user (admin): every token of theirs stops working at once; their name stays in the history. The last admin cannot be removed.", "operationId": "remove_user", "responses": with_errors(user_removed, &["401", "403", "404", "409"])}}),
    );
    let mut tokens_ok = Map::new();
    tokens_ok.insert("200".into(), json!({"description": "the user's tokens, without their secrets", "content": {"application/json": {"schema": {"type": "object", "properties": {"user": {"type": "string"}, "tokens": {"type": "array", "items": {"$ref": "#/components/schemas/Token"}}}, "required": ["user", "tokens"]}}}}));
    paths.insert(
        "/api/v1/users/{user}/tokens".into(),
        json!({"parameters": [user_parameter], "get": {"summary": "A user's API tokens, never their secrets (the user themself, or an admin)", "operationId": "list_tokens", "responses": with_errors(tokens_ok, &["401", "403", "404"])}}),
    );
    let mut token_revoked = Map::new();
    token_revoked.insert("200".into(), json!({"description": "the token, now revoked", "content": {"application/json": {"schema": {"type": "object", "properties": {"token": {"$ref": "#/components/schemas/Token"}}, "required": ["token"]}}}}));
    paths.insert(
        "/api/v1/tokens/{id}/revoke".into(),
        json!({"parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "format": "int64"}}], "post": {"summary": "Revoke an API token at once (its owner, or an admin); written to the history", "operationId": "revoke_token", "responses": with_errors(token_revoked, &["400", "401", "403", "404", "409"])}}),
    );
    // The small envelopes around the derived components.
    let selection_count = json!({"type": "integer", "minimum": 0, "description": "how many records the selection matches now (in the scope; active ones unless asked)"});
    let selection_answer = |description: &str| {
        json!({
            "type": "object",
            "description": description,
            "properties": {"selection": schema_ref("SavedSelection"), "count": selection_count},
            "required": ["selection", "count"]
        })
    };
    let snapshot_answer = json!({"type": "object", "properties": {"snapshot": schema_ref("Snapshot")}, "required": ["snapshot"]});
    // A page of records of the entity a selection or snapshot is about: any of the schema's.
    let records_page = json!({"type": "object", "properties": {
        "records": {"type": "array", "items": {"type": "object"}},
        "next_cursor": {"type": ["string", "null"], "description": "pass as `cursor` for the next page; null on the last page"}
    }, "required": ["records", "next_cursor"]});
    let name_parameter = json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string", "pattern": SELECTION_NAME_PATTERN}});
    // The entity a selection or snapshot is about: one of the schema's.
    let entity_name = json!({"type": "string", "enum": schema.entities().iter().map(|entity| entity.name.as_str()).collect::<Vec<_>>()});
    let scope_parameter = json!({"name": "scope", "in": "query", "schema": {"type": "string", "enum": ["active", "trashed", "all"]}});
    let page_parameters = [
        json!({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}),
        json!({"name": "cursor", "in": "query", "schema": {"type": "string"}}),
    ];
    paths.insert(
        "/api/v1/selections".into(),
        json!({
            "get": {"summary": "List saved selections", "operationId": "list_selections", "responses": with_errors(success("200", "the saved selections", json!({"type": "object", "properties": {"selections": {"type": "array", "items": schema_ref("SavedSelection")}}, "required": ["selections"]})), &["401"])},
            "post": {
                "summary": "Save a selection: exactly one of filter (text or JSON form), ids, union, intersection, difference",
                "operationId": "create_selection",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "pattern": SELECTION_NAME_PATTERN}, "entity": entity_name,
                        "filter": {"type": ["string", "object", "null"]},
                        "ids": {"type": "array", "items": {"type": "integer"}},
                        "union": {"type": "array", "items": {"type": "string"}},
                        "intersection": {"type": "array", "items": {"type": "string"}},
                        "difference": {"type": "array", "items": {"type": "string"}},
                        "description": {"type": "string"}
                    },
                    "required": ["name", "entity"], "additionalProperties": false
                }}}},
                "responses": with_errors(success("201", "the saved selection", selection_answer("the saved selection and how many active records it matches")), &["400", "401", "404", "422"])
            }
        }),
    );
    paths.insert(
        "/api/v1/selections/{name}".into(),
        json!({
            "parameters": [name_parameter],
            "get": {"summary": "A saved selection and its current count", "operationId": "get_selection", "parameters": [scope_parameter], "responses": with_errors(success("200", "the saved selection", json!({
                "type": "object",
                "properties": {"selection": schema_ref("SavedSelection"), "scope": schema_ref("Scope"), "count": selection_count},
                "required": ["selection", "scope", "count"]
            })), &["400", "401", "404", "422"])},
            "put": {"summary": "Replace a saved selection's definition and description (admin or its author): exactly one of filter, ids, union, intersection, difference; a combined selection may not come to contain itself", "operationId": "update_selection",
                "requestBody": json_body(json!({"type": "object", "properties": {
                    "filter": {"description": "a dynamic selection: the filter, as text or in its JSON form"},
                    "ids": {"type": "array", "items": {"type": "integer", "format": "int64"}},
                    "union": {"type": "array", "items": {"type": "string"}},
                    "intersection": {"type": "array", "items": {"type": "string"}},
                    "difference": {"type": "array", "items": {"type": "string"}},
                    "description": {"type": "string"}
                }, "additionalProperties": false})),
                "responses": with_errors(success("200", "the changed selection", selection_answer("the changed selection and how many active records it matches")), &["400", "401", "403", "404", "422"])},
            "delete": {"summary": "Delete a saved selection (admin or its author)", "operationId": "delete_selection", "responses": with_errors(success("200", "the selection is deleted", json!({"type": "object", "properties": {"deleted": {"type": "string", "description": "its name"}}, "required": ["deleted"]})), &["401", "403", "404", "422"])}
        }),
    );
    let mut selection_page_parameters = vec![name_parameter.clone(), scope_parameter.clone()];
    selection_page_parameters.extend(page_parameters.iter().cloned());
    paths.insert(
        "/api/v1/selections/{name}/records".into(),
        json!({"get": {"summary": "A page of a saved selection's records", "operationId": "selection_records", "parameters": selection_page_parameters, "responses": with_errors(success("200", "a page of records", records_page.clone()), &["400", "401", "404", "422", "429"])}}),
    );
    paths.insert(
        "/api/v1/snapshots".into(),
        json!({"post": {
            "summary": "Freeze a member set: all matching a filter or saved selection, plus include, minus exclude",
            "operationId": "create_snapshot",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "type": "object",
                "properties": {
                    "entity": entity_name,
                    "filter": {"type": ["string", "object", "null"]},
                    "selection": {"type": "string"},
                    "all_matching": {"type": "boolean", "description": "take every record the filter or selection matches (\"select all N matching\"); with neither, send \"all\": true"},
                    "all": {"type": "boolean", "description": "every record of the entity, said on purpose: an all_matching pick with no filter or selection is refused without it"},
                    "include": {"type": "array", "items": {"type": "integer"}},
                    "exclude": {"type": "array", "items": {"type": "integer"}},
                    "scope": {"type": "string", "enum": ["active", "trashed", "all"]},
                    "note": {"type": "string"}
                },
                "required": ["entity"], "additionalProperties": false
            }}}},
            "responses": with_errors(success("201", "the snapshot", snapshot_answer.clone()), &["400", "401", "404", "422", "429"])
        }}),
    );
    let snapshot_id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "format": "int64"}});
    paths.insert(
        "/api/v1/snapshots/{id}".into(),
        json!({"get": {"summary": "A snapshot", "operationId": "get_snapshot", "parameters": [snapshot_id.clone()], "responses": with_errors(success("200", "the snapshot", snapshot_answer), &["400", "401", "403", "404"])}}),
    );
    let mut snapshot_page_parameters = vec![snapshot_id];
    snapshot_page_parameters.extend(page_parameters.iter().cloned());
    paths.insert(
        "/api/v1/snapshots/{id}/records".into(),
        json!({"get": {"summary": "A page of a snapshot's members as they are now", "operationId": "snapshot_records", "parameters": snapshot_page_parameters, "responses": with_errors(success("200", "a page of the members", records_page), &["400", "401", "403", "404", "422"])}}),
    );
    lifecycle::lifecycle_paths(&mut paths);
    deliveries::delivery_paths(&mut paths);
    requests::request_paths(&mut paths);
    monitors::monitor_paths(&mut paths);
    policies::policy_paths(&mut paths);
    stats_paths(&mut paths);
    paths.insert(
        "/api/v1/health".into(),
        json!({"get": {"summary": "Liveness", "operationId": "health", "security": [], "responses": {"200": {"description": "the server is up", "content": {"application/json": {"schema": {"type": "object"}}}}}}}),
    );
    // Every operation that reads a body refuses one that is too large.
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter(|operation| operation.get("requestBody").is_some())
    {
        if let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        {
            responses.extend(error_responses(&["413"]));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Lethe API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A CRM record store whose strength is the whole life of a record after someone decides it should go."
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "a token from `lethe user add NAME`"}}
        }
    })
}

/// The consolidated table (SPEC §6): records and attached-file volume per entity type and
/// lifecycle state.
fn stats_paths(paths: &mut Map<String, Value>) {
    paths.insert(
        "/api/v1/stats".into(),
        json!({"get": {
            "summary": "The consolidated table: per entity type, records and attached-file volume that are active, trashed and pending purge",
            "operationId": "stats",
            "responses": with_errors(success("200", "the consolidated table", schema_ref("Stats")), &["401"])
        }}),
    );
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// One success response with a JSON body of `schema`.
fn success(code: &str, description: &str, schema: Value) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert(
        code.to_owned(),
        json!({"description": description, "content": {"application/json": {"schema": schema}}}),
    );
    map
}

fn json_body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

mod deliveries;
mod lifecycle;
mod monitors;
mod policies;
mod requests;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests;
