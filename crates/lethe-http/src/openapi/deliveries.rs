//! The OpenAPI paths of where notifications go: a user's e-mail address and the kinds they
//! want by e-mail, webhook endpoints, and the outbox of messages to send.

use lethe_domain::notification::NotificationKind;
use serde_json::{Map, Value, json};

use super::*;

/// The paths of SPEC §7's channels: delivery settings per user, webhooks and the outbox.
/// Their shapes are derived components (`DeliverySettings`, `Webhook`, `Delivery`; see
/// [`derived_components`]).
pub(super) fn delivery_paths(paths: &mut Map<String, Value>) {
    let id = json!({"type": "integer", "format": "int64"});
    let path_id = |what: &str| json!({"name": "id", "in": "path", "required": true, "description": what, "schema": {"type": "integer", "format": "int64"}});
    let kinds = NotificationKind::ALL.map(NotificationKind::as_str);
    let kinds_in_words = kinds.join(", ");
    let one_of_the_kinds = format!("({})", kinds.join("|"));
    let events_pattern =
        format!("^\\s*(\\*|{one_of_the_kinds}(\\s*,\\s*{one_of_the_kinds})*)\\s*$");
    let email_kinds: Map<String, Value> = kinds
        .iter()
        .map(|kind| ((*kind).to_owned(), json!({"type": "boolean"})))
        .collect();
    let user_parameter = json!({"name": "user", "in": "path", "required": true, "schema": {"type": "string", "pattern": USER_NAME_PATTERN}});

    paths.insert(
        "/api/v1/users/{user}/delivery".into(),
        json!({
            "parameters": [user_parameter],
            "get": {
                "summary": "Where a user's notifications go: their e-mail address and, per kind of event, who hears of it and whether it comes by e-mail (the user themself, or an admin)",
                "operationId": "get_delivery",
                "responses": with_errors(success("200", "the user's delivery settings", schema_ref("DeliverySettings")), &["401", "403", "404"])
            },
            "put": {
                "summary": "Change where a user's notifications go (the user themself, or an admin); what the body leaves out stays as it is. Written to the history, without the address",
                "operationId": "change_delivery",
                "requestBody": json_body(json!({"type": "object", "properties": {
                    "email": {"type": ["string", "null"], "format": "email", "maxLength": 254, "description": "the address e-mails go to; null removes it (no e-mail), leave out to keep it"},
                    "email_kinds": {
                        "type": "object",
                        "description": format!("per kind of event, whether it comes by e-mail (the in-app feed always has it); kinds left out stay as they are. The kinds: {kinds_in_words}"),
                        "properties": email_kinds,
                        "additionalProperties": false
                    }
                }, "additionalProperties": false})),
                "responses": with_errors(success("200", "the user's delivery settings after the change", schema_ref("DeliverySettings")), &["400", "401", "403", "404", "409", "422"])
            }
        }),
    );
    paths.insert(
        "/api/v1/webhooks".into(),
        json!({
            "get": {
                "summary": "The webhook endpoints, oldest first, without their secrets (admin)",
                "operationId": "list_webhooks",
                "responses": with_errors(success("200", "the webhook endpoints", json!({"type": "object", "properties": {"webhooks": {"type": "array", "items": schema_ref("Webhook")}}, "required": ["webhooks"]})), &["401", "403"])
            },
            "post": {
                "summary": "Add a webhook endpoint (admin): every event it listens to is POSTed to it as JSON, signed with its secret, which this answer shows once",
                "operationId": "add_webhook",
                "requestBody": json_body(json!({"type": "object", "properties": {
                    "url": {"type": "string", "pattern": "^https?://[^/?#\\s]+\\S*$", "description": "https:// (or http://) and a host, e.g. https://hooks.example.org/lethe"},
                    "events": {"type": "string", "pattern": events_pattern, "description": format!("`*` for every event, or the kinds it listens to, comma-separated: {kinds_in_words}")}
                }, "required": ["url", "events"], "additionalProperties": false})),
                "responses": with_errors(success("201", "the webhook and its signing secret, shown only this once", json!({"type": "object", "properties": {
                    "webhook": schema_ref("Webhook"),
                    "secret": {"type": "string", "description": "signs every message sent to the webhook; keep it, it is never shown again"}
                }, "required": ["webhook", "secret"]})), &["400", "401", "403", "422"])
            }
        }),
    );
    paths.insert(
        "/api/v1/webhooks/{id}".into(),
        json!({"delete": {
            "summary": "Remove a webhook endpoint (admin): it hears of nothing more, and the messages still waiting for it are given up. Written to the history",
            "operationId": "remove_webhook",
            "parameters": [path_id("the webhook")],
            "responses": with_errors(success("200", "the webhook is removed", json!({"type": "object", "properties": {
                "removed": id,
                "undelivered_given_up": {"type": "integer", "minimum": 0, "description": "how many messages that waited for it were given up"}
            }, "required": ["removed", "undelivered_given_up"]})), &["400", "401", "403", "404"])
        }}),
    );
    paths.insert(
        "/api/v1/deliveries".into(),
        json!({"get": {
            "summary": "The outbox, newest first: every e-mail and webhook message, waiting, delivered or given up on, with its tries and last error (admin)",
            "operationId": "list_deliveries",
            "parameters": [
                {"name": "state", "in": "query", "description": "only messages in this state", "schema": {"type": "string", "enum": ["waiting", "delivered", "given_up"]}},
                {"name": "before", "in": "query", "description": "return messages older than this id (the next_before of the page before)", "schema": {"type": "integer", "format": "int64"}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1_000, "default": 50}}
            ],
            "responses": with_errors(success("200", "a page of the outbox", json!({"type": "object", "properties": {
                "deliveries": {"type": "array", "items": schema_ref("Delivery")},
                "next_before": {"type": ["integer", "null"], "format": "int64", "description": "pass as `before` for the next page; null on the last page"},
                "counts": schema_ref("DeliveryCounts")
            }, "required": ["deliveries", "next_before", "counts"]})), &["400", "401", "403", "422"])
        }}),
    );
    paths.insert(
        "/api/v1/deliveries/{id}/retry".into(),
        json!({"post": {
            "summary": "Send a message that was given up on again (admin): its tries start over, due now. Written to the history. A message that waits or was delivered, or whose webhook was removed, is answered 409",
            "operationId": "retry_delivery",
            "parameters": [path_id("the message")],
            "responses": with_errors(success("200", "the message, waiting again", json!({"type": "object", "properties": {"delivery": schema_ref("Delivery")}, "required": ["delivery"]})), &["400", "401", "403", "404", "409"])
        }}),
    );
}
