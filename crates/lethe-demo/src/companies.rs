//! Companies: unique names, web domains and organisation numbers, and the facts about a
//! company that its contacts depend on.
//!
//! Names and organisation numbers are made unique by construction rather than by checking: a
//! company id is mapped by a bijection (a seeded affine scramble) onto the combinations of
//! the word lists, and onto the organisation number space. So two chunks never need to know
//! about each other, and the unique `org_number` column can never collide.

use lethe_store::Value;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::enums::{AttachmentOwner, CompanyCategory};
use crate::files;
use crate::places::{self, ascii_slug};
use crate::plan::{NextIds, Plan};
use crate::random::{SeedKey, Stream, chance, pick, weighted};
use crate::tables::{Chunk, Kind};
use crate::words::{COMPANY_QUALIFIERS, COMPANY_STEMS, COMPANY_TRADES, LEGAL_FORMS};

/// Organisation numbers are ten digits, written "5XXXXX-XXXX"; the nine after the leading 5
/// come from the company id.
const ORG_NUMBER_SPACE: u64 = 1_000_000_000;
/// 3^18: coprime with 10^9, so multiplying by it permutes the organisation number space.
const ORG_NUMBER_MULTIPLIER: u64 = 387_420_489;

/// The number of distinct company names before a round number has to be appended.
fn name_combinations() -> u64 {
    (COMPANY_STEMS.len() * COMPANY_TRADES.len() * COMPANY_QUALIFIERS.len()) as u64
}

fn greatest_common_divisor(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The seeded bijections from company ids to names and organisation numbers.
#[derive(Debug)]
pub(crate) struct CompanyNaming {
    multiplier: u64,
    offset: u64,
    org_number_offset: u64,
}

/// The parts a company's name is built from. Two companies never have the same parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NameParts {
    stem: &'static str,
    trade: &'static str,
    qualifier: &'static str,
    /// How many times the combinations have been used up; appended as a number when non-zero.
    round: u64,
}

impl CompanyNaming {
    pub(crate) fn new(key: &SeedKey) -> CompanyNaming {
        let mut rng = key.stream(Stream::DataSet, 0);
        let combinations = name_combinations();
        // Any multiplier coprime with the number of combinations gives a bijection; a large
        // one spreads neighbouring ids over unrelated names.
        let mut multiplier = rng.random_range(combinations / 3..combinations) | 1;
        while greatest_common_divisor(multiplier, combinations) != 1 {
            multiplier += 2;
        }
        CompanyNaming {
            multiplier,
            offset: rng.random_range(0..combinations),
            org_number_offset: rng.random_range(0..ORG_NUMBER_SPACE),
        }
    }

    fn parts(&self, company_id: i64) -> NameParts {
        let combinations = name_combinations();
        let index = (company_id - 1).max(0) as u64;
        let scrambled = ((index % combinations) * self.multiplier + self.offset) % combinations;
        let stems = COMPANY_STEMS.len() as u64;
        let trades = COMPANY_TRADES.len() as u64;
        NameParts {
            stem: COMPANY_STEMS[(scrambled % stems) as usize],
            trade: COMPANY_TRADES[((scrambled / stems) % trades) as usize],
            qualifier: COMPANY_QUALIFIERS[(scrambled / stems / trades) as usize],
            round: index / combinations,
        }
    }

    /// A unique organisation number such as "556123-4567".
    pub(crate) fn org_number(&self, company_id: i64) -> String {
        let index = (company_id - 1).max(0) as u64 % ORG_NUMBER_SPACE;
        let number = (index * ORG_NUMBER_MULTIPLIER + self.org_number_offset) % ORG_NUMBER_SPACE;
        format!("5{:05}-{:04}", number / 10_000, number % 10_000)
    }
}

impl NameParts {
    fn base_name(&self) -> String {
        let mut name = format!("{} {}", self.stem, self.trade);
        if !self.qualifier.is_empty() {
            name.push(' ');
            name.push_str(self.qualifier);
        }
        if self.round > 0 {
            name.push_str(&format!(" {}", self.round + 1));
        }
        name
    }

    /// The company's own web domain, unique because the name parts are.
    fn domain(&self) -> String {
        format!("{}.example", ascii_slug(&self.base_name(), "-"))
    }
}

/// The facts about a company that its contacts need, drawn from a stream of their own so that
/// a contact can look them up without generating the whole company.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CompanyFacts {
    pub(crate) category: CompanyCategory,
    pub(crate) created_age: i64,
}

pub(crate) fn company_facts(plan: &Plan, company_id: i64) -> CompanyFacts {
    let mut rng = plan.key.stream(Stream::CompanyFacts, company_id);
    let category = weighted(
        &mut rng,
        &[
            (CompanyCategory::Prospect, 50),
            (CompanyCategory::Customer, 30),
            (CompanyCategory::Lost, 14),
            (CompanyCategory::Partner, 6),
        ],
    );
    let created_age = plan.company_created_age(&mut rng, company_id);
    CompanyFacts {
        category,
        created_age,
    }
}

/// The web domain of a company, for its contacts' e-mail addresses.
pub(crate) fn company_domain(plan: &Plan, company_id: i64) -> String {
    plan.company_naming.parts(company_id).domain()
}

/// Generates one company row (and, rarely, an attachment of it).
pub(crate) fn generate_company(
    plan: &Plan,
    company_id: i64,
    next_ids: &mut NextIds,
    chunk: &mut Chunk,
) {
    let facts = company_facts(plan, company_id);
    let mut rng: ChaCha8Rng = plan.key.stream(Stream::Company, company_id);
    let parts = plan.company_naming.parts(company_id);
    let legal_form = pick(&mut rng, LEGAL_FORMS);
    let mut name = parts.base_name();
    if !legal_form.is_empty() {
        name.push(' ');
        name.push_str(legal_form);
    }
    let country = places::country(&mut rng);
    let org_number = if chance(&mut rng, 0.92) {
        Value::Text(plan.company_naming.org_number(company_id))
    } else {
        Value::Null
    };
    let address = optional_text(&mut rng, 0.95, |rng| places::address(rng, country));
    let phone = optional_text(&mut rng, 0.85, |rng| places::phone(rng, country));
    let website = if chance(&mut rng, 0.7) {
        Value::Text(format!("https://www.{}", parts.domain()))
    } else {
        Value::Null
    };
    let updated_age = plan.updated_age(&mut rng, facts.created_age);
    chunk.push(
        Kind::Company,
        plan.builtin(company_id, facts.created_age, updated_age),
        [
            Value::Text(name),
            org_number,
            address,
            phone,
            website,
            facts.category.value(),
        ],
    );
    if chance(&mut rng, 0.02) {
        let owner = files::Owner {
            entity: AttachmentOwner::Company,
            id: company_id,
            created_age: facts.created_age,
            name_hint: None,
        };
        files::attach(plan, &mut rng, &owner, next_ids, chunk);
    }
}

/// A text value present with the given probability.
pub(crate) fn optional_text(
    rng: &mut ChaCha8Rng,
    probability: f64,
    make: impl FnOnce(&mut ChaCha8Rng) -> String,
) -> Value {
    if chance(rng, probability) {
        Value::Text(make(rng))
    } else {
        Value::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use time::macros::datetime;

    fn plan(seed: u64) -> Plan {
        Plan::new(2_000_000, seed, datetime!(2025-06-01 0:00 UTC), None)
    }

    #[test]
    fn company_names_domains_and_org_numbers_are_unique_beyond_one_round_of_words() {
        let plan = plan(11);
        let companies = name_combinations() as i64 + 5_000;
        let mut domains = HashSet::new();
        let mut org_numbers = HashSet::new();
        for company_id in 1..=companies {
            assert!(
                domains.insert(company_domain(&plan, company_id)),
                "company {company_id}"
            );
            assert!(org_numbers.insert(plan.company_naming.org_number(company_id)));
        }
    }

    #[test]
    fn org_numbers_look_like_swedish_ones() {
        let number = plan(1).company_naming.org_number(1);
        assert_eq!(number.len(), 11, "{number}");
        assert!(number.starts_with('5'));
        assert_eq!(number.as_bytes()[6], b'-');
    }

    #[test]
    fn different_seeds_name_company_one_differently() {
        let names: HashSet<String> = (1..=5).map(|seed| company_domain(&plan(seed), 1)).collect();
        assert!(names.len() > 1);
    }
}
