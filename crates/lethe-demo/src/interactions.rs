//! Activities, messages and notes: the record of who talked to whom and when.
//!
//! A contact's last interaction is decided before these are generated (see
//! [`crate::contacts`]): the newest activity happens exactly then, and every other activity and
//! message lies between the contact's creation and that moment. So "no interaction for two
//! years" (SPEC §4: `none activity(happened_at > now - 2y)`) holds for exactly the contacts the
//! plan made dormant.

use lethe_store::Value;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::contacts::ContactLife;
use crate::enums::{
    ActivityKind, ActivityStatus, ContactCategory, MessageChannel, MessageDirection,
};
use crate::plan::{DAY, MINUTE, NextIds, Plan};
use crate::random::{between, chance, count_with_mean, pick, weighted};
use crate::tables::{Chunk, Kind};
use crate::words::{
    APPOINTMENT_SUBJECTS, CALL_SUBJECTS, EMAIL_SUBJECTS, INBOUND_MESSAGES, MANUAL_ACTION_SUBJECTS,
    OUTBOUND_MESSAGES, SENTENCES, TASK_SUBJECTS,
};

/// Activities are about five per contact over the whole data set; customers get the most.
fn mean_activities(category: ContactCategory) -> f64 {
    match category {
        ContactCategory::Customer => 8.0,
        ContactCategory::Prospect => 3.9,
        ContactCategory::Lost => 5.1,
    }
}

/// The chance that an interacting contact had at least one written conversation.
fn conversation_chance(category: ContactCategory) -> f64 {
    match category {
        ContactCategory::Customer => 0.45,
        ContactCategory::Prospect => 0.27,
        ContactCategory::Lost => 0.32,
    }
}

/// Open work is recent: an activity older than this is almost always finished.
const RECENT: i64 = 90 * DAY;

pub(crate) fn generate_activities(
    plan: &Plan,
    contact: &ContactLife<'_>,
    rng: &mut ChaCha8Rng,
    next_ids: &mut NextIds,
    chunk: &mut Chunk,
) {
    let Some(last_interaction_age) = contact.last_interaction_age else {
        return;
    };
    let count = 1 + count_with_mean(rng, mean_activities(contact.category) - 1.0);
    for index in 0..count {
        let happened_age = if index == 0 {
            last_interaction_age
        } else {
            between(rng, last_interaction_age, contact.created_age)
        };
        let kind = weighted(
            rng,
            &[
                (ActivityKind::Task, 25),
                (ActivityKind::Appointment, 15),
                (ActivityKind::Call, 25),
                (ActivityKind::Email, 30),
                (ActivityKind::ManualAction, 5),
            ],
        );
        let status = activity_status(rng, kind, happened_age);
        let subject = activity_subject(rng, kind, contact.first_name);
        let body = if chance(rng, 0.6) {
            Value::Text(sentences(rng, 1, 3))
        } else {
            Value::Null
        };
        let id = next_ids.take(Kind::Activity);
        let updated_age = if status == ActivityStatus::Open {
            happened_age
        } else {
            (happened_age - rng.random_range(0..3 * DAY)).max(0)
        };
        chunk.push(
            Kind::Activity,
            plan.builtin(id, happened_age, updated_age),
            [
                Value::Integer(contact.id),
                kind.value(),
                Value::Text(subject),
                body,
                status.value(),
                Value::Timestamp(plan.at(happened_age)),
            ],
        );
    }
}

/// Old activities are done or verified and some were removed; tasks that are still open or
/// merely done block a purge (the APRO precondition in the default schema).
fn activity_status(rng: &mut ChaCha8Rng, kind: ActivityKind, happened_age: i64) -> ActivityStatus {
    use ActivityStatus::{Done, Open, Removed, Verified};
    match (kind, happened_age > RECENT) {
        (ActivityKind::Task, true) => weighted(
            rng,
            &[(Open, 15), (Done, 45), (Removed, 15), (Verified, 25)],
        ),
        (ActivityKind::Task, false) => weighted(rng, &[(Open, 50), (Done, 45), (Verified, 5)]),
        (_, true) => weighted(rng, &[(Open, 3), (Done, 80), (Removed, 5), (Verified, 12)]),
        (_, false) => weighted(rng, &[(Open, 20), (Done, 75), (Verified, 5)]),
    }
}

fn activity_subject(rng: &mut ChaCha8Rng, kind: ActivityKind, first_name: &str) -> String {
    let (subjects, personal) = match kind {
        ActivityKind::Task => (TASK_SUBJECTS, false),
        ActivityKind::Appointment => (APPOINTMENT_SUBJECTS, true),
        ActivityKind::Call => (CALL_SUBJECTS, true),
        ActivityKind::Email => (EMAIL_SUBJECTS, false),
        ActivityKind::ManualAction => (MANUAL_ACTION_SUBJECTS, false),
    };
    let subject = *pick(rng, subjects);
    // A name in the subject makes the subject personal data, as the schema says it is, and
    // makes its anonymisation visible in the demo.
    if personal && chance(rng, 0.4) {
        format!("{subject} with {}", first_name.trim())
    } else {
        subject.to_owned()
    }
}

/// Between `low` and `high` sentences of CRM small talk.
pub(crate) fn sentences(rng: &mut ChaCha8Rng, low: usize, high: usize) -> String {
    let count = rng.random_range(low..=high);
    let mut text = String::with_capacity(count * 50);
    for index in 0..count {
        if index > 0 {
            text.push(' ');
        }
        text.push_str(pick::<&str>(rng, SENTENCES));
    }
    text
}

/// Conversations: a few messages back and forth on one channel within a few days.
pub(crate) fn generate_messages(
    plan: &Plan,
    contact: &ContactLife<'_>,
    rng: &mut ChaCha8Rng,
    next_ids: &mut NextIds,
    chunk: &mut Chunk,
) {
    let Some(last_interaction_age) = contact.last_interaction_age else {
        return;
    };
    if !chance(rng, conversation_chance(contact.category)) {
        return;
    }
    for _ in 0..1 + count_with_mean(rng, 0.3) {
        let newest_age = between(rng, last_interaction_age, contact.created_age);
        let channel = weighted(
            rng,
            &[
                (MessageChannel::Email, 45),
                (MessageChannel::Sms, 15),
                (MessageChannel::Chat, 15),
                (MessageChannel::Whatsapp, 10),
                (MessageChannel::Phone, 15),
            ],
        );
        let mut direction = if chance(rng, 0.5) {
            MessageDirection::Inbound
        } else {
            MessageDirection::Outbound
        };
        let messages = 1 + count_with_mean(rng, 1.5);
        // Going back in time from the newest message; never before the contact existed.
        let mut sent_age = newest_age;
        let mut ages = Vec::with_capacity(messages as usize);
        for _ in 0..messages {
            ages.push(sent_age.min(contact.created_age));
            sent_age += rng.random_range(5 * MINUTE..2 * DAY);
        }
        for &age in ages.iter().rev() {
            let body = match direction {
                MessageDirection::Inbound => pick(rng, INBOUND_MESSAGES),
                MessageDirection::Outbound => pick(rng, OUTBOUND_MESSAGES),
            };
            let id = next_ids.take(Kind::Message);
            chunk.push(
                Kind::Message,
                plan.builtin(id, age, age),
                [
                    Value::Integer(contact.id),
                    channel.value(),
                    direction.value(),
                    Value::Text((*body).to_owned()),
                    Value::Timestamp(plan.at(age)),
                ],
            );
            direction = match direction {
                MessageDirection::Inbound => MessageDirection::Outbound,
                MessageDirection::Outbound => MessageDirection::Inbound,
            };
        }
    }
}

/// Free-text notes, about two per contact, written while the contact was being worked with.
pub(crate) fn generate_notes(
    plan: &Plan,
    contact: &ContactLife<'_>,
    rng: &mut ChaCha8Rng,
    next_ids: &mut NextIds,
    chunk: &mut Chunk,
) {
    for _ in 0..count_with_mean(rng, 2.0) {
        let written_age = contact.moment(rng);
        let edited_age = if chance(rng, 0.15) {
            between(rng, 0, written_age)
        } else {
            written_age
        };
        let id = next_ids.take(Kind::Note);
        chunk.push(
            Kind::Note,
            plan.builtin(id, written_age, edited_age),
            [
                Value::Integer(contact.id),
                Value::Text(sentences(rng, 1, 3)),
            ],
        );
    }
}
