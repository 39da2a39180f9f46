//! Postal addresses, phone numbers and the ASCII forms of names used in e-mail addresses and
//! web domains.

use std::fmt::Write;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::random::{pick, weighted_index};
use crate::words::{COUNTRIES, COUNTRY_WEIGHTS, Country};

/// A country, mostly Sweden.
pub(crate) fn country(rng: &mut ChaCha8Rng) -> &'static Country {
    &COUNTRIES[weighted_index(rng, COUNTRY_WEIGHTS)]
}

/// A one-line postal address in `country`: "Storgatan 12, 114 51 Stockholm".
pub(crate) fn address(rng: &mut ChaCha8Rng, country: &Country) -> String {
    let street = pick(rng, country.streets);
    let number = rng.random_range(1..=140);
    let city = pick(rng, country.cities);
    let mut text = String::with_capacity(48);
    // Writing into a String cannot fail.
    let _ = write!(text, "{street} {number}, ");
    for digit in 0..country.postcode_digits {
        if country.postcode_space && digit == 3 {
            text.push(' ');
        }
        let first_digit_low = if digit == 0 { 1 } else { 0 };
        text.push(char::from(b'0' + rng.random_range(first_digit_low..10u8)));
    }
    let _ = write!(text, " {city}");
    text
}

/// A phone number in international form: "+46 70 123 45 67".
pub(crate) fn phone(rng: &mut ChaCha8Rng, country: &Country) -> String {
    format!(
        "{} {} {:03} {:02} {:02}",
        country.phone_prefix,
        rng.random_range(20..80),
        rng.random_range(0..1000),
        rng.random_range(0..100),
        rng.random_range(0..100)
    )
}

/// The lower-case ASCII form of a word for e-mail addresses and domains: "Sjöberg" → "sjoberg",
/// "García" → "garcia". Characters without an ASCII form are left out, and everything else
/// that is not a letter or digit becomes `separator` (never twice in a row, never at an end).
pub(crate) fn ascii_slug(text: &str, separator: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    let mut pending_separator = false;
    for character in text.chars() {
        let folded: &str = match character.to_lowercase().next().unwrap_or(character) {
            'å' | 'ä' | 'á' | 'à' | 'â' | 'ã' => "a",
            'ö' | 'ø' | 'ó' | 'ò' | 'ô' | 'õ' => "o",
            'é' | 'è' | 'ê' | 'ë' => "e",
            'ü' | 'ú' | 'ù' | 'û' => "u",
            'í' | 'ì' | 'î' | 'ï' => "i",
            'ñ' => "n",
            'ç' => "c",
            'æ' => "ae",
            'ß' => "ss",
            letter if letter.is_ascii_alphanumeric() => {
                if pending_separator && !slug.is_empty() {
                    slug.push_str(separator);
                }
                pending_separator = false;
                slug.push(letter);
                continue;
            }
            _ => {
                pending_separator = true;
                continue;
            }
        };
        if pending_separator && !slug.is_empty() {
            slug.push_str(separator);
        }
        pending_separator = false;
        slug.push_str(folded);
    }
    slug
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::{SeedKey, Stream};

    #[test]
    fn names_become_plain_ascii() {
        assert_eq!(ascii_slug("Sjöberg", "-"), "sjoberg");
        assert_eq!(ascii_slug("Fernández", "-"), "fernandez");
        assert_eq!(ascii_slug("Röda Ladan El & Co", "-"), "roda-ladan-el-co");
        assert_eq!(ascii_slug("  Anna ", "."), "anna");
    }

    #[test]
    fn swedish_postcodes_have_a_space() {
        let mut rng = SeedKey::from_seed(3).stream(Stream::DataSet, 9);
        let address = address(&mut rng, &COUNTRIES[0]);
        let postcode = address.split(", ").nth(1).expect("a postcode part");
        assert_eq!(postcode.as_bytes()[3], b' ', "{address}");
    }
}
