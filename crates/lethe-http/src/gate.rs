//! At most a few filter-driven requests per user at once (counts, selections, snapshots,
//! previews): each can keep a core busy up to the query time limit, so one user sending many
//! at once could hold every core. The next one is answered 429 until one of theirs ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::ApiError;

/// How many filter-driven requests one user may have running at once.
pub const PER_USER: usize = 2;

/// The requests running, per user.
#[derive(Debug, Default)]
pub struct FilterGate {
    running: Mutex<HashMap<i64, usize>>,
}

/// A request let through; dropping it lets the next one in.
#[derive(Debug)]
pub struct Pass {
    gate: Arc<FilterGate>,
    user: i64,
}

impl FilterGate {
    /// Lets a request of `user` through, or refuses it while they have [`PER_USER`] running.
    pub fn enter(self: &Arc<Self>, user: i64) -> Result<Pass, ApiError> {
        let mut running = match self.running.lock() {
            Ok(running) => running,
            Err(poisoned) => poisoned.into_inner(),
        };
        let count = running.entry(user).or_default();
        if *count >= PER_USER {
            return Err(ApiError::TooManyRequests(format!(
                "you already have {PER_USER} counts, selections or previews running; wait for one to finish, then send this again"
            )));
        }
        *count += 1;
        Ok(Pass {
            gate: Arc::clone(self),
            user,
        })
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        let mut running = match self.gate.running.lock() {
            Ok(running) => running,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(count) = running.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_two_passes_at_once_and_others_are_not_held_up() {
        let gate = Arc::new(FilterGate::default());
        let first = gate.enter(1).expect("first");
        let second = gate.enter(1).expect("second");
        assert!(gate.enter(1).is_err(), "a third waits");
        let other = gate.enter(2).expect("another user");
        drop(first);
        let third = gate.enter(1).expect("after one ended");
        drop((second, third, other));
        assert!(gate.running.lock().expect("not poisoned").is_empty());
    }
}
