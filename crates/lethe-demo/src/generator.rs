//! Cuts the data set into chunks: first all companies (the parents of contacts), then the
//! contacts with all their child records, a few thousand contacts at a time, so that memory
//! stays bounded however many contacts are asked for.
//!
//! Chunking does not change the data: every record draws from its own random stream and ids
//! are handed out in one fixed order, so any chunk size gives the same rows (tested below).

use crate::companies::generate_company;
use crate::contacts::generate_contact;
use crate::plan::{NextIds, Plan};
use crate::tables::Chunk;

/// Companies per chunk: a company row is small and has hardly any children.
const COMPANIES_PER_CHUNK: i64 = 10_000;
/// Contacts per chunk. With about a dozen child rows per contact this is some 60,000 rows,
/// a few tens of megabytes, which is large enough that per-insert overhead does not matter.
const CONTACTS_PER_CHUNK: i64 = 2_000;

/// Produces the chunks of one data set in order.
#[derive(Debug)]
pub(crate) struct Generator {
    plan: Plan,
    next_ids: NextIds,
    next_company: i64,
    next_contact: i64,
    companies_per_chunk: i64,
    contacts_per_chunk: i64,
}

impl Generator {
    pub(crate) fn new(plan: Plan) -> Generator {
        Generator::with_chunk_sizes(plan, COMPANIES_PER_CHUNK, CONTACTS_PER_CHUNK)
    }

    pub(crate) fn with_chunk_sizes(
        plan: Plan,
        companies_per_chunk: i64,
        contacts_per_chunk: i64,
    ) -> Generator {
        Generator {
            plan,
            next_ids: NextIds::new(),
            next_company: 1,
            next_contact: 1,
            companies_per_chunk: companies_per_chunk.max(1),
            contacts_per_chunk: contacts_per_chunk.max(1),
        }
    }
}

impl Iterator for Generator {
    type Item = Chunk;

    fn next(&mut self) -> Option<Chunk> {
        let mut chunk = Chunk::new();
        if self.next_company <= self.plan.companies {
            let last = (self.next_company + self.companies_per_chunk - 1).min(self.plan.companies);
            for company_id in self.next_company..=last {
                generate_company(&self.plan, company_id, &mut self.next_ids, &mut chunk);
            }
            self.next_company = last + 1;
            return Some(chunk);
        }
        if self.next_contact <= self.plan.contacts {
            let last = (self.next_contact + self.contacts_per_chunk - 1).min(self.plan.contacts);
            for contact_id in self.next_contact..=last {
                generate_contact(&self.plan, contact_id, &mut self.next_ids, &mut chunk);
            }
            self.next_contact = last + 1;
            return Some(chunk);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use lethe_schema::{Schema, ValueType};
    use lethe_store::Value;
    use time::macros::datetime;

    use super::*;
    use crate::plan::{DAY, YEAR};
    use crate::tables::Kind;

    fn plan(contacts: u64, seed: u64) -> Plan {
        Plan::new(contacts, seed, datetime!(2025-06-01 12:00 UTC), Some(1))
    }

    fn all_chunks(contacts: u64, seed: u64) -> Vec<Chunk> {
        Generator::with_chunk_sizes(plan(contacts, seed), 100, 500).collect()
    }

    fn rows_of(chunks: &[Chunk], kind: Kind) -> impl Iterator<Item = &Vec<Value>> {
        chunks
            .iter()
            .flat_map(move |chunk| chunk.table(kind).rows.iter())
    }

    /// A hashable form of a value (`Value` is not `Hash`, because of its decimals and JSON).
    fn key(value: &Value) -> String {
        format!("{value:?}")
    }

    fn column(kind: Kind, name: &str) -> usize {
        kind.columns()
            .iter()
            .position(|column| *column == name)
            .expect("a known column")
    }

    #[test]
    fn the_same_seed_gives_identical_chunks() {
        assert_eq!(all_chunks(1_500, 42), all_chunks(1_500, 42));
    }

    #[test]
    fn different_seeds_give_different_data() {
        let first = all_chunks(300, 1);
        let second = all_chunks(300, 2);
        assert_ne!(first.last(), second.last());
    }

    #[test]
    fn the_chunk_size_does_not_change_the_data() {
        let merged = |chunks: Vec<Chunk>| {
            let mut tables: Vec<Vec<Vec<Value>>> = vec![Vec::new(); Kind::ALL.len()];
            let mut files = Vec::new();
            for chunk in chunks {
                for table in chunk.tables {
                    tables[table.kind as usize].extend(table.rows);
                }
                files.extend(chunk.files);
            }
            (tables, files)
        };
        let small = Generator::with_chunk_sizes(plan(1_200, 9), 7, 130).collect();
        let large = Generator::with_chunk_sizes(plan(1_200, 9), 1_000, 1_000).collect();
        assert_eq!(merged(small), merged(large));
    }

    #[test]
    fn unique_columns_are_unique_across_chunks() {
        let chunks = all_chunks(5_000, 7);
        for (kind, name) in [
            (Kind::Company, "org_number"),
            (Kind::Invoice, "number"),
            (Kind::Attachment, "storage_key"),
        ] {
            let index = column(kind, name);
            let mut seen = HashSet::new();
            for row in rows_of(&chunks, kind) {
                if !row[index].is_null() {
                    assert!(
                        seen.insert(key(&row[index])),
                        "{name} {:?} repeats",
                        row[index]
                    );
                }
            }
            assert!(!seen.is_empty(), "no {name} generated");
        }
        for kind in Kind::ALL {
            let ids: HashSet<String> = rows_of(&chunks, kind).map(|row| key(&row[0])).collect();
            assert_eq!(
                ids.len(),
                rows_of(&chunks, kind).count(),
                "{kind:?} ids repeat"
            );
        }
    }

    #[test]
    fn every_value_fits_its_column_in_the_default_schema() {
        let schema = Schema::default_crm();
        let chunks = all_chunks(3_000, 5);
        for kind in Kind::ALL {
            let entity = schema.entity(kind.entity()).expect("a default entity");
            for row in rows_of(&chunks, kind) {
                assert_eq!(row.len(), kind.columns().len());
                assert!(
                    matches!(row[1], Value::Timestamp(_)) && matches!(row[3], Value::Timestamp(_))
                );
                for (name, value) in kind.own_columns().iter().zip(&row[4..]) {
                    let column = entity.column(name).expect("a default column");
                    let fits = match (value, &column.value_type) {
                        (Value::Null, _) => !column.required,
                        (Value::Text(text), ValueType::Enum { values }) => values.contains(text),
                        (Value::Text(text), ValueType::OwnerEntity { entities }) => {
                            entities.iter().any(|entity| entity == text.as_str())
                        }
                        (Value::Text(_), ValueType::Text) => true,
                        (Value::Integer(_), ValueType::Integer | ValueType::Reference) => true,
                        (Value::Decimal(decimal), ValueType::Decimal { scale }) => {
                            decimal.scale() == *scale
                        }
                        (Value::Date(_), ValueType::Date) => true,
                        (Value::Timestamp(_), ValueType::Timestamp) => true,
                        (Value::Json(_), ValueType::Json) => true,
                        _ => false,
                    };
                    assert!(
                        fits,
                        "{}.{name} = {value:?} does not fit {:?}",
                        kind.entity(),
                        column.value_type
                    );
                }
            }
        }
    }

    #[test]
    fn every_enum_value_the_schema_allows_is_eventually_generated() {
        let schema = Schema::default_crm();
        let chunks = all_chunks(3_000, 5);
        for kind in Kind::ALL {
            let entity = schema.entity(kind.entity()).expect("a default entity");
            for (offset, name) in kind.own_columns().iter().enumerate() {
                let Some(ValueType::Enum { values }) = entity.column(name).map(|c| &c.value_type)
                else {
                    continue;
                };
                let seen: HashSet<String> = rows_of(&chunks, kind)
                    .map(|row| key(&row[4 + offset]))
                    .collect();
                for value in values {
                    assert!(
                        seen.contains(&key(&Value::Text(value.clone()))),
                        "{}.{name} never {value}",
                        kind.entity()
                    );
                }
            }
        }
    }

    #[test]
    fn children_point_at_parents_generated_before_them() {
        let chunks = all_chunks(2_000, 3);
        let ids = |kind: Kind| -> HashSet<i64> {
            rows_of(&chunks, kind)
                .map(|row| match row[0] {
                    Value::Integer(id) => id,
                    _ => panic!("ids are integers"),
                })
                .collect()
        };
        let parents: HashMap<&str, HashSet<i64>> = Kind::ALL
            .iter()
            .map(|&kind| (kind.entity(), ids(kind)))
            .collect();
        let schema = Schema::default_crm();
        for kind in Kind::ALL {
            let entity = lethe_schema::EntityName::parse(kind.entity()).expect("a valid name");
            for relation in schema.relations_from(&entity) {
                let index = column(kind, relation.column.as_str());
                let discriminator = relation
                    .discriminator
                    .as_ref()
                    .map(|d| column(kind, d.as_str()));
                for row in rows_of(&chunks, kind) {
                    let Value::Integer(parent_id) = row[index] else {
                        continue;
                    };
                    let parent_entity = match discriminator {
                        Some(at) => match &row[at] {
                            Value::Text(text) => text.as_str(),
                            other => panic!("owner entity {other:?}"),
                        },
                        None => relation.parents[0].as_str(),
                    };
                    assert!(
                        parents[parent_entity].contains(&parent_id),
                        "{}.{} points at missing {parent_entity} {parent_id}",
                        kind.entity(),
                        relation.column
                    );
                }
            }
        }
    }

    #[test]
    fn volumes_and_distributions_are_in_the_expected_ranges() {
        let contacts = 20_000;
        let chunks: Vec<Chunk> = Generator::new(plan(contacts, 11)).collect();
        let count = |kind: Kind| rows_of(&chunks, kind).count() as f64;
        let per_contact = |kind: Kind| count(kind) / contacts as f64;
        let expect = |kind: Kind, low: f64, high: f64| {
            let ratio = per_contact(kind);
            println!("{kind:?}: {ratio:.4} per contact");
            assert!(
                (low..=high).contains(&ratio),
                "{kind:?}: {ratio:.3} per contact"
            );
        };
        expect(Kind::Contact, 1.0, 1.0);
        expect(Kind::Company, 0.1, 0.1);
        expect(Kind::Activity, 4.3, 5.7);
        expect(Kind::Note, 1.8, 2.2);
        expect(Kind::Deal, 0.4, 0.6);
        expect(Kind::Message, 0.8, 1.2);
        expect(Kind::Ticket, 0.16, 0.24);
        expect(Kind::TicketComment, 0.3, 0.5);
        expect(Kind::SurveyRating, 0.07, 0.13);
        expect(Kind::Consent, 0.32, 0.48);
        expect(Kind::Invoice, 0.11, 0.19);
        expect(Kind::Project, 0.035, 0.065);
        expect(Kind::TimeEntry, 0.2, 0.4);
        expect(Kind::CampaignMembership, 0.5, 0.7);
        expect(Kind::Attachment, 0.02, 0.045);

        // Categories about 55/30/15.
        let category = column(Kind::Contact, "category");
        let share = |name: &str| {
            rows_of(&chunks, Kind::Contact)
                .filter(|row| row[category] == Value::Text(name.to_owned()))
                .count() as f64
                / contacts as f64
        };
        assert!(
            (0.48..0.62).contains(&share("prospect")),
            "prospects {}",
            share("prospect")
        );
        assert!(
            (0.24..0.36).contains(&share("customer")),
            "customers {}",
            share("customer")
        );
        assert!(
            (0.11..0.20).contains(&share("lost")),
            "lost {}",
            share("lost")
        );

        // Last interactions: a good share quiet for two years, some never interacted with.
        let now = datetime!(2025-06-01 12:00 UTC);
        let happened = column(Kind::Activity, "happened_at");
        let mut last_activity: HashMap<i64, time::OffsetDateTime> = HashMap::new();
        for row in rows_of(&chunks, Kind::Activity) {
            if let (Value::Integer(contact), Value::Timestamp(at)) = (&row[4], &row[happened]) {
                let entry = last_activity.entry(*contact).or_insert(*at);
                *entry = (*entry).max(*at);
            }
        }
        let two_years_ago = now - time::Duration::seconds(2 * YEAR);
        let never = contacts as usize - last_activity.len();
        let quiet = never
            + last_activity
                .values()
                .filter(|at| **at < two_years_ago)
                .count();
        let never_share = never as f64 / contacts as f64;
        let quiet_share = quiet as f64 / contacts as f64;
        assert!(
            (0.04..0.12).contains(&never_share),
            "never interacted: {never_share}"
        );
        assert!(
            (0.3..0.55).contains(&quiet_share),
            "quiet for two years: {quiet_share}"
        );

        // Creation spread over ten years, nothing in the future.
        let created: Vec<time::OffsetDateTime> = rows_of(&chunks, Kind::Contact)
            .map(|row| match row[1] {
                Value::Timestamp(at) => at,
                _ => panic!("created_at is a timestamp"),
            })
            .collect();
        let oldest = created.iter().min().expect("contacts");
        assert!(*oldest < now - time::Duration::seconds(9 * YEAR));
        assert!(
            created
                .iter()
                .all(|at| *at <= now && *at > now - time::Duration::seconds(3_653 * DAY))
        );

        // A third with a marketing consent, some of them withdrawn.
        let purpose = column(Kind::Consent, "purpose");
        let withdrawn = column(Kind::Consent, "withdrawn_at");
        let marketing: Vec<&Vec<Value>> = rows_of(&chunks, Kind::Consent)
            .filter(|row| row[purpose] == Value::Text("marketing".to_owned()))
            .collect();
        let marketing_share = marketing.len() as f64 / contacts as f64;
        assert!(
            (0.28..0.40).contains(&marketing_share),
            "marketing consents {marketing_share}"
        );
        let withdrawn_count = marketing
            .iter()
            .filter(|row| !row[withdrawn].is_null())
            .count();
        assert!(withdrawn_count > marketing.len() / 10 && withdrawn_count < marketing.len() / 3);
    }
}
