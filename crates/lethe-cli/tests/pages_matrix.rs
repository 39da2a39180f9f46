//! The web pages' authorisation matrix: every page route of `lethe-web`'s `routes()` (read
//! from its source, so a route added there without a row fails here) against three signed-in
//! callers — an admin (`bob`) who made none of the things asked about, the plain user (`ula`)
//! who made them, and another plain user (`olaf`) — with the outcome each must get, written
//! below as one table that follows the policy (`lethe_domain::policy`). A second admin, `ann`,
//! makes what an admin made: a batch and its job, the purges. Against a real `lethe serve`, on
//! both backends.
//!
//! Every form carries the caller's own session token, so that a refusal is the policy's and
//! not the cross-site check's (which `pages_authz.rs` tests, with the no-session redirects). A
//! refused cell must change nothing, and so must a page that only shows something: Lethe's
//! tables and the contacts are dumped before and after each cell. An allowed form must change
//! something. A cell that would use up what it acts on (a restore, a cancel, a deletion) gets
//! a fresh one when the cell before it in the row changed anything.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{
    JOB_DEADLINE, PageClient, TestDatabase, TestServer, add_policy, add_user_with_password,
    both_backends, lethe, page_routes,
};

/// Everyone's password: the matrix signs its callers in again whenever a cell ended their
/// session (signing out, a new password, ending sessions).
const PASSWORD: &str = "a long enough passphrase";

// ---------------------------------------------------------------------------------------------
// Who asks, and what they must get
// ---------------------------------------------------------------------------------------------

/// The callers, in the order of a row's columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// `bob`, an admin who made nothing: whatever he may do, he may as an admin.
    Admin,
    /// The plain user who made the record, snapshot, job, batch or selection, whose token or
    /// session it is, or whom a `/users/{name}` page is about: `ula`, or for a [`Target::NewUser`]
    /// row that new user themself.
    Owner,
    /// `olaf`, a plain user who made none of it.
    Other,
}

const CALLERS: [Caller; 3] = [Caller::Admin, Caller::Owner, Caller::Other];

impl Caller {
    fn name(self, ids: &Ids) -> String {
        match self {
            Caller::Admin => "bob".to_owned(),
            Caller::Owner => ids.owner.clone(),
            Caller::Other => "olaf".to_owned(),
        }
    }
}

/// What a caller must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// `200`: the page.
    Page,
    /// `303` to this address; a `*` stands for an id or a name.
    Go(&'static str),
    /// `403` with the policy's "Not allowed" page.
    No,
    /// `404`.
    Missing,
    /// `409`: allowed, but not in this state.
    Busy,
}

impl Outcome {
    fn allowed(self) -> bool {
        matches!(self, Outcome::Page | Outcome::Go(_))
    }

    fn matches(self, status: u16, location: &str, body: &str) -> bool {
        match self {
            Outcome::Page => status == 200,
            Outcome::Go(pattern) => status == 303 && glob(pattern, location),
            Outcome::No => status == 403 && body.contains("Not allowed"),
            Outcome::Missing => status == 404,
            Outcome::Busy => status == 409,
        }
    }
}

/// Whether `text` is `pattern`, where one `*` stands for one or more characters.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let head = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(head) else {
        return false;
    };
    let mut parts: Vec<&str> = parts.collect();
    let Some(tail) = parts.pop() else {
        return rest.is_empty();
    };
    // Each star stands for at least one character; the middle parts come in order.
    for part in parts {
        match rest.get(1..).and_then(|after| after.find(part)) {
            Some(at) => rest = &rest[1 + at + part.len()..],
            None => return false,
        }
    }
    rest.len() > tail.len() && rest.ends_with(tail)
}

#[test]
fn a_star_of_the_expected_address_stands_for_one_character_or_more() {
    assert!(glob("/deliveries?retried=*", "/deliveries?retried=4"));
    assert!(!glob("/deliveries?retried=*", "/deliveries?retried="));
    assert!(glob("/policies/*?dry_run=*", "/policies/p-1?dry_run=11"));
    assert!(!glob("/policies/*?dry_run=*", "/policies/?dry_run=11"));
    assert!(!glob("/policies/*?dry_run=*", "/policies/p?ran=11"));
    assert!(glob("/users", "/users") && !glob("/users", "/users/x"));
}

/// What an allowed request does to the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Nothing, in any cell.
    Reads,
    /// Something when allowed; nothing when refused.
    Writes,
    /// Something or nothing (marking no notifications read); nothing when refused.
    MayWrite,
}

// ---------------------------------------------------------------------------------------------
// What a cell acts on
// ---------------------------------------------------------------------------------------------

/// What a row's cells act on; made by `ann` (an admin) or `ula` (the owner) through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Made once, by `ula` unless said otherwise: a contact, a snapshot of it, a trash job and
    /// its deletion batch (of another contact), and a saved selection; the user `ula`.
    Shared,
    /// `ann`'s finished trash job.
    AdminsJob,
    /// A purge that ran at once (an urgent erasure), with its erasure receipt.
    DonePurge,
    /// A pending purge, requested by `ann` with the default grace, of a batch `ula` trashed.
    PendingPurge,
    /// A snapshot `ula` made of one new contact of hers.
    SnapshotOfOne,
    /// A snapshot `ula` made of two new contacts of hers: a mass operation (SPEC §7).
    SnapshotOfTwo,
    /// A deletion batch of one new contact of `ula`'s, trashed by `ula`.
    TrashedByOwner,
    /// A deletion batch of one new contact of `ula`'s, trashed by `ann`.
    OwnersTrashedByAdmin,
    /// A deletion batch of one new contact of `ann`'s, trashed by `ann`.
    AdminsTrashedByAdmin,
    /// A new saved selection of `ula`'s.
    OwnersSelection,
    /// A new API token of `ula`'s (not one she signs in with: pages use sessions).
    OwnersToken,
    /// A second sign-in session of `ula`'s (another browser).
    OwnersSession,
    /// A new plain user with a password, who is the row's owner.
    NewUser,
    /// A message of the outbox given up on: the e-mail telling `ann` of a new pending purge,
    /// given up at its first try as no SMTP server is set.
    GivenUpDelivery,
    /// A webhook `ann` added, listening to a kind of event the matrix never makes (so that
    /// nothing is ever sent to it while the cells run).
    LiveWebhook,
    /// A person's erasure request `ann` registered and assigned to `ula`.
    OwnersRequest,
    /// A new monitor of `ula`'s, on the shared selection.
    OwnersMonitor,
    /// A retention policy that notifies, added by the operator on the command line (so that
    /// `ann` may approve it: four eyes).
    NotifyPolicy,
    /// Ids and a user name that do not exist.
    Unknown,
}

/// The things a cell's address and form refer to.
#[derive(Debug, Clone, Default)]
struct Ids {
    /// A contact (for a batch: its member).
    record: i64,
    snapshot: i64,
    /// A job: a trash job, or a purge for `/purges/{job}`.
    job: i64,
    batch: i64,
    selection: String,
    /// Whom a `/users/{name}` page is about.
    user: String,
    token: i64,
    session: i64,
    /// A message of the outbox.
    delivery: i64,
    webhook: i64,
    /// A person's request.
    request: i64,
    /// A monitor's name.
    monitor: String,
    /// A retention policy's name.
    policy: String,
    /// A dry run of that policy.
    dry_run: i64,
    /// The name of the [`Caller::Owner`].
    owner: String,
    /// Different in every cell, for names that must be new.
    unique: usize,
}

/// The route with its parameters filled in from `ids`.
fn concrete(route: &str, ids: &Ids) -> String {
    let id = [
        ("/records/", ids.record),
        ("/snapshots/", ids.snapshot),
        ("/jobs/", ids.job),
        ("/batches/", ids.batch),
        ("/account/sessions/", ids.session),
        ("/account/tokens/", ids.token),
        ("/deliveries/", ids.delivery),
        ("/webhooks/", ids.webhook),
        ("/requests/", ids.request),
    ]
    .into_iter()
    .find(|(prefix, _)| route.starts_with(prefix))
    .map_or(0, |(_, id)| id);
    let name = if route.starts_with("/users/") {
        &ids.user
    } else if route.starts_with("/monitors/") {
        &ids.monitor
    } else if route.starts_with("/policies/") {
        &ids.policy
    } else {
        &ids.selection
    };
    route
        .replace("{entity}", "contact")
        .replace("{id}", &id.to_string())
        .replace("{job}", &ids.job.to_string())
        .replace("{token}", &ids.token.to_string())
        .replace("{name}", name)
        .replace("{file}", "lethe.css")
}

// ---------------------------------------------------------------------------------------------
// The matrix as data
// ---------------------------------------------------------------------------------------------

/// A form's fields (the runner adds the caller's `form_token`), from the cell's ids and the
/// caller's name.
type Form = fn(&Ids, &str) -> Vec<(&'static str, String)>;

/// Text an allowed page must or must not show, per caller.
type Shows = (fn(&Ids) -> String, [bool; 3]);

#[derive(Debug, Clone)]
struct Row {
    method: &'static str,
    /// The route exactly as `routes()` declares it.
    route: &'static str,
    target: Target,
    form: Form,
    effect: Effect,
    /// Admin, owner, other.
    expect: [Outcome; 3],
    /// What this row tries, when a route has several rows.
    note: &'static str,
    shows: Option<Shows>,
}

fn get(route: &'static str, target: Target, expect: [Outcome; 3]) -> Row {
    Row {
        method: "GET",
        route,
        target,
        form: no_fields,
        effect: Effect::Reads,
        expect,
        note: "",
        shows: None,
    }
}

/// A GET whose answer is a download that is recorded in the history.
fn download(route: &'static str, target: Target, expect: [Outcome; 3]) -> Row {
    Row {
        effect: Effect::Writes,
        ..get(route, target, expect)
    }
}

fn post(
    route: &'static str,
    target: Target,
    form: Form,
    effect: Effect,
    expect: [Outcome; 3],
) -> Row {
    Row {
        method: "POST",
        form,
        effect,
        ..get(route, target, expect)
    }
}

impl Row {
    fn note(mut self, note: &'static str) -> Row {
        self.note = note;
        self
    }

    fn shows(mut self, text: fn(&Ids) -> String, per_caller: [bool; 3]) -> Row {
        self.shows = Some((text, per_caller));
        self
    }
}

/// The policy at a glance. Columns: admin, owner, other.
#[rustfmt::skip]
fn rows() -> Vec<Row> {
    use Effect::{MayWrite, Writes};
    use Outcome::{Busy, Go, Missing, No, Page};
    use Target::*;
    vec![
        // Signing in and one's own account: everyone's, for themself.
        get("/",                                   Shared,               [Page, Page, Page]),
        get("/assets/{file}",                      Shared,               [Page, Page, Page]),
        get("/sign-in",                            Shared,               [Go("/"), Go("/"), Go("/")]).note("already signed in: on to the home page"),
        post("/sign-in",                           Shared,               sign_in_as_oneself, Writes,   [Go("/"), Go("/"), Go("/")]).note("signing in again, as oneself"),
        post("/sign-out",                          Shared,               no_fields,          Writes,   [Go("/sign-in?signed_out=1"); 3]),
        get("/account",                            Shared,               [Page, Page, Page]),
        post("/account/password",                  Shared,               own_password,       Writes,   [Go("/sign-in?next=%2Faccount"); 3]),
        post("/account/delivery",                  Shared,               own_delivery,       Writes,   [Go("/account?done=delivery"); 3]),
        post("/account/sessions/end-all",          Shared,               no_fields,          Writes,   [Go("/sign-in?signed_out=1"); 3]),
        // Another browser's session, an API token: their user's or an admin's to end (policy:
        // handle_sessions, revoke_token), also from the admin's own account page.
        post("/account/sessions/{id}/end",         OwnersSession,        no_fields,          Writes,   [Go("/account?done=session-ended"), Go("/account?done=session-ended"), No]),
        post("/account/tokens/{id}/revoke",        OwnersToken,          no_fields,          Writes,   [Go("/account?done=token-revoked"), Go("/account?done=token-revoked"), No]),
        // Notifications: everyone has their own.
        get("/notifications",                      Shared,               [Page, Page, Page]),
        post("/notifications/read",                Shared,               read_all,           MayWrite, [Go("/notifications"); 3]),
        // Records: everyone reads them, and freezes what they tick into a snapshot of their own.
        get("/records/{entity}",                   Shared,               [Page, Page, Page]),
        get("/records/{entity}/count",             Shared,               [Page, Page, Page]),
        get("/records/{entity}/{id}",              Shared,               [Page, Page, Page]),
        get("/records/{entity}/{id}",              TrashedByOwner,       [Page, Page, Page]).note("a record in the trash")
            .shows(|_| "is in the trash".to_owned(), [true, true, true]),
        post("/records/{entity}/bulk",             Shared,               tick_the_record,    Writes,   [Go("/snapshots/*/trash"); 3]),
        // Restoring (SPEC §3, policy::restore): an admin, who trashed the batch, or the creator
        // of every record restored.
        post("/records/{entity}/{id}/restore",     TrashedByOwner,       the_batch,          Writes,   [Go("/jobs/*"), Go("/jobs/*"), No]).note("she trashed it"),
        post("/records/{entity}/{id}/restore",     OwnersTrashedByAdmin, the_batch,          Writes,   [Go("/jobs/*"), Go("/jobs/*"), No]).note("an admin trashed her record"),
        post("/records/{entity}/{id}/restore",     AdminsTrashedByAdmin, the_batch,          Writes,   [Go("/jobs/*"), No, No]).note("an admin trashed his own record"),
        post("/batches/{id}/restore",              TrashedByOwner,       no_fields,          Writes,   [Go("/jobs/*"), Go("/jobs/*"), No]).note("she trashed it"),
        post("/batches/{id}/restore",              OwnersTrashedByAdmin, no_fields,          Writes,   [Go("/jobs/*"), Go("/jobs/*"), No]).note("an admin trashed her record"),
        post("/batches/{id}/restore",              AdminsTrashedByAdmin, no_fields,          Writes,   [Go("/jobs/*"), No, No]).note("an admin trashed his own record"),
        // A snapshot and what an operation on it would do: its maker's and admins' (policy::
        // see_snapshot); trashing, updating or anonymising more than one record is for admins
        // (policy::bulk), and the preview says so to the maker.
        // Downloads of exports write their history entry: a snapshot's members are its
        // maker's and admins'; what a batch holds in the trash, admins' (policy::
        // export_records).
        download("/snapshots/{id}/export",         SnapshotOfOne,        [Page, Page, No]),
        download("/batches/{id}/export",           TrashedByOwner,       [Page, No, No]).note("the trash is exported by admins"),
        get("/snapshots/{id}/trash",               SnapshotOfOne,        [Page, Page, No]),
        get("/snapshots/{id}/trash",               SnapshotOfTwo,        [Page, Page, No]).note("two records: the maker is told she cannot go on")
            .shows(|_| "You cannot go on".to_owned(), [false, true, false]),
        get("/snapshots/{id}/trash/confirm",       SnapshotOfOne,        [Page, Page, No]),
        post("/snapshots/{id}/trash",              SnapshotOfOne,        type_one,           Writes,   [Go("/jobs/*"), Go("/jobs/*"), No]).note("one record"),
        post("/snapshots/{id}/trash",              SnapshotOfTwo,        type_two,           Writes,   [Go("/jobs/*"), No, No]).note("two records: a mass delete"),
        get("/snapshots/{id}/update",              SnapshotOfOne,        [Page, Page, No]),
        post("/snapshots/{id}/update",             SnapshotOfOne,        update_one,         Writes,   [Go("/jobs/*"), Go("/jobs/*"), No]).note("one record"),
        post("/snapshots/{id}/update",             SnapshotOfTwo,        update_two,         Writes,   [Go("/jobs/*"), No, No]).note("two records"),
        get("/snapshots/{id}/anonymize",           SnapshotOfOne,        [Page, Page, No]),
        post("/snapshots/{id}/anonymize",          SnapshotOfOne,        type_one,           Writes,   [Go("/jobs/*"), Go("/jobs/*"), No]).note("one record"),
        post("/snapshots/{id}/anonymize",          SnapshotOfTwo,        type_two,           Writes,   [Go("/jobs/*"), No, No]).note("two records"),
        // A job: who started it and admins (policy::see_job). Its existence is not hidden.
        get("/jobs/{id}",                          Shared,               [Page, Page, No]),
        get("/jobs/{id}",                          AdminsJob,            [Page, No, No]).note("an admin's job"),
        get("/jobs/{id}",                          Unknown,              [Missing; 3]).note("no such job"),
        get("/jobs/{id}/status",                   Shared,               [Page, Page, No]),
        get("/jobs/{id}/status",                   AdminsJob,            [Page, No, No]).note("an admin's job"),
        // The recycle bin: everyone's own batches, every batch to an admin (policy::
        // see_deletion_batch).
        get("/recycle-bin",                        Shared,               [Page, Page, Page])
            .shows(|ids| format!("id=\"batch-{}\"", ids.batch), [true, true, false]),
        // Purging: admins only (policy::preview_purge, request_purge, cancel_purge), asked
        // before anything about the batch, so a user hears no more than that.
        get("/batches/{id}/purge",                 Shared,               [Page, No, No]),
        get("/batches/{id}/purge",                 Unknown,              [Missing, No, No]).note("no such batch"),
        get("/batches/{id}/purge/confirm",         Shared,               [Page, No, No]),
        post("/batches/{id}/purge",                TrashedByOwner,       type_purge,         Writes,   [Go("/jobs/*"), No, No]),
        // The permanent deletion console and its receipts: admins only (policy::
        // open_deletion_console); any admin cancels any pending purge.
        get("/deletions",                          Shared,               [Page, No, No]),
        post("/purges/{job}/cancel",               PendingPurge,         no_fields,          Writes,   [Go("/deletions?cancelled=*"), No, No]).note("ann requested it"),
        get("/purges/{job}/receipt",               DonePurge,            [Page, No, No]),
        get("/purges/{job}/receipt",               Shared,               [Missing, No, No]).note("a trash job has no receipt"),
        get("/purges/{job}/receipt.json",          DonePurge,            [Page, No, No]),
        get("/purges/{job}/receipt.json",          PendingPurge,         [Busy, No, No]).note("no receipt before the purge runs"),
        // The deletion history: admins only (policy::read_history).
        get("/history",                            Shared,               [Page, No, No]),
        // Saved selections: everyone saves, reads and acts on them; an admin or the author
        // changes or deletes one (policy::change_selection).
        get("/selections",                         Shared,               [Page, Page, Page]),
        post("/selections",                        Shared,               new_selection,      Writes,   [Go("/selections/*"); 3]),
        get("/selections/{name}",                  Shared,               [Page, Page, Page]),
        post("/selections/{name}/edit",            OwnersSelection,      edited_selection,   Writes,   [Go("/selections/*"), Go("/selections/*"), No]),
        post("/selections/{name}/delete",          OwnersSelection,      no_fields,          Writes,   [Go("/selections"), Go("/selections"), No]),
        post("/selections/{name}/trash",           Shared,               no_fields,          Writes,   [Go("/snapshots/*/trash"); 3]).note("a snapshot of the caller's own"),
        // Users: admins only (policy::manage_users), the user themself included — except what
        // the policy lets a user do to themself: their password, sessions and tokens
        // (policy::set_password, handle_sessions, revoke_token).
        get("/users",                              Shared,               [Page, No, No]),
        post("/users",                             Shared,               new_user,           Writes,   [Page, No, No]).note("the new user's first token is shown"),
        get("/users/{name}",                       Shared,               [Page, No, No]).note("ula's page, to ula too"),
        get("/users/{name}",                       Unknown,              [Missing, No, No]).note("no such user"),
        post("/users/{name}/role",                 NewUser,              make_admin,         Writes,   [Go("/users/*?done=role"), No, No]).note("promoting a new user, by themself too"),
        // A password is reset here by an admin only; people change their own on /account,
        // where the current one is asked. A plain user naming a user that does not exist is
        // refused as for one that does: only admins may learn which names exist.
        post("/users/{name}/password",             Shared,               same_password,      Writes,   [Go("/users/ula?done=password"), No, No]),
        post("/users/{name}/password",             Unknown,              same_password,      Writes,   [Missing, No, No]).note("no such user"),
        post("/users/{name}/sessions/end",         Shared,               no_fields,          Writes,   [Go("/users/ula?done=sessions"), Go("/users/ula?done=sessions"), No]),
        post("/users/{name}/sessions/end",         Unknown,              no_fields,          Writes,   [Missing, No, No]).note("no such user"),
        post("/users/{name}/tokens/{token}/revoke", OwnersToken,         no_fields,          Writes,   [Go("/users/ula?done=token"), Go("/users/ula?done=token"), No]),
        post("/users/{name}/remove",               NewUser,              type_user_name,     Writes,   [Go("/users"), No, No]).note("removing a new user, by themself too"),
        // The outbox and the webhooks: admins only (policy::handle_deliveries,
        // manage_webhooks), asked before anything about the message or webhook, or what was
        // typed.
        get("/deliveries",                         Shared,               [Page, No, No]),
        post("/deliveries/{id}/retry",             GivenUpDelivery,      no_fields,          Writes,   [Go("/deliveries?retried=*"), No, No]),
        post("/deliveries/{id}/retry",             Unknown,              no_fields,          Writes,   [Missing, No, No]).note("no such message"),
        post("/webhooks",                          Shared,               new_webhook,        Writes,   [Page, No, No]).note("its secret is shown once"),
        post("/webhooks/{id}/remove",              LiveWebhook,          type_webhook_id,    Writes,   [Go("/deliveries?removed=*"), No, No]),
        post("/webhooks/{id}/remove",              Unknown,              type_webhook_id,    Writes,   [Missing, No, No]).note("no such webhook"),
        // People's requests: admins register, assign, extend and refuse (policy::
        // manage_requests); the assignee and admins see one and move it along (see_request,
        // work_on_request); a plain user lists only those assigned to her.
        get("/requests",                           Shared,               [Page, Page, Page]),
        post("/requests",                          Shared,               new_request,        Writes,   [Go("/requests/*?done=added"), No, No]),
        get("/requests/{id}",                      OwnersRequest,        [Page, Page, No]),
        post("/requests/{id}/change",              OwnersRequest,        start_request,      Writes,   [Go("/requests/*?done=start"), Go("/requests/*?done=start"), No]),
        post("/requests/{id}/change",              OwnersRequest,        extend_request,     Writes,   [Go("/requests/*?done=extend"), No, No]).note("extending: an admin's decision"),
        post("/requests/{id}/link",                OwnersRequest,        link_the_batch,     Writes,   [Go("/requests/*?done=linked"), Go("/requests/*?done=linked"), No]),
        // Everything held about the request's person: admins only (policy::export_person),
        // and only while the request is open.
        download("/requests/{id}/export",          OwnersRequest,        [Missing, No, No]).note("the fixture's address is no contact's"),
        // Monitors: everyone sees and adds them, and subscribes themself; an admin or the
        // owner runs, enables and disables one (policy::add_monitor, change_monitor,
        // subscribe_to_monitor).
        get("/monitors",                           Shared,               [Page, Page, Page]),
        post("/monitors",                          Shared,               new_monitor,        Writes,   [Go("/monitors/*?added=1"); 3]),
        get("/monitors/{name}",                    OwnersMonitor,        [Page, Page, Page]),
        post("/monitors/{name}/run",               OwnersMonitor,        no_fields,          Writes,   [Go("/monitors/*"), Go("/monitors/*"), No]),
        post("/monitors/{name}/enable",            OwnersMonitor,        no_fields,          Writes,   [Go("/monitors?*"), Go("/monitors?*"), No]),
        post("/monitors/{name}/disable",           OwnersMonitor,        no_fields,          Writes,   [Go("/monitors?*"), Go("/monitors?*"), No]),
        post("/monitors/{name}/subscribe",         OwnersMonitor,        subscribe_me,       Writes,   [Go("/monitors/*"); 3]).note("subscribing oneself"),
        post("/monitors/{name}/change",            OwnersMonitor,        change_monitor,     Writes,   [Go("/monitors/*?changed=1"), Go("/monitors/*?changed=1"), No]),
        post("/monitors/{name}/remove",            OwnersMonitor,        type_monitor_name,  Writes,   [Go("/monitors?*"), Go("/monitors?*"), No]),
        // Retention policies: admins only (policy::manage_retention), asked before anything
        // about the policy or what was typed. A dry run freezes a snapshot and is recorded.
        get("/policies",                           Shared,               [Page, No, No]),
        post("/policies",                          Shared,               new_policy,         Writes,   [Go("/policies/*?added=1"), No, No]),
        get("/policies/{name}",                    NotifyPolicy,         [Page, No, No]),
        get("/policies/{name}",                    Unknown,              [Missing, No, No]).note("no such policy"),
        post("/policies/{name}/edit",              NotifyPolicy,         changed_policy,     Writes,   [Go("/policies/*?done=changed"), No, No]),
        post("/policies/{name}/approve",           NotifyPolicy,         no_fields,          Writes,   [Go("/policies/*?done=approved"), No, No]),
        post("/policies/{name}/enable",            NotifyPolicy,         no_fields,          Writes,   [Go("/policies/*?done=enabled"), No, No]),
        post("/policies/{name}/disable",           NotifyPolicy,         no_fields,          Writes,   [Go("/policies/*?done=disabled"), No, No]),
        post("/policies/{name}/dry-run",           NotifyPolicy,         no_fields,          Writes,   [Go("/policies/*?dry_run=*"), No, No]),
        post("/policies/{name}/run",               NotifyPolicy,         from_dry_run,       Writes,   [Go("/policies/*?ran=*"), No, No]),
    ]
}

// The forms of the table.

fn no_fields(_: &Ids, _: &str) -> Vec<(&'static str, String)> {
    Vec::new()
}

fn sign_in_as_oneself(_: &Ids, caller: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", caller.to_owned()),
        ("password", PASSWORD.to_owned()),
    ]
}

fn own_password(_: &Ids, _: &str) -> Vec<(&'static str, String)> {
    ["current", "new", "repeat"]
        .map(|field| (field, PASSWORD.to_owned()))
        .to_vec()
}

fn read_all(_: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![("up_to", "1000000000".to_owned())]
}

fn tick_the_record(ids: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![
        ("filter", String::new()),
        ("id", ids.record.to_string()),
        ("action", "trash".to_owned()),
    ]
}

fn the_batch(ids: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![("batch", ids.batch.to_string())]
}

fn type_one(_: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![("typed", "1".to_owned()), ("reason", "matrix".to_owned())]
}

fn type_two(_: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![("typed", "2".to_owned()), ("reason", "matrix".to_owned())]
}

fn update_one(_: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![
        ("field", "job_title".to_owned()),
        ("value", "Matrix".to_owned()),
        ("typed", "1".to_owned()),
    ]
}

fn update_two(ids: &Ids, caller: &str) -> Vec<(&'static str, String)> {
    let mut form = update_one(ids, caller);
    form[2].1 = "2".to_owned();
    form
}

fn type_purge(_: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![
        ("typed", "purge".to_owned()),
        ("grace_days", String::new()),
        ("reason", "matrix".to_owned()),
    ]
}

fn new_monitor(ids: &Ids, caller: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", format!("watch_{}", ids.unique)),
        ("selection", ids.selection.clone()),
        ("schedule", "0 3 * * *".to_owned()),
        ("time_zone", "UTC".to_owned()),
        ("subscribers", caller.to_owned()),
    ]
}

fn change_monitor(ids: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![
        ("selection", ids.selection.clone()),
        ("schedule", "@weekly".to_owned()),
        ("time_zone", "Europe/Oslo".to_owned()),
        ("on_leave", "on".to_owned()),
    ]
}

fn type_monitor_name(ids: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![("typed", ids.monitor.clone())]
}

fn subscribe_me(_: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![("subscribe", "on".to_owned())]
}

fn new_selection(ids: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", format!("made_{}", ids.unique)),
        ("entity", "contact".to_owned()),
        ("kind", "dynamic".to_owned()),
        ("filter", "last_name = \"Nobody\"".to_owned()),
    ]
}

fn edited_selection(_: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![
        ("entity", "contact".to_owned()),
        ("kind", "dynamic".to_owned()),
        ("filter", "last_name = \"Edited\"".to_owned()),
        ("description", "edited".to_owned()),
    ]
}

fn new_user(ids: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", format!("added_{}", ids.unique)),
        ("role", "user".to_owned()),
        ("password", PASSWORD.to_owned()),
        ("repeat", PASSWORD.to_owned()),
    ]
}

fn make_admin(_: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![("role", "admin".to_owned())]
}

fn own_delivery(_: &Ids, caller: &str) -> Vec<(&'static str, String)> {
    vec![
        ("email", format!("{caller}@lethe.example")),
        ("email_kind", "purge_requested".to_owned()),
    ]
}

fn same_password(_: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![
        ("password", PASSWORD.to_owned()),
        ("repeat", PASSWORD.to_owned()),
    ]
}

fn type_user_name(ids: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![("typed", ids.user.clone())]
}

/// A webhook to a closed port that hears of failed purges only, which no cell makes.
fn new_webhook(ids: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![
        ("url", format!("http://127.0.0.1:9/matrix-{}", ids.unique)),
        ("event", "purge_failed".to_owned()),
    ]
}

fn new_request(ids: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![
        ("kind", "erasure".to_owned()),
        ("email", format!("subject-{}@example.test", ids.unique)),
    ]
}

fn start_request(_: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![("action", "start".to_owned())]
}

fn extend_request(_: &Ids, _: &str) -> Vec<(&'static str, String)> {
    let until = (time::OffsetDateTime::now_utc() + time::Duration::days(45)).date();
    vec![
        ("action", "extend".to_owned()),
        ("until", until.to_string()),
        ("reason", "three systems to search".to_owned()),
    ]
}

fn link_the_batch(ids: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![("batch", ids.batch.to_string())]
}

fn new_policy(ids: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", format!("matrix-{}", ids.unique)),
        ("entity", "contact".to_owned()),
        ("filter", "last_name = \"Matrix\"".to_owned()),
        ("action", "notify".to_owned()),
        ("schedule", "0 3 * * *".to_owned()),
        ("time_zone", "Europe/Oslo".to_owned()),
        ("legal_basis", "kept while the matrix runs".to_owned()),
        ("owner", "ann".to_owned()),
    ]
}

fn changed_policy(_: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![
        ("filter", "last_name = \"Matrix\"".to_owned()),
        ("action", "notify".to_owned()),
        ("schedule", "@weekly".to_owned()),
        ("time_zone", "UTC".to_owned()),
        ("legal_basis", "kept a little longer".to_owned()),
    ]
}

fn from_dry_run(ids: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![("from_dry_run", ids.dry_run.to_string())]
}

fn type_webhook_id(ids: &Ids, _: &str) -> Vec<(&'static str, String)> {
    vec![("typed", ids.webhook.to_string())]
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// The API tokens fixtures are made with.
struct Tokens {
    ann: String,
    ula: String,
}

struct Fixtures<'a> {
    database: &'a TestDatabase,
    server: &'a TestServer,
    tokens: &'a Tokens,
    ula: i64,
    shared: Ids,
    admins_job: i64,
    done_purge: i64,
    made: usize,
}

impl Fixtures<'_> {
    /// A new contact, made by whoever `token` is.
    async fn contact(&mut self, token: &str) -> i64 {
        self.made += 1;
        let body = json!({
            "first_name": "Fixture",
            "last_name": format!("Fixture {}", self.made),
            "email": format!("fixture{}@example.test", self.made),
        });
        self.server.create(token, "contact", body).await
    }

    /// A new contact made by `maker`, trashed by `trasher`: (contact, batch, job).
    async fn trashed(&mut self, maker: &str, trasher: &str) -> (i64, i64, i64) {
        let contact = self.contact(maker).await;
        let snapshot = self
            .server
            .snapshot(trasher, json!({"entity": "contact", "include": [contact]}))
            .await;
        let job = self
            .server
            .accepted(trasher, "/api/v1/trash", &json!({"snapshot_id": snapshot}))
            .await;
        let job = self
            .server
            .wait_for_job(trasher, job["id"].as_i64().unwrap())
            .await;
        (
            contact,
            job["batch_id"].as_i64().expect("a trash job has a batch"),
            job["id"].as_i64().unwrap(),
        )
    }

    /// `ann`'s purge of `batch`: pending for the default grace, or run at once.
    async fn purge(&self, batch: i64, at_once: bool) -> i64 {
        let body = if at_once {
            json!({"grace_seconds": 0, "reason": "matrix"})
        } else {
            json!({"reason": "matrix"})
        };
        let path = format!("/api/v1/batches/{batch}/purge");
        let job = self.server.accepted(&self.tokens.ann, &path, &body).await;
        let id = job["id"].as_i64().unwrap();
        if at_once {
            self.server.wait_for_job(&self.tokens.ann, id).await;
        } else {
            assert_eq!(job["state"], "pending", "{job}");
        }
        id
    }

    async fn selection(&mut self) -> String {
        self.made += 1;
        let name = format!("ulas_{}", self.made);
        let (status, body) = self
            .server
            .post(
                Some(&self.tokens.ula),
                "/api/v1/selections",
                &json!({"name": name, "entity": "contact", "filter": "last_name = \"Shared\""}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        name
    }

    /// A monitor of `ula`'s on the shared selection; returns its name.
    async fn monitor(&mut self) -> String {
        self.made += 1;
        let name = format!("ulas_monitor_{}", self.made);
        let (status, body) = self
            .server
            .post(
                Some(&self.tokens.ula),
                "/api/v1/monitors",
                &json!({"name": name, "selection": self.shared.selection, "schedule": "0 3 * * *"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        name
    }

    async fn prepare(&mut self, target: Target) -> Ids {
        let tokens = self.tokens;
        let mut ids = self.shared.clone();
        match target {
            Target::Shared => {}
            Target::AdminsJob => ids.job = self.admins_job,
            Target::DonePurge => ids.job = self.done_purge,
            Target::PendingPurge => {
                (ids.record, ids.batch, _) = self.trashed(&tokens.ula, &tokens.ula).await;
                ids.job = self.purge(ids.batch, false).await;
            }
            Target::SnapshotOfOne | Target::SnapshotOfTwo => {
                let mut members = vec![self.contact(&tokens.ula).await];
                if target == Target::SnapshotOfTwo {
                    members.push(self.contact(&tokens.ula).await);
                }
                ids.record = members[0];
                ids.snapshot = self
                    .server
                    .snapshot(
                        &tokens.ula,
                        json!({"entity": "contact", "include": members}),
                    )
                    .await;
            }
            Target::TrashedByOwner => {
                (ids.record, ids.batch, ids.job) = self.trashed(&tokens.ula, &tokens.ula).await;
            }
            Target::OwnersTrashedByAdmin => {
                (ids.record, ids.batch, ids.job) = self.trashed(&tokens.ula, &tokens.ann).await;
            }
            Target::AdminsTrashedByAdmin => {
                (ids.record, ids.batch, ids.job) = self.trashed(&tokens.ann, &tokens.ann).await;
            }
            Target::OwnersSelection => ids.selection = self.selection().await,
            Target::OwnersMonitor => ids.monitor = self.monitor().await,
            Target::OwnersToken => {
                let run = lethe(self.database, &["user", "token", "ula", "--json"]);
                assert_eq!(run.status, 0, "{}", run.stderr);
                ids.token = self
                    .database
                    .scalar(&format!(
                        "SELECT MAX(id) FROM lethe_token WHERE user_id = {}",
                        self.ula
                    ))
                    .await;
            }
            Target::OwnersSession => {
                let mut browser = PageClient::new(self.server);
                let (status, _) = browser.sign_in("ula", PASSWORD).await;
                assert_eq!(status, 303);
                ids.session = self
                    .database
                    .scalar(&format!(
                        "SELECT MAX(id) FROM lethe_session WHERE user_id = {}",
                        self.ula
                    ))
                    .await;
            }
            Target::NewUser => {
                self.made += 1;
                ids.user = format!("newbie_{}", self.made);
                ids.owner = ids.user.clone();
                add_user_with_password(self.database, &ids.user, "user", PASSWORD);
            }
            Target::GivenUpDelivery => {
                let (_, batch, _) = self.trashed(&tokens.ula, &tokens.ula).await;
                self.purge(batch, false).await;
                settle(self.database).await;
                ids.delivery = self
                    .database
                    .scalar(
                        "SELECT MAX(id) FROM lethe_outbox \
                         WHERE address = 'ann@lethe.example' AND given_up_at IS NOT NULL",
                    )
                    .await;
            }
            Target::OwnersRequest => {
                self.made += 1;
                let (status, body) = self
                    .server
                    .post(
                        Some(&tokens.ann),
                        "/api/v1/requests",
                        &json!({
                            "kind": "erasure",
                            "email": format!("fixture-{}@example.test", self.made),
                            "assignee": "ula",
                        }),
                    )
                    .await;
                assert_eq!(status, 201, "{body}");
                ids.request = body["request"]["id"].as_i64().unwrap();
            }
            Target::LiveWebhook => {
                self.made += 1;
                let (status, body) = self
                    .server
                    .post(
                        Some(&tokens.ann),
                        "/api/v1/webhooks",
                        &json!({
                            "url": format!("http://127.0.0.1:9/fixture-{}", self.made),
                            "events": "purge_failed",
                        }),
                    )
                    .await;
                assert_eq!(status, 201, "{body}");
                ids.webhook = body["webhook"]["id"].as_i64().unwrap();
            }
            Target::NotifyPolicy => {
                self.made += 1;
                ids.policy = format!("fixture-{}", self.made);
                add_policy(
                    self.database,
                    &ids.policy,
                    "last_name = \"Matrix\"",
                    "notify",
                );
                let run = lethe(self.database, &["policy", "dry-run", &ids.policy, "--json"]);
                assert_eq!(run.status, 0, "{}", run.stderr);
                ids.dry_run = run.json()["run"]["id"].as_i64().unwrap();
            }
            Target::Unknown => {
                ids.policy = "no-such-policy".to_owned();
                (ids.record, ids.snapshot, ids.job, ids.batch) = (0, 0, 999_999, 999_999);
                (ids.token, ids.session) = (999_999, 999_999);
                (ids.delivery, ids.webhook) = (999_999, 999_999);
                ids.user = "nobody".to_owned();
            }
        }
        ids
    }
}

// ---------------------------------------------------------------------------------------------
// The runner
// ---------------------------------------------------------------------------------------------

/// Lethe's tables (with the column to order each by) and the contacts: a cell that changes
/// none of them changed nothing. Sessions are read through a view without `last_seen_at`,
/// which any page request may move on.
const TABLES: [(&str, &str); 30] = [
    ("lethe_user", "id"),
    ("lethe_channel_choice", "user_id, kind, channel"),
    ("lethe_webhook", "id"),
    ("lethe_outbox", "id"),
    ("lethe_token", "id"),
    ("matrix_session", "id"),
    ("lethe_sign_in_failure", "name"),
    ("lethe_deletion_batch", "id"),
    ("lethe_job", "id"),
    ("lethe_job_skip", "job_id, record_id, kind"),
    ("lethe_claim", "subject"),
    ("lethe_erased_file", "id"),
    ("lethe_history", "id"),
    ("lethe_history_seal", "id"),
    ("lethe_notification", "id"),
    ("lethe_selection", "id"),
    ("lethe_selection_member", "selection_id, record_id"),
    ("lethe_selection_part", "selection_id, position"),
    ("lethe_snapshot", "id"),
    ("lethe_snapshot_member", "snapshot_id, record_id"),
    ("lethe_monitor", "id"),
    ("lethe_monitor_subscriber", "monitor_id, user_id"),
    ("lethe_monitor_member", "monitor_id, record_id"),
    ("lethe_monitor_run", "id"),
    ("lethe_monitor_hit", "run_id, record_id"),
    ("lethe_retention_policy", "id"),
    ("lethe_policy_run", "id"),
    ("lethe_request", "id"),
    ("lethe_request_link", "id"),
    ("contact", "id"),
];

/// Lethe's tables the cells' dumps leave out: sessions are read through `matrix_session`;
/// the migrations' own records, the applied schema and the secrets never change once the
/// server runs.
const NOT_DUMPED: [&str; 5] = [
    "lethe_session",
    "lethe_schema_state",
    "lethe_system_migration",
    "lethe_migration",
    "lethe_secret",
];

/// Every table of Lethe's is dumped (or left out on purpose): a new table cannot slip past
/// the check that a refusal changes nothing.
async fn assert_every_table_is_dumped(database: &TestDatabase) {
    let known: Vec<String> = TABLES
        .iter()
        .map(|(table, _)| *table)
        .chain(NOT_DUMPED)
        .map(|table| format!("'{table}'"))
        .collect();
    let (tables, name) = if database.url.starts_with("postgres") {
        (
            "information_schema.tables WHERE table_schema = current_schema() AND",
            "table_name",
        )
    } else {
        ("sqlite_master WHERE type = 'table' AND", "name")
    };
    let sql = format!(
        "SELECT COUNT(*) FROM {tables} {name} LIKE 'lethe%' AND {name} NOT IN ({})",
        known.join(", ")
    );
    assert_eq!(
        database.scalar(&sql).await,
        0,
        "a table of Lethe's is neither in TABLES nor in NOT_DUMPED: {sql}"
    );
}

async fn dump(database: &TestDatabase) -> BTreeMap<&'static str, Vec<String>> {
    let mut all = BTreeMap::new();
    for (table, order) in TABLES {
        all.insert(table, database.dump(table, order).await);
    }
    all
}

/// Waits until no job is queued or running (an allowed form may have started one) and the
/// server's delivery worker has nothing left to do (an event may have written e-mails, which
/// it gives up at once as no SMTP server is set), so that the next dump is not taken mid-job
/// or mid-delivery. A message for a removed webhook is never sent, so it is not waited for;
/// the webhooks the cells add hear of nothing the cells make.
async fn settle(database: &TestDatabase) {
    let started = Instant::now();
    let busy = "SELECT COUNT(*) FROM lethe_job WHERE state IN ('queued', 'running')";
    let sending = "SELECT COUNT(*) FROM lethe_outbox o WHERE o.lease_owner IS NOT NULL \
                   OR (o.delivered_at IS NULL AND o.given_up_at IS NULL AND NOT EXISTS \
                   (SELECT 1 FROM lethe_webhook w WHERE w.id = o.webhook_id \
                   AND w.removed_at IS NOT NULL))";
    while database.scalar(busy).await > 0 || database.scalar(sending).await > 0 {
        assert!(
            started.elapsed() < JOB_DEADLINE,
            "a job still runs, or a message waits to be sent"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The state of job `id`.
async fn job_state(database: &TestDatabase, id: i64) -> String {
    for state in [
        "done",
        "pending",
        "failed",
        "cancelled",
        "queued",
        "running",
    ] {
        let sql = format!("SELECT COUNT(*) FROM lethe_job WHERE id = {id} AND state = '{state}'");
        if database.scalar(&sql).await == 1 {
            return state.to_owned();
        }
    }
    panic!("job {id} has no known state")
}

/// A page's title, to say what a page was in a failure.
fn title(page: &str) -> &str {
    page.split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map_or(page, |(title, _)| title)
}

/// The callers' browsers, each signed in (again, if a cell ended its session).
struct Browsers<'a> {
    server: &'a TestServer,
    by_name: BTreeMap<String, PageClient>,
}

impl Browsers<'_> {
    /// `name`'s browser, signed in, and the form token of its session.
    async fn signed_in(&mut self, name: &str) -> (&mut PageClient, String) {
        let server = self.server;
        let browser = self
            .by_name
            .entry(name.to_owned())
            .or_insert_with(|| PageClient::new(server));
        let (mut status, _, mut page) = browser.get("/account").await;
        if status != 200 {
            let (signed, _) = browser.sign_in(name, PASSWORD).await;
            assert_eq!(signed, 303, "{name} signs in");
            (status, _, page) = browser.get("/account").await;
        }
        assert_eq!(status, 200, "{name}'s account page");
        (browser, PageClient::form_token(&page))
    }
}

both_backends!(
    every_page_answers_every_caller_as_the_policy_says_and_refusals_change_nothing,
    |database: TestDatabase| async move {
        let (_, ann) = add_user_with_password(&database, "ann", "admin", PASSWORD);
        add_user_with_password(&database, "bob", "admin", PASSWORD);
        let (ula, ula_token) = add_user_with_password(&database, "ula", "user", PASSWORD);
        add_user_with_password(&database, "olaf", "user", PASSWORD);
        assert_every_table_is_dumped(&database).await;
        // Every purge request is also an e-mail to ann, given up at once (no SMTP server):
        // the outbox always has messages to show and to send again.
        let run = lethe(
            &database,
            &["user", "delivery", "ann", "--email", "ann@lethe.example"],
        );
        assert_eq!(run.status, 0, "{}", run.stderr);
        database
            .execute(
                "CREATE VIEW matrix_session AS \
                 SELECT id, user_id, created_at, ended_at, ended_by FROM lethe_session",
            )
            .await;
        // Urgent erasures are allowed, for a purge that has run and left its receipt; the
        // default grace stays 7 days, so a purge asked for without one stays pending.
        let server = TestServer::start_with_env(&database, &[("LETHE_PURGE_MIN_GRACE", "0s")]);
        let tokens = Tokens {
            ann,
            ula: ula_token,
        };

        // The shared fixture.
        let mut fixtures = Fixtures {
            database: &database,
            server: &server,
            tokens: &tokens,
            ula,
            shared: Ids::default(),
            admins_job: 0,
            done_purge: 0,
            made: 0,
        };
        let record = server
            .create(
                &tokens.ula,
                "contact",
                json!({"last_name": "Shared", "email": "shared@example.test"}),
            )
            .await;
        let snapshot = server
            .snapshot(
                &tokens.ula,
                json!({"entity": "contact", "include": [record]}),
            )
            .await;
        let selection = fixtures.selection().await;
        let (_, batch, job) = fixtures.trashed(&tokens.ula, &tokens.ula).await;
        (_, _, fixtures.admins_job) = fixtures.trashed(&tokens.ann, &tokens.ann).await;
        let (_, erased, _) = fixtures.trashed(&tokens.ula, &tokens.ula).await;
        fixtures.done_purge = fixtures.purge(erased, true).await;
        fixtures.shared = Ids {
            record,
            snapshot,
            job,
            batch,
            selection,
            user: "ula".to_owned(),
            owner: "ula".to_owned(),
            ..Ids::default()
        };

        // The table covers the router, and only its routes.
        let rows = rows();
        let declared = page_routes();
        assert!(
            declared.len() >= 40,
            "the router was not read: {declared:?}"
        );
        let in_table: BTreeSet<(String, String)> = rows
            .iter()
            .map(|row| (row.method.to_owned(), row.route.to_owned()))
            .collect();
        assert_eq!(
            in_table.symmetric_difference(&declared).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "the table and routes() list different routes: every route needs a row"
        );

        let mut browsers = Browsers {
            server: &server,
            by_name: BTreeMap::new(),
        };
        let mut failures = Vec::new();
        let mut table = Vec::new();
        let mut cells = 0;
        for row in &rows {
            let mut observed = Vec::new();
            // What a cell left as it was serves the next cell too.
            let mut unchanged: Option<Ids> = None;
            for (column, caller) in CALLERS.into_iter().enumerate() {
                cells += 1;
                let mut ids = match unchanged.take() {
                    Some(ids) => ids,
                    None => fixtures.prepare(row.target).await,
                };
                ids.unique = cells;
                let name = caller.name(&ids);
                let path = concrete(row.route, &ids);
                let (browser, session_token) = browsers.signed_in(&name).await;
                // The sign-in form carries the token of its own cookie, not a session's.
                let form_token = if row.route == "/sign-in" {
                    browser.cookies["lethe_sign_in"].clone()
                } else {
                    session_token
                };
                let mut form = vec![("form_token", form_token)];
                form.extend((row.form)(&ids, &name));
                let form: Vec<(&str, &str)> = form
                    .iter()
                    .map(|(field, value)| (*field, value.as_str()))
                    .collect();

                settle(&database).await;
                let before = dump(&database).await;
                let (status, headers, body) = if row.method == "GET" {
                    browser.get(&path).await
                } else {
                    browser.post(&path, &form).await
                };
                settle(&database).await;
                let after = dump(&database).await;

                let status = status.as_u16();
                let location = headers
                    .get("location")
                    .map_or("", |value| value.to_str().unwrap());
                observed.push(if location.is_empty() {
                    status.to_string()
                } else {
                    format!("{status} {location}")
                });
                let expected = row.expect[column];
                let cell = format!("{} {path} ({}) as {name}", row.method, row.note);
                let allowed = expected.allowed() && status < 400;
                if !expected.matches(status, location, &body) {
                    let message = format!(
                        "{cell}: expected {expected:?}, got {status} {location} ({})",
                        title(&body)
                    );
                    failures.push(message);
                }
                let changed: Vec<&str> = TABLES
                    .iter()
                    .map(|(table, _)| *table)
                    .filter(|table| before[table] != after[table])
                    .collect();
                if changed.is_empty() {
                    unchanged = Some(ids.clone());
                }
                // A job started is one that runs to its end (or waits, for a purge).
                if let Some(job) = location.strip_prefix("/jobs/") {
                    let state = job_state(&database, job.parse().unwrap()).await;
                    if !["done", "pending"].contains(&state.as_str()) {
                        failures.push(format!("{cell}: its job ended {state}"));
                    }
                }
                if (!allowed || row.effect == Effect::Reads) && !changed.is_empty() {
                    failures.push(format!("{cell}: answered {status} yet changed {changed:?}"));
                }
                if allowed && row.effect == Effect::Writes && changed.is_empty() {
                    failures.push(format!("{cell}: answered {status} yet changed nothing"));
                }
                if let Some((text, per_caller)) = row.shows
                    && status == 200
                {
                    let text = text(&ids);
                    if body.contains(&text) != per_caller[column] {
                        failures.push(format!(
                            "{cell}: the page should {}show {text:?}",
                            if per_caller[column] { "" } else { "not " }
                        ));
                    }
                }
            }
            table.push(format!(
                "{:<5}{:<38}{:<50}{observed:?}",
                row.method, row.route, row.note
            ));
        }
        println!(
            "{cells} cells ({} rows × {} callers: admin, owner, other):\n{}",
            rows.len(),
            CALLERS.len(),
            table.join("\n")
        );
        assert!(
            failures.is_empty(),
            "{} of {cells} cells differ from the table:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
);
