//! The OpenAPI paths of the lifecycle: previews, trash, restore, purge, anonymise, update,
//! jobs and their skips, deletion batches, the history and notifications.

use serde_json::{Map, Value, json};

use super::*;

/// The paths of the record lifecycle (SPEC §3, §5, §6, §7): trash, restore, purge, anonymise
/// and bulk update as jobs, deletion batches, the history and notifications. Their shapes are
/// derived components (see [`derived_components`]).
pub(super) fn lifecycle_paths(paths: &mut Map<String, Value>) {
    let id = json!({"type": "integer", "format": "int64"});
    let count = json!({"type": "integer", "minimum": 0});
    let path_id = |what: &str| json!({"name": "id", "in": "path", "required": true, "description": what, "schema": {"type": "integer", "format": "int64"}});
    let limit = |default: u64, max: u64| json!({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": max, "default": default}});
    let accepted = |description: &str| {
        let mut map = Map::new();
        map.insert(
            "202".into(),
            json!({
                "description": description,
                "headers": {"Location": {"description": "where to follow the job", "schema": {"type": "string"}}},
                "content": {"application/json": {"schema": schema_ref("Job")}}
            }),
        );
        map
    };

    paths.insert(
        "/api/v1/trash/preview".into(),
        json!({"post": {
            "summary": "Preview trashing a snapshot's members: per entity type the records acted on, members not applicable, blocked members with reasons",
            "operationId": "preview_trash",
            "requestBody": json_body(json!({"type": "object", "properties": {"snapshot_id": id}, "required": ["snapshot_id"], "additionalProperties": false})),
            "responses": with_errors(success("200", "what the trash would do", schema_ref("Preview")), &["400", "401", "403", "404", "422", "429"])
        }}),
    );
    paths.insert(
        "/api/v1/trash".into(),
        json!({"post": {
            "summary": "Confirm a trash with the snapshot the preview counted; the job runs in the background (more than one member: admin only)",
            "operationId": "trash",
            "requestBody": json_body(json!({"type": "object", "properties": {
                "snapshot_id": {"type": "integer", "format": "int64", "description": "the snapshot_id the preview returned: this is the confirmation"},
                "reason": {"type": "string", "maxLength": 1000, "description": "why (reason / legal basis), kept in the history"},
                "batch_size": {"type": "integer", "minimum": 1, "maximum": 100000, "description": "members per transaction (default 5000 on SQLite, 25000 on PostgreSQL)"}
            }, "required": ["snapshot_id"], "additionalProperties": false})),
            "responses": with_errors(accepted("the queued trash job; follow it at /api/v1/jobs/{id}"), &["400", "401", "403", "404", "409", "422"])
        }}),
    );
    paths.insert(
        "/api/v1/batches/{id}".into(),
        json!({"get": {
            "summary": "A deletion batch",
            "operationId": "get_deletion_batch",
            "parameters": [path_id("the deletion batch")],
            "responses": with_errors(success("200", "the deletion batch", schema_ref("DeletionBatch")), &["400", "401", "404"])
        }}),
    );
    paths.insert(
        "/api/v1/batches/{id}/restore".into(),
        json!({"post": {
            "summary": "Restore a deletion batch (send {} for all of it) or chosen members with their cascade children; the job runs in the background (an admin, the user who trashed, or the creator of the chosen records)",
            "operationId": "restore",
            "parameters": [path_id("the deletion batch")],
            "requestBody": json_body(json!({"type": "object", "properties": {
                "ids": {"type": "array", "items": {"type": "integer", "format": "int64"}, "minItems": 1, "description": "members of the batch to restore; leave out to restore the whole batch"},
                "batch_size": {"type": "integer", "minimum": 1, "maximum": 100000}
            }, "additionalProperties": false})),
            "responses": with_errors(accepted("the queued restore job; follow it at /api/v1/jobs/{id}"), &["400", "401", "403", "404", "409", "422"])
        }}),
    );
    let batch_size = json!({"type": "integer", "minimum": 1, "maximum": 100000, "description": "members per transaction (default 5000 on SQLite, 25000 on PostgreSQL)"});
    paths.insert(
        "/api/v1/batches/{id}/purge/preview".into(),
        json!({"get": {
            "summary": "What purging the deletion batch now would do: members erased or kept (blocked, with reasons), descendants erased through the trash, links rewritten",
            "operationId": "preview_purge",
            "parameters": [path_id("the deletion batch")],
            "responses": with_errors(success("200", "what the purge would do", schema_ref("Preview")), &["400", "401", "403", "404", "409"])
        }}),
    );
    paths.insert(
        "/api/v1/batches/{id}/purge".into(),
        json!({"post": {
            "summary": "Request the purge of a deletion batch in the trash (admin). The job stays pending until its grace period ends (not_before), every admin is notified, any admin may cancel it; then the server's job worker erases the records",
            "operationId": "request_purge",
            "parameters": [path_id("the deletion batch")],
            "requestBody": json_body(json!({"type": "object", "properties": {
                "grace_seconds": {"type": "integer", "minimum": 0, "maximum": crate::lifecycle::MAX_GRACE_SECONDS, "description": "how long the purge stays pending; the configured default when left out. Shorter than the configured minimum is refused (see GET /api/v1/purges for both)"},
                "reason": {"type": "string", "maxLength": 1000, "description": "why (reason / legal basis), kept in the history"},
                "batch_size": {"type": "integer", "minimum": 1, "maximum": 100000, "description": "members per transaction (default 25000: a purge rewrites index pages in every batch, so it batches larger)"}
            }, "additionalProperties": false})),
            "responses": with_errors(accepted("the pending purge job; follow it at /api/v1/jobs/{id}"), &["400", "401", "403", "404", "409", "422"])
        }}),
    );
    paths.insert(
        "/api/v1/purges".into(),
        json!({"get": {
            "summary": "Pending purges, oldest first, with the grace periods and retention window in force (read-only)",
            "operationId": "list_purges",
            "responses": with_errors(success("200", "pending purges and settings", json!({"type": "object", "properties": {
                "purges": {"type": "array", "items": schema_ref("Job")},
                "default_grace_seconds": {"type": "integer", "minimum": 0, "description": "the grace period of a purge request that asks for none"},
                "minimum_grace_seconds": {"type": "integer", "minimum": 0, "description": "the shortest grace period the API accepts"},
                "retention_seconds": {"type": "integer", "minimum": 0, "description": "batches in the trash longer than this are purged automatically"}
            }, "required": ["purges", "default_grace_seconds", "minimum_grace_seconds", "retention_seconds"]})), &["401"])
        }}),
    );
    paths.insert(
        "/api/v1/purges/{id}/cancel".into(),
        json!({"post": {
            "summary": "Cancel a pending purge before it starts (admin); its deletion batch stays in the trash",
            "operationId": "cancel_purge",
            "parameters": [path_id("the purge job")],
            "responses": with_errors(success("200", "the cancelled purge job", schema_ref("Job")), &["400", "401", "403", "404", "409"])
        }}),
    );
    paths.insert(
        "/api/v1/anonymize".into(),
        json!({"post": {
            "summary": "Anonymise a snapshot's members: personal fields are overwritten by the schema's strategies and the records stay; the job runs in the background (more than one member: admin only)",
            "operationId": "anonymize",
            "requestBody": json_body(json!({"type": "object", "properties": {
                "snapshot_id": id,
                "batch_size": batch_size
            }, "required": ["snapshot_id"], "additionalProperties": false})),
            "responses": with_errors(accepted("the queued anonymise job; follow it at /api/v1/jobs/{id}"), &["400", "401", "403", "404", "409", "422"])
        }}),
    );
    let changes = json!({"type": "object", "minProperties": 1, "description": "field values to set on every member, as in a PATCH of one record of the snapshot's entity, e.g. {\"legal_basis\": \"consent\"}; unknown fields, wrong types, clearing a required field, one value for a unique field on several records and links to trashed records are refused"});
    paths.insert(
        "/api/v1/update/preview".into(),
        json!({"post": {
            "summary": "Check a bulk update and count the snapshot's members it would change (those still active); nothing is written",
            "operationId": "preview_update",
            "requestBody": json_body(json!({"type": "object", "properties": {
                "snapshot_id": id,
                "changes": changes
            }, "required": ["snapshot_id", "changes"], "additionalProperties": false})),
            "responses": with_errors(success("200", "what the update would do", schema_ref("Preview")), &["400", "401", "403", "404", "422", "429"])
        }}),
    );
    paths.insert(
        "/api/v1/update".into(),
        json!({"post": {
            "summary": "Set fields on a snapshot's members; the job runs in the background (more than one member: admin only)",
            "operationId": "bulk_update",
            "requestBody": json_body(json!({"type": "object", "properties": {
                "snapshot_id": {"type": "integer", "format": "int64", "description": "the snapshot_id the preview returned: this is the confirmation"},
                "changes": changes,
                "batch_size": batch_size
            }, "required": ["snapshot_id", "changes"], "additionalProperties": false})),
            "responses": with_errors(accepted("the queued update job; follow it at /api/v1/jobs/{id}"), &["400", "401", "403", "404", "409", "422"])
        }}),
    );
    paths.insert(
        "/api/v1/jobs".into(),
        json!({"get": {
            "summary": "The newest jobs first",
            "operationId": "list_jobs",
            "parameters": [limit(50, 1_000)],
            "responses": with_errors(success("200", "jobs", json!({"type": "object", "properties": {"jobs": {"type": "array", "items": schema_ref("Job")}}, "required": ["jobs"]})), &["400", "401"])
        }}),
    );
    paths.insert(
        "/api/v1/jobs/{id}".into(),
        json!({"get": {
            "summary": "A job and its progress: done, total, counts per type, rate, time left",
            "operationId": "get_job",
            "parameters": [path_id("the job")],
            "responses": with_errors(success("200", "the job", schema_ref("Job")), &["400", "401", "403", "404"])
        }}),
    );
    paths.insert(
        "/api/v1/jobs/{id}/resume".into(),
        json!({"post": {
            "summary": "Resume a failed job from its last committed batch, once the cause of the failure is fixed (an admin, or who started a job that is not a purge); it runs in the background. A queued or running job is answered as it is",
            "operationId": "resume_job",
            "parameters": [path_id("the job")],
            "responses": with_errors(accepted("the job, queued again; follow it at /api/v1/jobs/{id}"), &["400", "401", "403", "404", "409"])
        }}),
    );
    paths.insert(
        "/api/v1/jobs/{id}/skips".into(),
        json!({"get": {
            "summary": "Members a job did not act on, with the reason",
            "operationId": "job_skips",
            "parameters": [path_id("the job"), limit(100, 10_000)],
            "responses": with_errors(success("200", "the skipped and blocked members", json!({"type": "object", "properties": {
                "job_id": id,
                "entity": {"type": "string"},
                "skipped": count,
                "blocked": count,
                "skips": {"type": "array", "items": schema_ref("JobSkip")}
            }, "required": ["job_id", "entity", "skipped", "blocked", "skips"]})), &["400", "401", "403", "404"])
        }}),
    );
    paths.insert(
        "/api/v1/history".into(),
        json!({"get": {
            "summary": "A page of the deletion history, oldest first (admin)",
            "operationId": "history",
            "parameters": [
                {"name": "after", "in": "query", "description": "return entries after this id (the next_after of the page before)", "schema": {"type": "integer", "format": "int64"}},
                limit(100, MAX_HISTORY_PAGE)
            ],
            "responses": with_errors(success("200", "history entries", json!({"type": "object", "properties": {
                "entries": {"type": "array", "items": schema_ref("HistoryEntry")},
                "next_after": {"type": ["integer", "null"], "format": "int64", "description": "pass as `after` for the next page; null on the last page"}
            }, "required": ["entries", "next_after"]})), &["400", "401", "403"])
        }}),
    );
    paths.insert(
        "/api/v1/history/verify".into(),
        json!({"get": {
            "summary": "Recompute the history's hash chain and report the first entry that does not match (admin)",
            "operationId": "verify_history",
            "responses": with_errors(success("200", "the verification", schema_ref("HistoryVerification")), &["401", "403"])
        }}),
    );
    paths.insert(
        "/api/v1/notifications".into(),
        json!({"get": {
            "summary": "The caller's notifications, newest first",
            "operationId": "notifications",
            "parameters": [
                {"name": "unread", "in": "query", "description": "only unread ones", "schema": {"type": "boolean", "default": false}},
                limit(50, 1_000)
            ],
            "responses": with_errors(success("200", "notifications", json!({"type": "object", "properties": {"notifications": {"type": "array", "items": schema_ref("Notification")}}, "required": ["notifications"]})), &["400", "401"])
        }}),
    );
    paths.insert(
        "/api/v1/notifications/read".into(),
        json!({"post": {
            "summary": "Mark the caller's notifications up to an id as read",
            "operationId": "mark_notifications_read",
            "requestBody": json_body(json!({"type": "object", "properties": {"up_to": id}, "required": ["up_to"], "additionalProperties": false})),
            "responses": with_errors(success("200", "how many were marked", json!({"type": "object", "properties": {"marked_read": count}, "required": ["marked_read"]})), &["400", "401"])
        }}),
    );
}
