//! Signing in to the pages, against the real `lethe serve`: in a real browser (Chromium), a
//! person is sent to the sign-in page and back, sees a wrong password refused, manages their
//! sessions and tokens and signs out; over plain HTTP, a form without its token is refused
//! and changes nothing, every response carries the security headers, and wrong passwords
//! slow the next tries. On both backends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use lethe_testkit::browser::Browser;
use support::{PageClient, TestDatabase, TestServer, add_user_with_password, both_backends};

const ANN_PASSWORD: &str = "ann's long passphrase";

both_backends!(
    a_person_signs_in_in_a_browser_manages_their_access_and_signs_out,
    |database: TestDatabase| async move {
        let (_, token) = add_user_with_password(&database, "ann", "user", ANN_PASSWORD);
        let server = TestServer::start(&database);
        let Some(browser) = Browser::start().await else {
            return;
        };

        // A page that needs signing in leads there, and back afterwards.
        browser.goto(&server.endpoint("/account")).await;
        assert!(
            browser
                .current_url()
                .await
                .ends_with("/sign-in?next=%2Faccount"),
            "{}",
            browser.current_url().await
        );
        browser.assert_accessible("sign-in").await;

        // A wrong password is refused without saying which half was wrong; the name stays.
        browser.fill("#name", "ann").await;
        browser.fill("#password", "not her passphrase").await;
        browser.click("button[type=submit]").await;
        browser
            .wait_for_text("#sign-in-error", "Wrong user name or password")
            .await;
        let kept = browser.find("#name").await.prop("value").await.unwrap();
        assert_eq!(kept.as_deref(), Some("ann"));

        browser.fill("#password", ANN_PASSWORD).await;
        browser.click("button[type=submit]").await;
        browser.wait_for_text("main h1", "Your account").await;
        assert!(browser.current_url().await.ends_with("/account"));
        assert!(browser.text("main").await.contains("You are ann, user."));
        assert!(browser.text(".tag").await.contains("this browser"));
        browser.assert_accessible("account").await;

        // Her API token works until she revokes it on the page.
        let (status, _) = server.get(Some(&token), "/api/v1/me").await;
        assert_eq!(status, 200);
        browser.click("button.danger").await;
        browser
            .wait_for_text(".note", "The token was revoked")
            .await;
        assert!(browser.text("main").await.contains("revoked"));
        let (status, _) = server.get(Some(&token), "/api/v1/me").await;
        assert_eq!(status, 401, "a revoked token no longer works");

        // Signing out ends the session: the account page leads to the sign-in page again.
        browser.click("header button[type=submit]").await;
        browser.wait_for_text(".note", "You signed out").await;
        browser.goto(&server.endpoint("/account")).await;
        browser.find("#password").await;
        assert!(browser.current_url().await.contains("/sign-in?next="));
        browser.close().await;
    }
);

fn assert_security_headers(headers: &reqwest::header::HeaderMap, what: &str) {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{what}: no {name} header"))
    };
    let policy = header("content-security-policy");
    assert!(policy.contains("default-src 'self'"), "{what}: {policy}");
    assert!(
        policy.contains("frame-ancestors 'none'"),
        "{what}: {policy}"
    );
    assert!(policy.contains("script-src 'self'"), "{what}: {policy}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
}

both_backends!(
    a_form_without_its_token_is_refused_and_changes_nothing,
    |database: TestDatabase| async move {
        let (_, ann_token) = add_user_with_password(&database, "ann", "user", ANN_PASSWORD);
        add_user_with_password(&database, "bob", "user", "bob's long passphrase");
        let server = TestServer::start(&database);
        let mut ann = PageClient::new(&server);
        let mut bob = PageClient::new(&server);

        // The sign-in form needs the token paired with its cookie.
        let (status, _, page) = ann
            .post("/sign-in", &[("name", "ann"), ("password", ANN_PASSWORD)])
            .await;
        assert_eq!(status, 403, "{page}");
        assert!(page.contains("Nothing was changed"), "{page}");
        assert!(!ann.cookies.keys().any(|name| name.contains("session")));

        let (status, location) = ann.sign_in("ann", ANN_PASSWORD).await;
        assert_eq!((status.as_u16(), location.as_str()), (303, "/"));
        let (status, location) = bob.sign_in("bob", "bob's long passphrase").await;
        assert_eq!((status.as_u16(), location.as_str()), (303, "/"));
        let (status, headers, page) = ann.get("/account").await;
        assert_eq!(status, 200);
        assert_security_headers(&headers, "the account page");
        assert_eq!(headers.get("cache-control").unwrap(), "no-store");
        let right = PageClient::form_token(&page);
        let token_id = database
            .scalar("SELECT MIN(id) FROM lethe_token WHERE user_id = (SELECT id FROM lethe_user WHERE name = 'ann')")
            .await;
        let revoke = format!("/account/tokens/{token_id}/revoke");

        // No token, a made-up one, and Bob's own: each refused, the token still works.
        let (_, _, bob_page) = bob.get("/account").await;
        let bobs = PageClient::form_token(&bob_page);
        for (what, form) in [
            ("no token", vec![]),
            ("a made-up token", vec![("form_token", "0123abcd")]),
            (
                "another session's token",
                vec![("form_token", bobs.as_str())],
            ),
        ] {
            let (status, _, page) = ann.post(&revoke, &form).await;
            assert_eq!(status, 403, "{what}: {page}");
            assert!(page.contains("Nothing was changed"), "{what}");
            let (status, _) = server.get(Some(&ann_token), "/api/v1/me").await;
            assert_eq!(status, 200, "{what}: the token must still work");
        }
        // Bob, with his own page's token, may not revoke Ann's token either.
        let (status, _, page) = bob.post(&revoke, &[("form_token", &bobs)]).await;
        assert_eq!(status, 403, "{page}");
        let (status, _) = server.get(Some(&ann_token), "/api/v1/me").await;
        assert_eq!(status, 200);
        // With the right token it goes.
        let (status, headers, _) = ann.post(&revoke, &[("form_token", &right)]).await;
        assert_eq!(status, 303);
        assert_eq!(
            headers.get("location").unwrap(),
            "/account?done=token-revoked"
        );
        let (status, _) = server.get(Some(&ann_token), "/api/v1/me").await;
        assert_eq!(status, 401);

        // The API, unknown pages and unknown API routes carry the headers too; each answers
        // in its own language.
        let response = reqwest::get(server.endpoint("/api/v1/health"))
            .await
            .unwrap();
        assert_security_headers(response.headers(), "the API");
        let (status, headers, page) = ann.get("/no-such-page").await;
        assert_eq!(status, 404);
        assert_security_headers(&headers, "a missing page");
        assert!(page.contains("<h1>Not found</h1>"), "{page}");
        let (status, _, body) = ann.get("/api/v1/no-such-route").await;
        assert_eq!(status, 404);
        assert!(body.starts_with('{'), "{body}");
        let (status, _, _) = ann.get("/sign-out").await;
        assert_eq!(status, 405, "signing out takes the form only");

        // Signing out ends the session for good: its cookie no longer opens a page.
        let session = ann.cookies.clone();
        let (status, headers, _) = ann.post("/sign-out", &[("form_token", &right)]).await;
        assert_eq!(status, 303);
        assert_eq!(headers.get("location").unwrap(), "/sign-in?signed_out=1");
        ann.cookies = session;
        let (status, headers, _) = ann.get("/account").await;
        assert_eq!(status, 303);
        assert_eq!(headers.get("location").unwrap(), "/sign-in?next=%2Faccount");
    }
);

both_backends!(
    five_wrong_passwords_make_the_sign_in_page_ask_to_wait,
    |database: TestDatabase| async move {
        add_user_with_password(&database, "ann", "user", ANN_PASSWORD);
        let server = TestServer::start(&database);
        let mut client = PageClient::new(&server);
        for attempt in 1..=5 {
            let (status, page) = client.sign_in("ann", "a wrong passphrase").await;
            assert_eq!(status, 401, "attempt {attempt}");
            assert!(page.contains("Wrong user name or password"), "{page}");
            assert!(page.contains("value=\"ann\""), "the name is kept: {page}");
        }
        let (status, page) = client.sign_in("ann", ANN_PASSWORD).await;
        assert_eq!(status, 429, "{page}");
        assert!(page.contains("wait 5 seconds"), "{page}");
        assert!(page.contains("Your password was not checked"), "{page}");
        assert!(!client.cookies.keys().any(|name| name.contains("session")));
    }
);
