//! The authorisation matrix (SPEC §7, §8, §10): every route of the HTTP API against every kind
//! of caller — no token, a bad token, a plain user, an admin, and the plain user who created
//! the record, selection or deletion batch the request is about — with the exact status each
//! must get, written below as one table. Where a request is refused, the whole database
//! (Lethe's own tables and every entity table) must be exactly as it was; where a reading
//! request succeeds, too. The table is checked against the routes `lethe_http::router`
//! declares and the OpenAPI document, so a new route without a row fails here.
//!
//! The command line has its own, smaller matrix: it is run by the operator on the server with
//! full rights (SPEC §8), and `--as USER` makes the lifecycle commands act with that user's
//! rights. Last, the server's log is checked for tokens and personal data.
//!
//! Everything runs on SQLite: the rules live above the SQL dialect, and one server serves
//! all of a matrix's cells.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// This file uses no `both_backends!`: the matrix runs on SQLite only.
#[allow(unused_imports)]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Connection as _, Row as _};
use support::*;

// ---------------------------------------------------------------------------------------------
// Who calls
// ---------------------------------------------------------------------------------------------

/// The callers of the HTTP matrix, in the order of the columns of [`Expect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// No `Authorization` header at all.
    NoToken,
    /// A token of the right shape that belongs to nobody.
    BadToken,
    /// A plain user (role `user`) who made none of the things the request is about.
    User,
    /// An admin who made none of them either.
    Admin,
    /// The plain user who made the record, selection, snapshot or deletion batch concerned.
    Creator,
}

const CALLERS: [Caller; 5] = [
    Caller::NoToken,
    Caller::BadToken,
    Caller::User,
    Caller::Admin,
    Caller::Creator,
];

/// Well formed (the `lethe_` prefix, 43 characters of base64url), so it reaches the token
/// lookup, but issued to nobody.
const BAD_TOKEN: &str = "lethe_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// The tokens of the three users of the HTTP matrix.
#[derive(Debug)]
struct Tokens {
    user: String,
    admin: String,
    creator: String,
}

impl Tokens {
    fn of(&self, caller: Caller) -> Option<&str> {
        match caller {
            Caller::NoToken => None,
            Caller::BadToken => Some(BAD_TOKEN),
            Caller::User => Some(&self.user),
            Caller::Admin => Some(&self.admin),
            Caller::Creator => Some(&self.creator),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The HTTP matrix as data
// ---------------------------------------------------------------------------------------------

/// The status each caller must get: no token, bad token, user, admin, creator.
type Expect = [u16; 5];

/// What a cell acts on. `Shared` rows use one fixture made at the start; the others get a
/// fresh one (made before the "before" dump) for every cell whose predecessor in the row
/// changed something, so that each caller finds the thing in the same state and a success in
/// one cell cannot change the next one's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The shared fixture: a contact, a saved selection and a snapshot made by the creator,
    /// and a deletion batch the creator trashed (with its finished trash job).
    Shared,
    /// A new contact made by the creator.
    NewContact,
    /// A new saved selection made by the creator.
    NewSelection,
    /// A snapshot (made by the creator) of one new contact of the creator's.
    SnapshotOfOne,
    /// A snapshot (made by the creator) of two new contacts of the creator's: more than one
    /// member makes a trash, anonymisation or update a mass operation (SPEC §7).
    SnapshotOfTwo,
    /// A deletion batch holding one new contact, made and trashed by the creator.
    TrashedByCreator,
    /// A deletion batch holding one new contact the creator made, trashed by an admin.
    TrashedByAdmin,
    /// A pending purge, requested by an admin, of a batch the creator trashed.
    PendingPurge,
    /// A second API token of the creator's (not the one the creator calls with).
    CreatorsToken,
    /// A new plain user, who made nothing.
    NewUser,
    /// A user name that belongs to nobody.
    NoSuchUser,
    /// A webhook endpoint an admin added.
    NewWebhook,
    /// A retention policy that notifies, added by the operator on the command line (so that
    /// the admin may approve it: four eyes).
    NewPolicy,
    /// An e-mail given up on: the admin, who has an address, was told of a purge request and
    /// no SMTP server is set.
    GivenUpDelivery,
    /// A person's erasure request an admin registered and assigned to the creator.
    RequestOfCreator,
    /// A new monitor the creator added (on the shared selection).
    NewMonitor,
}

/// What a successful request does to the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Nothing, whoever asks: the database must not change in any cell.
    Reads,
    /// Something: the database must change when the request succeeds, and must not when it
    /// is refused.
    Writes,
    /// Something or nothing (marking no notifications as read): only a refusal is checked.
    MayWrite,
}

/// One row: a route with a method, and the status every caller must get.
#[derive(Debug, Clone)]
struct Row {
    method: &'static str,
    /// The route exactly as `router()` declares it; `{entity}` is `contact`, and `{id}` and
    /// `{name}` are filled from the target (see [`concrete_path`]).
    route: &'static str,
    /// The JSON body, if the request has one.
    body: Option<fn(&Ids) -> Value>,
    target: Target,
    effect: Effect,
    expect: Expect,
    /// What is special about this row, for rows that try a route a second way (one record
    /// or several, whole batch or chosen records) or that are no route at all.
    note: &'static str,
}

/// A row of the table; see [`routes`].
fn row(
    method: &'static str,
    route: &'static str,
    body: Option<fn(&Ids) -> Value>,
    target: Target,
    effect: Effect,
    expect: Expect,
) -> Row {
    Row {
        method,
        route,
        body,
        target,
        effect,
        expect,
        note: "",
    }
}

impl Row {
    fn note(mut self, note: &'static str) -> Row {
        self.note = note;
        self
    }

    /// Rows that are not routes of the router (an unknown path, a method a route lacks).
    fn is_extra(&self) -> bool {
        self.note.starts_with("not a route")
    }
}

/// The policy at a glance. Columns: no token, bad token, plain user, admin, creator.
///
/// The rows assert the policy the code has. SPEC §7 names mass delete, purge, cancel and
/// policies as admin-only and is silent on the rest, so these cells are worth a second look
/// by whoever owns the policy:
/// - any signed-in user may change (`PATCH`) any record, and trash, anonymise or update any
///   *single* record — including one someone else made (anonymising cannot be undone) —
///   through a snapshot of their own: acting on another's snapshot needs seeing it;
/// - a user reads the jobs they started and the snapshots they made (and previews of them);
///   an admin reads all of them; purge previews are for admins, as purges are; any
///   signed-in user may read deletion batches, while the deletion history is for admins;
/// - the creator of every record of a batch may restore it, whole or by naming the records
///   (`ids`), whoever trashed it (SPEC §3: "the record's creator" may restore).
#[rustfmt::skip]
fn routes() -> Vec<Row> {
    use Effect::{MayWrite, Reads, Writes};
    use Target::*;
    vec![
        // method     route                                 body                     target            effect     none bad  user admin creator
        // Public: the health check and the API description. (The web pages, which sign in
        // with a session rather than a token, have their own checks in pages_*.rs.)
        row("GET",    "/api/v1/health",                     None,                    Shared,           Reads,    [200, 200, 200, 200, 200]),
        row("GET",    "/api/v1/openapi.json",               None,                    Shared,           Reads,    [200, 200, 200, 200, 200]),
        // Who am I, and the schema.
        row("GET",    "/api/v1/me",                         None,                    Shared,           Reads,    [401, 401, 200, 200, 200]),
        row("GET",    "/api/v1/schema",                     None,                    Shared,           Reads,    [401, 401, 200, 200, 200]),
        // Users: admins only.
        row("GET",    "/api/v1/users",                      None,                    Shared,           Reads,    [401, 401, 403, 200, 403]),
        row("POST",   "/api/v1/users",                      Some(new_user),          Shared,           Writes,   [401, 401, 403, 201, 403]),
        // Tokens: a user's own to list and revoke, or an admin's; removing a user is for admins.
        row("GET",    "/api/v1/users/{user}/tokens",        None,                    Shared,           Reads,    [401, 401, 403, 200, 200]),
        row("POST",   "/api/v1/tokens/{id}/revoke",         None,                    CreatorsToken,    Writes,   [401, 401, 403, 200, 200]),
        row("DELETE", "/api/v1/users/{user}",               None,                    NewUser,          Writes,   [401, 401, 403, 200, 403]),
        // Where a user's notifications go: theirs or an admin's to see and change; a plain
        // user naming a user who does not exist is refused as for one who does.
        row("GET",    "/api/v1/users/{user}/delivery",      None,                    Shared,           Reads,    [401, 401, 403, 200, 200]),
        row("GET",    "/api/v1/users/{user}/delivery",      None,                    NoSuchUser,       Reads,    [401, 401, 403, 404, 403]).note("a user name that does not exist"),
        row("PUT",    "/api/v1/users/{user}/delivery",      Some(delivery),          Shared,           Writes,   [401, 401, 403, 200, 200]),
        row("PUT",    "/api/v1/users/{user}/delivery",      Some(delivery),          NoSuchUser,       Reads,    [401, 401, 403, 404, 403]).note("a user name that does not exist"),
        // Webhooks and the outbox: admins only (a webhook hears of every event, whoever it
        // concerns; the outbox holds everyone's addresses).
        row("GET",    "/api/v1/webhooks",                   None,                    Shared,           Reads,    [401, 401, 403, 200, 403]),
        row("POST",   "/api/v1/webhooks",                   Some(new_webhook),       Shared,           Writes,   [401, 401, 403, 201, 403]),
        row("DELETE", "/api/v1/webhooks/{id}",              None,                    NewWebhook,       Writes,   [401, 401, 403, 200, 403]),
        row("GET",    "/api/v1/deliveries",                 None,                    Shared,           Reads,    [401, 401, 403, 200, 403]),
        row("POST",   "/api/v1/deliveries/{id}/retry",      None,                    GivenUpDelivery,  Writes,   [401, 401, 403, 200, 403]),
        // People's requests: admins register, assign, extend and refuse; the assignee (here
        // the creator) sees and moves their own along; a plain user lists only their own.
        row("GET",    "/api/v1/requests",                   None,                    Shared,           Reads,    [401, 401, 200, 200, 200]),
        row("POST",   "/api/v1/requests",                   Some(new_request),       Shared,           Writes,   [401, 401, 403, 201, 403]),
        row("GET",    "/api/v1/requests/{id}",              None,                    RequestOfCreator, Reads,    [401, 401, 403, 200, 200]),
        row("PATCH",  "/api/v1/requests/{id}",              Some(start_request),     RequestOfCreator, Writes,   [401, 401, 403, 200, 200]),
        row("PATCH",  "/api/v1/requests/{id}",              Some(extend_request),    RequestOfCreator, Reads,    [401, 401, 403, 422, 403]).note("an extension past two months: refused, for the assignee as an admin's decision"),
        row("POST",   "/api/v1/requests/{id}/links",        Some(link_batch),        RequestOfCreator, Writes,   [401, 401, 403, 201, 201]),
        // Monitors: anyone adds and reads them (saved selections are shared); an admin or the
        // owner changes, runs and removes one.
        row("GET",    "/api/v1/monitors",                   None,                    Shared,           Reads,    [401, 401, 200, 200, 200]),
        row("POST",   "/api/v1/monitors",                   Some(new_monitor),       Shared,           Writes,   [401, 401, 201, 201, 201]),
        row("GET",    "/api/v1/monitors/{name}",            None,                    Shared,           Reads,    [401, 401, 200, 200, 200]),
        row("PATCH",  "/api/v1/monitors/{name}",            Some(changed_monitor),   NewMonitor,       Writes,   [401, 401, 403, 200, 200]),
        row("DELETE", "/api/v1/monitors/{name}",            None,                    NewMonitor,       Writes,   [401, 401, 403, 200, 200]),
        row("POST",   "/api/v1/monitors/{name}/run",        None,                    NewMonitor,       Writes,   [401, 401, 403, 200, 200]),
        row("GET",    "/api/v1/monitors/{name}/hits",       None,                    Shared,           Reads,    [401, 401, 200, 200, 200]),
        // Retention policies: admins only (SPEC §7); a dry run freezes a snapshot and is
        // recorded, so it writes.
        row("GET",    "/api/v1/policies",                   None,                    Shared,           Reads,    [401, 401, 403, 200, 403]),
        row("POST",   "/api/v1/policies",                   Some(new_policy),        Shared,           Writes,   [401, 401, 403, 201, 403]),
        row("GET",    "/api/v1/policies/{name}",            None,                    NewPolicy,        Reads,    [401, 401, 403, 200, 403]),
        row("PATCH",  "/api/v1/policies/{name}",            Some(changed_policy),    NewPolicy,        Writes,   [401, 401, 403, 200, 403]),
        row("POST",   "/api/v1/policies/{name}/approve",    None,                    NewPolicy,        Writes,   [401, 401, 403, 200, 403]),
        row("POST",   "/api/v1/policies/{name}/enable",     None,                    NewPolicy,        Writes,   [401, 401, 403, 200, 403]),
        row("POST",   "/api/v1/policies/{name}/disable",    None,                    NewPolicy,        Writes,   [401, 401, 403, 200, 403]),
        row("POST",   "/api/v1/policies/{name}/dry-run",    None,                    NewPolicy,        Writes,   [401, 401, 403, 201, 403]),
        row("POST",   "/api/v1/policies/{name}/run",        Some(empty),             NewPolicy,        Writes,   [401, 401, 403, 201, 403]),
        row("GET",    "/api/v1/policies/{name}/runs",       None,                    NewPolicy,        Reads,    [401, 401, 403, 200, 403]),
        // Records: every signed-in user reads and writes them (SPEC §7).
        row("GET",    "/api/v1/records/{entity}",           None,                    Shared,           Reads,    [401, 401, 200, 200, 200]),
        row("POST",   "/api/v1/records/{entity}",           Some(new_contact),       Shared,           Writes,   [401, 401, 201, 201, 201]),
        row("GET",    "/api/v1/records/{entity}/count",     None,                    Shared,           Reads,    [401, 401, 200, 200, 200]),
        row("GET",    "/api/v1/export/{entity}",            None,                    Shared,           Writes,   [401, 401, 200, 200, 200]).note("an export of active records is anyone's, as reading them is; it is recorded in the history"),
        // Imports: admins only, as every bulk change.
        row("POST",   "/api/v1/import/{entity}",            Some(contacts_file),     Shared,           Writes,   [401, 401, 403, 202, 403]),
        // Everything about one person: admins only, asked before who the person is.
        row("GET",    "/api/v1/person",                     None,                    Shared,           Reads,    [401, 401, 403, 400, 403]).note("without email or contact, an admin hears what to give"),
        row("GET",    "/api/v1/person/export",              None,                    Shared,           Reads,    [401, 401, 403, 400, 403]).note("without email or contact, an admin hears what to give"),
        row("GET",    "/api/v1/records/{entity}/{id}",      None,                    Shared,           Reads,    [401, 401, 200, 200, 200]),
        row("PATCH",  "/api/v1/records/{entity}/{id}",      Some(changed_contact),   NewContact,       Writes,   [401, 401, 200, 200, 200]),
        row("GET",    "/api/v1/records/{entity}/{id}/file", None,                    NewContact,       Reads,    [401, 401, 422, 422, 422]).note("a contact is not a file: past the token check, everyone hears so (attachments are downloaded here)"),
        row("POST",   "/api/v1/query/{entity}",             Some(query),             Shared,           Reads,    [401, 401, 200, 200, 200]),
        // Saved selections: anyone saves and reads them; an admin or the author changes one.
        row("GET",    "/api/v1/selections",                 None,                    Shared,           Reads,    [401, 401, 200, 200, 200]),
        row("POST",   "/api/v1/selections",                 Some(new_selection),     Shared,           Writes,   [401, 401, 201, 201, 201]),
        row("GET",    "/api/v1/selections/{name}",          None,                    Shared,           Reads,    [401, 401, 200, 200, 200]),
        row("PUT",    "/api/v1/selections/{name}",          Some(changed_selection), NewSelection,     Writes,   [401, 401, 403, 200, 200]),
        row("DELETE", "/api/v1/selections/{name}",          None,                    NewSelection,     Writes,   [401, 401, 403, 200, 200]),
        row("GET",    "/api/v1/selections/{name}/records",  None,                    Shared,           Reads,    [401, 401, 200, 200, 200]),
        // Snapshots: freezing a pick and reading it.
        row("POST",   "/api/v1/snapshots",                  Some(new_snapshot),      Shared,           Writes,   [401, 401, 201, 201, 201]),
        row("GET",    "/api/v1/snapshots/{id}",             None,                    Shared,           Reads,    [401, 401, 403, 200, 200]),
        row("GET",    "/api/v1/snapshots/{id}/records",     None,                    Shared,           Reads,    [401, 401, 403, 200, 200]),
        // Trash: one record is anyone's; more than one is a mass delete, for admins (SPEC §7).
        row("POST",   "/api/v1/trash/preview",              Some(snapshot),          SnapshotOfTwo,    Reads,    [401, 401, 403, 200, 200]),
        row("POST",   "/api/v1/trash",                      Some(trash),             SnapshotOfOne,    Writes,   [401, 401, 403, 202, 202]).note("one record"),
        row("POST",   "/api/v1/trash",                      Some(trash),             SnapshotOfTwo,    Writes,   [401, 401, 403, 202, 403]).note("two records: a mass delete"),
        // Deletion batches: restore is for an admin, who trashed it, or the records' creator (SPEC §3).
        row("GET",    "/api/v1/batches/{id}",               None,                    Shared,           Reads,    [401, 401, 200, 200, 200]),
        row("POST",   "/api/v1/batches/{id}/restore",       Some(whole_batch),       TrashedByCreator, Writes,   [401, 401, 403, 202, 202]).note("whole batch, the creator trashed it"),
        row("POST",   "/api/v1/batches/{id}/restore",       Some(chosen_records),    TrashedByAdmin,   Writes,   [401, 401, 403, 202, 202]).note("the creator's records by id, an admin trashed them"),
        row("POST",   "/api/v1/batches/{id}/restore",       Some(whole_batch),       TrashedByAdmin,   Writes,   [401, 401, 403, 202, 202]).note("whole batch of the creator's records, an admin trashed it"),
        // Purge: request and cancel are for admins (SPEC §3, §7); anyone may look.
        row("GET",    "/api/v1/batches/{id}/purge/preview", None,                    Shared,           Reads,    [401, 401, 403, 200, 403]),
        row("POST",   "/api/v1/batches/{id}/purge",         Some(purge),             TrashedByCreator, Writes,   [401, 401, 403, 202, 403]),
        row("GET",    "/api/v1/purges",                     None,                    Shared,           Reads,    [401, 401, 200, 200, 200]),
        row("POST",   "/api/v1/purges/{id}/cancel",         None,                    PendingPurge,     Writes,   [401, 401, 403, 200, 403]),
        // Anonymise and bulk update: one record is anyone's; more than one is for admins.
        row("POST",   "/api/v1/anonymize",                  Some(snapshot),          SnapshotOfOne,    Writes,   [401, 401, 403, 202, 202]).note("one record"),
        row("POST",   "/api/v1/anonymize",                  Some(snapshot),          SnapshotOfTwo,    Writes,   [401, 401, 403, 202, 403]).note("two records"),
        row("POST",   "/api/v1/update/preview",             Some(update),            SnapshotOfTwo,    Reads,    [401, 401, 403, 200, 200]),
        row("POST",   "/api/v1/update",                     Some(update),            SnapshotOfOne,    Writes,   [401, 401, 403, 202, 202]).note("one record"),
        row("POST",   "/api/v1/update",                     Some(update),            SnapshotOfTwo,    Writes,   [401, 401, 403, 202, 403]).note("two records"),
        // Jobs: anyone may follow them.
        row("GET",    "/api/v1/jobs",                       None,                    Shared,           Reads,    [401, 401, 200, 200, 200]),
        row("GET",    "/api/v1/jobs/{id}",                  None,                    Shared,           Reads,    [401, 401, 403, 200, 200]),
        row("GET",    "/api/v1/jobs/{id}/skips",            None,                    Shared,           Reads,    [401, 401, 403, 200, 200]),
        // Resuming: an admin, or who started the job (not for a purge); who may is told that
        // a finished job has nothing to resume.
        row("POST",   "/api/v1/jobs/{id}/resume",           None,                    TrashedByCreator, Reads,    [401, 401, 403, 409, 409]).note("a finished job"),
        // The deletion history: admins only.
        row("GET",    "/api/v1/history",                    None,                    Shared,           Reads,    [401, 401, 403, 200, 403]),
        row("GET",    "/api/v1/history/verify",             None,                    Shared,           Reads,    [401, 401, 403, 200, 403]),
        // The consolidated table holds counts only.
        row("GET",    "/api/v1/stats",                      None,                    Shared,           Reads,    [401, 401, 200, 200, 200]),
        // Notifications: everyone has their own feed.
        row("GET",    "/api/v1/notifications",              None,                    Shared,           Reads,    [401, 401, 200, 200, 200]),
        row("POST",   "/api/v1/notifications/read",         Some(read_all),          Shared,           MayWrite, [401, 401, 200, 200, 200]),
        // Not routes: an unknown path is 404 before any token check; a method a route lacks is
        // checked for a token first, then 405.
        row("GET",    "/api/v1/no-such-route",              None,                    Shared,           Reads,    [404, 404, 404, 404, 404]).note("not a route: unknown path"),
        row("DELETE", "/api/v1/records/{entity}/{id}",      None,                    NewContact,       Reads,    [401, 401, 405, 405, 405]).note("not a route: records are trashed, never deleted"),
    ]
}

// The bodies of the table's requests.

fn new_user(ids: &Ids) -> Value {
    json!({"name": format!("matrix_user_{}", ids.unique), "role": "admin"})
}

fn new_contact(ids: &Ids) -> Value {
    json!({"last_name": format!("Matrix {}", ids.unique)})
}

/// A CSV file of one contact, for an import.
fn contacts_file(ids: &Ids) -> Value {
    Value::String(format!("last_name\nImported {}\n", ids.unique))
}

fn changed_contact(ids: &Ids) -> Value {
    json!({"job_title": format!("Changed {}", ids.unique)})
}

fn query(_: &Ids) -> Value {
    json!({"filter": "last_name = \"Shared\"", "limit": 10})
}

fn new_selection(ids: &Ids) -> Value {
    json!({"name": format!("matrix_{}", ids.unique), "entity": "contact", "filter": "category = \"lost\""})
}

fn changed_selection(_: &Ids) -> Value {
    json!({"filter": "category = \"customer\"", "description": "changed"})
}

fn new_snapshot(ids: &Ids) -> Value {
    json!({"entity": "contact", "include": [ids.contact], "note": "matrix"})
}

fn snapshot(ids: &Ids) -> Value {
    json!({"snapshot_id": ids.snapshot})
}

fn trash(ids: &Ids) -> Value {
    json!({"snapshot_id": ids.snapshot, "reason": "matrix"})
}

fn whole_batch(_: &Ids) -> Value {
    json!({})
}

fn chosen_records(ids: &Ids) -> Value {
    json!({"ids": [ids.contact]})
}

fn purge(_: &Ids) -> Value {
    json!({"reason": "matrix"})
}

fn update(ids: &Ids) -> Value {
    json!({"snapshot_id": ids.snapshot, "changes": {"legal_basis": "consent"}})
}

fn read_all(_: &Ids) -> Value {
    json!({"up_to": 1_000_000_000})
}

fn delivery(ids: &Ids) -> Value {
    json!({"email": format!("matrix{}@example.test", ids.unique), "email_kinds": {"purge_requested": false}})
}

fn new_request(ids: &Ids) -> Value {
    json!({"kind": "erasure", "email": format!("subject{}@example.test", ids.unique)})
}

fn start_request(_: &Ids) -> Value {
    json!({"status": "in_progress"})
}

fn extend_request(_: &Ids) -> Value {
    json!({"extended_until": "9999-01-01", "reason": "matrix"})
}

fn link_batch(ids: &Ids) -> Value {
    json!({"batch_id": ids.batch})
}

fn new_monitor(ids: &Ids) -> Value {
    json!({"name": format!("matrix_{}", ids.unique), "selection": ids.selection, "schedule": "0 3 * * *", "subscribers": ["owner"]})
}

fn changed_monitor(_: &Ids) -> Value {
    json!({"schedule": "0 4 * * *", "notify_on_leave": true})
}

fn new_policy(ids: &Ids) -> Value {
    json!({
        "name": format!("matrix-{}", ids.unique), "entity": "contact", "filter": "last_name = \"Shared\"",
        "action": "trash", "schedule": "0 3 * * *", "time_zone": "Europe/Oslo",
        "legal_basis": "kept while the matrix runs",
    })
}

fn changed_policy(_: &Ids) -> Value {
    json!({"legal_basis": "kept a little longer", "schedule": "@weekly"})
}

fn empty(_: &Ids) -> Value {
    json!({})
}

fn new_webhook(ids: &Ids) -> Value {
    json!({"url": format!("https://hooks.example.test/matrix/{}", ids.unique), "events": "*"})
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// The things a cell's path and body refer to.
#[derive(Debug, Clone, Default)]
struct Ids {
    /// A contact made by the creator (for a batch: its member).
    contact: i64,
    /// A saved selection made by the creator.
    selection: String,
    /// A snapshot made by the creator.
    snapshot: i64,
    /// A deletion batch.
    batch: i64,
    /// A finished trash job.
    job: i64,
    /// A pending purge job.
    purge: i64,
    /// A user's name: the creator's, or a new user's.
    user: String,
    /// An API token (of the creator's).
    token: i64,
    /// A webhook endpoint.
    webhook: i64,
    /// A message of the outbox.
    delivery: i64,
    /// A person's request.
    request: i64,
    /// A monitor the creator added.
    monitor: String,
    /// A retention policy's name.
    policy: String,
    /// Different in every cell, for names that must be unique.
    unique: usize,
}

/// The route with its parameters filled in.
fn concrete_path(route: &str, ids: &Ids) -> String {
    let id = if route.starts_with("/api/v1/records/") {
        ids.contact
    } else if route.starts_with("/api/v1/snapshots/") {
        ids.snapshot
    } else if route.starts_with("/api/v1/batches/") {
        ids.batch
    } else if route.starts_with("/api/v1/jobs/") {
        ids.job
    } else if route.starts_with("/api/v1/purges/") {
        ids.purge
    } else if route.starts_with("/api/v1/tokens/") {
        ids.token
    } else if route.starts_with("/api/v1/webhooks/") {
        ids.webhook
    } else if route.starts_with("/api/v1/deliveries/") {
        ids.delivery
    } else if route.starts_with("/api/v1/requests/") {
        ids.request
    } else {
        0
    };
    let name = if route.starts_with("/api/v1/monitors/") {
        &ids.monitor
    } else if route.starts_with("/api/v1/policies/") {
        &ids.policy
    } else {
        &ids.selection
    };
    route
        .replace("{entity}", "contact")
        .replace("{name}", name)
        .replace("{user}", &ids.user)
        .replace("{id}", &id.to_string())
}

/// Makes the fixtures of the matrix through the API, as the creator (and the admin where a
/// target says so).
struct Fixtures<'a> {
    database: &'a TestDatabase,
    server: &'a TestServer,
    tokens: &'a Tokens,
    shared: Ids,
    made: usize,
}

impl Fixtures<'_> {
    async fn contact(&mut self) -> i64 {
        self.made += 1;
        let body = json!({
            "first_name": "Fixture",
            "last_name": format!("Fixture {}", self.made),
            "email": format!("fixture{}@example.test", self.made),
        });
        self.server
            .create(&self.tokens.creator, "contact", body)
            .await
    }

    async fn snapshot_of(&self, ids: &[i64]) -> i64 {
        self.server
            .snapshot(
                &self.tokens.creator,
                json!({"entity": "contact", "include": ids}),
            )
            .await
    }

    /// Trashes one new contact of the creator's as `token`; returns (contact, batch, job).
    async fn trashed(&mut self, token: &str) -> (i64, i64, i64) {
        let contact = self.contact().await;
        let snapshot = self.snapshot_of(&[contact]).await;
        let job = self
            .server
            .accepted(token, "/api/v1/trash", &json!({"snapshot_id": snapshot}))
            .await;
        let job = settle(self.server, token, &job).await;
        assert_eq!(job["state"], "done", "{job}");
        (
            contact,
            job["batch_id"].as_i64().expect("a trash job has a batch"),
            job["id"].as_i64().expect("a job id"),
        )
    }

    async fn selection(&mut self) -> String {
        self.made += 1;
        let name = format!("creators_{}", self.made);
        let (status, body) = self
            .server
            .post(
                Some(&self.tokens.creator),
                "/api/v1/selections",
                &json!({"name": name, "entity": "contact", "filter": "last_name = \"Shared\""}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        name
    }

    /// Adds a monitor of the shared selection as the creator; returns its name.
    async fn monitor(&mut self) -> String {
        self.made += 1;
        let name = format!("creators_monitor_{}", self.made);
        let (status, body) = self
            .server
            .post(
                Some(&self.tokens.creator),
                "/api/v1/monitors",
                &json!({"name": name, "selection": self.shared.selection, "schedule": "0 3 * * *"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        name
    }

    /// Adds a webhook endpoint as the admin, listening to `events`; returns its id.
    async fn webhook(&mut self, events: &str) -> i64 {
        self.made += 1;
        let (status, added) = self
            .server
            .post(
                Some(&self.tokens.admin),
                "/api/v1/webhooks",
                &json!({"url": format!("https://hooks.example.test/fixture/{}", self.made), "events": events}),
            )
            .await;
        assert_eq!(status, 201, "{added}");
        added["webhook"]["id"].as_i64().expect("a webhook id")
    }

    /// An e-mail given up on: the admin has an address and no SMTP server is set, so the
    /// e-mail telling them of a new purge request is given up at its first try. Returns the
    /// message's id.
    async fn given_up_delivery(&mut self) -> i64 {
        let creator = self.tokens.creator.clone();
        let (_, batch, _) = self.trashed(&creator).await;
        let job = self
            .server
            .accepted(
                &self.tokens.admin,
                &format!("/api/v1/batches/{batch}/purge"),
                &json!({}),
            )
            .await;
        assert_eq!(job["state"], "pending", "{job}");
        let started = std::time::Instant::now();
        loop {
            let (status, listed) = self
                .server
                .get(
                    Some(&self.tokens.admin),
                    "/api/v1/deliveries?state=given_up&limit=1000",
                )
                .await;
            assert_eq!(status, 200, "{listed}");
            let found = listed["deliveries"].as_array().and_then(|deliveries| {
                deliveries
                    .iter()
                    .find(|delivery| {
                        delivery["job_id"] == job["id"] && delivery["channel"] == "email"
                    })
                    .and_then(|delivery| delivery["id"].as_i64())
            });
            if let Some(id) = found {
                return id;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "the e-mail of purge {} was not given up: {listed}",
                job["id"]
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    async fn prepare(&mut self, target: Target) -> Ids {
        let mut ids = self.shared.clone();
        match target {
            Target::Shared => {}
            Target::NewContact => ids.contact = self.contact().await,
            Target::CreatorsToken => {
                let run = lethe(self.database, &["user", "token", "owner", "--json"]);
                assert_eq!(run.status, 0, "{}", run.stderr);
                let (status, listed) = self
                    .server
                    .get(Some(&self.tokens.admin), "/api/v1/users/owner/tokens")
                    .await;
                assert_eq!(status, 200, "{listed}");
                ids.token = listed["tokens"]
                    .as_array()
                    .and_then(|tokens| tokens.last())
                    .and_then(|token| token["id"].as_i64())
                    .expect("the creator's new token");
            }
            Target::NewUser => {
                self.made += 1;
                ids.user = format!("leaver{}", self.made);
                add_user(self.database, &ids.user, "user");
            }
            Target::NoSuchUser => ids.user = "nobody_by_this_name".to_owned(),
            Target::NewWebhook => ids.webhook = self.webhook("*").await,
            Target::NewPolicy => {
                self.made += 1;
                ids.policy = format!("fixture-{}", self.made);
                add_policy(
                    self.database,
                    &ids.policy,
                    "last_name = \"Shared\"",
                    "notify",
                );
            }
            Target::GivenUpDelivery => ids.delivery = self.given_up_delivery().await,
            Target::RequestOfCreator => {
                self.made += 1;
                let (status, added) = self
                    .server
                    .post(
                        Some(&self.tokens.admin),
                        "/api/v1/requests",
                        &json!({"kind": "erasure", "email": format!("fixture{}@example.test", self.made), "assignee": "owner"}),
                    )
                    .await;
                assert_eq!(status, 201, "{added}");
                ids.request = added["request"]["id"].as_i64().expect("a request id");
            }
            Target::NewMonitor => ids.monitor = self.monitor().await,
            Target::NewSelection => ids.selection = self.selection().await,
            Target::SnapshotOfOne => {
                ids.contact = self.contact().await;
                ids.snapshot = self.snapshot_of(&[ids.contact]).await;
            }
            Target::SnapshotOfTwo => {
                let first = self.contact().await;
                let second = self.contact().await;
                ids.snapshot = self.snapshot_of(&[first, second]).await;
            }
            Target::TrashedByCreator => {
                let creator = self.tokens.creator.clone();
                (ids.contact, ids.batch, ids.job) = self.trashed(&creator).await;
            }
            Target::TrashedByAdmin => {
                let admin = self.tokens.admin.clone();
                (ids.contact, ids.batch, ids.job) = self.trashed(&admin).await;
            }
            Target::PendingPurge => {
                let creator = self.tokens.creator.clone();
                (ids.contact, ids.batch, ids.job) = self.trashed(&creator).await;
                let job = self
                    .server
                    .accepted(
                        &self.tokens.admin,
                        &format!("/api/v1/batches/{}/purge", ids.batch),
                        &json!({}),
                    )
                    .await;
                assert_eq!(job["state"], "pending", "{job}");
                ids.purge = job["id"].as_i64().expect("a job id");
            }
        }
        ids
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The outbox's columns that the server's delivery worker moves on its own, whatever the
/// request of a cell (tries, the next try, its lease, the last error, delivered or given up):
/// left out of the dumps, so that a cell is judged by what its request wrote. Sending a
/// message again writes the history too, which the dumps compare.
const DELIVERY_PROGRESS: [&str; 7] = [
    "attempts",
    "next_try_at",
    "lease_owner",
    "lease_expires_at",
    "last_error",
    "delivered_at",
    "given_up_at",
];

/// A dump of the database: table name → rows as text.
type Dump = BTreeMap<String, Vec<String>>;

/// Dumps every table of the SQLite database — Lethe's own (users, tokens, batches, jobs,
/// skips, history, selections, snapshots, notifications, …) and every entity table — each row
/// as the text SQLite's `quote()` gives, in rowid order, plus the list of tables itself: two
/// dumps are equal exactly when nothing was written. It does what lethe-testkit's `dump` and
/// `dump_entities` do, for all tables at once, on one connection and in one statement, which
/// the hundreds of cells of a matrix need to stay fast.
struct Dumper {
    connection: sqlx::SqliteConnection,
    sql: String,
}

impl Dumper {
    async fn open(database: &TestDatabase) -> Dumper {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&database.url)
            .busy_timeout(Duration::from_secs(30));
        let mut connection = sqlx::SqliteConnection::connect_with(&options)
            .await
            .expect("open the test database");
        let tables: Vec<String> = sqlx::query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(&mut connection)
        .await
        .expect("list the tables")
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect();
        let mut selects = vec![
            "SELECT ' tables' AS t, 0 AS n, group_concat(name, ',') AS r FROM \
             (SELECT name FROM sqlite_master ORDER BY name)"
                .to_owned(),
        ];
        for table in tables {
            let columns: Vec<String> =
                sqlx::query("SELECT name FROM pragma_table_info(?) ORDER BY cid")
                    .bind(&table)
                    .fetch_all(&mut connection)
                    .await
                    .expect("list a table's columns")
                    .iter()
                    .map(|row| row.get::<String, _>(0))
                    .filter(|column| {
                        !(table == "lethe_outbox" && DELIVERY_PROGRESS.contains(&column.as_str()))
                    })
                    .collect();
            let row_text = columns
                .iter()
                .map(|column| format!("quote(\"{column}\")"))
                .collect::<Vec<_>>()
                .join(" || ',' || ");
            selects.push(format!(
                "SELECT '{table}', rowid, {row_text} FROM \"{table}\""
            ));
        }
        let sql = format!(
            "SELECT t, r FROM ({}) ORDER BY t, n",
            selects.join(" UNION ALL ")
        );
        Dumper { connection, sql }
    }

    async fn dump(&mut self) -> Dump {
        let rows = sqlx::query(sqlx::AssertSqlSafe(self.sql.clone()))
            .fetch_all(&mut self.connection)
            .await
            .expect("dump the database");
        let mut dump = Dump::new();
        for row in rows {
            dump.entry(row.get::<String, _>(0))
                .or_default()
                .push(row.get::<String, _>(1));
        }
        dump
    }
}

/// The tables whose content differs between two dumps.
fn changed_tables(before: &Dump, after: &Dump) -> Vec<String> {
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter(|name| before.get(*name) != after.get(*name))
        .cloned()
        .collect()
}

/// Sends one request; answers the status and the body (JSON, or the text as a JSON string).
async fn send(
    server: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut request = server.client.request(method, server.endpoint(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request = match body {
        // A text body is a file: the CSV of an import.
        Some(Value::String(text)) => request
            .header("content-type", "text/csv")
            .body(text.clone()),
        Some(body) => request.json(body),
        None => request,
    };
    respond(request).await
}

/// After a `202`, waits until the job has stopped moving — done, failed, or pending (a purge
/// in its grace period) — so the next dump is not taken mid-job; answers the job then.
async fn settle(server: &TestServer, token: &str, job: &Value) -> Value {
    // An import answers its check beside the job.
    let id = job["id"]
        .as_i64()
        .or_else(|| job["job"]["id"].as_i64())
        .expect("a 202 answers a job");
    let started = Instant::now();
    loop {
        let (status, job) = server.get(Some(token), &format!("/api/v1/jobs/{id}")).await;
        assert_eq!(status, 200, "{job}");
        if !matches!(job["state"].as_str(), Some("queued" | "running")) {
            return job;
        }
        assert!(
            started.elapsed() < JOB_DEADLINE,
            "job {id} still runs: {job}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `(METHOD, route)` of every route `router()` in lethe-http declares, read from its source:
/// a route added there without a row in [`routes`] fails the matrix.
fn declared_routes() -> BTreeSet<(String, String)> {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../lethe-http/src/lib.rs"
    ))
    .expect("read lethe-http's router");
    let start = source.find("pub fn app(").expect("app() is in lib.rs");
    let router = &source[start..];
    let router = &router[..router.find("\n}\n").expect("the end of app()")];
    let mut declared = BTreeSet::new();
    for piece in router.split(".route(").skip(1) {
        let Some(rest) = piece.trim_start().strip_prefix('"') else {
            continue;
        };
        let end = rest.find('"').expect("a closing quote");
        let path = &rest[..end];
        let mut handlers = &rest[end..];
        for stop in [".route_layer(", ".merge(", ".fallback(", ".layer("] {
            if let Some(at) = handlers.find(stop) {
                handlers = &handlers[..at];
            }
        }
        for method in ["get", "post", "put", "patch", "delete"] {
            let call = format!("{method}(");
            let called = handlers.match_indices(&call).any(|(at, _)| {
                !handlers[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            });
            if called {
                declared.insert((method.to_uppercase(), path.to_owned()));
            }
        }
    }
    declared
}

/// `(METHOD, route)` of every operation in the OpenAPI document, with the per-entity paths
/// folded back into the router's `{entity}` parameter; and each one's documented statuses.
fn documented_routes(document: &Value) -> BTreeMap<(String, String), BTreeSet<u16>> {
    let mut documented: BTreeMap<(String, String), BTreeSet<u16>> = BTreeMap::new();
    let paths = document["paths"].as_object().expect("paths");
    for (path, item) in paths {
        let route = match path.split('/').collect::<Vec<_>>().as_slice() {
            [
                "",
                "api",
                "v1",
                kind @ ("records" | "query" | "export" | "import"),
                _entity,
                rest @ ..,
            ] => {
                let mut route = format!("/api/v1/{kind}/{{entity}}");
                for part in rest {
                    route.push('/');
                    route.push_str(part);
                }
                route
            }
            _ => path.clone(),
        };
        for (method, operation) in item.as_object().expect("a path item") {
            if method == "parameters" {
                continue;
            }
            let statuses = operation["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .filter_map(|code| code.parse().ok())
                .collect::<BTreeSet<u16>>();
            documented
                .entry((method.to_uppercase(), route.clone()))
                .or_default()
                .extend(statuses);
        }
    }
    documented
}

// ---------------------------------------------------------------------------------------------
// The HTTP matrix
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_caller_as_the_policy_says_and_refusals_change_nothing() {
    let database = TestDatabase::sqlite();
    let (_, admin) = add_user(&database, "boss", "admin");
    let (_, user) = add_user(&database, "clerk", "user");
    let (_, creator) = add_user(&database, "owner", "user");
    let tokens = Tokens {
        user,
        admin,
        creator,
    };
    let server = TestServer::start(&database);
    // The admin's address: the e-mails of the purge requests go to it (and, as no SMTP server
    // is set, are given up).
    let (status, set) = server
        .put(
            Some(&tokens.admin),
            "/api/v1/users/boss/delivery",
            &json!({"email": "boss@lethe.example"}),
        )
        .await;
    assert_eq!(status, 200, "{set}");

    // The shared fixture: everything made by the creator.
    let mut fixtures = Fixtures {
        database: &database,
        server: &server,
        tokens: &tokens,
        shared: Ids::default(),
        made: 0,
    };
    let contact = server
        .create(
            &tokens.creator,
            "contact",
            json!({"last_name": "Shared", "email": "shared@example.test"}),
        )
        .await;
    let selection = fixtures.selection().await;
    let snapshot = fixtures.snapshot_of(&[contact]).await;
    let creator = tokens.creator.clone();
    let (_, batch, job) = fixtures.trashed(&creator).await;
    fixtures.shared = Ids {
        contact,
        selection,
        snapshot,
        batch,
        job,
        purge: 0,
        user: "owner".to_owned(),
        token: 0,
        webhook: 0,
        delivery: 0,
        request: 0,
        monitor: String::new(),
        policy: String::new(),
        unique: 0,
    };
    fixtures.shared.monitor = fixtures.monitor().await;

    // The table covers the router, and the router the OpenAPI document.
    let rows = routes();
    let declared = declared_routes();
    assert!(
        declared.len() >= 38,
        "the router was not read: {declared:?}"
    );
    let in_table: BTreeSet<(String, String)> = rows
        .iter()
        .filter(|row| !row.is_extra())
        .map(|row| (row.method.to_owned(), row.route.to_owned()))
        .collect();
    assert_eq!(
        in_table.symmetric_difference(&declared).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "the matrix and the router list different routes"
    );
    let (status, document) = server.get(None, "/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    let documented = documented_routes(&document);
    let undocumented: Vec<&(String, String)> = declared
        .iter()
        .filter(|(_, route)| route != "/api/v1/openapi.json")
        .filter(|key| !documented.contains_key(*key))
        .collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the OpenAPI document: {undocumented:?}"
    );

    let mut dumper = Dumper::open(&database).await;
    let mut failures = Vec::new();
    let mut table = Vec::new();
    let mut cells = 0;
    for row in &rows {
        let mut observed = Vec::new();
        // A target a cell left as it was (a refusal, a read) serves the next cell too.
        let mut unchanged_target: Option<Ids> = None;
        for (column, caller) in CALLERS.into_iter().enumerate() {
            cells += 1;
            let mut ids = match unchanged_target.take() {
                Some(ids) => ids,
                None => fixtures.prepare(row.target).await,
            };
            ids.unique = cells;
            let path = concrete_path(row.route, &ids);
            let body = row.body.map(|make| make(&ids));
            let expected = row.expect[column];
            let cell = format!("{} {path} {} as {caller:?}", row.method, row.note);

            let before = dumper.dump().await;
            let (status, answer) =
                send(&server, row.method, &path, tokens.of(caller), body.as_ref()).await;
            observed.push(status);
            if status == 202 {
                settle(&server, &tokens.admin, &answer).await;
            }
            let after = dumper.dump().await;

            if status != expected {
                failures.push(format!(
                    "{cell}: expected {expected}, got {status}: {answer}"
                ));
            }
            let refused = status >= 400;
            let changed = changed_tables(&before, &after);
            if changed.is_empty() {
                unchanged_target = Some(ids);
            }
            if (refused || row.effect == Effect::Reads) && !changed.is_empty() {
                failures.push(format!("{cell}: answered {status} yet changed {changed:?}"));
            }
            if !refused && row.effect == Effect::Writes && changed.is_empty() {
                failures.push(format!("{cell}: answered {status} yet changed nothing"));
            }
            // A refusal is the API's JSON error; 401 says how to authenticate.
            if refused {
                let shape_ok = answer["error"].is_string() && answer["code"].is_string();
                if !shape_ok {
                    failures.push(format!("{cell}: not the JSON error shape: {answer}"));
                }
                let code = answer["code"].as_str().unwrap_or_default();
                let expected_code = match status {
                    401 => "unauthorized",
                    403 => "forbidden",
                    404 => "not_found",
                    405 => "method_not_allowed",
                    _ => code,
                };
                if code != expected_code {
                    failures.push(format!("{cell}: code {code}, expected {expected_code}"));
                }
            }
            // Every status a documented route gives is in its OpenAPI responses.
            if !row.is_extra()
                && let Some(statuses) =
                    documented.get(&(row.method.to_owned(), row.route.to_owned()))
                && !statuses.contains(&status)
            {
                failures.push(format!(
                    "{cell}: {status} is not among the documented responses {statuses:?}"
                ));
            }
        }
        table.push(format!(
            "{:<7}{:<40}{:<58}{observed:?}",
            row.method, row.route, row.note
        ));
    }
    println!("{cells} cells:\n{}", table.join("\n"));
    assert!(
        failures.is_empty(),
        "{} of {cells} cells differ from the policy:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Headers that are not a valid bearer token are all 401, never a 500, and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_authorization_headers_are_refused_and_change_nothing() {
    let database = TestDatabase::sqlite();
    let (_, admin) = add_user(&database, "boss", "admin");
    let server = TestServer::start(&database);
    let mut dumper = Dumper::open(&database).await;
    let before = dumper.dump().await;
    let long = format!("Bearer lethe_{}", "A".repeat(10_000));
    let lowercase = format!("bearer {admin}");
    let basic = format!("Basic {admin}");
    let twice = format!("Bearer {admin} {admin}");
    let unprefixed = format!("Bearer {}", admin.trim_start_matches("lethe_"));
    let cases: Vec<(&str, reqwest::header::HeaderValue)> = vec![
        ("empty", reqwest::header::HeaderValue::from_static("")),
        (
            "scheme only",
            reqwest::header::HeaderValue::from_static("Bearer"),
        ),
        (
            "scheme and space",
            reqwest::header::HeaderValue::from_static("Bearer "),
        ),
        ("lower-case scheme", lowercase.parse().expect("a header")),
        ("basic scheme", basic.parse().expect("a header")),
        ("token twice", twice.parse().expect("a header")),
        ("no prefix", unprefixed.parse().expect("a header")),
        ("10 kB token", long.parse().expect("a header")),
        (
            "not UTF-8",
            reqwest::header::HeaderValue::from_bytes(b"Bearer lethe_\xff\xfe").expect("a header"),
        ),
    ];
    for (what, value) in cases {
        for (method, path) in [("GET", "/api/v1/me"), ("POST", "/api/v1/users")] {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
            let request = server
                .client
                .request(method, server.endpoint(path))
                .header(reqwest::header::AUTHORIZATION, value.clone())
                .json(&json!({"name": "intruder", "role": "admin"}));
            let (status, body) = respond(request).await;
            assert_eq!(status, 401, "{what} on {path}: {body}");
            assert_eq!(body["code"], "unauthorized", "{what}: {body}");
        }
    }
    assert!(changed_tables(&before, &dumper.dump().await).is_empty());
}

// ---------------------------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------------------------

/// Who runs a command: the operator (no `--as`), or `--as` an admin, a plain user, the
/// creator, or a name that is no user.
const CLI_CALLERS: [Option<&str>; 5] = [
    None,
    Some("boss"),
    Some("clerk"),
    Some("owner"),
    Some("nobody"),
];

/// One command of the CLI matrix; `{a}`, `{b}` (two contacts the creator made), `{batch}`
/// (a batch the creator trashed), `{purge}` (a pending purge of it), `{selection}` (a
/// selection the creator saved), `{request}` (a person's request assigned to the creator),
/// `{monitor}` (a monitor the creator added) and `{n}` are filled in per cell. Exit codes
/// per caller:
/// operator, `--as` admin, user, creator, unknown name (0 done, 2 refused).
struct CliRow {
    args: &'static str,
    effect: Effect,
    expect: [i32; 5],
}

/// The command line is the operator's, with full rights (SPEC §8): without `--as` everything
/// is allowed. `--as USER` makes every command that changes or reveals what is not everyone's
/// (trash, restore, purge, anonymise, update, history, saved selections, users, people's
/// requests) ask the
/// policy (`lethe_domain::policy`) with that user's rights, as the API does.
#[rustfmt::skip]
fn cli_rows() -> Vec<CliRow> {
    use Effect::{Reads, Writes};
    let row = |args, effect, expect| CliRow { args, effect, expect };
    vec![
        // command                                                           effect  operator, --as: admin, user, creator, nobody
        row("trash contact --include {a} --yes",                                Writes, [0, 0, 0, 0, 2]),
        row("trash contact --include {a},{b} --yes",                            Writes, [0, 0, 2, 2, 2]),
        row("restore {batch}",                                                  Writes, [0, 0, 2, 0, 2]),
        row("purge request --batch {batch} --yes",                              Writes, [0, 0, 2, 2, 2]),
        row("purge cancel {purge}",                                             Writes, [0, 0, 2, 2, 2]),
        row("anonymize contact --include {a},{b} --yes",                        Writes, [0, 0, 2, 2, 2]),
        row("update contact --include {a},{b} --set legal_basis=consent --yes", Writes, [0, 0, 2, 2, 2]),
        row("history",                                                          Reads,  [0, 0, 2, 2, 2]),
        row("history --verify",                                                 Reads,  [0, 0, 2, 2, 2]),
        // Notifications belong to a user: the operator has none.
        row("notifications",                                                    Reads,  [2, 0, 0, 0, 2]),
        // A saved selection is changed or deleted by an admin or its author, as over HTTP.
        row("selection update {selection} --ids {a}",                           Writes, [0, 0, 2, 0, 2]),
        row("selection delete {selection}",                                     Writes, [0, 0, 2, 0, 2]),
        // Users are managed by admins (and the operator), as over HTTP.
        row("user add cli_user_{n} --role admin",                               Writes, [0, 0, 2, 2, 2]),
        row("user list",                                                        Reads,  [0, 0, 2, 2, 2]),
        // People's requests (`{request}` is one assigned to the creator): admins register and
        // refuse; the assignee sees and starts hers; a plain user lists only her own.
        row("request add --erasure --email cli_{n}@example.test",               Writes, [0, 0, 2, 2, 2]),
        row("request list",                                                     Reads,  [0, 0, 0, 0, 2]),
        row("request show {request}",                                           Reads,  [0, 0, 2, 0, 2]),
        row("request start {request}",                                          Writes, [0, 0, 2, 0, 2]),
        row("request refuse {request} --reason duplicate",                      Writes, [0, 0, 2, 2, 2]),
        // Retention policies are for admins (and the operator), as over HTTP.
        row("policy list",                                                      Reads,  [0, 0, 2, 2, 2]),
        row("policy add cli_policy_{n} --entity contact --filter id>0 --action notify --schedule @daily --legal-basis matrix", Writes, [0, 0, 2, 2, 2]),
        // Monitors: anyone adds and lists them; an admin or the owner runs and disables one,
        // as over HTTP.
        row("monitor list",                                                     Reads,  [0, 0, 0, 0, 2]),
        row("monitor add cli_monitor_{n} --selection {selection} --schedule @daily", Writes, [0, 0, 0, 0, 2]),
        row("monitor run {monitor}",                                            Writes, [0, 0, 2, 0, 2]),
        row("monitor disable {monitor}",                                        Writes, [0, 0, 2, 0, 2]),
    ]
}

/// The tables a command-line pick is frozen into.
const FROZEN_PICK: [&str; 2] = ["lethe_snapshot", "lethe_snapshot_member"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_acts_with_the_operators_rights_or_those_of_the_user_named_by_as() {
    let database = TestDatabase::sqlite();
    for (name, role) in [("boss", "admin"), ("clerk", "user"), ("owner", "user")] {
        add_user(&database, name, role);
    }
    let as_creator = |args: &[&str]| -> Value {
        let mut all = vec!["--as", "owner", "--json"];
        all.extend_from_slice(args);
        let run = lethe(&database, &all);
        assert_eq!(run.status, 0, "{args:?}: {}", run.stderr);
        run.json()
    };
    // Fills a row's arguments with things made for it by the creator.
    let prepare = |args: &str, cell: usize| -> String {
        let contact = |n: usize| {
            as_creator(&[
                "record",
                "create",
                "contact",
                &format!("last_name=Cli {cell} {n}"),
            ])["id"]
                .as_i64()
                .expect("an id")
                .to_string()
        };
        let mut filled = args.replace("{n}", &cell.to_string());
        if filled.contains("{batch}") || filled.contains("{purge}") {
            let member = contact(0);
            let trashed = as_creator(&["trash", "contact", "--include", &member, "--yes"]);
            let batch = trashed["job"]["batch_id"]
                .as_i64()
                .expect("a batch")
                .to_string();
            filled = filled.replace("{batch}", &batch);
            if filled.contains("{purge}") {
                let run = lethe(
                    &database,
                    &["--json", "purge", "request", "--batch", &batch, "--yes"],
                );
                assert_eq!(run.status, 0, "{}", run.stderr);
                let purge = run.json()["job"]["id"].as_i64().expect("a purge job");
                filled = filled.replace("{purge}", &purge.to_string());
            }
        }
        for (placeholder, n) in [("{a}", 1), ("{b}", 2)] {
            if filled.contains(placeholder) {
                filled = filled.replace(placeholder, &contact(n));
            }
        }
        if filled.contains("{request}") {
            let run = lethe(
                &database,
                &[
                    "--json",
                    "request",
                    "add",
                    "--erasure",
                    "--email",
                    &format!("cli_request_{cell}@example.test"),
                    "--assignee",
                    "owner",
                ],
            );
            assert_eq!(run.status, 0, "{}", run.stderr);
            let request = run.json()["request"]["id"].as_i64().expect("a request id");
            filled = filled.replace("{request}", &request.to_string());
        }
        if filled.contains("{monitor}") {
            let selection = format!("cli_watched_{cell}");
            as_creator(&[
                "selection",
                "save",
                &selection,
                "contact",
                "--filter",
                "category = \"lost\"",
            ]);
            let name = format!("cli_monitor_of_{cell}");
            as_creator(&[
                "monitor",
                "add",
                &name,
                "--selection",
                &selection,
                "--schedule",
                "@daily",
            ]);
            filled = filled.replace("{monitor}", &name);
        }
        if filled.contains("{selection}") {
            let name = format!("cli_selection_{cell}");
            as_creator(&[
                "selection",
                "save",
                &name,
                "contact",
                "--filter",
                "category = \"lost\"",
            ]);
            filled = filled.replace("{selection}", &name);
        }
        filled
    };

    let mut dumper = Dumper::open(&database).await;
    let mut failures = Vec::new();
    let mut cells = 0;
    for row in cli_rows() {
        // What a cell left as it was serves the next cell too.
        let mut unchanged: Option<String> = None;
        for (column, caller) in CLI_CALLERS.into_iter().enumerate() {
            cells += 1;
            let filled = unchanged.take().unwrap_or_else(|| prepare(row.args, cells));
            let mut args: Vec<&str> = vec!["--json"];
            if let Some(name) = caller {
                args.extend(["--as", name]);
            }
            args.extend(filled.split(' '));

            let before = dumper.dump().await;
            let run = lethe(&database, &args);
            let after = dumper.dump().await;
            let expected = row.expect[column];
            let cell = format!("lethe {}", args.join(" "));
            if run.status != expected {
                failures.push(format!(
                    "{cell}: exit {} instead of {expected}: {}",
                    run.status, run.stderr
                ));
                continue;
            }
            let mut changed = changed_tables(&before, &after);
            if run.status != 0 && row.args.contains("--include") {
                // Trash, anonymise and update freeze the pick into a snapshot before the
                // store checks the user's rights, so a refusal leaves that snapshot behind
                // (and nothing else); the API has the two as separate steps.
                changed.retain(|table| !FROZEN_PICK.contains(&table.as_str()));
            }
            if changed.is_empty() {
                unchanged = Some(filled.clone());
            }
            if (run.status != 0 || row.effect == Effect::Reads) && !changed.is_empty() {
                failures.push(format!(
                    "{cell}: exit {} yet changed {changed:?}",
                    run.status
                ));
            }
            if run.status == 0 && row.effect == Effect::Writes && changed.is_empty() {
                failures.push(format!("{cell}: done yet nothing changed"));
            }
            if run.status != 0 {
                let error = run.error_json();
                let code = error["code"].as_str().unwrap_or_default();
                // A missing right is `forbidden` (the policy's answer); an unknown `--as`
                // name and the operator asking for notifications are usage errors (`error`).
                let usage = caller.is_none_or(|name| name == "nobody");
                let expected_code = if usage { "error" } else { "forbidden" };
                if code != expected_code {
                    failures.push(format!(
                        "{cell}: code {code}, expected {expected_code}: {error}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cells} command-line cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The log
// ---------------------------------------------------------------------------------------------

/// A `lethe serve` whose stdout and stderr are kept, with logging turned up. (The shared
/// `TestServer` lets stderr through to the test's own, so it cannot be searched.)
struct LoggedServer {
    child: std::process::Child,
    url: String,
    client: reqwest::Client,
    output: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl LoggedServer {
    fn start(database: &TestDatabase, log: &str) -> LoggedServer {
        let mut child = lethe_command(database)
            .env("LETHE_LOG", log)
            .env("NO_COLOR", "1")
            .args(["serve", "--listen", "127.0.0.1:0", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start lethe serve");
        let output = Arc::new(Mutex::new(String::new()));
        // The first line of stdout announces the URL; it and everything after it, and all
        // of stderr, is kept.
        let mut stdout = child.stdout.take().expect("stdout");
        let mut first_line = Vec::new();
        let mut byte = [0u8; 1];
        while stdout.read(&mut byte).expect("read stdout") == 1 && byte[0] != b'\n' {
            first_line.push(byte[0]);
        }
        let first_line = String::from_utf8_lossy(&first_line).into_owned();
        output.lock().expect("the log").push_str(&first_line);
        let announced: Value = serde_json::from_str(&first_line)
            .unwrap_or_else(|_| panic!("serve did not announce its URL: {first_line:?}"));
        let stderr = child.stderr.take().expect("stderr");
        let streams: [Box<dyn Read + Send>; 2] = [Box::new(stdout), Box::new(stderr)];
        let readers = streams
            .into_iter()
            .map(|mut stream| {
                let output = Arc::clone(&output);
                std::thread::spawn(move || {
                    let mut buffer = Vec::new();
                    let _ = stream.read_to_end(&mut buffer);
                    output
                        .lock()
                        .expect("the log")
                        .push_str(&String::from_utf8_lossy(&buffer));
                })
            })
            .collect();
        LoggedServer {
            child,
            url: announced["url"].as_str().expect("url").to_owned(),
            client: reqwest::Client::new(),
            output,
            readers,
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        respond(request).await
    }

    /// Stops the server and answers everything it wrote.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            reader.join().expect("a reader thread");
        }
        let output = self.output.lock().expect("the log");
        output.clone()
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_log_holds_no_token_and_no_personal_data() {
    let database = TestDatabase::sqlite();
    let (_, admin) = add_user(&database, "boss", "admin");
    // `lethe serve` logs through `LETHE_LOG` (an `EnvFilter`); trace is everything there is.
    let server = LoggedServer::start(&database, "trace");
    // Distinctive, so that any trace of them in the log is found; percent-encoding keeps the
    // local part as it is.
    let email = "zebulon.quartzfield@qx-mailhost.example";
    let secret_parts = ["zebulon", "quartzfield", "Quartzfield", "qx-mailhost"];
    let encoded_filter = "email%20%3D%20%22zebulon.quartzfield%40qx-mailhost.example%22";

    let (status, created) = server
        .send(
            "POST",
            "/api/v1/records/contact",
            &admin,
            Some(json!({"first_name": "Zebulon", "last_name": "Quartzfield", "email": email})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let contact = created["id"].as_i64().expect("an id");
    let reads = [
        (format!("/api/v1/records/contact/{contact}"), 200),
        (
            format!("/api/v1/records/contact?filter={encoded_filter}"),
            200,
        ),
        (
            format!("/api/v1/records/contact/count?filter={encoded_filter}"),
            200,
        ),
        // A filter with a mistake: the error answer may quote it, the log must not.
        (
            format!(
                "/api/v1/records/contact?filter={encoded_filter}%20and%20nosuchfield%20%3D%201"
            ),
            422,
        ),
    ];
    for (path, expected) in &reads {
        let (status, body) = server.send("GET", path, &admin, None).await;
        assert_eq!(status, *expected, "{path}: {body}");
    }
    let (status, body) = server
        .send(
            "POST",
            "/api/v1/query/contact",
            &admin,
            Some(json!({"filter": format!("email = \"{email}\"")})),
        )
        .await;
    assert_eq!((status, &body["count"]), (200, &json!(1)), "{body}");
    let (status, body) = server
        .send(
            "PATCH",
            &format!("/api/v1/records/contact/{contact}"),
            &admin,
            Some(json!({"job_title": "Quartzfield surveyor"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The same address as a person's, for their e-mails; a webhook and its secret.
    let (status, body) = server
        .send(
            "PUT",
            "/api/v1/users/boss/delivery",
            &admin,
            Some(json!({"email": email})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server
        .send(
            "POST",
            "/api/v1/webhooks",
            &admin,
            Some(json!({"url": "https://hooks.example.test/in", "events": "*"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let webhook_secret = body["secret"].as_str().expect("a secret").to_owned();
    // A wrong token; a new user's token on a route it may not use.
    let wrong = format!("lethe_Quartzfield{}", "Z".repeat(26));
    let (status, _) = server.send("GET", "/api/v1/me", &wrong, None).await;
    assert_eq!(status, 401);
    let (status, created) = server
        .send(
            "POST",
            "/api/v1/users",
            &admin,
            Some(json!({"name": "clerk", "role": "user"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let clerk = created["token"].as_str().expect("a token").to_owned();
    let (status, _) = server.send("GET", "/api/v1/history", &clerk, None).await;
    assert_eq!(status, 403);
    // A job runs in the background and logs when it finishes.
    let (status, body) = server
        .send(
            "POST",
            "/api/v1/snapshots",
            &admin,
            Some(json!({"entity": "contact", "include": [contact]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, job) = server
        .send(
            "POST",
            "/api/v1/anonymize",
            &admin,
            Some(json!({"snapshot_id": body["snapshot"]["id"]})),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    let started = Instant::now();
    loop {
        let (_, now) = server
            .send("GET", &format!("/api/v1/jobs/{}", job["id"]), &admin, None)
            .await;
        if now["state"] == "done" {
            break;
        }
        assert!(started.elapsed() < JOB_DEADLINE, "{now}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Give the background task a moment to log that the job finished.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let log = server.stop();
    assert!(
        log.contains("finished processing request") && log.contains("job finished"),
        "the log is on and shows requests and jobs:\n{log}"
    );
    for token in [&admin, &clerk, &wrong] {
        assert!(
            !log.contains(token.as_str()),
            "a token is in the log:\n{log}"
        );
        // Not even a part of one: its random part, after the public prefix.
        let random = &token["lethe_".len()..];
        assert!(
            !log.contains(&random[..16]),
            "part of a token is in the log:\n{log}"
        );
    }
    assert!(
        !log.contains(&webhook_secret["whsec_".len()..][..16]),
        "a webhook's secret is in the log:\n{log}"
    );
    for part in secret_parts {
        assert!(
            !log.contains(part),
            "`{part}` of a contact is in the log:\n{log}"
        );
    }
}
