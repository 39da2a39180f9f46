//! The OpenAPI paths of retention policies (SPEC §4): add, change, approve, enable, disable,
//! dry-run and run them, and read their runs. Their shapes are derived components
//! (`RetentionPolicy`, `PolicyRun`; see [`derived_components`]).

use serde_json::{Map, Value, json};

use super::*;

/// A policy's name in a path.
const POLICY_NAME_PATTERN: &str = "^[A-Za-z0-9_.-]{1,64}$";

pub(super) fn policy_paths(paths: &mut Map<String, Value>) {
    let name = json!({"name": "name", "in": "path", "required": true, "description": "the policy's name", "schema": {"type": "string", "pattern": POLICY_NAME_PATTERN}});
    let action = json!({"type": "string", "enum": ["notify", "trash", "anonymize", "purge"], "description": "notify (the owner reviews what it finds), trash, anonymize, or purge (request the permanent deletion of what its earlier runs left in the trash)"});
    let text =
        |description: &str| json!({"type": "string", "minLength": 1, "description": description});
    let policy_answer = json!({"type": "object", "properties": {"policy": schema_ref("RetentionPolicy")}, "required": ["policy"]});
    let run_answer = json!({"type": "object", "properties": {"run": schema_ref("PolicyRun")}, "required": ["run"]});
    let step = |summary: &str, operation: &str| {
        json!({"parameters": [name.clone()], "post": {
            "summary": summary,
            "operationId": operation,
            "responses": with_errors(success("200", "the policy as it is now", policy_answer.clone()), &["400", "401", "403", "404", "409"])
        }})
    };

    paths.insert(
        "/api/v1/policies".into(),
        json!({
            "get": {
                "summary": "The retention policies, by name (admin)",
                "operationId": "list_policies",
                "responses": with_errors(success("200", "the policies", json!({"type": "object", "properties": {"policies": {"type": "array", "items": schema_ref("RetentionPolicy")}}, "required": ["policies"]})), &["401", "403"])
            },
            "post": {
                "summary": "Add a retention policy, disabled (admin). A destructive one (trash, anonymize, purge) must be approved by a second admin before it is enabled; every admin is told. Written to the history",
                "operationId": "add_policy",
                "requestBody": json_body(json!({"type": "object", "properties": {
                    "name": {"type": "string", "pattern": POLICY_NAME_PATTERN},
                    "entity": {"type": "string", "description": "the entity type it acts on"},
                    "filter": text("the filter that finds the records; relative dates give the age rule, e.g. created_at < now - 3y. Give this or `selection`"),
                    "selection": text("a saved selection of the entity, in place of a filter"),
                    "action": action.clone(),
                    "schedule": text("when it runs: a cron pattern (minute hour day-of-month month day-of-week) such as 0 3 * * *, or @daily, @weekly"),
                    "time_zone": {"type": "string", "default": "UTC", "description": "the IANA time zone the schedule is read in, e.g. Europe/Oslo"},
                    "legal_basis": text("why the data may be kept this long and no longer; shown with every run"),
                    "owner": {"type": "string", "description": "the admin its runs are made as and who hears of them (default: you)"}
                }, "required": ["name", "entity", "action", "schedule", "legal_basis"], "additionalProperties": false})),
                "responses": with_errors(success("201", "the policy, disabled", policy_answer.clone()), &["400", "401", "403", "404", "409", "422"])
            }
        }),
    );
    paths.insert(
        "/api/v1/policies/{name}".into(),
        json!({
            "parameters": [name.clone()],
            "get": {
                "summary": "One retention policy and its five latest runs (admin)",
                "operationId": "get_policy",
                "responses": with_errors(success("200", "the policy and its latest runs", json!({"type": "object", "properties": {"policy": schema_ref("RetentionPolicy"), "runs": {"type": "array", "items": schema_ref("PolicyRun")}}, "required": ["policy", "runs"]})), &["400", "401", "403", "404"])
            },
            "patch": {
                "summary": "Change a retention policy (admin); what the body leaves out stays. A destructive policy's change takes back its approval, and it is disabled until a second admin approves again. Written to the history",
                "operationId": "edit_policy",
                "requestBody": json_body(json!({"type": "object", "properties": {
                    "filter": text("a new filter; it replaces a saved selection"),
                    "selection": text("a saved selection in place of the filter"),
                    "action": action,
                    "schedule": text("a cron pattern"),
                    "time_zone": text("an IANA time zone"),
                    "legal_basis": text("why the data may be kept this long and no longer"),
                    "owner": text("the admin its runs are made as")
                }, "additionalProperties": false})),
                "responses": with_errors(success("200", "the policy after the change", policy_answer.clone()), &["400", "401", "403", "404", "409", "422"])
            }
        }),
    );
    paths.insert(
        "/api/v1/policies/{name}/approve".into(),
        step(
            "Approve a retention policy's current version (admin, four eyes): an admin other than the one who last changed it. Written to the history",
            "approve_policy",
        ),
    );
    paths.insert(
        "/api/v1/policies/{name}/enable".into(),
        step(
            "Enable a retention policy: its schedule runs it from now on (admin). A destructive policy must have been approved by another admin; 409 otherwise",
            "enable_policy",
        ),
    );
    paths.insert(
        "/api/v1/policies/{name}/disable".into(),
        step(
            "Disable a retention policy: its schedule stops; a run under way goes on (admin)",
            "disable_policy",
        ),
    );
    paths.insert(
        "/api/v1/policies/{name}/dry-run".into(),
        json!({"parameters": [name.clone()], "post": {
            "summary": "Dry-run a retention policy (admin): freeze what it finds now in a snapshot and count what a run would do, per entity type, with the blocked records and their reasons. Nothing else changes; a run from this dry run acts on exactly these members",
            "operationId": "dry_run_policy",
            "responses": with_errors(success("201", "the dry run", run_answer.clone()), &["400", "401", "403", "404", "422"])
        }}),
    );
    paths.insert(
        "/api/v1/policies/{name}/run".into(),
        json!({"parameters": [name.clone()], "post": {
            "summary": "Run a retention policy now (admin): on a dry run's frozen members (from_dry_run), or on what it finds now. The job it starts runs in the server's worker; follow it at /api/v1/jobs/{id}",
            "operationId": "run_policy",
            "requestBody": json_body(json!({"type": "object", "properties": {
                "from_dry_run": {"type": "integer", "format": "int64", "description": "the dry run whose snapshot to act on"}
            }, "additionalProperties": false})),
            "responses": with_errors(success("201", "the run, with the job it started (null when its action starts none)", run_answer), &["400", "401", "403", "404", "409", "422"])
        }}),
    );
    paths.insert(
        "/api/v1/policies/{name}/runs".into(),
        json!({"parameters": [name], "get": {
            "summary": "A retention policy's dry runs and runs, newest first (admin)",
            "operationId": "policy_runs",
            "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1_000, "default": 20}}],
            "responses": with_errors(success("200", "the runs", json!({"type": "object", "properties": {"runs": {"type": "array", "items": schema_ref("PolicyRun")}}, "required": ["runs"]})), &["400", "401", "403", "404", "422"])
        }}),
    );
}
