//! People's erasure and access requests (SPEC §12; GDPR Art. 12, 15, 17): register one with
//! its legal deadline, assign it, start it, extend it once or more up to two further months
//! with the reason, finish or refuse it, link the deletion batches and purges that fulfilled
//! it, and remind people of its deadline, each reminder once however many instances run.
//! Every step is written to the history; the statuses, deadlines and who may do what are
//! the domain's (`lethe_domain::request`, `lethe_domain::policy`).
//!
//! **Personal data.** While a request is open it holds its subject — the address as given,
//! or the contact's id — because someone has to find the person's records to fulfil it. When
//! it closes (done or refused) the subject is cleared in the same statement that closes it;
//! what stays is a keyed tag (HMAC-SHA-256 under the history key, as the history keeps
//! personal values of filters), so that a later request from the same address is matched to
//! this one ("an erasure request for this address was done on …") without the address being
//! kept. The history, the notifications and the outbox only ever get the tag and the request's
//! number. A request keeps no free-text notes: its only texts are the extension's and the
//! refusal's reasons, from which the subject's address (or, for a contact, the contact's
//! personal values) is replaced by `[erased]` before they are stored.
//!
//! **Purges and the open request.** An erasure request registered by address keeps that
//! address until it is closed, also after a purge erased the contact that had it; so a purge's
//! erasure receipt made while such a request is open finds the address in `lethe_request` —
//! the one copy kept on purpose, gone when the request is marked done — and explains it as
//! "kept by open request N" ([`kept_addresses`]) rather than as residue.
//! Lethe does not close a request by itself when a linked purge has run: fulfilling an
//! erasure often needs more than one purge and steps outside Lethe (processors, backups), so
//! a person decides. The request then shows `ready_to_close` to prompt that decision.

mod rows;

use lethe_domain::Actor;
use lethe_domain::policy;
use lethe_domain::request::{self, RequestKind, RequestStatus};
use schemars::JsonSchema;
use serde::Serialize;
use time::OffsetDateTime;

pub(crate) use self::rows::kept_addresses;
use self::rows::{Checked, Claimed, Row};
use crate::error::StoreError;
use crate::set_columns::Set;
use crate::value::format_timestamp;
use crate::{Pools, Store, Value, dispatch};

/// A person's erasure or access request, as people see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SubjectRequest {
    pub id: i64,
    /// `erasure` (Art. 17) or `access` (Art. 15).
    pub kind: String,
    /// The address the person gave, while the request is open; null once it is closed.
    pub subject_email: Option<String>,
    /// The contact the request is about, while it is open; null once it is closed.
    pub subject_contact_id: Option<i64>,
    /// A keyed hash of the subject (`hash:…`), kept for good: a later request from the same
    /// person has the same tag.
    pub subject_tag: String,
    #[schemars(extend("format" = "date-time"))]
    pub received_at: String,
    /// The first legal deadline: one calendar month after receipt.
    #[schemars(extend("format" = "date-time"))]
    pub due_at: String,
    /// The deadline an extension set, with its reason.
    #[schemars(extend("format" = "date-time"))]
    pub extended_until: Option<String>,
    pub extension_reason: Option<String>,
    /// The deadline in force (the extension's, else the first).
    #[schemars(extend("format" = "date-time"))]
    pub deadline: String,
    /// Whole days to the deadline, rounded up; 0 or less once it passed.
    pub days_left: i64,
    /// Open and past its deadline.
    pub overdue: bool,
    /// `received`, `in_progress`, `done` or `refused`.
    pub status: String,
    pub refusal_reason: Option<String>,
    /// Who works on it.
    pub assignee: Option<String>,
    /// Who registered it (null: the operator).
    pub created_by: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub closed_at: Option<String>,
    /// When the assignee was reminded of the deadline, and when admins were told it passed.
    #[schemars(extend("format" = "date-time"))]
    pub reminded_at: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub overdue_notified_at: Option<String>,
    /// The deletion batches and purges that fulfilled it.
    pub links: Vec<RequestLink>,
    /// An open erasure request whose linked purges have all run: someone should check and
    /// mark it done.
    pub ready_to_close: bool,
}

/// A deletion batch or a purge linked to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RequestLink {
    pub batch_id: Option<i64>,
    /// A purge (or another job).
    pub job_id: Option<i64>,
    /// The batch's or the job's state now.
    pub state: String,
    /// Where the erasure receipt of a purge that ran is shown.
    pub receipt: Option<String>,
    #[schemars(extend("format" = "date-time"))]
    pub linked_at: String,
}

/// A new request, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewSubjectRequest {
    /// `erasure` or `access`.
    pub kind: String,
    /// The person's address, or
    pub email: Option<String>,
    /// the contact the request is about (exactly one of the two).
    pub contact_id: Option<i64>,
    /// When it was received (a date or an RFC 3339 time); now when absent.
    pub received: Option<String>,
    /// The user who works on it.
    pub assignee: Option<String>,
}

/// Which requests a list shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RequestListing {
    #[default]
    All,
    Open,
    /// Open and past their deadline.
    Overdue,
}

/// A change to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestChange {
    /// Give it to a user (admins).
    Assign(String),
    /// Received → in progress (its assignee or an admin).
    Start,
    /// Move the deadline to `until` (a date or a time), with the reason (admins).
    Extend { until: String, reason: String },
    /// Fulfilled (its assignee or an admin).
    Done,
    /// Refused, with the reason (admins).
    Refuse { reason: String },
}

/// How many reminders one call sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RemindersSent {
    /// Reminders that a deadline is five days away or less.
    pub reminded: u64,
    /// Reports to every admin that a deadline passed.
    pub overdue: u64,
}

fn parse_moment(option: &'static str, text: &str) -> Result<OffsetDateTime, StoreError> {
    lethe_domain::value::parse_timestamp(text)
        .map_err(|error| StoreError::invalid_option(option, error.to_string()))
}

/// `text` with every occurrence of `address` (ignoring case) replaced by `[erased]`.
fn without_address(text: &str, address: &str) -> String {
    let needle = address.to_lowercase();
    if needle.is_empty() {
        return text.to_owned();
    }
    let lower = text.to_lowercase();
    // Lower-casing may change byte lengths outside ASCII; then the text is kept whole only
    // when it does not name the address at all.
    if lower.len() != text.len() {
        return if lower.contains(&needle) {
            crate::redact::ERASED.to_owned()
        } else {
            text.to_owned()
        };
    }
    let mut kept = String::with_capacity(text.len());
    let mut from = 0;
    while let Some(found) = lower[from..].find(&needle) {
        let start = from + found;
        kept.push_str(&text[from..start]);
        kept.push_str(crate::redact::ERASED);
        from = start + needle.len();
    }
    kept.push_str(&text[from..]);
    kept
}

impl Store {
    /// The keyed tag of a subject: the address (ignoring case), or the contact's id.
    fn subject_tag(&self, email: Option<&str>, contact: Option<i64>) -> String {
        let mut mac = self
            .history_key()
            .mac(request::subject_text(email, contact).as_bytes());
        mac.truncate(32);
        format!("hash:{mac}")
    }

    /// The tag of requests about `email`, to find earlier requests of the same person.
    pub fn request_tag_of(&self, email: &str) -> Result<String, StoreError> {
        let address = request::check_email(email)
            .map_err(|message| StoreError::invalid_option("email", message))?;
        Ok(self.subject_tag(Some(&address), None))
    }

    /// The address of contact `id` if it has one, after checking that it exists (in the
    /// trash or not).
    async fn contact_address(&self, id: i64) -> Result<Option<String>, StoreError> {
        if self.schema().entity("contact").is_none() {
            return Err(StoreError::invalid_option(
                "contact",
                "this schema has no `contact` entity: register the request by --email",
            ));
        }
        match self.get_record("contact", id).await {
            Ok(record) => Ok(match record.get("email") {
                Some(Value::Text(address)) if !address.trim().is_empty() => Some(address.clone()),
                _ => None,
            }),
            Err(StoreError::InTrash { .. }) => Ok(None),
            Err(StoreError::NotFound { .. }) => Err(StoreError::invalid_option(
                "contact",
                format!(
                    "contact {id} does not exist; find the person with `lethe select contact` or register the request by --email"
                ),
            )),
            Err(other) => Err(other),
        }
    }

    /// Registers a request (admins), due one calendar month after receipt. Nothing is
    /// written when any part is wrong.
    pub async fn add_request(
        &self,
        new: &NewSubjectRequest,
        actor: &Actor,
    ) -> Result<SubjectRequest, StoreError> {
        policy::manage_requests(actor, "registering a person's request")?;
        let kind: RequestKind = new
            .kind
            .parse()
            .map_err(|message: String| StoreError::invalid_option("kind", message))?;
        let now = self.now();
        let email = match (&new.email, new.contact_id) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(StoreError::invalid_option(
                    "email",
                    "say whose request it is: give either the person's address (--email) or their contact id (--contact), not both",
                ));
            }
            (Some(email), None) => Some(
                request::check_email(email)
                    .map_err(|message| StoreError::invalid_option("email", message))?,
            ),
            (None, Some(_)) => None,
        };
        let tag_address = match new.contact_id {
            Some(contact) => self.contact_address(contact).await?,
            None => email.clone(),
        };
        let received = match &new.received {
            Some(text) => parse_moment("received", text)?,
            None => now,
        };
        if received > now {
            return Err(StoreError::invalid_option(
                "received",
                format!(
                    "{} is in the future: give the day the request reached you",
                    received.date()
                ),
            ));
        }
        let assignee = match &new.assignee {
            Some(name) => Some(self.existing_user(name).await?),
            None => None,
        };
        let tag = self.subject_tag(tag_address.as_deref(), new.contact_id);
        let due = request::due_at(received);
        let checked = Checked {
            kind: kind.as_str(),
            email: email.as_deref(),
            contact: new.contact_id,
            tag: &tag,
            received,
            due,
            assignee: assignee.as_ref().map(|user| user.id),
        };
        let detail = serde_json::json!({
            "kind": kind.as_str(), "subject": tag, "received_at": format_timestamp(received),
            "due_at": format_timestamp(due), "assignee": assignee.as_ref().map(|user| &user.name),
        });
        let key = self.history_key();
        let id = dispatch!(self, pool => rows::insert::<_>(pool, &key, &checked, detail, actor, now).await)?;
        self.subject_request(id, actor).await
    }

    async fn request_row(&self, id: i64) -> Result<Row, StoreError> {
        dispatch!(self, pool => rows::one::<_>(pool, id).await)
    }

    /// A row with its links and the days left, as people see it.
    async fn finish_row(&self, row: Row) -> Result<SubjectRequest, StoreError> {
        let now = self.now();
        let mut shown = row.request;
        let open = shown
            .status
            .parse::<RequestStatus>()
            .is_ok_and(RequestStatus::is_open);
        shown.days_left = request::days_left(row.deadline, now);
        shown.overdue = open && row.deadline <= now;
        shown.links = dispatch!(self, pool => rows::links::<_>(pool, shown.id).await)?;
        let purges: Vec<&RequestLink> = shown
            .links
            .iter()
            .filter(|link| link.job_id.is_some())
            .collect();
        shown.ready_to_close = open
            && shown.kind == RequestKind::Erasure.as_str()
            && !purges.is_empty()
            && purges.iter().all(|link| link.state == "done");
        Ok(shown)
    }

    /// One request (admins, and its assignee).
    pub async fn subject_request(
        &self,
        id: i64,
        actor: &Actor,
    ) -> Result<SubjectRequest, StoreError> {
        let row = self.request_row(id).await?;
        policy::see_request(actor, id, row.assignee_id)?;
        self.finish_row(row).await
    }

    /// The requests `listing` asks for: every one to an admin, a plain user's own to a plain
    /// user; only those about `email` when given (matched by the keyed tag, so closed ones
    /// are found too).
    pub async fn subject_requests(
        &self,
        listing: RequestListing,
        email: Option<&str>,
        actor: &Actor,
    ) -> Result<Vec<SubjectRequest>, StoreError> {
        let tag = email.map(|email| self.request_tag_of(email)).transpose()?;
        let assignee = if policy::sees_everyones(actor) {
            None
        } else {
            Some(actor.user_id.unwrap_or(i64::MIN))
        };
        let now = self.now();
        let found = dispatch!(self, pool => rows::list::<_>(pool, &listing, assignee, tag.as_deref(), now).await)?;
        let mut shown = Vec::with_capacity(found.len());
        for row in found {
            shown.push(self.finish_row(row).await?);
        }
        Ok(shown)
    }

    /// A reason as stored: the subject's address, or the contact's personal values, replaced
    /// by `[erased]`, because the reason outlives the request's subject.
    async fn kept_reason(&self, row: &Row, reason: &str) -> Result<String, StoreError> {
        let mut kept = reason.trim().to_owned();
        if let Some(address) = &row.request.subject_email {
            kept = without_address(&kept, address);
        }
        if let Some(contact) = row.request.subject_contact_id
            && self.schema().entity("contact").is_some()
        {
            let schema = self.schema();
            kept = dispatch!(self, pool => rows::without_contact_values::<_>(pool, schema, contact, &kept).await)?;
        }
        Ok(kept)
    }

    /// Changes a request: assigns, starts, extends, finishes or refuses it. Each is asked of
    /// the policy and the request's status; nothing is written when either says no.
    pub async fn change_request(
        &self,
        id: i64,
        change: &RequestChange,
        actor: &Actor,
    ) -> Result<SubjectRequest, StoreError> {
        let row = self.request_row(id).await?;
        policy::see_request(actor, id, row.assignee_id)?;
        let status: RequestStatus = row.request.status.parse().map_err(StoreError::Internal)?;
        let now = self.now();
        let mut detail = serde_json::json!({"request": id, "subject": row.request.subject_tag});
        let (action, values) = match change {
            RequestChange::Assign(name) => {
                policy::manage_requests(actor, "assigning a request")?;
                if !status.is_open() {
                    return Err(StoreError::Conflict(format!(
                        "request {id} is {status} and is closed: there is nothing left to work on"
                    )));
                }
                let user = self.existing_user(name).await?;
                detail["assignee"] = serde_json::json!(user.name);
                (
                    "request.assigned",
                    vec![("assignee_id", Set::Id(Some(user.id)))],
                )
            }
            RequestChange::Start => {
                policy::work_on_request(actor, id, row.assignee_id)?;
                status.move_to(id, RequestStatus::InProgress)?;
                (
                    "request.started",
                    vec![("status", Set::OptText(Some("in_progress".to_owned())))],
                )
            }
            RequestChange::Extend { until, reason } => {
                policy::manage_requests(actor, "extending a request's deadline")?;
                if !status.is_open() {
                    return Err(StoreError::Conflict(format!(
                        "request {id} is {status} and is closed: its deadline no longer runs"
                    )));
                }
                let wanted = parse_moment("until", until)?;
                // A date alone means the deadline's own time of day on that date.
                let wanted = if until.trim().len() == 10 {
                    wanted.replace_time(row.due.time())
                } else {
                    wanted
                };
                let until =
                    request::check_extension(id, row.received, row.deadline, now, wanted, reason)
                        .map_err(|refused| {
                        StoreError::invalid_option(refused.field, refused.message)
                    })?;
                let reason = self.kept_reason(&row, reason).await?;
                detail["extended_until"] = serde_json::json!(format_timestamp(until));
                detail["reason"] = serde_json::json!(reason);
                (
                    "request.extended",
                    vec![
                        ("extended_until", Set::Time(Some(until))),
                        ("deadline", Set::Time(Some(until))),
                        ("extension_reason", Set::OptText(Some(reason))),
                        // A new deadline gets its own reminder.
                        ("reminded_at", Set::Time(None)),
                    ],
                )
            }
            RequestChange::Done | RequestChange::Refuse { .. } => {
                let (to, refusal) = match change {
                    RequestChange::Refuse { reason } => {
                        policy::manage_requests(actor, "refusing a request")?;
                        if reason.trim().is_empty() {
                            return Err(StoreError::invalid_option(
                                "reason",
                                format!(
                                    "say why request {id} is refused (Art. 12(4): the person is told why)"
                                ),
                            ));
                        }
                        (
                            RequestStatus::Refused,
                            Some(self.kept_reason(&row, reason).await?),
                        )
                    }
                    _ => {
                        policy::work_on_request(actor, id, row.assignee_id)?;
                        (RequestStatus::Done, None)
                    }
                };
                status.move_to(id, to)?;
                detail["reason"] = serde_json::json!(refusal);
                (
                    if to == RequestStatus::Done {
                        "request.done"
                    } else {
                        "request.refused"
                    },
                    vec![
                        ("status", Set::OptText(Some(to.as_str().to_owned()))),
                        ("refusal_reason", Set::OptText(refusal)),
                        ("closed_at", Set::Time(Some(now))),
                        // The subject goes with the close, in the same statement.
                        ("subject_email", Set::OptText(None)),
                        ("subject_contact_id", Set::Id(None)),
                    ],
                )
            }
        };
        let key = self.history_key();
        let read = status.as_str();
        dispatch!(self, pool => rows::change::<_>(pool, &key, id, read, &values, action, detail, actor, now).await)?;
        self.subject_request(id, actor).await
    }

    /// Links deletion batch `batch` or job `job` (a purge) to request `id`, as what fulfilled
    /// it (its assignee or an admin, while it is open). The batch or job must exist.
    pub async fn link_request(
        &self,
        id: i64,
        batch: Option<i64>,
        job: Option<i64>,
        actor: &Actor,
    ) -> Result<SubjectRequest, StoreError> {
        let row = self.request_row(id).await?;
        policy::work_on_request(actor, id, row.assignee_id)?;
        let status: RequestStatus = row.request.status.parse().map_err(StoreError::Internal)?;
        if !status.is_open() {
            return Err(StoreError::Conflict(format!(
                "request {id} is {status} and is closed: links are made while a request is open"
            )));
        }
        let detail = match (batch, job) {
            (Some(batch), None) => {
                self.deletion_batch(batch).await.map_err(|_| {
                    StoreError::invalid_option(
                        "batch",
                        format!("deletion batch {batch} does not exist; the recycle bin lists the batches in the trash, `lethe history` every one"),
                    )
                })?;
                serde_json::json!({"request": id, "subject": row.request.subject_tag, "batch": batch})
            }
            (None, Some(job)) => {
                self.job(job).await.map_err(|_| {
                    StoreError::invalid_option(
                        "job",
                        format!("job {job} does not exist; see `lethe purge list`"),
                    )
                })?;
                serde_json::json!({"request": id, "subject": row.request.subject_tag, "job": job})
            }
            _ => {
                return Err(StoreError::invalid_option(
                    "batch",
                    "link one thing at a time: a deletion batch (--batch N) or a purge job (--job N)",
                ));
            }
        };
        let key = self.history_key();
        let now = self.now();
        dispatch!(self, pool => rows::link::<_>(pool, &key, id, batch, job, detail, actor, now).await)?;
        self.subject_request(id, actor).await
    }

    /// Sends the deadline reminders due now, each once however many instances call this at
    /// once: to the assignee (every admin when there is none) when a deadline is five days
    /// away or less, to every admin when it passed. The message names the request's number,
    /// kind and deadline, never its subject.
    pub async fn send_request_reminders(&self) -> Result<RemindersSent, StoreError> {
        let now = self.now();
        let until = now + time::Duration::days(request::REMINDER_DAYS_BEFORE);
        let message = |claim: &Claimed, overdue: bool| {
            let day = claim.deadline.date();
            if overdue {
                format!(
                    "The {} request {} passed its deadline of {day} and is still open (`lethe request show {}`).",
                    claim.kind, claim.id, claim.id
                )
            } else {
                format!(
                    "The {} request {} is due on {day} ({} day(s) left; `lethe request show {}`).",
                    claim.kind,
                    claim.id,
                    request::days_left(claim.deadline, now),
                    claim.id
                )
            }
        };
        let (reminded, overdue) =
            dispatch!(self, pool => rows::claim_reminders::<_>(pool, now, until, &message).await)?;
        Ok(RemindersSent { reminded, overdue })
    }
}

#[cfg(test)]
mod tests {
    use super::without_address;

    #[test]
    fn the_address_is_taken_out_of_a_reason_whatever_its_case() {
        assert_eq!(
            without_address(
                "Ann@Example.org asked twice; ann@example.org",
                "ann@example.org"
            ),
            "[erased] asked twice; [erased]"
        );
        assert_eq!(
            without_address("nothing here", "ann@example.org"),
            "nothing here"
        );
    }
}
