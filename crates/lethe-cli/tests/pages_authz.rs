//! Every page route, read from the pages' router, against a real `lethe serve`: without a
//! session each one leads to the sign-in page (and changes nothing); with a session, every
//! form route refuses a form without the session's token, or with another session's, and
//! changes nothing. Which signed-in person may do what is the policy's, tested per scenario
//! in the other `pages_*` tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{
    PageClient, TestDatabase, TestServer, add_user_with_password, both_backends, page_routes,
};

/// A route with its parameters filled in (any id: the check comes before the handler).
fn concrete(route: &str) -> String {
    route
        .split('/')
        .map(|part| match part {
            "{entity}" => "contact",
            "{name}" => "ann",
            "{file}" => "lethe.css",
            part if part.starts_with('{') => "1",
            part => part,
        })
        .collect::<Vec<_>>()
        .join("/")
}

both_backends!(
    every_page_needs_a_session_and_every_form_its_token,
    |database: TestDatabase| async move {
        add_user_with_password(&database, "ann", "admin", "ann's long passphrase");
        add_user_with_password(&database, "bob", "admin", "bob's long passphrase");
        let server = TestServer::start(&database);
        let routes = page_routes();
        assert!(routes.len() >= 40, "the router was not read: {routes:?}");
        let state = || async {
            let mut all = Vec::new();
            for table in [
                "lethe_user",
                "lethe_token",
                "lethe_history",
                "lethe_selection",
                "lethe_job",
            ] {
                all.push(database.dump(table, "id").await);
            }
            all
        };

        // Without a session: the sign-in page, and back afterwards; nothing changes.
        let before = state().await;
        let mut stranger = PageClient::new(&server);
        for (method, route) in &routes {
            let path = concrete(route);
            let public = path == "/sign-in" || path.starts_with("/assets/");
            let (status, headers, _) = if method == "GET" {
                stranger.get(&path).await
            } else {
                stranger.post(&path, &[("form_token", "guess")]).await
            };
            if public {
                assert_ne!(status, 303, "{method} {path} is public");
                continue;
            }
            assert_eq!(status, 303, "{method} {path} without a session");
            let location = headers["location"].to_str().unwrap();
            assert!(
                location.starts_with("/sign-in"),
                "{method} {path} led to {location}"
            );
        }
        assert_eq!(state().await, before, "nothing changed without a session");

        // With a session, a form without its token, or with another session's, is refused.
        let mut ann = PageClient::new(&server);
        let mut bob = PageClient::new(&server);
        ann.sign_in("ann", "ann's long passphrase").await;
        bob.sign_in("bob", "bob's long passphrase").await;
        let (_, _, page) = bob.get("/account").await;
        let bobs = PageClient::form_token(&page);
        let before = state().await;
        for (method, route) in routes.iter().filter(|(method, _)| method == "POST") {
            let path = concrete(route);
            if path == "/sign-in" {
                continue;
            }
            for (what, form) in [
                ("no token", vec![]),
                (
                    "another session's token",
                    vec![("form_token", bobs.as_str())],
                ),
            ] {
                let (status, _, body) = ann.post(&path, &form).await;
                assert_eq!(status, 403, "{method} {path} with {what}: {body}");
                assert!(body.contains("Nothing was changed"), "{method} {path}");
            }
        }
        assert_eq!(state().await, before, "no refused form changed anything");
        // And the session still works.
        let (status, _, _) = ann.get("/account").await;
        assert_eq!(status, 200);
    }
);
