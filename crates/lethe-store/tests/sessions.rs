//! Signing in to the web pages: a session opens on the right password only, lives while it
//! is used, ends on sign-out, idleness, the end of its day, a new password, its user's
//! removal or its ending by the user or an admin; wrong passwords in a row make the next
//! tries wait. On both backends, with the clock moved by the test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use lethe_schema::Schema;
use lethe_store::{Clock, DatabaseUrl, Role, SignIn, Store};
use lethe_testkit::{TestDatabase, both_backends};
use time::{Duration, OffsetDateTime};

const PASSWORD: &str = "a long enough secret";

async fn open(database: &TestDatabase, clock: &Clock) -> Store {
    let store = Store::open(
        &DatabaseUrl::parse(&database.url).unwrap(),
        Schema::default_crm(),
        &support::options(clock.clone()),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    store
}

fn start() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap()
}

async fn signed_in(store: &Store, name: &str) -> String {
    match store.sign_in(name, PASSWORD).await.unwrap() {
        SignIn::Welcome { user, secret } => {
            assert_eq!(user.name, name);
            secret
        }
        other => panic!("{name} could not sign in: {other:?}"),
    }
}

both_backends!(
    a_session_lives_while_used_and_ends_every_way_it_should,
    |database: TestDatabase| async move {
        let clock = Clock::fixed(start());
        let store = open(&database, &clock).await;
        let (ann, _) = store
            .add_user_with_password("ann", Role::User, PASSWORD, &lethe_store::Actor::operator())
            .await
            .unwrap();
        let (boss, _) = store
            .add_user_with_password(
                "boss",
                Role::Admin,
                PASSWORD,
                &lethe_store::Actor::operator(),
            )
            .await
            .unwrap();

        // Used every 50 minutes, a session outlives the idle hour but not its day.
        let secret = signed_in(&store, "ann").await;
        let session = store.session(&secret).await.unwrap().expect("live");
        assert_eq!(session.user, ann);
        for step in 1..=14 {
            clock.set(start() + Duration::minutes(50 * step));
            let alive = store.session(&secret).await.unwrap().is_some();
            assert_eq!(alive, 50 * step < 12 * 60, "after {} minutes", 50 * step);
        }
        // Left alone for an hour, a session ends.
        clock.set(start() + Duration::days(1));
        let secret = signed_in(&store, "ann").await;
        clock.set(start() + Duration::days(1) + Duration::minutes(59));
        assert!(store.session(&secret).await.unwrap().is_some());
        clock.set(start() + Duration::days(1) + Duration::minutes(59 + 60));
        assert!(store.session(&secret).await.unwrap().is_none());

        // Signing out ends it; a made-up secret is nobody's.
        let secret = signed_in(&store, "ann").await;
        store.sign_out(&secret).await.unwrap();
        assert!(store.session(&secret).await.unwrap().is_none());
        assert!(
            store
                .session("lethe_session_made_up")
                .await
                .unwrap()
                .is_none()
        );
        assert!(store.session("").await.unwrap().is_none());

        // Ann lists her live sessions; Bob may not; an admin ends one of hers.
        let first = signed_in(&store, "ann").await;
        let second = signed_in(&store, "ann").await;
        let listed = store.sessions_of("ann", &ann.actor()).await.unwrap();
        assert_eq!(listed.len(), 2, "{listed:?}");
        let (bob, _) = store.add_user("bob", Role::User).await.unwrap();
        let refused = store.sessions_of("ann", &bob.actor()).await.unwrap_err();
        assert_eq!(refused.code(), "forbidden", "{refused}");
        let refused = store
            .end_session(listed[0].id, &bob.actor())
            .await
            .unwrap_err();
        assert_eq!(refused.code(), "forbidden", "{refused}");
        assert!(
            store.session(&first).await.unwrap().is_some(),
            "refused ends nothing"
        );
        store
            .end_session(listed[0].id, &boss.actor())
            .await
            .unwrap();
        assert!(store.session(&first).await.unwrap().is_none());
        assert!(store.session(&second).await.unwrap().is_some());
        let again = store
            .end_session(listed[0].id, &boss.actor())
            .await
            .unwrap_err();
        assert!(again.to_string().contains("no live session"), "{again}");

        // A new password ends every session; so does ending them all, and removing the user.
        store
            .set_password("ann", "another long secret", &ann.actor())
            .await
            .unwrap();
        assert!(store.session(&second).await.unwrap().is_none());
        store
            .set_password("ann", PASSWORD, &boss.actor())
            .await
            .unwrap();
        let third = signed_in(&store, "ann").await;
        assert_eq!(store.end_sessions_of("ann", &ann.actor()).await.unwrap(), 1);
        assert!(store.session(&third).await.unwrap().is_none());
        let fourth = signed_in(&store, "ann").await;
        store.remove_user("ann", &boss.actor()).await.unwrap();
        assert!(store.session(&fourth).await.unwrap().is_none());
        assert!(matches!(
            store.sign_in("ann", PASSWORD).await.unwrap(),
            SignIn::Wrong { .. }
        ));

        // The history says who ended what; never a secret.
        let text = database.dump("lethe_history", "seq").await.join("\n");
        assert!(text.contains("\"session.ended\""), "{text}");
        assert!(text.contains("\"session.ended_all\""), "{text}");
        assert!(!text.contains("lethe_session_"), "{text}");
    }
);

both_backends!(
    five_wrong_passwords_make_the_next_tries_wait,
    |database: TestDatabase| async move {
        let clock = Clock::fixed(start());
        let store = open(&database, &clock).await;
        store
            .add_user_with_password("ann", Role::User, PASSWORD, &lethe_store::Actor::operator())
            .await
            .unwrap();
        for attempt in 1..=5 {
            match store.sign_in("ann", "not her password").await.unwrap() {
                SignIn::Wrong { wait } => {
                    assert_eq!(wait.is_some(), attempt == 5, "attempt {attempt}: {wait:?}")
                }
                other => panic!("attempt {attempt}: {other:?}"),
            }
        }
        // Now even the right password waits, unchecked, and the wait does not grow.
        for _ in 0..3 {
            match store.sign_in("ann", PASSWORD).await.unwrap() {
                SignIn::Wait { wait } => assert_eq!(wait, "5 seconds"),
                other => panic!("{other:?}"),
            }
        }
        clock.set(start() + Duration::seconds(3));
        assert!(matches!(
            store.sign_in("ann", PASSWORD).await.unwrap(),
            SignIn::Wait { wait } if wait == "2 seconds"
        ));
        // After the wait, one more wrong one doubles it.
        clock.set(start() + Duration::seconds(5));
        match store.sign_in("ann", "still not it").await.unwrap() {
            SignIn::Wrong { wait } => assert_eq!(wait.as_deref(), Some("10 seconds")),
            other => panic!("{other:?}"),
        }
        clock.set(start() + Duration::seconds(15));
        signed_in(&store, "ann").await;
        // A right password starts the count again; unknown names are counted the same way.
        for _ in 0..5 {
            store.sign_in("ann", "wrong").await.unwrap();
            store.sign_in("nobody", "wrong").await.unwrap();
        }
        assert!(matches!(
            store.sign_in("ann", PASSWORD).await.unwrap(),
            SignIn::Wait { .. }
        ));
        assert!(matches!(
            store.sign_in("nobody", PASSWORD).await.unwrap(),
            SignIn::Wait { .. }
        ));
        // A name too long to exist is never remembered.
        let long = "x".repeat(65);
        for _ in 0..7 {
            assert!(matches!(
                store.sign_in(&long, "wrong").await.unwrap(),
                SignIn::Wrong { wait: None }
            ));
        }
        assert_eq!(
            database
                .scalar("SELECT COUNT(*) FROM lethe_sign_in_failure")
                .await,
            2
        );
        assert_eq!(
            database
                .scalar(
                    "SELECT COUNT(*) FROM lethe_sign_in_failure WHERE name IN ('ann', 'nobody')"
                )
                .await,
            2
        );
    }
);

both_backends!(
    a_burst_of_parallel_guesses_gets_no_more_tries_than_one_after_the_other,
    |database: TestDatabase| async move {
        let clock = Clock::fixed(start());
        let store = open(&database, &clock).await;
        store
            .add_user_with_password("ann", Role::User, PASSWORD, &lethe_store::Actor::operator())
            .await
            .unwrap();
        let guesses: Vec<_> = (0..20)
            .map(|guess| {
                let store = store.clone();
                tokio::spawn(async move { store.sign_in("ann", &format!("guess {guess}")).await })
            })
            .collect();
        let mut checked = 0;
        for guess in guesses {
            match guess.await.unwrap().unwrap() {
                SignIn::Wrong { .. } => checked += 1,
                SignIn::Wait { .. } => {}
                SignIn::Welcome { .. } => panic!("a wrong guess signed in"),
            }
        }
        assert!((1..=5).contains(&checked), "{checked} guesses were checked");
    }
);

both_backends!(
    an_admin_changes_roles_but_never_leaves_lethe_without_an_admin,
    |database: TestDatabase| async move {
        let clock = Clock::fixed(start());
        let store = open(&database, &clock).await;
        let operator = lethe_store::Actor::operator();
        let (boss, _) = store.add_user("boss", Role::Admin).await.unwrap();
        let (ann, _) = store.add_user("ann", Role::User).await.unwrap();
        let refused = store
            .set_role("ann", Role::Admin, &ann.actor())
            .await
            .unwrap_err();
        assert_eq!(refused.code(), "forbidden", "{refused}");
        let last = store
            .set_role("boss", Role::User, &boss.actor())
            .await
            .unwrap_err();
        assert!(last.to_string().contains("the last admin"), "{last}");
        assert_eq!(
            store
                .set_role("ann", Role::Admin, &operator)
                .await
                .unwrap()
                .role,
            Role::Admin
        );
        assert_eq!(
            store
                .set_role("boss", Role::User, &operator)
                .await
                .unwrap()
                .role,
            Role::User
        );
        let roles: Vec<_> = store
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .map(|user| (user.name, user.role))
            .collect();
        assert_eq!(
            roles,
            [
                ("boss".to_owned(), Role::User),
                ("ann".to_owned(), Role::Admin)
            ]
        );
        let text = database.dump("lethe_history", "seq").await.join("\n");
        assert_eq!(text.matches("\"user.role_changed\"").count(), 2, "{text}");
    }
);
