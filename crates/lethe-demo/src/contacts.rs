//! Contacts and, through the area modules, every record that hangs off a contact.
//!
//! For each contact the generator first decides the shape of its life — category, when it was
//! created, when anyone last interacted with it — and then lets the area modules fill in
//! consents, activities, conversations, notes, tickets, deals, invoices, projects, campaigns
//! and attachments consistent with that shape. All of it is drawn from the contact's own
//! random stream, in a fixed order.

use lethe_store::Value;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::companies::{company_facts, optional_text};
use crate::enums::{AttachmentOwner, CompanyCategory, ContactCategory, LegalBasis};
use crate::files::{self, Owner};
use crate::people::person;
use crate::places;
use crate::plan::{DAY, NextIds, Plan, YEAR};
use crate::random::{Stream, between, chance, pick, weighted};
use crate::tables::{Chunk, Kind};
use crate::words::{CUSTOM_SOURCES, JOB_TITLES, LANGUAGES};
use crate::{commerce, interactions, marketing, support};

/// "No interaction for two years" is the SuperOffice monitor's rule (SPEC §4); a good share of
/// contacts must fall on each side of it.
const TWO_YEARS: i64 = 2 * YEAR;

/// What the child generators need to know about their contact.
#[derive(Debug)]
pub(crate) struct ContactLife<'a> {
    pub(crate) id: i64,
    pub(crate) company_id: Option<i64>,
    pub(crate) first_name: &'a str,
    pub(crate) category: ContactCategory,
    pub(crate) created_age: i64,
    /// When the newest activity happened; `None` for a contact nobody ever interacted with.
    pub(crate) last_interaction_age: Option<i64>,
    /// The newest moment anything was recorded about the contact (notes, deals, tickets):
    /// nothing is written about a dormant contact after it went quiet.
    pub(crate) last_touch_age: i64,
}

impl ContactLife<'_> {
    /// A moment while the contact was being worked with.
    pub(crate) fn moment(&self, rng: &mut ChaCha8Rng) -> i64 {
        between(rng, self.last_touch_age, self.created_age)
    }
}

/// A contact's category follows its company's most of the time.
fn contact_category(rng: &mut ChaCha8Rng, company: Option<CompanyCategory>) -> ContactCategory {
    use ContactCategory::{Customer, Lost, Prospect};
    let weights = match company {
        None => [(Prospect, 55), (Customer, 30), (Lost, 15)],
        Some(CompanyCategory::Prospect) => [(Prospect, 90), (Customer, 5), (Lost, 5)],
        Some(CompanyCategory::Customer) => [(Prospect, 10), (Customer, 80), (Lost, 10)],
        Some(CompanyCategory::Lost) => [(Prospect, 15), (Customer, 10), (Lost, 75)],
        Some(CompanyCategory::Partner) => [(Prospect, 50), (Customer, 50), (Lost, 0)],
    };
    weighted(rng, &weights)
}

/// When the contact was last interacted with, if ever. Some contacts never were; of the
/// others, a share that depends on the category went quiet more than two years ago (dormant),
/// which needs the contact to be older than that.
fn last_interaction(
    rng: &mut ChaCha8Rng,
    category: ContactCategory,
    created_age: i64,
) -> Option<i64> {
    let (never, dormant) = match category {
        ContactCategory::Prospect => (0.12, 0.55),
        ContactCategory::Customer => (0.02, 0.20),
        ContactCategory::Lost => (0.06, 0.70),
    };
    if chance(rng, never) {
        return None;
    }
    let can_be_dormant = created_age > TWO_YEARS + 30 * DAY;
    if can_be_dormant && chance(rng, dormant) {
        Some(between(rng, TWO_YEARS + DAY, created_age))
    } else {
        Some(between(rng, 0, created_age.min(TWO_YEARS - DAY)))
    }
}

/// The contact's legal basis for processing (SPEC §4: SuperOffice's retention rules and the
/// "set the legal basis" bulk update). Many have none recorded, which is what that bulk update
/// is for.
fn legal_basis(
    rng: &mut ChaCha8Rng,
    category: ContactCategory,
    active_marketing: bool,
) -> LegalBasis {
    if active_marketing && chance(rng, 0.9) {
        return LegalBasis::Consent;
    }
    match category {
        ContactCategory::Customer => weighted(
            rng,
            &[
                (LegalBasis::Contract, 80),
                (LegalBasis::LegitimateInterest, 20),
            ],
        ),
        ContactCategory::Lost => weighted(
            rng,
            &[(LegalBasis::LegitimateInterest, 40), (LegalBasis::None, 60)],
        ),
        ContactCategory::Prospect => weighted(
            rng,
            &[(LegalBasis::LegitimateInterest, 35), (LegalBasis::None, 65)],
        ),
    }
}

/// Custom fields as a CRM collects them over the years: a handful of keys, a few per contact.
fn custom_fields(rng: &mut ChaCha8Rng) -> serde_json::Value {
    let mut fields = serde_json::Map::new();
    if chance(rng, 0.5) {
        fields.insert("source".to_owned(), (*pick(rng, CUSTOM_SOURCES)).into());
    }
    if chance(rng, 0.3) {
        fields.insert("shoe_size".to_owned(), rng.random_range(35..=47).into());
    }
    if chance(rng, 0.3) {
        fields.insert(
            "preferred_language".to_owned(),
            (*pick(rng, LANGUAGES)).into(),
        );
    }
    if chance(rng, 0.2) {
        let birthday = format!(
            "{}-{:02}-{:02}",
            rng.random_range(1950..=2003),
            rng.random_range(1..=12),
            rng.random_range(1..=28)
        );
        fields.insert("birthday".to_owned(), birthday.into());
    }
    if chance(rng, 0.1) {
        fields.insert("vip".to_owned(), true.into());
    }
    if fields.is_empty() {
        fields.insert("newsletter_format".to_owned(), "html".into());
    }
    serde_json::Value::Object(fields)
}

/// Generates contact `contact_id` and all of its child records.
pub(crate) fn generate_contact(
    plan: &Plan,
    contact_id: i64,
    next_ids: &mut NextIds,
    chunk: &mut Chunk,
) {
    let person = person(plan, contact_id);
    let mut rng = plan.key.stream(Stream::Contact, contact_id);
    let rng = &mut rng;

    let created_age = plan.contact_created_age(rng, contact_id);
    let company_category = person
        .company_id
        .map(|company_id| company_facts(plan, company_id).category);
    let category = contact_category(rng, company_category);
    let last_interaction_age = last_interaction(rng, category, created_age);
    let last_touch_age = match last_interaction_age {
        Some(age) => age,
        None => between(rng, (created_age - 30 * DAY).max(0), created_age),
    };
    let life = ContactLife {
        id: contact_id,
        company_id: person.company_id,
        first_name: &person.first_name,
        category,
        created_age,
        last_interaction_age,
        last_touch_age,
    };

    let consents = marketing::generate_consents(plan, &life, rng, next_ids, chunk);
    let basis = legal_basis(rng, category, consents.active_marketing);
    let country = places::country(rng);
    let phone = optional_text(rng, 0.85, |rng| places::phone(rng, country));
    let job_title_chance = if person.company_id.is_some() {
        0.9
    } else {
        0.3
    };
    let job_title = optional_text(rng, job_title_chance, |rng| {
        (*pick(rng, JOB_TITLES)).to_owned()
    });
    let address = optional_text(rng, 0.6, |rng| places::address(rng, country));
    let custom = if chance(rng, 0.25) {
        Value::Json(custom_fields(rng))
    } else {
        Value::Null
    };
    let updated_age = plan.updated_age(rng, created_age);
    chunk.push(
        Kind::Contact,
        plan.builtin(contact_id, created_age, updated_age),
        [
            person.company_id.map_or(Value::Null, Value::Integer),
            Value::Text(person.first_name.clone()),
            Value::Text(person.last_name.clone()),
            Value::Text(person.email.clone()),
            phone,
            job_title,
            address,
            category.value(),
            basis.value(),
            custom,
        ],
    );

    interactions::generate_activities(plan, &life, rng, next_ids, chunk);
    interactions::generate_messages(plan, &life, rng, next_ids, chunk);
    interactions::generate_notes(plan, &life, rng, next_ids, chunk);
    support::generate_tickets(plan, &life, rng, next_ids, chunk);
    commerce::generate_commerce(plan, &life, rng, next_ids, chunk);
    marketing::generate_campaign_memberships(plan, &life, consents, rng, next_ids, chunk);

    if chance(rng, 0.02) {
        let full_name = format!("{} {}", person.first_name.trim(), person.last_name.trim());
        let file_count = if chance(rng, 0.15) { 2 } else { 1 };
        for _ in 0..file_count {
            let owner = Owner {
                entity: AttachmentOwner::Contact,
                id: contact_id,
                created_age,
                name_hint: Some(&full_name),
            };
            files::attach(plan, rng, &owner, next_ids, chunk);
        }
    }
    chunk.contacts += 1;
}
