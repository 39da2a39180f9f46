//! The OpenAPI 3.1 document, generated from the schema in use: every entity gets its own
//! paths and record shapes, with the real field types and enum values, so clients and API
//! fuzzers see exactly what the server accepts.

use lethe_schema::{Column, Entity, Schema, ValueType};
use serde_json::{Map, Value, json};

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
            "404" => "no such entity or record",
            "409" => "conflicts with existing data (a unique value, the trash)",
            "422" => "the values do not fit the schema",
            _ => "error",
        };
        responses.insert(
            (*code).to_owned(),
            json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
    }
    responses
}

fn with_errors(mut success: Map<String, Value>, codes: &[&str]) -> Value {
    success.extend(error_responses(codes));
    Value::Object(success)
}

/// Builds the OpenAPI document for `schema`.
pub fn document(schema: &Schema) -> Value {
    let mut paths = Map::new();
    let mut components = Map::new();
    components.insert(
        "Error".into(),
        json!({"type": "object", "properties": {
            "error": {"type": "string", "description": "what was wrong, where, and what to do"},
            "code": {"type": "string"},
            "field": {"type": ["string", "null"]}
        }, "required": ["error", "code"]}),
    );
    components.insert(
        "Count".into(),
        json!({"type": "object", "properties": {"entity": {"type": "string"}, "filter": {"type": "string"}, "scope": {"type": "string"}, "count": {"type": "integer"}}, "required": ["entity", "filter", "scope", "count"]}),
    );
    components.insert(
        "User".into(),
        json!({"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "role": {"type": "string", "enum": ["admin", "user"]}}, "required": ["id", "name", "role"]}),
    );
    let id_parameter = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "format": "int64"}});
    for entity in schema.entities() {
        let name = entity.name.as_str();
        let (record, input, patch) = entity_schemas(entity);
        components.insert(name.to_owned(), record);
        components.insert(format!("{name}_input"), input);
        components.insert(format!("{name}_patch"), patch);
        let record_ref = json!({"$ref": format!("#/components/schemas/{name}")});
        let sortable: Vec<&str> = ["id", "created_at", "updated_at"]
            .into_iter()
            .chain(
                entity
                    .columns
                    .iter()
                    .filter(|c| c.indexed)
                    .map(|c| c.name.as_str()),
            )
            .collect();
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
                    "responses": with_errors(list_ok, &["400", "401"])
                },
                "post": {
                    "summary": format!("Create a {name}"),
                    "operationId": format!("create_{name}"),
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}_input")}}}},
                    "responses": with_errors(created, &["400", "401", "409", "422"])
                }
            }),
        );
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
                "responses": with_errors(count_ok, &["400", "401", "422"])
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
                "responses": with_errors(query_ok, &["400", "401", "422"])
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
                    "properties": {"name": {"type": "string"}, "role": {"type": "string", "enum": ["admin", "user"]}},
                    "required": ["name", "role"], "additionalProperties": false
                }}}},
                "responses": with_errors(user_created, &["400", "401", "403", "422"])
            }
        }),
    );
    let any_json = json!({"description": "see the summary", "content": {"application/json": {"schema": {"type": "object"}}}});
    let ok = |code: &str| {
        let mut map = Map::new();
        map.insert(code.to_owned(), any_json.clone());
        map
    };
    let name_parameter =
        json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string"}});
    let scope_parameter = json!({"name": "scope", "in": "query", "schema": {"type": "string", "enum": ["active", "trashed", "all"]}});
    let page_parameters = [
        json!({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}),
        json!({"name": "cursor", "in": "query", "schema": {"type": "string"}}),
    ];
    paths.insert(
        "/api/v1/selections".into(),
        json!({
            "get": {"summary": "List saved selections", "operationId": "list_selections", "responses": with_errors(ok("200"), &["401"])},
            "post": {
                "summary": "Save a selection: exactly one of filter (text or JSON form), ids, union, intersection, difference",
                "operationId": "create_selection",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"}, "entity": {"type": "string"},
                        "filter": {"type": ["string", "object", "null"]},
                        "ids": {"type": "array", "items": {"type": "integer"}},
                        "union": {"type": "array", "items": {"type": "string"}},
                        "intersection": {"type": "array", "items": {"type": "string"}},
                        "difference": {"type": "array", "items": {"type": "string"}},
                        "description": {"type": "string"}
                    },
                    "required": ["name", "entity"], "additionalProperties": false
                }}}},
                "responses": with_errors(ok("201"), &["400", "401", "422"])
            }
        }),
    );
    paths.insert(
        "/api/v1/selections/{name}".into(),
        json!({
            "parameters": [name_parameter],
            "get": {"summary": "A saved selection and its current count", "operationId": "get_selection", "parameters": [scope_parameter], "responses": with_errors(ok("200"), &["400", "401", "422"])},
            "delete": {"summary": "Delete a saved selection (admin or its author)", "operationId": "delete_selection", "responses": with_errors(ok("200"), &["401", "403", "422"])}
        }),
    );
    let mut selection_page_parameters = vec![name_parameter.clone(), scope_parameter.clone()];
    selection_page_parameters.extend(page_parameters.iter().cloned());
    paths.insert(
        "/api/v1/selections/{name}/records".into(),
        json!({"get": {"summary": "A page of a saved selection's records", "operationId": "selection_records", "parameters": selection_page_parameters, "responses": with_errors(ok("200"), &["400", "401", "422"])}}),
    );
    paths.insert(
        "/api/v1/snapshots".into(),
        json!({"post": {
            "summary": "Freeze a member set: all matching a filter or saved selection, plus include, minus exclude",
            "operationId": "create_snapshot",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "type": "object",
                "properties": {
                    "entity": {"type": "string"},
                    "filter": {"type": ["string", "object", "null"]},
                    "selection": {"type": "string"},
                    "all_matching": {"type": "boolean"},
                    "include": {"type": "array", "items": {"type": "integer"}},
                    "exclude": {"type": "array", "items": {"type": "integer"}},
                    "scope": {"type": "string", "enum": ["active", "trashed", "all"]},
                    "note": {"type": "string"}
                },
                "required": ["entity"], "additionalProperties": false
            }}}},
            "responses": with_errors(ok("201"), &["400", "401", "422"])
        }}),
    );
    let snapshot_id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "format": "int64"}});
    paths.insert(
        "/api/v1/snapshots/{id}".into(),
        json!({"get": {"summary": "A snapshot", "operationId": "get_snapshot", "parameters": [snapshot_id.clone()], "responses": with_errors(ok("200"), &["400", "401", "404"])}}),
    );
    let mut snapshot_page_parameters = vec![snapshot_id];
    snapshot_page_parameters.extend(page_parameters.iter().cloned());
    paths.insert(
        "/api/v1/snapshots/{id}/records".into(),
        json!({"get": {"summary": "A page of a snapshot's members as they are now", "operationId": "snapshot_records", "parameters": snapshot_page_parameters, "responses": with_errors(ok("200"), &["400", "401", "404", "422"])}}),
    );
    paths.insert(
        "/api/v1/health".into(),
        json!({"get": {"summary": "Liveness", "operationId": "health", "security": [], "responses": {"200": {"description": "the server is up", "content": {"application/json": {"schema": {"type": "object"}}}}}}}),
    );
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
