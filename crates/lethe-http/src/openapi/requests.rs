//! The OpenAPI paths of people's erasure and access requests: list and register them, read
//! and change one, link what fulfilled it.

use serde_json::{Map, Value, json};

use super::*;

/// The paths of SPEC §12's requests. Their shapes are derived components (`SubjectRequest`,
/// `RequestLink`; see [`derived_components`]).
pub(super) fn request_paths(paths: &mut Map<String, Value>) {
    let path_id = || json!({"name": "id", "in": "path", "required": true, "description": "the request", "schema": {"type": "integer", "format": "int64"}});
    let one = json!({"type": "object", "properties": {"request": schema_ref("SubjectRequest")}, "required": ["request"]});
    let date = || json!({"type": "string", "description": "a date (YYYY-MM-DD, midnight UTC) or an RFC 3339 time"});
    paths.insert(
        "/api/v1/requests".into(),
        json!({
            "get": {
                "summary": "People's erasure and access requests, open ones first by deadline (an admin sees all, a user those assigned to them)",
                "operationId": "list_requests",
                "parameters": [
                    {"name": "status", "in": "query", "description": "which requests", "schema": {"type": "string", "enum": ["all", "open", "overdue"], "default": "all"}},
                    {"name": "email", "in": "query", "description": "only those about this address, closed ones too (matched by a keyed hash)", "schema": {"type": "string", "format": "email"}}
                ],
                "responses": with_errors(success("200", "the requests", json!({"type": "object", "properties": {"requests": {"type": "array", "items": schema_ref("SubjectRequest")}}, "required": ["requests"]})), &["400", "401", "404", "422"])
            },
            "post": {
                "summary": "Register a request (admin), due one calendar month after receipt (GDPR Art. 12(3)); by the person's address or their contact id. Written to the history with a keyed hash of the subject, never the address",
                "operationId": "add_request",
                "requestBody": json_body(json!({"type": "object", "properties": {
                    "kind": {"type": "string", "enum": ["erasure", "access"]},
                    "email": {"type": "string", "format": "email", "maxLength": 254, "description": "the person's address as given (or contact_id)"},
                    "contact_id": {"type": "integer", "format": "int64", "description": "the contact the request is about (or email)"},
                    "received": date(),
                    "assignee": {"type": "string", "pattern": USER_NAME_PATTERN, "description": "the user who works on it"}
                }, "required": ["kind"], "additionalProperties": false})),
                "responses": with_errors(success("201", "the request", one.clone()), &["400", "401", "403", "404", "422"])
            }
        }),
    );
    paths.insert(
        "/api/v1/requests/{id}".into(),
        json!({
            "parameters": [path_id()],
            "get": {
                "summary": "One request with the deletion batches and purges linked to it (an admin, or its assignee)",
                "operationId": "get_request",
                "responses": with_errors(success("200", "the request", one.clone()), &["400", "401", "403", "404"])
            },
            "patch": {
                "summary": "Change a request, one thing at a time: assign it (admin), move its status on (in_progress or done: its assignee or an admin; refused with a reason: admin), or extend its deadline by up to two further months with a reason (admin, within the first month). Closing it keeps only a keyed hash of its subject",
                "operationId": "change_request",
                "requestBody": json_body(json!({"type": "object", "properties": {
                    "assignee": {"type": "string", "pattern": USER_NAME_PATTERN},
                    "status": {"type": "string", "enum": ["in_progress", "done", "refused"]},
                    "extended_until": date(),
                    "reason": {"type": "string", "description": "why it is extended or refused; the person is told"}
                }, "additionalProperties": false})),
                "responses": with_errors(success("200", "the request after the change", one.clone()), &["400", "401", "403", "404", "409", "422"])
            }
        }),
    );
    paths.insert(
        "/api/v1/requests/{id}/links".into(),
        json!({"post": {
            "summary": "Link a deletion batch or a purge job to an open request, as what fulfilled it (its assignee or an admin); the batch or job must exist",
            "operationId": "link_request",
            "parameters": [path_id()],
            "requestBody": json_body(json!({"type": "object", "properties": {
                "batch_id": {"type": "integer", "format": "int64"},
                "job_id": {"type": "integer", "format": "int64"}
            }, "additionalProperties": false})),
            "responses": with_errors(success("201", "the request with its links", one), &["400", "401", "403", "404", "409", "422"])
        }}),
    );
    let who = || {
        json!([
            {"name": "email", "in": "query", "description": "every contact with this address, ignoring case (or contact)", "schema": {"type": "string", "format": "email", "maxLength": 254}},
            {"name": "contact", "in": "query", "description": "this contact (or email)", "schema": {"type": "integer", "format": "int64"}}
        ])
    };
    paths.insert(
        "/api/v1/person".into(),
        json!({"get": {
            "summary": "What is held about one person, counted per entity (admin): their contact records and every record that points at them through any relation, in the trash or not; also what erasing them reaches",
            "operationId": "show_person",
            "parameters": who(),
            "responses": with_errors(success("200", "the records held, per entity", json!({"type": "object", "properties": {
                "records": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
                "total": {"type": "integer", "minimum": 0}
            }, "required": ["records", "total"]})), &["400", "401", "403", "404", "422"])
        }}),
    );
    let mut zip_ok = Map::new();
    zip_ok.insert("200".into(), json!({
        "description": "a zip, streamed: a JSON document per entity (a list of records with every field), the attachments' contents under files/, and README.txt; recorded in the history without the address",
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}
    }));
    paths.insert(
        "/api/v1/person/export".into(),
        json!({"get": {
            "summary": "Everything held about one person as one zip (admin), for an access request (GDPR Art. 15)",
            "operationId": "export_person",
            "parameters": who(),
            "responses": with_errors(zip_ok, &["400", "401", "403", "404", "422", "429"])
        }}),
    );
}
