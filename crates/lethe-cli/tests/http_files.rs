//! Records that are files (attachments), over real HTTP and the real binary: created with a
//! multipart upload or `--file`, stored under a key Lethe picks with the size it measured,
//! read back as a download; a client can never write where a file lives or how large it is,
//! so no purge can be made to remove another record's file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use support::*;

/// Uploads `content` as an attachment of `owner` with a multipart request.
async fn upload(
    server: &TestServer,
    token: &str,
    fields: Value,
    file_name: &str,
    content: &[u8],
) -> (u16, Value) {
    let form = reqwest::multipart::Form::new()
        .text("record", fields.to_string())
        .part(
            "file",
            reqwest::multipart::Part::bytes(content.to_vec()).file_name(file_name.to_owned()),
        );
    respond(
        server
            .client
            .post(server.endpoint("/api/v1/records/attachment"))
            .bearer_auth(token)
            .multipart(form),
    )
    .await
}

async fn download(server: &TestServer, token: &str, id: i64) -> (u16, Vec<u8>, String) {
    let response = server
        .client
        .get(server.endpoint(&format!("/api/v1/records/attachment/{id}/file")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let disposition = response
        .headers()
        .get("content-disposition")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        status,
        response.bytes().await.unwrap().to_vec(),
        disposition,
    )
}

/// Every file below `folder`.
fn files_in(folder: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_in(&path));
        } else {
            found.push(path);
        }
    }
    found
}

both_backends!(
    an_attachment_is_uploaded_with_its_file_and_read_back,
    |database: TestDatabase| async move {
        let (_, clerk) = add_user(&database, "clerk", "user");
        let server = TestServer::start(&database);
        let folder = database.scratch_dir().join("files");
        let contact = server
            .create(&clerk, "contact", json!({"last_name": "Owner"}))
            .await;
        let content: Vec<u8> = (0..300_000u32).map(|n| (n % 251) as u8).collect();
        let (status, created) = upload(
            &server,
            &clerk,
            json!({"owner_entity": "contact", "owner_id": contact}),
            "Kontrakt Åse.pdf",
            &content,
        )
        .await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["file_name"], "Kontrakt Åse.pdf", "{created}");
        assert_eq!(created["size_bytes"], content.len(), "measured: {created}");
        let key = created["storage_key"].as_str().unwrap();
        assert!(key.starts_with("attachment/"), "Lethe's key: {key}");
        assert_eq!(std::fs::read(folder.join(key)).unwrap(), content);
        let id = created["id"].as_i64().unwrap();
        let (status, bytes, disposition) = download(&server, &clerk, id).await;
        assert_eq!(status, 200);
        assert_eq!(bytes, content);
        assert!(
            disposition.contains("filename*=UTF-8''Kontrakt%20%C3%85se.pdf"),
            "{disposition}"
        );

        // Where the file lives and its size are never a client's to write.
        let (status, body) = server
            .post(
                Some(&clerk),
                "/api/v1/records/attachment",
                &json!({"owner_entity": "contact", "owner_id": contact, "file_name": "x", "size_bytes": 1, "storage_key": "k"}),
            )
            .await;
        let message = error_text(status, &body);
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("file_required")),
            "{body}"
        );
        assert!(message.contains("multipart"), "{message}");
        for (field, value) in [("storage_key", json!(key)), ("size_bytes", json!(1))] {
            let (status, body) = server
                .patch(
                    Some(&clerk),
                    &format!("/api/v1/records/attachment/{id}"),
                    &json!({field: value}),
                )
                .await;
            let message = error_text(status, &body);
            assert_eq!(status, 422, "{body}");
            assert_eq!(body["code"], "read_only_field", "{body}");
            assert_eq!(body["field"], field, "{body}");
            assert!(message.contains("decided by Lethe"), "{message}");
            let (status, body) = upload(
                &server,
                &clerk,
                json!({"owner_entity": "contact", "owner_id": contact, field: value}),
                "x.txt",
                b"x",
            )
            .await;
            assert_eq!(
                (status, &body["code"]),
                (422, &json!("read_only_field")),
                "{body}"
            );
        }
        // Bad uploads are refused clearly and leave no file behind.
        for (fields, code) in [
            (
                json!({"owner_entity": "contact", "owner_id": 999_999}),
                "missing_reference",
            ),
            (
                json!({"owner_entity": "nobody", "owner_id": contact}),
                "invalid_value",
            ),
            (json!({"owner_entity": "contact"}), "missing_required"),
        ] {
            let (status, body) = upload(&server, &clerk, fields, "y.txt", b"y").await;
            assert_eq!((status, &body["code"]), (422, &json!(code)), "{body}");
        }
        let form = reqwest::multipart::Form::new()
            .text("record", "{}")
            .text("extra", "?");
        let (status, body) = respond(
            server
                .client
                .post(server.endpoint("/api/v1/records/attachment"))
                .bearer_auth(&clerk)
                .multipart(form),
        )
        .await;
        assert!(error_text(status, &body).contains("unknown part"), "{body}");
        let form = reqwest::multipart::Form::new().text(
            "record",
            json!({"owner_entity": "contact", "owner_id": contact}).to_string(),
        );
        let (status, body) = respond(
            server
                .client
                .post(server.endpoint("/api/v1/records/attachment"))
                .bearer_auth(&clerk)
                .multipart(form),
        )
        .await;
        assert!(
            error_text(status, &body).contains("no `file` part"),
            "{body}"
        );
        assert_eq!(
            files_in(&folder),
            vec![folder.join(key)],
            "only the one upload"
        );
        let (status, body) = server
            .get(
                Some(&clerk),
                &format!("/api/v1/records/contact/{contact}/file"),
            )
            .await;
        assert!(error_text(status, &body).contains("not files"), "{body}");
    }
);

both_backends!(
    a_purge_removes_only_the_erased_records_files,
    |database: TestDatabase| async move {
        let (_, admin) = add_user(&database, "admin", "admin");
        let (_, clerk) = add_user(&database, "clerk", "user");
        let server = TestServer::start_with_env(&database, &[("LETHE_PURGE_MIN_GRACE", "0s")]);
        let erased = server
            .create(&clerk, "contact", json!({"last_name": "Erased"}))
            .await;
        let kept = server
            .create(&clerk, "contact", json!({"last_name": "Kept"}))
            .await;
        let (_, mine) = upload(
            &server,
            &clerk,
            json!({"owner_entity": "contact", "owner_id": erased}),
            "mine.txt",
            b"erase me",
        )
        .await;
        let (_, theirs) = upload(
            &server,
            &clerk,
            json!({"owner_entity": "contact", "owner_id": kept}),
            "theirs.txt",
            b"keep me",
        )
        .await;
        // The hostile move of issue 14: point the erased record at the kept record's file.
        let (status, _) = server
            .patch(
                Some(&clerk),
                &format!("/api/v1/records/attachment/{}", mine["id"]),
                &json!({"storage_key": theirs["storage_key"]}),
            )
            .await;
        assert_eq!(status, 422);
        let companies = server
            .snapshot(
                &admin,
                json!({"entity": "attachment", "include": [theirs["id"]]}),
            )
            .await;
        let (status, body) = server
            .post(
                Some(&admin),
                "/api/v1/update",
                &json!({"snapshot_id": companies, "changes": {"storage_key": mine["storage_key"]}}),
            )
            .await;
        assert_eq!(
            (status, &body["code"]),
            (422, &json!("read_only_field")),
            "{body}"
        );

        let snapshot = server
            .snapshot(&admin, json!({"entity": "contact", "include": [erased]}))
            .await;
        let job = server
            .accepted(&admin, "/api/v1/trash", &json!({"snapshot_id": snapshot}))
            .await;
        let job = server
            .wait_for_job(&admin, job["id"].as_i64().unwrap())
            .await;
        let purge = server
            .accepted(
                &admin,
                &format!("/api/v1/batches/{}/purge", job["batch_id"]),
                &json!({"grace_seconds": 0}),
            )
            .await;
        let purge = server
            .wait_for_job(&admin, purge["id"].as_i64().unwrap())
            .await;
        let files = &purge["receipt"]["files"];
        assert_eq!(files["removed"], 1, "{files}");
        assert_eq!(
            files["removed_by_entity"],
            json!({"attachment": 1}),
            "{files}"
        );
        let folder = database.scratch_dir().join("files");
        assert!(!folder.join(mine["storage_key"].as_str().unwrap()).exists());
        let (status, bytes, _) = download(&server, &clerk, theirs["id"].as_i64().unwrap()).await;
        assert_eq!((status, bytes.as_slice()), (200, &b"keep me"[..]));
    }
);

both_backends!(
    the_cli_keeps_a_file_it_is_given_and_refuses_a_key,
    |database: TestDatabase| async move {
        let contact = lethe(
            &database,
            &["record", "create", "contact", "last_name=Owner", "--json"],
        )
        .json()["id"]
            .as_i64()
            .unwrap();
        let owner = format!("owner_id={contact}");
        let create_attachment = |more: &[&str]| {
            let mut args = vec![
                "record",
                "create",
                "attachment",
                "owner_entity=contact",
                &owner,
            ];
            args.extend_from_slice(more);
            args.push("--json");
            lethe(&database, &args)
        };
        let source = database.scratch_dir().join("offer.pdf");
        std::fs::write(&source, vec![1u8; 4096]).unwrap();
        let run = create_attachment(&["--file", source.to_str().unwrap()]);
        assert_eq!(run.status, 0, "{}", run.stderr);
        let created = run.json();
        assert_eq!(created["file_name"], "offer.pdf", "{created}");
        assert_eq!(created["size_bytes"], 4096, "{created}");
        let key = created["storage_key"].as_str().unwrap();
        let kept = database.scratch_dir().join("files").join(key);
        assert_eq!(std::fs::read(kept).unwrap(), vec![1u8; 4096]);

        let id = created["id"].to_string();
        let run = lethe(
            &database,
            &[
                "record",
                "update",
                "attachment",
                &id,
                "storage_key=elsewhere",
                "--json",
            ],
        );
        assert_eq!(run.status, 2, "{}", run.stderr);
        assert!(
            run.error_json()["error"]
                .as_str()
                .unwrap()
                .contains("decided by Lethe"),
            "{}",
            run.stderr
        );
        let run = create_attachment(&["file_name=x"]);
        assert_eq!(run.status, 2, "{}", run.stderr);
        assert!(run.stderr.contains("--file PATH"), "{}", run.stderr);
        let missing = database.scratch_dir().join("nope.pdf");
        let run = create_attachment(&["--file", missing.to_str().unwrap()]);
        assert_eq!(run.status, 2, "{}", run.stderr);
        assert!(run.stderr.contains("cannot read"), "{}", run.stderr);
    }
);
