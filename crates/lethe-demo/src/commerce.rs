//! Deals, invoices, projects and time entries: the records whose `restrict` rules block the
//! deletion of a contact or company (SPEC §2, Teamleader's invoices and projects).
//!
//! Customers have most of them, lost customers some, prospects hardly any, so that a bulk
//! delete of old prospects mostly proceeds while one of lost customers is partly blocked.

use lethe_store::Value;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;

use crate::contacts::ContactLife;
use crate::enums::{AttachmentOwner, ContactCategory, DealStatus, ProjectStatus};
use crate::files::{self, Owner};
use crate::plan::{DAY, NextIds, Plan, YEAR};
use crate::random::{between, chance, count_with_mean, log_uniform, pick, weighted};
use crate::tables::{Chunk, Kind};
use crate::words::{DEAL_PRODUCTS, PROJECT_THEMES};

/// Mean deals, invoices and projects per contact of each category.
struct Means {
    deals: f64,
    invoices: f64,
    projects: f64,
}

fn means(category: ContactCategory) -> Means {
    match category {
        ContactCategory::Customer => Means {
            deals: 1.2,
            invoices: 0.4,
            projects: 0.15,
        },
        ContactCategory::Lost => Means {
            deals: 0.6,
            invoices: 0.2,
            projects: 0.03,
        },
        ContactCategory::Prospect => Means {
            deals: 0.09,
            invoices: 0.005,
            projects: 0.0,
        },
    }
}

fn optional_id(id: Option<i64>) -> Value {
    id.map_or(Value::Null, Value::Integer)
}

/// An amount of money with two decimals, spread on a log scale between `low` and `high`.
fn amount(rng: &mut ChaCha8Rng, low: f64, high: f64, round_to_cents: i64) -> Decimal {
    let cents = (log_uniform(rng, low, high) * 100.0) as i64;
    let cents = (cents / round_to_cents).max(1) * round_to_cents;
    Decimal::new(cents, 2)
}

pub(crate) fn generate_commerce(
    plan: &Plan,
    contact: &ContactLife<'_>,
    rng: &mut ChaCha8Rng,
    next_ids: &mut NextIds,
    chunk: &mut Chunk,
) {
    let means = means(contact.category);
    generate_deals(plan, contact, means.deals, rng, next_ids, chunk);
    generate_invoices(plan, contact, means.invoices, rng, next_ids, chunk);
    generate_projects(plan, contact, means.projects, rng, next_ids, chunk);
}

fn generate_deals(
    plan: &Plan,
    contact: &ContactLife<'_>,
    mean: f64,
    rng: &mut ChaCha8Rng,
    next_ids: &mut NextIds,
    chunk: &mut Chunk,
) {
    for _ in 0..count_with_mean(rng, mean) {
        let created_age = contact.moment(rng);
        let status = match contact.category {
            ContactCategory::Customer => weighted(
                rng,
                &[
                    (DealStatus::Won, 70),
                    (DealStatus::Open, 15),
                    (DealStatus::Lost, 15),
                ],
            ),
            ContactCategory::Lost => {
                weighted(rng, &[(DealStatus::Won, 40), (DealStatus::Lost, 60)])
            }
            ContactCategory::Prospect => {
                weighted(rng, &[(DealStatus::Open, 70), (DealStatus::Lost, 30)])
            }
        };
        let title = format!("{} {}", pick(rng, DEAL_PRODUCTS), plan.year(created_age));
        // Deals are quoted in round tens.
        let value = amount(rng, 500.0, 250_000.0, 1_000);
        let closed_age = if status == DealStatus::Open {
            created_age
        } else {
            between(rng, (created_age - 120 * DAY).max(0), created_age)
        };
        let id = next_ids.take(Kind::Deal);
        chunk.push(
            Kind::Deal,
            plan.builtin(id, created_age, closed_age),
            [
                Value::Integer(contact.id),
                optional_id(contact.company_id),
                Value::Text(title),
                Value::Decimal(value),
                status.value(),
            ],
        );
        if chance(rng, 0.006) {
            let owner = Owner {
                entity: AttachmentOwner::Deal,
                id,
                created_age,
                name_hint: None,
            };
            files::attach(plan, rng, &owner, next_ids, chunk);
        }
    }
}

fn generate_invoices(
    plan: &Plan,
    contact: &ContactLife<'_>,
    mean: f64,
    rng: &mut ChaCha8Rng,
    next_ids: &mut NextIds,
    chunk: &mut Chunk,
) {
    for _ in 0..count_with_mean(rng, mean) {
        let issued_age = contact.moment(rng);
        let id = next_ids.take(Kind::Invoice);
        // The invoice id makes the number unique; the year makes it look like one.
        let number = format!("INV-{}-{id:07}", plan.year(issued_age));
        chunk.push(
            Kind::Invoice,
            plan.builtin(id, issued_age, issued_age),
            [
                optional_id(contact.company_id),
                Value::Integer(contact.id),
                Value::Text(number),
                Value::Decimal(amount(rng, 200.0, 80_000.0, 1)),
                Value::Date(plan.date(issued_age)),
            ],
        );
        if chance(rng, 0.005) {
            let owner = Owner {
                entity: AttachmentOwner::Invoice,
                id,
                created_age: issued_age,
                name_hint: None,
            };
            files::attach(plan, rng, &owner, next_ids, chunk);
        }
    }
}

fn generate_projects(
    plan: &Plan,
    contact: &ContactLife<'_>,
    mean: f64,
    rng: &mut ChaCha8Rng,
    next_ids: &mut NextIds,
    chunk: &mut Chunk,
) {
    for _ in 0..count_with_mean(rng, mean) {
        let started_age = contact.moment(rng);
        let status = if started_age > YEAR {
            weighted(
                rng,
                &[
                    (ProjectStatus::Done, 70),
                    (ProjectStatus::Cancelled, 15),
                    (ProjectStatus::Active, 15),
                ],
            )
        } else {
            weighted(
                rng,
                &[
                    (ProjectStatus::Active, 50),
                    (ProjectStatus::Planned, 30),
                    (ProjectStatus::Done, 20),
                ],
            )
        };
        let name = format!("{} {}", pick(rng, PROJECT_THEMES), plan.year(started_age));
        let project_id = next_ids.take(Kind::Project);
        chunk.push(
            Kind::Project,
            plan.builtin(project_id, started_age, plan.updated_age(rng, started_age)),
            [
                optional_id(contact.company_id),
                Value::Integer(contact.id),
                Value::Text(name),
                status.value(),
            ],
        );

        // About six time entries per project; a planned project has none yet.
        let entries = if status == ProjectStatus::Planned {
            0
        } else {
            1 + count_with_mean(rng, 5.0)
        };
        let last_work_age = (started_age - 400 * DAY).max(0);
        for _ in 0..entries {
            let worked_age = between(rng, last_work_age, started_age);
            let for_contact = if chance(rng, 0.6) {
                Value::Integer(contact.id)
            } else {
                Value::Null
            };
            let id = next_ids.take(Kind::TimeEntry);
            chunk.push(
                Kind::TimeEntry,
                plan.builtin(id, worked_age, worked_age),
                [
                    Value::Integer(project_id),
                    for_contact,
                    Value::Integer(15 * rng.random_range(1..=32)),
                    Value::Date(plan.date(worked_age)),
                ],
            );
        }

        if chance(rng, 0.02) {
            let owner = Owner {
                entity: AttachmentOwner::Project,
                id: project_id,
                created_age: started_age,
                name_hint: None,
            };
            files::attach(plan, rng, &owner, next_ids, chunk);
        }
    }
}
