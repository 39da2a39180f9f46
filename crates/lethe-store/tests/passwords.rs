//! Signing in with a password: only the right password of a user who is still there lets
//! them in, on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use lethe_schema::Schema;
use lethe_store::{Actor, DatabaseUrl, Role, Store, StoreError};
use lethe_testkit::{TestDatabase, both_backends};

async fn open(database: &TestDatabase) -> Store {
    let store = Store::open(
        &DatabaseUrl::parse(&database.url).unwrap(),
        Schema::default_crm(),
        &support::options(lethe_store::Clock::system()),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    store
}

both_backends!(
    only_the_right_password_of_a_present_user_signs_in,
    |database: TestDatabase| async move {
        let store = open(&database).await;
        let (ann, _) = store.add_user("ann", Role::User).await.unwrap();
        store.add_user("bob", Role::User).await.unwrap();
        // No password yet: nothing signs in.
        assert_eq!(store.check_password("ann", "").await.unwrap(), None);
        store
            .set_password("ann", "a long enough secret", &ann.actor())
            .await
            .unwrap();
        assert_eq!(
            store
                .check_password("ann", "a long enough secret")
                .await
                .unwrap(),
            Some(ann.clone())
        );
        for (name, password) in [
            ("ann", "a long enough secreT"),
            ("ann", ""),
            ("nobody", "a long enough secret"),
            ("bob", "a long enough secret"),
        ] {
            assert_eq!(
                store.check_password(name, password).await.unwrap(),
                None,
                "{name}"
            );
        }
        // Bob may not set Ann's password; a short one is refused and changes nothing.
        let bob = store.find_user("bob").await.unwrap().unwrap();
        let refused = store
            .set_password("ann", "bob's idea of it", &bob.actor())
            .await;
        assert!(
            matches!(refused, Err(StoreError::Forbidden(_))),
            "{refused:?}"
        );
        let short = store.set_password("ann", "short", &Actor::operator()).await;
        assert!(
            matches!(
                short,
                Err(StoreError::InvalidOption {
                    option: "password",
                    ..
                })
            ),
            "{short:?}"
        );
        assert!(
            store
                .check_password("ann", "a long enough secret")
                .await
                .unwrap()
                .is_some()
        );
        // A removed user no longer signs in.
        store.remove_user("ann", &Actor::operator()).await.unwrap();
        assert_eq!(
            store
                .check_password("ann", "a long enough secret")
                .await
                .unwrap(),
            None
        );
    }
);
