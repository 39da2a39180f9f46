//! Deterministic randomness: one ChaCha8 stream per generated record, and the few
//! distributions the generators draw from.
//!
//! Every company and every contact gets its own random stream, derived from the seed and the
//! record's id (the seed gives the ChaCha key, the id the stream number). So a record's data
//! does not depend on which other records were generated before it, on how the work is cut
//! into chunks, or on which thread generates it; the same seed and contact count always give
//! the same data. Child records draw from their parent contact's stream.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Which family of streams a record's randomness comes from. Each kind of stream occupies its
/// own range of ChaCha stream numbers, so that, say, contact 7 and company 7 never share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// A company's facts that its contacts also need (category, creation time).
    CompanyFacts = 1,
    /// The rest of a company's row and its attachments.
    Company = 2,
    /// Who a contact is (name, company, whether they are a duplicate). Kept apart from the
    /// contact's other data so that a duplicate can re-derive its original's identity cheaply.
    ContactIdentity = 3,
    /// The rest of a contact's row and all of its child records.
    Contact = 4,
    /// Constants of the whole data set (the scrambling of company names and numbers).
    DataSet = 5,
}

/// Ids occupy the low 48 bits of a stream number; the stream kind sits above them.
const ID_BITS: u32 = 48;

/// The ChaCha key derived from the user's `--seed`.
#[derive(Debug, Clone)]
pub(crate) struct SeedKey([u8; 32]);

impl SeedKey {
    pub(crate) fn from_seed(seed: u64) -> SeedKey {
        // `seed_from_u64` is documented as portable across platforms and versions of
        // rand_core, so the key is stable too.
        SeedKey(ChaCha8Rng::seed_from_u64(seed).get_seed())
    }

    /// The random stream of one record.
    pub(crate) fn stream(&self, stream: Stream, id: i64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::from_seed(self.0);
        let id_part = (id as u64) & ((1 << ID_BITS) - 1);
        rng.set_stream(((stream as u64) << ID_BITS) | id_part);
        rng
    }
}

/// Whether an event with probability `probability` happens.
pub(crate) fn chance(rng: &mut ChaCha8Rng, probability: f64) -> bool {
    rng.random::<f64>() < probability
}

/// One entry of a non-empty list, uniformly.
pub(crate) fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// One of `choices`, each with a relative weight.
pub(crate) fn weighted<T: Copy>(rng: &mut ChaCha8Rng, choices: &[(T, u32)]) -> T {
    let total: u32 = choices.iter().map(|(_, weight)| weight).sum();
    let mut roll = rng.random_range(0..total.max(1));
    for &(choice, weight) in choices {
        if roll < weight {
            return choice;
        }
        roll -= weight;
    }
    choices[choices.len() - 1].0
}

/// An index into a list of relative weights.
pub(crate) fn weighted_index(rng: &mut ChaCha8Rng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut roll = rng.random_range(0..total.max(1));
    for (index, &weight) in weights.iter().enumerate() {
        if roll < weight {
            return index;
        }
        roll -= weight;
    }
    weights.len() - 1
}

/// The most children of one kind a single parent gets, so that the tail of the distribution
/// cannot produce a pathological record.
const MAX_COUNT: f64 = 200.0;

/// A count of child records with the given mean: geometric, so most parents have few children,
/// many have none and a few have many, which is how activity in a real CRM is spread.
pub(crate) fn count_with_mean(rng: &mut ChaCha8Rng, mean: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    // P(count >= k) = q^k has mean q / (1 - q); solve for q. Sampled by inversion.
    let q = mean / (1.0 + mean);
    let uniform: f64 = rng.random();
    let count = ((1.0 - uniform).ln() / q.ln()).floor();
    count.clamp(0.0, MAX_COUNT) as u32
}

/// A whole number of seconds between two ages (both "seconds before now"), inclusive; the
/// arguments may come in either order.
pub(crate) fn between(rng: &mut ChaCha8Rng, one_age: i64, other_age: i64) -> i64 {
    let (newer, older) = if one_age <= other_age {
        (one_age, other_age)
    } else {
        (other_age, one_age)
    };
    rng.random_range(newer..=older)
}

/// A number spread evenly on a log scale between `low` and `high`: prices and amounts, where
/// small ones are common and large ones rare.
pub(crate) fn log_uniform(rng: &mut ChaCha8Rng, low: f64, high: f64) -> f64 {
    let exponent = rng.random_range(low.ln()..high.ln());
    exponent.exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_stream_depends_only_on_the_seed_the_kind_and_the_id() {
        let key = SeedKey::from_seed(42);
        let first: u64 = key.stream(Stream::Contact, 7).random();
        let again: u64 = SeedKey::from_seed(42).stream(Stream::Contact, 7).random();
        let other_kind: u64 = key.stream(Stream::Company, 7).random();
        let other_seed: u64 = SeedKey::from_seed(43).stream(Stream::Contact, 7).random();
        assert_eq!(first, again);
        assert_ne!(first, other_kind);
        assert_ne!(first, other_seed);
    }

    #[test]
    fn counts_have_roughly_the_requested_mean() {
        let mut rng = SeedKey::from_seed(1).stream(Stream::DataSet, 0);
        let samples = 100_000;
        let total: u64 = (0..samples)
            .map(|_| u64::from(count_with_mean(&mut rng, 2.5)))
            .sum();
        let mean = total as f64 / samples as f64;
        assert!((mean - 2.5).abs() < 0.1, "mean was {mean}");
    }

    #[test]
    fn weighted_choices_follow_their_weights() {
        let mut rng = SeedKey::from_seed(1).stream(Stream::DataSet, 1);
        let hits = (0..10_000)
            .filter(|_| weighted(&mut rng, &[(true, 1), (false, 3)]))
            .count();
        assert!((2_200..2_800).contains(&hits), "hits: {hits}");
    }
}
