//! The shape of one demo data set: how many companies and contacts, the clock it is generated
//! against, and the id counters of the child tables.
//!
//! Times inside the generators are whole seconds *before* `now` ("ages"), which keeps the
//! arithmetic on plain integers and makes "no interaction for two years" a comparison of two
//! numbers. They become timestamps only when a row is built.

use lethe_store::Value;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use time::{Date, Duration, OffsetDateTime, UtcOffset};

use crate::companies::CompanyNaming;
use crate::random::{SeedKey, between, chance};
use crate::tables::{Builtin, Kind};

pub(crate) const MINUTE: i64 = 60;
pub(crate) const HOUR: i64 = 60 * MINUTE;
pub(crate) const DAY: i64 = 24 * HOUR;
pub(crate) const YEAR: i64 = 365 * DAY;
/// The demo CRM's history: records are created over the ten years before `now`.
pub(crate) const HISTORY: i64 = 3_652 * DAY;
/// One company per this many contacts.
pub(crate) const CONTACTS_PER_COMPANY: u64 = 10;

/// Everything that is fixed for the whole data set.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) key: SeedKey,
    pub(crate) contacts: i64,
    pub(crate) companies: i64,
    pub(crate) company_naming: CompanyNaming,
    /// `now`, in UTC and truncated to whole seconds so that every stored time is too.
    now: OffsetDateTime,
    created_by: Value,
}

impl Plan {
    pub(crate) fn new(
        contacts: u64,
        seed: u64,
        now: OffsetDateTime,
        created_by: Option<i64>,
    ) -> Plan {
        let key = SeedKey::from_seed(seed);
        let now = now.to_offset(UtcOffset::UTC);
        let now = now - Duration::nanoseconds(i64::from(now.nanosecond()));
        let companies = i64::try_from(contacts.div_ceil(CONTACTS_PER_COMPANY)).unwrap_or(i64::MAX);
        let contacts = i64::try_from(contacts).unwrap_or(i64::MAX);
        Plan {
            company_naming: CompanyNaming::new(&key),
            key,
            contacts,
            companies,
            now,
            created_by: created_by.map_or(Value::Null, Value::Integer),
        }
    }

    /// The instant `age` seconds before now.
    pub(crate) fn at(&self, age: i64) -> OffsetDateTime {
        self.now - Duration::seconds(age)
    }

    pub(crate) fn date(&self, age: i64) -> Date {
        self.at(age).date()
    }

    pub(crate) fn year(&self, age: i64) -> i32 {
        self.at(age).year()
    }

    /// The built-in column values of a row created `created_age` and last changed
    /// `updated_age` seconds ago.
    pub(crate) fn builtin(&self, id: i64, created_age: i64, updated_age: i64) -> Builtin {
        Builtin {
            id,
            created_at: self.at(created_age),
            created_by: self.created_by.clone(),
            updated_at: self.at(updated_age.min(created_age)),
        }
    }

    /// When a record created `created_age` ago was last changed: most records never are.
    pub(crate) fn updated_age(&self, rng: &mut ChaCha8Rng, created_age: i64) -> i64 {
        if chance(rng, 0.3) {
            between(rng, 0, created_age)
        } else {
            created_age
        }
    }

    /// A contact's age. Ids follow creation order, as an auto-increment key would: contact
    /// `id` is created in the `id`-th slice of the history, at a random point within it.
    pub(crate) fn contact_created_age(&self, rng: &mut ChaCha8Rng, contact_id: i64) -> i64 {
        slot_age(rng, contact_id, self.contacts)
    }

    /// A company's age, by the same rule as contacts' over the company ids.
    pub(crate) fn company_created_age(&self, rng: &mut ChaCha8Rng, company_id: i64) -> i64 {
        slot_age(rng, company_id, self.companies)
    }

    /// The newest company that already existed when contact `contact_id` was created, so that
    /// a contact's company is never younger than the contact (with the slots of
    /// [`Self::contact_created_age`], company `c` is created before the start of contact slot
    /// `i` when `c <= companies * (i - 1) / contacts`).
    pub(crate) fn newest_company_before(&self, contact_id: i64) -> i64 {
        let companies = i128::from(self.companies);
        let before = companies * i128::from(contact_id - 1) / i128::from(self.contacts.max(1));
        i64::try_from(before).unwrap_or(1).max(1)
    }
}

/// The age of the `index`-th (1-based) of `total` records spread evenly over the history.
fn slot_age(rng: &mut ChaCha8Rng, index: i64, total: i64) -> i64 {
    let position = ((index - 1) as f64 + rng.random::<f64>()) / total.max(1) as f64;
    let age = (HISTORY as f64 * (1.0 - position)) as i64;
    age.clamp(MINUTE, HISTORY)
}

/// The next id of every child table. Companies and contacts have ids fixed by the plan; all
/// other records are numbered in the order they are generated, which is itself fixed, so ids
/// never have to be read back from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NextIds {
    per_kind: [i64; Kind::ALL.len()],
}

impl NextIds {
    pub(crate) fn new() -> NextIds {
        NextIds {
            per_kind: [1; Kind::ALL.len()],
        }
    }

    /// Takes the next id of a table.
    pub(crate) fn take(&mut self, kind: Kind) -> i64 {
        let slot = &mut self.per_kind[kind as usize];
        let id = *slot;
        *slot += 1;
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Stream;
    use time::macros::datetime;

    #[test]
    fn now_is_truncated_to_utc_seconds() {
        let plan = Plan::new(10, 1, datetime!(2025-06-01 12:00:00.75 +02:00), None);
        assert_eq!(plan.at(0), datetime!(2025-06-01 10:00:00 UTC));
        assert_eq!(plan.at(0).offset(), UtcOffset::UTC);
    }

    #[test]
    fn a_contacts_companies_are_created_before_it() {
        let plan = Plan::new(1_000, 7, datetime!(2025-06-01 0:00 UTC), None);
        for contact_id in 20..=1_000 {
            let newest = plan.newest_company_before(contact_id);
            let contact_age = plan.contact_created_age(
                &mut plan.key.stream(Stream::Contact, contact_id),
                contact_id,
            );
            let company_age = crate::companies::company_facts(&plan, newest).created_age;
            assert!(
                company_age > contact_age,
                "contact {contact_id}, company {newest}"
            );
        }
    }
}
