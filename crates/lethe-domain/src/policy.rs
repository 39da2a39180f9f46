//! What each actor may do (SPEC §3, §7), answered from facts the store gathers: the actor,
//! and who made, saved or owns the thing asked about. Each function answers one question and
//! says why when the answer is no; the doors turn a [`Refusal`] into a 403 or an exit code.
//!
//! Moved here so far: seeing what another user started or made, changing and deleting saved
//! selections, mass operations, restoring, previewing, requesting and cancelling purges, the
//! history, resuming a job, managing users and their API tokens, seeing a deletion batch in
//! the recycle bin, the permanent deletion console, and where notifications go (a user's
//! channels, webhooks, the outbox), people's erasure and access requests, and who adds,
//! changes and subscribes to monitors.

use crate::Actor;

/// Why an actor may not do something, in words for that actor. Only this module makes one,
/// so every "forbidden" answer of every door comes from a rule written here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(String);

impl Refusal {
    /// The reason, in words for the actor.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// The answer to a question of the policy.
pub type Verdict = Result<(), Refusal>;

fn refuse(why: String) -> Verdict {
    Err(Refusal(why))
}

/// What only an admin may do; `doing` names it ("cancelling a purge").
fn admins_only(actor: &Actor, doing: &str) -> Verdict {
    if actor.admin {
        Ok(())
    } else {
        refuse(format!(
            "{doing} is for admins only; user `{}` has the role user",
            actor.name
        ))
    }
}

/// Whether `actor` may see what the user `owner` started or made (a job, a snapshot and its
/// preview, a user's tokens): an admin, or that user (`None` is the operator's).
pub fn may_see(actor: &Actor, owner: Option<i64>) -> bool {
    actor.admin || actor.is(owner)
}

/// Looking at job `job`, which the user `started_by` started, with its skipped members.
pub fn see_job(actor: &Actor, job: i64, started_by: Option<i64>) -> Verdict {
    if may_see(actor, started_by) {
        Ok(())
    } else {
        refuse(format!(
            "job {job} was started by another user: only they and admins can see it"
        ))
    }
}

/// Looking at snapshot `snapshot`, which the user `made_by` made: its members, and what an
/// operation on it would do.
pub fn see_snapshot(actor: &Actor, snapshot: i64, made_by: Option<i64>) -> Verdict {
    if may_see(actor, made_by) {
        Ok(())
    } else {
        refuse(format!(
            "snapshot {snapshot} was made by another user: only they and admins can see it, its members or what an operation on it would do"
        ))
    }
}

/// Revoking API token `token`, which belongs to the user `owner`: that user or an admin.
pub fn revoke_token(actor: &Actor, token: i64, owner: i64) -> Verdict {
    if may_see(actor, Some(owner)) {
        Ok(())
    } else {
        refuse(format!(
            "token {token} belongs to another user: only they and admins may revoke it"
        ))
    }
}

/// Whether `actor` sees every user's jobs and snapshots in a list (an admin), rather than
/// only their own.
pub fn sees_everyones(actor: &Actor) -> bool {
    actor.admin
}

/// Changing or deleting the saved selection `name` that the user `owner` saved: an admin or
/// its author.
pub fn change_selection(actor: &Actor, name: &str, owner: Option<i64>) -> Verdict {
    if may_see(actor, owner) {
        Ok(())
    } else {
        refuse(format!(
            "only an admin or the user who saved `{name}` may change or delete it"
        ))
    }
}

/// Seeing deletion batch `batch`, which the user `trashed_by` trashed, in the recycle bin:
/// an admin sees every batch, a user the batches they trashed (SPEC §3: APRO and SuperOffice
/// show your own deletions, and everyone's to an admin). A batch's reason and counts say what
/// a deletion was about, so another user's are not shown.
pub fn see_deletion_batch(actor: &Actor, batch: i64, trashed_by: Option<i64>) -> Verdict {
    if may_see(actor, trashed_by) {
        Ok(())
    } else {
        refuse(format!(
            "deletion batch {batch} was trashed by another user: only they and admins can see it"
        ))
    }
}

/// Opening the permanent deletion console: the consolidated table, the pending, running and
/// finished purges with their erasure receipts, and the history's verification. An admin,
/// as purging is.
pub fn open_deletion_console(actor: &Actor) -> Verdict {
    admins_only(
        actor,
        "the permanent deletion console (purges, erasure receipts, the history's verification)",
    )
}

/// Requesting a purge: an admin (it erases records for good).
pub fn request_purge(actor: &Actor) -> Verdict {
    admins_only(actor, "requesting a purge (it erases records for good)")
}

/// Cancelling a pending purge: an admin.
pub fn cancel_purge(actor: &Actor) -> Verdict {
    admins_only(actor, "cancelling a purge")
}

/// Looking at what a purge of a deletion batch would erase: whoever may request it.
pub fn preview_purge(actor: &Actor) -> Verdict {
    admins_only(actor, "previewing a purge, as purging,")
}

/// Trashing, anonymising or updating `members` records at once (`doing` names the
/// operation, `what` what it amounts to): one record is anyone's; more are a mass operation,
/// for an admin (SPEC §7).
pub fn bulk(actor: &Actor, members: u64, doing: &str, what: &str) -> Verdict {
    if members <= 1 || actor.admin {
        Ok(())
    } else {
        refuse(format!(
            "{doing} {members} records at once is {what}, which only an admin may do"
        ))
    }
}

/// Exporting records, a copy of personal data that leaves Lethe: an admin exports anything;
/// a user the active records a filter or their snapshot finds (what the records API shows
/// them), not what is in the trash, which only the recycle bin shows.
pub fn export_records(actor: &Actor, trashed_too: bool) -> Verdict {
    if trashed_too {
        admins_only(actor, "exporting records in the trash")
    } else {
        Ok(())
    }
}

/// Gathering everything held about one person (an access request): an admin, since it
/// reads the trash and every entity.
pub fn export_person(actor: &Actor) -> Verdict {
    admins_only(actor, "exporting everything held about a person")
}

/// Importing records from a file: an admin, as for every other bulk change.
pub fn import_records(actor: &Actor) -> Verdict {
    admins_only(actor, "importing records")
}

/// Reading or verifying the deletion history: an admin.
pub fn read_history(actor: &Actor) -> Verdict {
    admins_only(actor, "reading the deletion history")
}

/// Resuming job `job` (a purge when `purge`), which the user `started_by` started: an admin,
/// or who started it when it is not a purge.
pub fn resume_job(actor: &Actor, job: i64, purge: bool, started_by: Option<i64>) -> Verdict {
    if actor.admin {
        Ok(())
    } else if purge {
        refuse("only an admin may resume a purge".to_owned())
    } else if actor.is(started_by) {
        Ok(())
    } else {
        refuse(format!(
            "only an admin or the user who started job {job} may resume it"
        ))
    }
}

/// Whether [`restore`] needs to know who created the records restored (a count the store
/// makes): only for a plain user who did not trash the batch.
pub fn restore_needs_creators(actor: &Actor, trashed_by: Option<i64>) -> bool {
    !actor.admin && !actor.is(trashed_by)
}

/// Restoring records of deletion batch `batch`, which the user `trashed_by` trashed (SPEC
/// §3): an admin, who trashed it, or the creator of every record restored —
/// `made_by_others` counts the restored records someone else created (`None`: not counted).
pub fn restore(
    actor: &Actor,
    batch: i64,
    trashed_by: Option<i64>,
    made_by_others: Option<u64>,
) -> Verdict {
    if !restore_needs_creators(actor, trashed_by) || made_by_others == Some(0) {
        Ok(())
    } else {
        refuse(format!(
            "only an admin, the user who trashed deletion batch {batch}, or the creator of the records may restore them"
        ))
    }
}

/// What is done to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserAction {
    List,
    Add,
    Remove,
    /// Issuing another API token for someone.
    IssueToken,
    /// Making a user an admin, or an admin a user.
    ChangeRole,
    /// Giving someone a new password without their current one (people change their own
    /// where the current one is asked).
    ResetPassword,
}

impl UserAction {
    fn words(self) -> &'static str {
        match self {
            UserAction::List => "listing users",
            UserAction::Add => "creating users",
            UserAction::Remove => "removing users",
            UserAction::IssueToken => "issuing an API token",
            UserAction::ChangeRole => "changing a user's role",
            UserAction::ResetPassword => {
                "resetting a password without the current one (change your own on your account page)"
            }
        }
    }
}

/// Managing users: an admin.
pub fn manage_users(actor: &Actor, action: UserAction) -> Verdict {
    admins_only(actor, action.words())
}

/// Listing or revoking the API tokens of the user `owner` (named `owner_name`): that user or
/// an admin.
pub fn handle_tokens(actor: &Actor, owner: i64, owner_name: &str) -> Verdict {
    if may_see(actor, Some(owner)) {
        Ok(())
    } else {
        refuse(format!(
            "the API tokens of `{owner_name}` are theirs and admins' to list and revoke"
        ))
    }
}

/// Listing or ending the sign-in sessions of the user `owner` (named `owner_name`): that user
/// or an admin.
pub fn handle_sessions(actor: &Actor, owner: i64, owner_name: &str) -> Verdict {
    if may_see(actor, Some(owner)) {
        Ok(())
    } else {
        refuse(format!(
            "the sign-in sessions of `{owner_name}` are theirs and admins' to list and end"
        ))
    }
}

/// Setting the password of the user `owner` (named `owner_name`): that user or an admin.
pub fn set_password(actor: &Actor, owner: i64, owner_name: &str) -> Verdict {
    if may_see(actor, Some(owner)) {
        Ok(())
    } else {
        refuse(format!(
            "only `{owner_name}` or an admin may set `{owner_name}`'s password"
        ))
    }
}

/// Setting the e-mail address of the user `owner` (named `owner_name`) and choosing which
/// events reach them by which channel: that user or an admin.
pub fn set_delivery(actor: &Actor, owner: i64, owner_name: &str) -> Verdict {
    if may_see(actor, Some(owner)) {
        Ok(())
    } else {
        refuse(format!(
            "only `{owner_name}` or an admin may choose where `{owner_name}`'s notifications go"
        ))
    }
}

/// Adding, listing and removing webhook endpoints: an admin (a webhook hears of every
/// event, whoever it concerns).
pub fn manage_webhooks(actor: &Actor) -> Verdict {
    admins_only(actor, "managing webhooks")
}

/// Seeing the outbox (every message, delivered or not, and those given up on) and sending a
/// given-up message again: an admin.
pub fn handle_deliveries(actor: &Actor) -> Verdict {
    admins_only(actor, "seeing and retrying deliveries")
}

/// Creating, changing, enabling, disabling and running retention policies: an admin.
pub fn manage_retention(actor: &Actor) -> Verdict {
    admins_only(actor, "managing retention policies")
}

/// Approving a destructive retention policy (four eyes): an admin other than the one who
/// last changed it (`changed_by`).
pub fn approve_retention(actor: &Actor, policy: &str, changed_by: Option<i64>) -> Verdict {
    admins_only(actor, "approving retention policies")?;
    if actor.user_id.is_some() && actor.is(changed_by) {
        return refuse(format!(
            "policy `{policy}` was last changed by `{}`: a second admin must approve it",
            actor.name
        ));
    }
    Ok(())
}

/// Registering, assigning, extending and refusing a person's erasure or access request: an
/// admin. Extending and refusing are legal decisions the person is told of (Art. 12(3),
/// 12(4)); registering and assigning decide who works on whose personal data.
pub fn manage_requests(actor: &Actor, doing: &str) -> Verdict {
    admins_only(actor, doing)
}

/// Seeing request `request`, assigned to the user `assignee`: an admin, or its assignee. A
/// request names a person, so a plain user sees only the requests they work on.
pub fn see_request(actor: &Actor, request: i64, assignee: Option<i64>) -> Verdict {
    if may_see(actor, assignee) {
        Ok(())
    } else {
        refuse(format!(
            "request {request} is assigned to someone else: only its assignee and admins can see it"
        ))
    }
}

/// Adding a monitor on the saved selection `selection` (SuperOffice SAINT): an admin
/// monitors anything; a user monitors a selection they may see (`sees_selection`, which the
/// store answers: saved selections are shared by every user, SPEC §4).
pub fn add_monitor(actor: &Actor, selection: &str, sees_selection: bool) -> Verdict {
    if actor.admin || sees_selection {
        Ok(())
    } else {
        refuse(format!(
            "user `{}` may not see the saved selection `{selection}`, so may not monitor it",
            actor.name
        ))
    }
}

/// Moving request `request` along (starting it, marking it done, linking the deletion
/// batches and purges that fulfil it), assigned to the user `assignee`: an admin, or its
/// assignee, whose work it is.
pub fn work_on_request(actor: &Actor, request: i64, assignee: Option<i64>) -> Verdict {
    if may_see(actor, assignee) {
        Ok(())
    } else {
        refuse(format!(
            "only the assignee of request {request} or an admin may move it along"
        ))
    }
}

/// Changing, enabling, disabling, running or removing monitor `monitor`, which the user
/// `owner` owns: an admin or its owner.
pub fn change_monitor(actor: &Actor, monitor: &str, owner: Option<i64>) -> Verdict {
    if may_see(actor, owner) {
        Ok(())
    } else {
        refuse(format!(
            "only an admin or the owner of monitor `{monitor}` may change, run or remove it"
        ))
    }
}

/// Subscribing the user `subscriber` to monitor `monitor` (owned by `owner`), or
/// unsubscribing them: anyone for themselves; the owner or an admin for others.
pub fn subscribe_to_monitor(
    actor: &Actor,
    monitor: &str,
    owner: Option<i64>,
    subscriber: i64,
) -> Verdict {
    if may_see(actor, owner) || actor.is(Some(subscriber)) {
        Ok(())
    } else {
        refuse(format!(
            "only an admin or the owner of monitor `{monitor}` may subscribe or unsubscribe others; you may subscribe yourself"
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The actors of the table: the operator, an admin, a plain user, and the plain user who
    /// made, saved or owns the thing asked about (id 7).
    fn actors() -> [(&'static str, Actor); 4] {
        [
            ("operator", Actor::operator()),
            ("admin", Actor::user(1, "boss", true)),
            ("user", Actor::user(2, "clerk", false)),
            ("owner", Actor::user(7, "owner", false)),
        ]
    }

    const OWNER: i64 = 7;

    #[test]
    fn every_rule_answers_every_actor_as_the_table_says() {
        type Question = (&'static str, fn(&Actor) -> bool);
        // Columns: operator, admin, plain user, owner.
        #[rustfmt::skip]
        let table: [(Question, [bool; 4]); 53] = [
            (("see the owner's job or snapshot",    |a| may_see(a, Some(OWNER))),                           [true, true, false, true]),
            (("see what the operator started",      |a| may_see(a, None)),                                  [true, true, false, false]),
            (("list everyone's jobs",               sees_everyones),                                        [true, true, false, false]),
            (("change the owner's selection",       |a| change_selection(a, "s", Some(OWNER)).is_ok()),     [true, true, false, true]),
            (("change a selection nobody owns",     |a| change_selection(a, "s", None).is_ok()),            [true, true, false, false]),
            (("request a purge",                    |a| request_purge(a).is_ok()),                          [true, true, false, false]),
            (("cancel a purge",                     |a| cancel_purge(a).is_ok()),                           [true, true, false, false]),
            (("add a user",                         |a| manage_users(a, UserAction::Add).is_ok()),          [true, true, false, false]),
            (("remove a user",                      |a| manage_users(a, UserAction::Remove).is_ok()),       [true, true, false, false]),
            (("list users",                         |a| manage_users(a, UserAction::List).is_ok()),         [true, true, false, false]),
            (("change a user's role",               |a| manage_users(a, UserAction::ChangeRole).is_ok()),   [true, true, false, false]),
            (("reset a password",                   |a| manage_users(a, UserAction::ResetPassword).is_ok()), [true, true, false, false]),
            (("revoke the owner's token",           |a| handle_tokens(a, OWNER, "owner").is_ok()),          [true, true, false, true]),
            (("preview a purge",                    |a| preview_purge(a).is_ok()),                          [true, true, false, false]),
            (("trash one record",                   |a| bulk(a, 1, "trashing", "a mass delete").is_ok()),   [true, true, true, true]),
            (("trash two records",                  |a| bulk(a, 2, "trashing", "a mass delete").is_ok()),   [true, true, false, false]),
            (("read the history",                   |a| read_history(a).is_ok()),                           [true, true, false, false]),
            (("resume the owner's trash job",       |a| resume_job(a, 3, false, Some(OWNER)).is_ok()),      [true, true, false, true]),
            (("resume the owner's purge",           |a| resume_job(a, 3, true, Some(OWNER)).is_ok()),       [true, true, false, false]),
            (("resume the operator's job",          |a| resume_job(a, 3, false, None).is_ok()),             [true, true, false, false]),
            (("restore what the owner trashed",     |a| restore(a, 5, Some(OWNER), None).is_ok()),          [true, true, false, true]),
            (("restore only records one made",      |a| restore(a, 5, None, Some(0)).is_ok()),              [true, true, true, true]),
            (("restore others' records",            |a| restore(a, 5, None, Some(2)).is_ok()),              [true, true, false, false]),
            (("restore, creators not counted",      |a| restore(a, 5, None, None).is_ok()),                 [true, true, false, false]),
            (("list the owner's tokens",            |a| handle_tokens(a, OWNER, "owner").is_ok()),          [true, true, false, true]),
            (("see the owner's job",                |a| see_job(a, 3, Some(OWNER)).is_ok()),                [true, true, false, true]),
            (("see the owner's snapshot",           |a| see_snapshot(a, 4, Some(OWNER)).is_ok()),           [true, true, false, true]),
            (("revoke the owner's token",           |a| revoke_token(a, 9, OWNER).is_ok()),                 [true, true, false, true]),
            (("end the owner's sessions",           |a| handle_sessions(a, OWNER, "owner").is_ok()),        [true, true, false, true]),
            (("set the owner's password",           |a| set_password(a, OWNER, "owner").is_ok()),           [true, true, false, true]),
            (("see the owner's deletion batch",     |a| see_deletion_batch(a, 6, Some(OWNER)).is_ok()),     [true, true, false, true]),
            (("see the operator's deletion batch",  |a| see_deletion_batch(a, 6, None).is_ok()),            [true, true, false, false]),
            (("open the permanent deletion console", |a| open_deletion_console(a).is_ok()),                 [true, true, false, false]),
            (("choose the owner's channels",        |a| set_delivery(a, OWNER, "owner").is_ok()),           [true, true, false, true]),
            (("manage webhooks",                    |a| manage_webhooks(a).is_ok()),                        [true, true, false, false]),
            (("see and retry deliveries",           |a| handle_deliveries(a).is_ok()),                      [true, true, false, false]),
            (("manage retention policies",          |a| manage_retention(a).is_ok()),                       [true, true, false, false]),
            (("approve a policy another changed",   |a| approve_retention(a, "p", Some(OWNER)).is_ok()),    [true, true, false, false]),
            (("approve a policy oneself changed",   |a| approve_retention(a, "p", Some(1)).is_ok()),        [true, false, false, false]),
            (("register a request",                 |a| manage_requests(a, "registering").is_ok()),         [true, true, false, false]),
            (("see the owner's request",            |a| see_request(a, 8, Some(OWNER)).is_ok()),            [true, true, false, true]),
            (("see an unassigned request",          |a| see_request(a, 8, None).is_ok()),                   [true, true, false, false]),
            (("see another's request",              |a| see_request(a, 8, Some(1)).is_ok()),                [true, true, false, false]),
            (("move the owner's request along",     |a| work_on_request(a, 8, Some(OWNER)).is_ok()),        [true, true, false, true]),
            (("move an unassigned request along",   |a| work_on_request(a, 8, None).is_ok()),               [true, true, false, false]),
            (("extend or refuse the owner's request", |a| manage_requests(a, "extending").is_ok()),         [true, true, false, false]),
            (("monitor a visible selection",        |a| add_monitor(a, "s", true).is_ok()),                 [true, true, true, true]),
            (("monitor a hidden selection",         |a| add_monitor(a, "s", false).is_ok()),                [true, true, false, false]),
            (("change the owner's monitor",         |a| change_monitor(a, "m", Some(OWNER)).is_ok()),       [true, true, false, true]),
            (("change the operator's monitor",      |a| change_monitor(a, "m", None).is_ok()),              [true, true, false, false]),
            (("subscribe oneself (user 2)",         |a| subscribe_to_monitor(a, "m", Some(OWNER), 2).is_ok()), [true, true, true, true]),
            (("subscribe another (user 3)",         |a| subscribe_to_monitor(a, "m", Some(OWNER), 3).is_ok()), [true, true, false, true]),
            (("subscribe to the operator's monitor", |a| subscribe_to_monitor(a, "m", None, 3).is_ok()),    [true, true, false, false]),
        ];
        for ((question, ask), expected) in table {
            for ((who, actor), expect) in actors().iter().zip(expected) {
                assert_eq!(ask(actor), expect, "{who}: {question}");
            }
        }
    }

    #[test]
    fn a_refusal_says_who_may() {
        let clerk = Actor::user(2, "clerk", false);
        let refused = change_selection(&clerk, "stale", Some(OWNER)).unwrap_err();
        assert!(
            refused.0.contains("the user who saved `stale`"),
            "{refused}"
        );
        let refused = manage_users(&clerk, UserAction::Add).unwrap_err();
        assert!(refused.0.contains("for admins only"), "{refused}");
        assert!(refused.0.contains("`clerk`"), "{refused}");
    }
}
