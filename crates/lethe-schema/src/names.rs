//! Typed names for entities and columns. A name is parsed once at the edge and is then known
//! to be a safe identifier: lower snake_case ASCII, so that it can name a table or a column in
//! both SQL dialects without any quoting surprises.

use std::fmt;

/// The longest name we accept; PostgreSQL truncates identifiers at 63 bytes and index names
/// are built from a table and a column name, so both must stay well below that.
pub const MAX_NAME_LEN: usize = 40;

/// Why a string is not a valid name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a name may not be empty")]
    Empty,
    #[error("`{0}` is longer than {MAX_NAME_LEN} characters")]
    TooLong(String),
    #[error(
        "`{0}` is not a valid name: use lower-case letters, digits and `_`, starting with a letter"
    )]
    BadCharacters(String),
}

fn check_identifier(raw: &str) -> Result<(), NameError> {
    if raw.is_empty() {
        return Err(NameError::Empty);
    }
    if raw.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong(raw.to_owned()));
    }
    let mut chars = raw.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(NameError::BadCharacters(raw.to_owned()))
    }
}

macro_rules! identifier_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parses a raw string into a name, or says why it is not one.
            pub fn parse(raw: &str) -> Result<Self, NameError> {
                check_identifier(raw)?;
                Ok(Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

identifier_type!(
    /// The name of an entity type, which is also its table name (`contact`).
    EntityName
);
identifier_type!(
    /// The name of a column of an entity table (`email`, `company_id`).
    ColumnName
);

/// The closest candidate to a misspelt name, if one is close enough to be a useful hint
/// ("did you mean `category`?").
pub fn suggest<'a, I>(wrong: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let wrong = wrong.to_ascii_lowercase();
    let limit = (wrong.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(&wrong, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate.to_owned())
}

/// Damerau-Levenshtein distance (optimal string alignment): a swap of two neighbours counts
/// as one edit, which is the most common typo (`categroy`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut table = vec![0usize; (a.len() + 1) * width];
    for (i, cell) in table.iter_mut().step_by(width).enumerate() {
        *cell = i;
    }
    for (j, cell) in table.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[(i - 1) * width + j] + 1)
                .min(table[i * width + j - 1] + 1)
                .min(table[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[(i - 2) * width + j - 2] + 1);
            }
            table[i * width + j] = best;
        }
    }
    table[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_swapped_pair_of_letters_is_suggested() {
        let fields = ["category", "company_id", "email"];
        assert_eq!(suggest("categroy", fields), Some("category".to_owned()));
        assert_eq!(suggest("emial", fields), Some("email".to_owned()));
        assert_eq!(suggest("zzzzzz", fields), None);
    }

    #[test]
    fn names_must_be_snake_case_identifiers() {
        assert!(EntityName::parse("ticket_comment").is_ok());
        assert_eq!(EntityName::parse(""), Err(NameError::Empty));
        assert!(matches!(
            EntityName::parse("Contact"),
            Err(NameError::BadCharacters(_))
        ));
        assert!(matches!(
            EntityName::parse("1abc"),
            Err(NameError::BadCharacters(_))
        ));
        assert!(matches!(
            EntityName::parse("a\"; drop"),
            Err(NameError::BadCharacters(_))
        ));
        assert!(matches!(
            ColumnName::parse(&"a".repeat(41)),
            Err(NameError::TooLong(_))
        ));
    }

    proptest! {
        #[test]
        fn any_accepted_name_is_a_plain_identifier(raw in ".{0,50}") {
            if let Ok(name) = ColumnName::parse(&raw) {
                prop_assert!(name.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
            }
        }

        #[test]
        fn edit_distance_is_symmetric(a in "[a-z]{0,8}", b in "[a-z]{0,8}") {
            prop_assert_eq!(edit_distance(&a, &b), edit_distance(&b, &a));
        }
    }
}
