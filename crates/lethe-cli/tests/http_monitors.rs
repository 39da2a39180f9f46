//! Monitors over HTTP, on both backends, against a real `lethe serve`: a bad schedule, time
//! zone, selection or subscriber is answered 422 and nothing is made; a monitor is added
//! with its baseline, changed, run (its subscriber hears of the records that entered, by
//! id), its hits listed, and removed. Every answer is checked against the served OpenAPI
//! document, made strict.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use lethe_testkit::openapi::{check_answer, strict};
use serde_json::{Value, json};
use support::*;

/// Checks an answer against the document's operation `method template`.
fn conforms(document: &Value, method: &str, template: &str, status: u16, answer: &Value) {
    if let Err(problems) = check_answer(document, method, template, status, answer) {
        panic!(
            "{method} {template} {status}: the answer breaks the document: {answer}\n{problems}"
        );
    }
}

both_backends!(
    monitors_are_added_run_and_listed_over_http,
    |database: TestDatabase| async move {
        lethe(&database, &["migrate"]);
        let (_, admin) = add_user(&database, "ada", "admin");
        let (_, clerk) = add_user(&database, "clerk", "user");
        let server = TestServer::start(&database);
        let (_, document) = server.get(None, "/api/v1/openapi.json").await;
        let document = strict(&document);
        let (status, body) = server
            .post(
                Some(&clerk),
                "/api/v1/selections",
                &json!({"name": "stale", "entity": "contact", "filter": "last_name starts_with \"Stale\""}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        server
            .create(&clerk, "contact", json!({"last_name": "Stale one"}))
            .await;

        let good = json!({"name": "watch", "selection": "stale", "schedule": "0 3 * * *", "time_zone": "Europe/Oslo", "subscribers": ["clerk"]});
        for (field, value, expected) in [
            ("schedule", "0 3 * *", "is not a cron schedule"),
            ("time_zone", "Europe/Nowhere", "is not a time zone"),
            ("selection", "stal", "there is no saved selection"),
        ] {
            let mut body = good.clone();
            body[field] = json!(value);
            let (status, answer) = server.post(Some(&clerk), "/api/v1/monitors", &body).await;
            assert_eq!(status, 422, "{field}: {answer}");
            assert!(error_text(status, &answer).contains(expected), "{answer}");
            conforms(&document, "post", "/api/v1/monitors", status, &answer);
        }
        let mut body = good.clone();
        body["subscribers"] = json!(["zed"]);
        let (status, answer) = server.post(Some(&clerk), "/api/v1/monitors", &body).await;
        assert_eq!(status, 422, "{answer}");
        let (_, listed) = server.get(Some(&clerk), "/api/v1/monitors").await;
        assert_eq!(listed["monitors"], json!([]), "nothing was made");

        let (status, added) = server.post(Some(&clerk), "/api/v1/monitors", &good).await;
        assert_eq!(status, 201, "{added}");
        conforms(&document, "post", "/api/v1/monitors", status, &added);
        assert_eq!(added["monitor"]["members"], 1);
        assert_eq!(added["monitor"]["owner"], "clerk");

        let (status, changed) = server
            .patch(
                Some(&admin),
                "/api/v1/monitors/watch",
                &json!({"notify_on_leave": true, "subscribe": ["ada"]}),
            )
            .await;
        assert_eq!(status, 200, "{changed}");
        conforms(
            &document,
            "patch",
            "/api/v1/monitors/{name}",
            status,
            &changed,
        );
        assert_eq!(changed["monitor"]["subscribers"], json!(["ada", "clerk"]));

        let newcomer = server
            .create(&admin, "contact", json!({"last_name": "Stale two"}))
            .await;
        let (status, ran) = server
            .post(Some(&clerk), "/api/v1/monitors/watch/run", &json!({}))
            .await;
        assert_eq!(status, 200, "{ran}");
        conforms(
            &document,
            "post",
            "/api/v1/monitors/{name}/run",
            status,
            &ran,
        );
        assert_eq!(ran["run"]["entered"], 1);
        assert_eq!(ran["run"]["notified"], 2);

        let (status, hits) = server
            .get(Some(&admin), "/api/v1/monitors/watch/hits")
            .await;
        assert_eq!(status, 200, "{hits}");
        conforms(
            &document,
            "get",
            "/api/v1/monitors/{name}/hits",
            status,
            &hits,
        );
        assert_eq!(
            hits["hits"],
            json!([{"record_id": newcomer, "change": "entered"}])
        );

        let (_, feed) = server.get(Some(&clerk), "/api/v1/notifications").await;
        let message = feed["notifications"][0]["message"].as_str().unwrap();
        assert!(message.contains(&format!(": {newcomer}.")), "{message}");

        let (status, shown) = server.get(Some(&clerk), "/api/v1/monitors/watch").await;
        assert_eq!(status, 200);
        conforms(&document, "get", "/api/v1/monitors/{name}", status, &shown);
        assert_eq!(shown["runs"].as_array().unwrap().len(), 2);

        let (status, removed) = server.delete(Some(&clerk), "/api/v1/monitors/watch").await;
        assert_eq!(status, 200, "{removed}");
        conforms(
            &document,
            "delete",
            "/api/v1/monitors/{name}",
            status,
            &removed,
        );
        let (status, missing) = server.get(Some(&clerk), "/api/v1/monitors/watch").await;
        assert_eq!(status, 404, "{missing}");
    }
);
