//! The OpenAPI paths of monitors: saved selections evaluated on a schedule whose
//! subscribers hear which records entered (and left).

use serde_json::{Map, Value, json};

use super::*;

const MONITOR_NAME_PATTERN: &str = "^[A-Za-z0-9_.-]{1,64}$";

/// The paths of SPEC §4's monitors. Their shapes are derived components (`Monitor`,
/// `MonitorRun`, `MonitorHits`; see [`derived_components`]).
pub(super) fn monitor_paths(paths: &mut Map<String, Value>) {
    let name = json!({"name": "name", "in": "path", "required": true, "description": "the monitor", "schema": {"type": "string", "pattern": MONITOR_NAME_PATTERN}});
    let users = json!({"type": "array", "items": {"type": "string", "pattern": USER_NAME_PATTERN}});
    let schedule = json!({"type": "string", "description": "a cron pattern (minute hour day-of-month month day-of-week), e.g. `0 7 * * 1-5`, or @daily, @hourly"});
    let zone = json!({"type": "string", "description": "the IANA time zone the schedule is read in, e.g. Europe/Oslo"});
    let monitor_answer = json!({"type": "object", "properties": {"monitor": schema_ref("Monitor")}, "required": ["monitor"]});
    paths.insert(
        "/api/v1/monitors".into(),
        json!({
            "get": {
                "summary": "The monitors, by name (every signed-in user)",
                "operationId": "list_monitors",
                "responses": with_errors(success("200", "the monitors", json!({"type": "object", "properties": {"monitors": {"type": "array", "items": schema_ref("Monitor")}}, "required": ["monitors"]})), &["401"])
            },
            "post": {
                "summary": "Add a monitor, enabled, owned by the caller: its first evaluation, now, is a baseline (the selection's members now) of which nobody is told; later runs tell its subscribers which records entered (and, with notify_on_leave, left). A bad schedule, time zone, selection or subscriber is answered 422 and nothing is written",
                "operationId": "add_monitor",
                "requestBody": json_body(json!({"type": "object", "properties": {
                    "name": {"type": "string", "pattern": MONITOR_NAME_PATTERN},
                    "selection": {"type": "string", "pattern": SELECTION_NAME_PATTERN, "description": "the saved selection to watch"},
                    "schedule": schedule,
                    "time_zone": zone,
                    "notify_on_leave": {"type": "boolean", "default": false},
                    "subscribers": users
                }, "required": ["name", "selection", "schedule"], "additionalProperties": false})),
                "responses": with_errors(success("201", "the monitor", monitor_answer.clone()), &["400", "401", "403", "409", "422"])
            }
        }),
    );
    paths.insert(
        "/api/v1/monitors/{name}".into(),
        json!({
            "parameters": [name],
            "get": {
                "summary": "A monitor with its last runs, newest first",
                "operationId": "get_monitor",
                "responses": with_errors(success("200", "the monitor and its runs", json!({"type": "object", "properties": {
                    "monitor": schema_ref("Monitor"),
                    "runs": {"type": "array", "items": schema_ref("MonitorRun")}
                }, "required": ["monitor", "runs"]})), &["400", "401", "404"])
            },
            "patch": {
                "summary": "Change a monitor (an admin or its owner): another selection takes a new baseline; anyone may subscribe or unsubscribe themselves. What the body leaves out stays as it is",
                "operationId": "change_monitor",
                "requestBody": json_body(json!({"type": "object", "properties": {
                    "selection": {"type": "string", "pattern": SELECTION_NAME_PATTERN},
                    "schedule": schedule,
                    "time_zone": zone,
                    "notify_on_leave": {"type": "boolean"},
                    "enabled": {"type": "boolean"},
                    "subscribe": users,
                    "unsubscribe": users
                }, "additionalProperties": false})),
                "responses": with_errors(success("200", "the monitor after the change", monitor_answer), &["400", "401", "403", "404", "422"])
            },
            "delete": {
                "summary": "Remove a monitor with its members, runs and hits (an admin or its owner)",
                "operationId": "remove_monitor",
                "responses": with_errors(success("200", "the monitor is removed", json!({"type": "object", "properties": {"removed": {"type": "string"}}, "required": ["removed"]})), &["400", "401", "403", "404"])
            }
        }),
    );
    paths.insert(
        "/api/v1/monitors/{name}/run".into(),
        json!({"post": {
            "summary": "Evaluate a monitor now (an admin or its owner): its subscribers are told which records entered (and left) since the last evaluation",
            "operationId": "run_monitor",
            "parameters": [name],
            "responses": with_errors(success("200", "the run", json!({"type": "object", "properties": {"run": schema_ref("MonitorRun")}, "required": ["run"]})), &["400", "401", "403", "404"])
        }}),
    );
    paths.insert(
        "/api/v1/monitors/{name}/hits".into(),
        json!({"get": {
            "summary": "The records that entered or left a monitored selection in a run (by default its latest run that found any), by record id; records purged since are not listed",
            "operationId": "monitor_hits",
            "parameters": [
                name,
                {"name": "run", "in": "query", "description": "the run (see the monitor's runs)", "schema": {"type": "integer", "format": "int64"}},
                {"name": "after", "in": "query", "description": "list records after this id (the next_after of the page before)", "schema": {"type": "integer", "format": "int64"}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": lethe_store::MAX_HITS_PAGE, "default": 100}}
            ],
            "responses": with_errors(success("200", "a page of the run's hits", schema_ref("MonitorHits")), &["400", "401", "404", "422"])
        }}),
    );
}
