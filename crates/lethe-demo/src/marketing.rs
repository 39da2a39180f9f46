//! Consents and campaign memberships.
//!
//! About a third of the contacts gave a marketing consent, a fifth of those withdrew it later:
//! the retention scenarios of SPEC §4 keep contacts with a marketing consent longer, and the
//! legal basis of a contact follows from what is generated here.

use lethe_store::Value;
use rand_chacha::ChaCha8Rng;

use crate::contacts::ContactLife;
use crate::enums::{ConsentPurpose, ContactCategory};
use crate::plan::{NextIds, Plan};
use crate::random::{between, chance, count_with_mean, pick};
use crate::tables::{Chunk, Kind};
use crate::words::{CAMPAIGN_THEMES, CONSENT_SOURCES};

/// What the consents of a contact add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConsentSummary {
    /// A marketing consent that has not been withdrawn.
    pub(crate) active_marketing: bool,
}

/// How likely a contact is to have given a consent for each purpose, and to have withdrawn it.
fn consent_chances(category: ContactCategory) -> [(ConsentPurpose, f64, f64); 5] {
    let marketing = match category {
        ContactCategory::Customer => 0.40,
        ContactCategory::Prospect => 0.30,
        ContactCategory::Lost => 0.25,
    };
    [
        (ConsentPurpose::Marketing, marketing, 0.20),
        (ConsentPurpose::Newsletter, 0.05, 0.15),
        (ConsentPurpose::Support, 0.02, 0.05),
        (ConsentPurpose::Profiling, 0.01, 0.30),
        (ConsentPurpose::ThirdParty, 0.005, 0.40),
    ]
}

pub(crate) fn generate_consents(
    plan: &Plan,
    contact: &ContactLife<'_>,
    rng: &mut ChaCha8Rng,
    next_ids: &mut NextIds,
    chunk: &mut Chunk,
) -> ConsentSummary {
    let mut summary = ConsentSummary {
        active_marketing: false,
    };
    for (purpose, granted_chance, withdrawn_chance) in consent_chances(contact.category) {
        if !chance(rng, granted_chance) {
            continue;
        }
        let granted_age = contact.moment(rng);
        let withdrawn_age = if chance(rng, withdrawn_chance) {
            Some(between(rng, 0, granted_age))
        } else {
            None
        };
        if purpose == ConsentPurpose::Marketing && withdrawn_age.is_none() {
            summary.active_marketing = true;
        }
        let id = next_ids.take(Kind::Consent);
        chunk.push(
            Kind::Consent,
            plan.builtin(id, granted_age, withdrawn_age.unwrap_or(granted_age)),
            [
                Value::Integer(contact.id),
                purpose.value(),
                Value::Text((*pick(rng, CONSENT_SOURCES)).to_owned()),
                Value::Timestamp(plan.at(granted_age)),
                withdrawn_age.map_or(Value::Null, |age| Value::Timestamp(plan.at(age))),
            ],
        );
    }
    summary
}

/// Campaign memberships: people who consented to marketing are in more campaigns. A campaign
/// is named after its theme and year ("Spring newsletter 2021"), which gives about a hundred
/// distinct campaigns.
pub(crate) fn generate_campaign_memberships(
    plan: &Plan,
    contact: &ContactLife<'_>,
    consents: ConsentSummary,
    rng: &mut ChaCha8Rng,
    next_ids: &mut NextIds,
    chunk: &mut Chunk,
) {
    let mean = if consents.active_marketing { 1.2 } else { 0.4 };
    for _ in 0..count_with_mean(rng, mean) {
        let joined_age = contact.moment(rng);
        let campaign = format!("{} {}", pick(rng, CAMPAIGN_THEMES), plan.year(joined_age));
        let id = next_ids.take(Kind::CampaignMembership);
        chunk.push(
            Kind::CampaignMembership,
            plan.builtin(id, joined_age, joined_age),
            [
                Value::Integer(contact.id),
                Value::Text(campaign),
                Value::Timestamp(plan.at(joined_age)),
            ],
        );
    }
}
