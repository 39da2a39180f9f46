//! Support tickets with their comments and survey ratings.
//!
//! Comments and ratings written by the requester point at the contact with the `anonymize`
//! rule: when the contact is deleted they stay, pointing at the "Deleted User" (SPEC §2), which
//! the demo shows only if many of them are written by contacts. Comments by support staff
//! have no contact.

use lethe_store::Value;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::contacts::ContactLife;
use crate::enums::{AttachmentOwner, ContactCategory, TicketStatus};
use crate::files::{self, Owner};
use crate::plan::{DAY, HOUR, NextIds, Plan};
use crate::random::{chance, count_with_mean, pick, weighted};
use crate::tables::{Chunk, Kind};
use crate::words::{SURVEY_COMMENTS, TICKET_COMMENTS, TICKET_SUBJECTS};

/// Tickets per contact: customers ask for help, prospects rarely do.
fn mean_tickets(category: ContactCategory) -> f64 {
    match category {
        ContactCategory::Customer => 0.5,
        ContactCategory::Lost => 0.2,
        ContactCategory::Prospect => 0.04,
    }
}

/// Tickets older than this are almost all solved or closed.
const SETTLED: i64 = 60 * DAY;

pub(crate) fn generate_tickets(
    plan: &Plan,
    contact: &ContactLife<'_>,
    rng: &mut ChaCha8Rng,
    next_ids: &mut NextIds,
    chunk: &mut Chunk,
) {
    for _ in 0..count_with_mean(rng, mean_tickets(contact.category)) {
        let opened_age = contact.moment(rng);
        let status = if opened_age > SETTLED {
            weighted(
                rng,
                &[
                    (TicketStatus::Open, 5),
                    (TicketStatus::Pending, 5),
                    (TicketStatus::Solved, 45),
                    (TicketStatus::Closed, 45),
                ],
            )
        } else {
            weighted(
                rng,
                &[
                    (TicketStatus::Open, 40),
                    (TicketStatus::Pending, 25),
                    (TicketStatus::Solved, 25),
                    (TicketStatus::Closed, 10),
                ],
            )
        };
        let ticket_id = next_ids.take(Kind::Ticket);

        // Comments follow the ticket within a few days; the ticket was last updated with the
        // newest of them.
        let mut comment_age = opened_age;
        for _ in 0..count_with_mean(rng, 2.0) {
            comment_age = (comment_age - rng.random_range(HOUR..3 * DAY)).max(0);
            let author = if chance(rng, 0.55) {
                Value::Integer(contact.id)
            } else {
                Value::Null
            };
            let id = next_ids.take(Kind::TicketComment);
            chunk.push(
                Kind::TicketComment,
                plan.builtin(id, comment_age, comment_age),
                [
                    Value::Integer(ticket_id),
                    author,
                    Value::Text((*pick(rng, TICKET_COMMENTS)).to_owned()),
                ],
            );
        }
        chunk.push(
            Kind::Ticket,
            plan.builtin(ticket_id, opened_age, comment_age),
            [
                Value::Integer(contact.id),
                Value::Text((*pick(rng, TICKET_SUBJECTS)).to_owned()),
                status.value(),
            ],
        );

        let settled = matches!(status, TicketStatus::Solved | TicketStatus::Closed);
        if settled && chance(rng, 0.6) {
            let rated_age = (comment_age - rng.random_range(HOUR..2 * DAY)).max(0);
            let score = weighted(rng, &[(1, 5), (2, 7), (3, 15), (4, 33), (5, 40)]);
            let comment = if chance(rng, 0.3) {
                Value::Text((*pick(rng, SURVEY_COMMENTS)).to_owned())
            } else {
                Value::Null
            };
            let id = next_ids.take(Kind::SurveyRating);
            chunk.push(
                Kind::SurveyRating,
                plan.builtin(id, rated_age, rated_age),
                [
                    Value::Integer(ticket_id),
                    Value::Integer(contact.id),
                    Value::Integer(score),
                    comment,
                ],
            );
        }

        if chance(rng, 0.01) {
            let owner = Owner {
                entity: AttachmentOwner::Ticket,
                id: ticket_id,
                created_age: opened_age,
                name_hint: None,
            };
            files::attach(plan, rng, &owner, next_ids, chunk);
        }
    }
}
