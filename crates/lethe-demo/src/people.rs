//! Who a contact is: name, company and e-mail address, and the duplicates a real CRM collects
//! when the same person is entered twice ("Anna Berg" and "anna  berg", "Ana Berg").
//!
//! A contact's identity comes from a random stream of its own (see [`crate::random`]), so a
//! duplicate can re-derive the identity of the contact it copies from that contact's id alone,
//! however far back in another chunk it was generated. The e-mail addresses of an original
//! and its duplicates are equal after trimming and lower-casing; their names differ in case,
//! spacing or spelling.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::companies::company_domain;
use crate::places::ascii_slug;
use crate::plan::Plan;
use crate::random::{Stream, chance, pick};
use crate::words::{FIRST_NAMES, LAST_NAMES, MAIL_PROVIDERS};

/// The share of contacts that are a second entry of an earlier contact ("a few per cent").
const DUPLICATE_SHARE: f64 = 0.03;
/// The share of contacts with no company (private persons).
const PRIVATE_SHARE: f64 = 0.2;
/// How often a duplicate keeps its original's company link rather than having none.
const DUPLICATE_KEEPS_COMPANY: f64 = 0.7;

/// What a contact's identity stream decides.
#[derive(Debug, Clone, Copy)]
struct Identity {
    /// The earlier contact this one is a duplicate of, if it is one.
    duplicate_of: Option<i64>,
    first_name: &'static str,
    last_name: &'static str,
    company_id: Option<i64>,
    email_style: u8,
}

fn draw_identity(plan: &Plan, contact_id: i64, rng: &mut ChaCha8Rng) -> Identity {
    let duplicate_of = if contact_id > 1 && chance(rng, DUPLICATE_SHARE) {
        Some(rng.random_range(1..contact_id))
    } else {
        None
    };
    let first_name = *pick(rng, FIRST_NAMES);
    let last_name = *pick(rng, LAST_NAMES);
    let company_id = if chance(rng, PRIVATE_SHARE) {
        None
    } else {
        Some(rng.random_range(1..=plan.newest_company_before(contact_id)))
    };
    let email_style = rng.random_range(0..5);
    Identity {
        duplicate_of,
        first_name,
        last_name,
        company_id,
        email_style,
    }
}

/// A contact's name, company and e-mail address as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Person {
    pub(crate) first_name: String,
    pub(crate) last_name: String,
    pub(crate) email: String,
    pub(crate) company_id: Option<i64>,
    /// The original contact, when this one is a duplicate.
    pub(crate) duplicate_of: Option<i64>,
}

/// The person behind contact `contact_id`.
pub(crate) fn person(plan: &Plan, contact_id: i64) -> Person {
    let mut rng = plan.key.stream(Stream::ContactIdentity, contact_id);
    let identity = draw_identity(plan, contact_id, &mut rng);
    let Some(copied) = identity.duplicate_of else {
        return Person {
            first_name: identity.first_name.to_owned(),
            last_name: identity.last_name.to_owned(),
            email: email_address(plan, contact_id, &identity),
            company_id: identity.company_id,
            duplicate_of: None,
        };
    };

    // A duplicate of a duplicate is a duplicate of the first entry: follow the chain back to
    // a contact that is an original (ids strictly decrease, so this ends).
    let mut original_id = copied;
    let original = loop {
        let mut original_rng = plan.key.stream(Stream::ContactIdentity, original_id);
        let candidate = draw_identity(plan, original_id, &mut original_rng);
        match candidate.duplicate_of {
            Some(earlier) => original_id = earlier,
            None => break candidate,
        }
    };
    let (first_name, last_name) = misspelt_name(&mut rng, original.first_name, original.last_name);
    let email = email_variant(&mut rng, &email_address(plan, original_id, &original));
    let company_id = if chance(&mut rng, DUPLICATE_KEEPS_COMPANY) {
        original.company_id
    } else {
        None
    };
    Person {
        first_name,
        last_name,
        email,
        company_id,
        duplicate_of: Some(original_id),
    }
}

/// An original contact's e-mail address: at its company's domain, or at a free-mail provider
/// with the contact id in it, so that two private persons of the same name never share one.
fn email_address(plan: &Plan, contact_id: i64, identity: &Identity) -> String {
    let first = ascii_slug(identity.first_name, "");
    let last = ascii_slug(identity.last_name, "");
    // Every style keeps the whole first and last name, so that two different people at one
    // company never get the same address (an initial would: "a.berg" for Anna and Axel).
    let local = match identity.email_style {
        0..=2 => format!("{first}.{last}"),
        3 => format!("{first}{last}"),
        _ => format!("{first}_{last}"),
    };
    match identity.company_id {
        Some(company_id) => format!("{local}@{}", company_domain(plan, company_id)),
        None => {
            let provider = MAIL_PROVIDERS[(contact_id as usize) % MAIL_PROVIDERS.len()];
            format!("{local}{contact_id}@{provider}")
        }
    }
}

/// The name as someone typed it a second time: other case, stray spaces, or a typo.
fn misspelt_name(rng: &mut ChaCha8Rng, first: &str, last: &str) -> (String, String) {
    match rng.random_range(0..5) {
        0 => (first.to_lowercase(), last.to_lowercase()),
        // Shown as "anna  berg" when the two fields are joined with a space.
        1 => (format!("{} ", first.to_lowercase()), last.to_lowercase()),
        2 => (misspelt(rng, first), last.to_owned()),
        3 => (first.to_owned(), last.to_uppercase()),
        _ => (first.to_owned(), format!(" {}", misspelt(rng, last))),
    }
}

/// A typical typo: a doubled letter typed once ("Anna" → "Ana"), otherwise two neighbouring
/// letters swapped, otherwise the last letter doubled. Always differs from `word`.
fn misspelt(rng: &mut ChaCha8Rng, word: &str) -> String {
    let mut characters: Vec<char> = word.chars().collect();
    if let Some(doubled) = (1..characters.len()).find(|&i| characters[i] == characters[i - 1]) {
        characters.remove(doubled);
    } else if characters.len() >= 4 {
        let position = rng.random_range(1..characters.len() - 2);
        characters.swap(position, position + 1);
    } else if let Some(&last) = characters.last() {
        characters.push(last);
    }
    characters.into_iter().collect()
}

/// The same address as typed on another occasion: other case or surrounding spaces. Equal to
/// `email` after trimming and lower-casing.
fn email_variant(rng: &mut ChaCha8Rng, email: &str) -> String {
    match rng.random_range(0..5) {
        0 => email.to_owned(),
        1 => capitalised_parts(email),
        2 => email.to_uppercase(),
        3 => format!(" {email} "),
        _ => format!("{email} "),
    }
}

/// "anna.berg@nordvik.example" → "Anna.Berg@Nordvik.Example".
fn capitalised_parts(email: &str) -> String {
    let mut result = String::with_capacity(email.len());
    let mut capitalise_next = true;
    for character in email.chars() {
        if capitalise_next {
            result.extend(character.to_uppercase());
        } else {
            result.push(character);
        }
        capitalise_next = matches!(character, '.' | '@' | '_');
    }
    result
}

/// The form in which duplicates are found: trimmed and lower-cased.
#[cfg(test)]
pub(crate) fn normalised_email(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use time::macros::datetime;

    fn plan(contacts: u64, seed: u64) -> Plan {
        Plan::new(contacts, seed, datetime!(2025-06-01 0:00 UTC), None)
    }

    #[test]
    fn duplicates_share_the_e_mail_of_their_original_after_normalisation() {
        let plan = plan(20_000, 3);
        let mut duplicates = 0;
        for contact_id in 1..=20_000 {
            let person = person(&plan, contact_id);
            if let Some(original_id) = person.duplicate_of {
                duplicates += 1;
                let original = super::person(&plan, original_id);
                assert_eq!(original.duplicate_of, None);
                assert_eq!(
                    normalised_email(&person.email),
                    normalised_email(&original.email)
                );
                assert_ne!(
                    (&person.first_name, &person.last_name),
                    (&original.first_name, &original.last_name),
                    "a duplicate's name is spelt differently"
                );
            }
        }
        assert!((400..800).contains(&duplicates), "{duplicates} duplicates");
    }

    #[test]
    fn only_duplicates_and_namesakes_at_one_company_share_an_e_mail() {
        let plan = plan(20_000, 4);
        let mut by_email: HashMap<String, (String, String)> = HashMap::new();
        for contact_id in 1..=20_000 {
            let person = person(&plan, contact_id);
            if person.duplicate_of.is_some() {
                continue;
            }
            let name = (person.first_name.clone(), person.last_name.clone());
            if let Some(earlier) = by_email.insert(person.email.clone(), name.clone()) {
                assert_eq!(
                    earlier, name,
                    "{} is shared by different people",
                    person.email
                );
            }
        }
    }

    #[test]
    fn misspellings_always_change_the_word() {
        let mut rng = plan(10, 1).key.stream(Stream::DataSet, 3);
        for word in ["Anna", "Berg", "Ek", "Li", "Sjöberg", "Ola"] {
            assert_ne!(misspelt(&mut rng, word), word);
        }
        assert_eq!(misspelt(&mut rng, "Anna"), "Ana");
    }

    #[test]
    fn e_mail_addresses_are_ascii() {
        let plan = plan(5_000, 9);
        for contact_id in 1..=5_000 {
            let email = person(&plan, contact_id).email;
            assert!(email.is_ascii() && email.contains('@'), "{email}");
        }
    }
}
