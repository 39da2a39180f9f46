//! The HTTP API, driven over real HTTP against `lethe serve` on a random port, on SQLite and
//! PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::*;

async fn count(server: &TestServer, token: &str, entity: &str) -> usize {
    let (status, body) = server
        .get(Some(token), &format!("/api/v1/records/{entity}?limit=1000"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["records"].as_array().unwrap().len()
}

both_backends!(
    every_entity_can_be_created_read_updated_and_listed_over_http,
    |database: TestDatabase| async move {
        let (admin_id, admin) = add_user(&database, "admin", "admin");
        let server = TestServer::start(&database);
        let token = Some(admin.as_str());

        let (status, company) = server
            .post(
                token,
                "/api/v1/records/company",
                &json!({"name": "Acme", "category": "customer"}),
            )
            .await;
        assert_eq!(status, 201, "{company}");
        assert_eq!(
            company["created_by"], admin_id,
            "records remember who created them"
        );
        let company_id = company["id"].as_i64().unwrap();
        let (_, contact) = server
            .post(
                token,
                "/api/v1/records/contact",
                &json!({"company_id": company_id, "last_name": "Berg", "email": "a@b.c"}),
            )
            .await;
        let contact_id = contact["id"].as_i64().unwrap();
        let (_, ticket) = server
            .post(
                token,
                "/api/v1/records/ticket",
                &json!({"contact_id": contact_id, "subject": "Broken"}),
            )
            .await;
        let (_, project) = server
            .post(
                token,
                "/api/v1/records/project",
                &json!({"company_id": company_id, "name": "P"}),
            )
            .await;
        let inputs = [
            (
                "consent",
                json!({"contact_id": contact_id, "purpose": "newsletter", "granted_at": "2022-05-01T00:00:00Z"}),
                json!({"withdrawn_at": "2023-01-01T00:00:00Z"}),
            ),
            (
                "deal",
                json!({"contact_id": contact_id, "title": "Deal", "amount": 10}),
                json!({"status": "won"}),
            ),
            (
                "activity",
                json!({"contact_id": contact_id, "kind": "task"}),
                json!({"status": "done"}),
            ),
            (
                "note",
                json!({"contact_id": contact_id, "body": "hello"}),
                json!({"body": "changed"}),
            ),
            (
                "message",
                json!({"contact_id": contact_id, "channel": "sms", "direction": "outbound", "sent_at": "2024-01-01T00:00:00Z"}),
                json!({"body": "hi"}),
            ),
            (
                "ticket_comment",
                json!({"ticket_id": ticket["id"], "body": "c"}),
                json!({"body": "d"}),
            ),
            (
                "survey_rating",
                json!({"ticket_id": ticket["id"], "score": 5}),
                json!({"score": 3}),
            ),
            (
                "invoice",
                json!({"contact_id": contact_id, "number": "I-1", "amount": "5.00", "issued_at": "2024-01-31"}),
                json!({"amount": "6.5"}),
            ),
            (
                "time_entry",
                json!({"project_id": project["id"], "minutes": 30, "spent_on": "2024-01-31"}),
                json!({"minutes": 45}),
            ),
            (
                "campaign_membership",
                json!({"contact_id": contact_id, "campaign": "x", "joined_at": "2024-01-01T00:00:00Z"}),
                json!({"campaign": "y"}),
            ),
            (
                "company",
                json!({"name": "Second"}),
                json!({"website": "https://example.org"}),
            ),
            (
                "contact",
                json!({"last_name": "Solo"}),
                json!({"job_title": "CTO"}),
            ),
            (
                "ticket",
                json!({"contact_id": contact_id, "subject": "s"}),
                json!({"status": "solved"}),
            ),
            ("project", json!({"name": "Q"}), json!({"status": "active"})),
        ];
        for (entity, create, change) in inputs {
            let (status, created) = server
                .post(token, &format!("/api/v1/records/{entity}"), &create)
                .await;
            assert_eq!(status, 201, "{entity}: {created}");
            let id = created["id"].as_i64().unwrap();
            let (status, read) = server
                .get(token, &format!("/api/v1/records/{entity}/{id}"))
                .await;
            assert_eq!((status, &read), (200, &created), "{entity}");
            let (status, updated) = server
                .patch(token, &format!("/api/v1/records/{entity}/{id}"), &change)
                .await;
            assert_eq!(status, 200, "{entity}: {updated}");
            for (field, value) in change.as_object().unwrap() {
                let expected = if entity == "invoice" {
                    json!("6.50")
                } else if field.ends_with("_at") {
                    json!("2023-01-01T00:00:00.000000Z")
                } else {
                    value.clone()
                };
                assert_eq!(updated[field], expected, "{entity}.{field}");
            }
            let (status, page) = server
                .get(
                    token,
                    &format!("/api/v1/records/{entity}?sort=id&order=desc&limit=1"),
                )
                .await;
            assert_eq!(status, 200);
            assert_eq!(page["records"][0]["id"], id, "{entity} newest first");
        }
    }
);

both_backends!(
    requests_without_a_valid_token_are_refused_and_roles_are_enforced,
    |database: TestDatabase| async move {
        let (_, admin) = add_user(&database, "admin", "admin");
        let (_, user) = add_user(&database, "clerk", "user");
        let server = TestServer::start(&database);

        let (status, body) = server.get(None, "/api/v1/records/contact").await;
        assert_eq!(status, 401);
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("Authorization: Bearer")
        );
        let (status, _) = server
            .get(Some("lethe_not-a-real-token"), "/api/v1/records/contact")
            .await;
        assert_eq!(status, 401);
        let (status, _) = server
            .post(None, "/api/v1/records/company", &json!({"name": "x"}))
            .await;
        assert_eq!(status, 401);

        let (status, body) = server
            .post(
                Some(&user),
                "/api/v1/users",
                &json!({"name": "mallory", "role": "admin"}),
            )
            .await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(
            body["error"],
            "creating users is for admins only; user `clerk` has the role user"
        );
        let (status, _) = server.get(Some(&user), "/api/v1/users").await;
        assert_eq!(status, 403);
        let (_, users) = server.get(Some(&admin), "/api/v1/users").await;
        assert_eq!(
            users["users"].as_array().unwrap().len(),
            2,
            "mallory was not created"
        );

        let (status, created) = server
            .post(
                Some(&admin),
                "/api/v1/users",
                &json!({"name": "bob", "role": "user"}),
            )
            .await;
        assert_eq!(status, 201);
        let bob = created["token"].as_str().unwrap();
        let (status, me) = server.get(Some(bob), "/api/v1/me").await;
        assert_eq!((status, me["name"].as_str()), (200, Some("bob")));
        let (status, _) = server
            .post(
                Some(bob),
                "/api/v1/records/company",
                &json!({"name": "Bob's"}),
            )
            .await;
        assert_eq!(status, 201, "users may create records");

        // Public: the API description and the health check.
        let (status, document) = server.get(None, "/api/v1/openapi.json").await;
        assert_eq!(status, 200);
        assert_eq!(document["openapi"], "3.1.0");
        assert!(document["paths"]["/api/v1/records/ticket_comment/{id}"]["patch"].is_object());
        assert_eq!(
            document["components"]["schemas"]["contact"]["properties"]["category"]["enum"],
            json!(["prospect", "customer", "lost"])
        );
    }
);

both_backends!(
    bad_input_over_http_gets_a_clear_4xx_and_writes_nothing,
    |database: TestDatabase| async move {
        let (_, admin) = add_user(&database, "admin", "admin");
        let server = TestServer::start(&database);
        let token = Some(admin.as_str());
        let (_, company) = server
            .post(
                token,
                "/api/v1/records/company",
                &json!({"name": "Acme", "org_number": "42"}),
            )
            .await;

        let cases: Vec<(&str, Value, u16, &str)> = vec![
            (
                "/api/v1/records/compnay",
                json!({"name": "x"}),
                404,
                "unknown entity `compnay`; did you mean `company`?",
            ),
            (
                "/api/v1/records/company",
                json!({"nmae": "x"}),
                422,
                "unknown field `nmae` on company; did you mean `name`?",
            ),
            (
                "/api/v1/records/company",
                json!({"name": 12}),
                422,
                "company.name: expected a text string, got the number 12",
            ),
            (
                "/api/v1/records/company",
                json!({"category": "customer"}),
                422,
                "company: missing required field(s): name",
            ),
            (
                "/api/v1/records/company",
                json!({"name": "Dup", "org_number": "42"}),
                409,
                "company.org_number: another company already has this value; it must be unique",
            ),
            (
                "/api/v1/records/contact",
                json!({"company_id": 987654}),
                422,
                "contact.company_id: company 987654 does not exist",
            ),
            (
                "/api/v1/records/company",
                json!(["not", "an", "object"]),
                400,
                "the body must be a JSON object of field values, such as {\"name\": \"Acme\"}",
            ),
        ];
        for (path, body, status, message) in cases {
            let (got, answer) = server.post(token, path, &body).await;
            assert_eq!(got, status, "{path} {body}: {answer}");
            assert_eq!(answer["error"], message, "{path} {body}");
        }
        let raw = server
            .client
            .post(server.endpoint("/api/v1/records/company"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body("{\"name\": ")
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status().as_u16(), 400);
        let body: Value = raw.json().await.unwrap();
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .starts_with("the body is not valid JSON"),
            "{body}"
        );

        let (status, body) = server.get(token, "/api/v1/records/company/abc").await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = server.get(token, "/api/v1/records/company/999").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("company 999 does not exist"))
        );
        let (status, body) = server
            .patch(
                token,
                &format!("/api/v1/records/company/{}", company["id"]),
                &json!({"category": "vip"}),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        let (status, body) = server.get(token, "/api/v1/records/company?limit=abc").await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = server
            .get(token, "/api/v1/records/company?sort=website")
            .await;
        assert_eq!(status, 422, "{body}");
        let (status, _) = server.get(token, "/api/v1/nothing-here").await;
        assert_eq!(status, 404);

        assert_eq!(
            count(&server, &admin, "company").await,
            1,
            "nothing was written"
        );
        assert_eq!(count(&server, &admin, "contact").await, 0);
        let (_, unchanged) = server
            .get(token, &format!("/api/v1/records/company/{}", company["id"]))
            .await;
        assert_eq!(unchanged["category"], "prospect");
    }
);

both_backends!(
    selections_count_page_and_query_over_http,
    |database: TestDatabase| async move {
        let (_, admin) = add_user(&database, "admin", "admin");
        let server = TestServer::start(&database);
        let token = Some(admin.as_str());
        for (name, category) in [("Ann", "prospect"), ("Bo", "lost"), ("Cy", "lost")] {
            server
                .post(
                    token,
                    "/api/v1/records/contact",
                    &json!({"last_name": name, "category": category}),
                )
                .await;
        }
        let (status, body) = server
            .get(
                token,
                "/api/v1/records/contact/count?filter=category%20%3D%20%22lost%22",
            )
            .await;
        assert_eq!((status, &body["count"]), (200, &json!(2)), "{body}");
        assert_eq!(body["filter"], "category = \"lost\"");
        let (status, body) = server.get(token, "/api/v1/records/contact?filter=category%20%3D%20%22lost%22&sort=last_name&order=desc").await;
        assert_eq!(status, 200);
        let names: Vec<&str> = body["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["last_name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Cy", "Bo"]);

        let (status, body) = server
        .post(token, "/api/v1/query/contact", &json!({"filter": {"field": "category", "op": "in", "value": ["prospect", "lost"]}, "limit": 2}))
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["count"], 3);
        assert_eq!(body["records"].as_array().unwrap().len(), 2);
        assert!(body["next_cursor"].is_string());
        let (_, body) = server
            .post(
                token,
                "/api/v1/query/contact",
                &json!({"filter": "last_name starts_with \"B\"", "count_only": true}),
            )
            .await;
        assert_eq!(body["count"], 1);
        assert!(body.get("records").is_none());

        let (status, body) = server
            .get(
                token,
                "/api/v1/records/contact/count?filter=categroy%20%3D%201",
            )
            .await;
        assert_eq!(status, 422);
        assert_eq!(
            body["error"],
            "1:1: unknown field `categroy` on contact; did you mean `category`?"
        );
        let (status, body) = server
            .post(
                token,
                "/api/v1/query/contact",
                &json!({"filter": {"field": "category", "op": "~", "value": 1}}),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("$."),
            "JSON errors name the path: {body}"
        );
        let (status, _) = server
            .get(token, "/api/v1/records/contact/count?scope=everything")
            .await;
        assert_eq!(status, 422);
        let (status, _) = server.get(None, "/api/v1/records/contact/count").await;
        assert_eq!(status, 401);
    }
);

both_backends!(
    saved_selections_and_snapshots_over_http,
    |database: TestDatabase| async move {
        let (_, admin) = add_user(&database, "admin", "admin");
        let (_, clerk) = add_user(&database, "clerk", "user");
        let server = TestServer::start(&database);
        let token = Some(admin.as_str());
        for (name, category) in [("A", "prospect"), ("B", "prospect"), ("C", "lost")] {
            server
                .post(
                    token,
                    "/api/v1/records/contact",
                    &json!({"last_name": name, "category": category}),
                )
                .await;
        }
        let (status, body) = server.post(token, "/api/v1/selections", &json!({"name": "prospects", "entity": "contact", "filter": "category = \"prospect\""})).await;
        assert_eq!((status, &body["count"]), (201, &json!(2)), "{body}");
        let (status, body) = server.post(token, "/api/v1/selections", &json!({"name": "lost", "entity": "contact", "filter": {"field": "category", "op": "=", "value": "lost"}})).await;
        assert_eq!((status, &body["count"]), (201, &json!(1)), "{body}");
        let (status, body) = server
            .post(
                token,
                "/api/v1/selections",
                &json!({"name": "all3", "entity": "contact", "union": ["prospects", "lost"]}),
            )
            .await;
        assert_eq!((status, &body["count"]), (201, &json!(3)), "{body}");
        let (_, body) = server.get(token, "/api/v1/selections/all3").await;
        assert_eq!(body["selection"]["kind"], "combined");
        let (_, body) = server
            .get(token, "/api/v1/selections/all3/records?limit=2")
            .await;
        assert_eq!(body["records"].as_array().unwrap().len(), 2);
        let (status, body) = server
            .post(
                token,
                "/api/v1/selections",
                &json!({"name": "x", "entity": "contact", "ids": [1], "filter": "all"}),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        let (status, _) = server
            .client
            .delete(server.endpoint("/api/v1/selections/lost"))
            .bearer_auth(&clerk)
            .send()
            .await
            .map(|r| (r.status().as_u16(), ()))
            .unwrap();
        assert_eq!(status, 403, "a user may not delete an admin's selection");
        let (status, _) = server
            .client
            .delete(server.endpoint("/api/v1/selections/lost"))
            .bearer_auth(&admin)
            .send()
            .await
            .map(|r| (r.status().as_u16(), ()))
            .unwrap();
        assert_eq!(status, 422, "in use by all3");
        // A saved selection that does not exist is not found, with what was probably meant.
        let (status, body) = server.get(token, "/api/v1/selections/prospect").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("not_found")),
            "{body}"
        );
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("did you mean `prospects`"),
            "{body}"
        );

        let (status, body) = server.post(token, "/api/v1/snapshots", &json!({"entity": "contact", "selection": "prospects", "all_matching": true, "include": [3], "exclude": [1], "note": "review"})).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["snapshot"]["member_count"], 2);
        let id = body["snapshot"]["id"].as_i64().unwrap();
        let (_, body) = server
            .get(token, &format!("/api/v1/snapshots/{id}/records"))
            .await;
        let ids: Vec<i64> = body["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, vec![2, 3]);
        let (status, _) = server.get(token, "/api/v1/snapshots/999").await;
        assert_eq!(status, 404);
        let (status, body) = server
            .post(
                Some(&clerk),
                "/api/v1/snapshots",
                &json!({"entity": "contact", "include": [42]}),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(
            body["error"],
            "these ticked contact ids are not active records: 42"
        );
    }
);

both_backends!(
    tokens_are_revoked_and_users_removed_over_http_as_the_policy_says,
    |database: TestDatabase| async move {
        let (_, admin) = add_user(&database, "ada", "admin");
        let (_, uma) = add_user(&database, "uma", "user");
        let (_, ole) = add_user(&database, "ole", "user");
        let server = TestServer::start(&database);

        // A user lists their own tokens, never the secret, and not someone else's.
        let (status, mine) = server.get(Some(&uma), "/api/v1/users/uma/tokens").await;
        assert_eq!(status, 200, "{mine}");
        assert_eq!(mine["tokens"].as_array().unwrap().len(), 1, "{mine}");
        assert!(!mine.to_string().contains(&uma), "no secret is listed");
        let token = mine["tokens"][0]["id"].as_i64().unwrap();
        let (status, body) = server.get(Some(&ole), "/api/v1/users/uma/tokens").await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = server
            .get(Some(&admin), "/api/v1/users/nobody/tokens")
            .await;
        assert_eq!(status, 404, "{body}");
        assert!(
            error_text(status, &body).contains("no user `nobody`"),
            "{body}"
        );

        // Someone else cannot revoke it; its owner can, once; then it stops working.
        let revoke = format!("/api/v1/tokens/{token}/revoke");
        let (status, body) = server.post(Some(&ole), &revoke, &json!({})).await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = server.post(Some(&uma), &revoke, &json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["token"]["revoked_at"].is_string(), "{body}");
        let (status, _) = server.get(Some(&uma), "/api/v1/me").await;
        assert_eq!(status, 401, "a revoked token no longer works");
        let (status, body) = server.post(Some(&admin), &revoke, &json!({})).await;
        assert_eq!(status, 409, "{body}");
        let (status, body) = server
            .post(Some(&admin), "/api/v1/tokens/99999/revoke", &json!({}))
            .await;
        assert_eq!(status, 404, "{body}");

        // Only an admin removes a user; the removed user's tokens stop working at once.
        let (status, body) = server.delete(Some(&ole), "/api/v1/users/ole").await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = server.delete(Some(&admin), "/api/v1/users/ole").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["tokens_revoked"], 1, "{body}");
        let (status, _) = server.get(Some(&ole), "/api/v1/me").await;
        assert_eq!(status, 401, "a removed user's token no longer works");
        let (status, body) = server.delete(Some(&admin), "/api/v1/users/nobody").await;
        assert_eq!(status, 404, "{body}");

        // The last admin stays, and says why.
        let (status, body) = server.delete(Some(&admin), "/api/v1/users/ada").await;
        assert_eq!(status, 409, "{body}");
        assert!(error_text(status, &body).contains("last admin"), "{body}");
        let (status, _) = server.get(Some(&admin), "/api/v1/me").await;
        assert_eq!(status, 200);

        // Both are in the history, with who did them.
        let (status, history) = server.get(Some(&admin), "/api/v1/history").await;
        assert_eq!(status, 200, "{history}");
        let actions: Vec<(&str, &str)> = history["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| {
                (
                    entry["action"].as_str().unwrap(),
                    entry["actor_name"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        assert!(actions.contains(&("token.revoked", "uma")), "{actions:?}");
        assert!(actions.contains(&("user.removed", "ada")), "{actions:?}");
    }
);
