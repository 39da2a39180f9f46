//! The requests pages against the real `lethe serve`, on both backends, as a browser without
//! JavaScript sends them: an admin registers a request (a malformed address first: shown next
//! to its field, the form as typed, nothing written); an overdue request is shown in red with
//! how long ago its deadline passed; on a request's page a bad extension and a batch that does
//! not exist are shown next to their fields; a purge linked to it shows its state and a link to
//! its erasure receipt; marked done, the page no longer shows the address; a plain user may
//! not open another's request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use reqwest::StatusCode;
use support::{PageClient, TestDatabase, TestServer, add_user_with_password, both_backends, lethe};

const PASSWORD: &str = "a long enough passphrase";

fn location(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get("location")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

both_backends!(
    an_admin_registers_follows_and_closes_a_request_on_its_pages,
    |database: TestDatabase| async move {
        lethe(&database, &["migrate"]);
        add_user_with_password(&database, "bob", "admin", PASSWORD);
        add_user_with_password(&database, "olaf", "user", PASSWORD);
        // An overdue request, received forty days ago.
        let received = (time::OffsetDateTime::now_utc() - time::Duration::days(40))
            .date()
            .to_string();
        let overdue = lethe(
            &database,
            &[
                "request",
                "add",
                "--access",
                "--email",
                "late@example.org",
                "--received",
                &received,
                "--json",
            ],
        )
        .json();
        let overdue = overdue["request"]["id"].as_i64().unwrap();
        let server = TestServer::start(&database);
        let mut admin = PageClient::new(&server);
        admin.sign_in("bob", PASSWORD).await;

        let (status, _, page) = admin.get("/requests").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            page.contains(&format!(
                "id=\"request-{overdue}\" class=\"pending overdue\""
            )),
            "{page}"
        );
        assert!(page.contains("overdue by"), "{page}");
        assert!(
            page.contains("href=\"/requests\" aria-current=\"page\""),
            "the navigation marks the section"
        );

        // A malformed address: next to its field, as typed; nothing written.
        let token = PageClient::form_token(&page);
        let (status, _, page) = admin
            .post(
                "/requests",
                &[
                    ("form_token", &token),
                    ("kind", "erasure"),
                    ("email", "dora.example.org"),
                    ("assignee", "bob"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.contains("id=\"request-email-error\""), "{page}");
        assert!(page.contains("is not an e-mail address"), "{page}");
        assert!(page.contains("value=\"dora.example.org\""), "{page}");
        assert!(page.contains("value=\"bob\""), "{page}");
        assert_eq!(
            database.scalar("SELECT COUNT(*) FROM lethe_request").await,
            1
        );

        let (status, headers, _) = admin
            .post(
                "/requests",
                &[
                    ("form_token", &token),
                    ("kind", "erasure"),
                    ("email", "dora@example.org"),
                    ("assignee", "bob"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let at = location(&headers);
        assert!(at.ends_with("?done=added"), "{at}");
        let path = at.split('?').next().unwrap().to_owned();
        let id: i64 = path.rsplit('/').next().unwrap().parse().unwrap();
        let (status, _, page) = admin.get(&at).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(&format!("Request {id}: erasure")), "{page}");
        assert!(
            page.contains("dora@example.org") && page.contains(" days left)"),
            "{page}"
        );

        // A bad extension and a batch that does not exist: next to their fields.
        let (status, _, page) = admin
            .post(
                &format!("{path}/change"),
                &[
                    ("form_token", &token),
                    ("action", "extend"),
                    ("until", "2999-01-01"),
                    ("reason", "archives"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            page.contains("id=\"until-error\"") && page.contains("more than 2 months"),
            "{page}"
        );
        assert!(page.contains("value=\"archives\""), "{page}");
        let (status, _, page) = admin
            .post(
                &format!("{path}/change"),
                &[
                    ("form_token", &token),
                    ("action", "refuse"),
                    ("reason", " "),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.contains("id=\"refuse-error\""), "{page}");
        let (status, _, page) = admin
            .post(
                &format!("{path}/link"),
                &[("form_token", &token), ("batch", "9999")],
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            page.contains("id=\"link-error\"")
                && page.contains("Deletion batch 9999 does not exist"),
            "{page}"
        );
        assert_eq!(
            database
                .scalar("SELECT COUNT(*) FROM lethe_request_link")
                .await,
            0
        );

        // A purge of the person's contact, linked: its state and its receipt.
        let contact = lethe(
            &database,
            &[
                "record",
                "create",
                "contact",
                "last_name=Dora",
                "email=dora@example.org",
                "--json",
            ],
        )
        .json();
        let contact = contact["id"].as_i64().unwrap();
        let trashed = lethe(
            &database,
            &[
                "trash",
                "contact",
                &format!("id = {contact}"),
                "--yes",
                "--json",
            ],
        )
        .json();
        let batch = trashed["job"]["batch_id"].as_i64().unwrap().to_string();
        let purged = lethe(
            &database,
            &[
                "purge", "request", "--batch", &batch, "--grace", "0", "--yes", "--json",
            ],
        );
        assert_eq!(purged.status, 0, "{}", purged.stderr);
        let job = purged.json()["job"]["id"].as_i64().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while lethe(&database, &["job", "show", &job.to_string(), "--json"]).json()["job"]["state"]
            != "done"
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the purge did not finish"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        for (field, value) in [("batch", batch.clone()), ("job", job.to_string())] {
            let (status, headers, _) = admin
                .post(
                    &format!("{path}/link"),
                    &[("form_token", &token), (field, value.as_str())],
                )
                .await;
            assert_eq!(status, StatusCode::SEE_OTHER, "{field}");
            assert!(location(&headers).ends_with("?done=linked"));
        }
        let (_, _, page) = admin.get(&path).await;
        assert!(
            page.contains(&format!("href=\"/purges/{job}/receipt\"")),
            "{page}"
        );
        assert!(page.contains("Every linked purge has run"), "{page}");

        // A plain user may not open it.
        let mut clerk = PageClient::new(&server);
        clerk.sign_in("olaf", PASSWORD).await;
        let (status, _, _) = clerk.get(&path).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // Done: the address is gone from the page.
        let (status, headers, _) = admin
            .post(
                &format!("{path}/change"),
                &[("form_token", &token), ("action", "done")],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (_, _, page) = admin.get(&location(&headers)).await;
        assert!(page.contains("no longer kept"), "{page}");
        assert!(!page.contains("dora@example.org"), "{page}");
    }
);
