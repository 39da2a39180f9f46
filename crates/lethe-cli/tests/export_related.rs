//! `lethe export --related` and `related=true` downloads, through the real binary and server
//! on a demo data set, on both backends: besides the members, every record that points at
//! them through the schema's relations, directly or through others — checked against
//! hand-written SQL over every relation of the default schema — as NDJSON lines naming their
//! entity, or as a zip of one CSV file per entity; parents before children; counted per
//! entity in the history; the trash followed only when the export may show it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;

use serde_json::Value;
use support::{
    PageClient, TestDatabase, TestServer, add_user, add_user_with_password, both_backends, demo,
    lethe, related_sql,
};

fn ok(run: &support::Run) -> &str {
    assert_eq!(
        run.status, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    &run.stdout
}

/// NDJSON lines grouped by their `_entity`, in the order the entities came; each entity
/// comes in one run.
fn by_entity(text: &str) -> Vec<(String, Vec<Value>)> {
    let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
    for line in text.lines() {
        let mut record: Value = serde_json::from_str(line).unwrap();
        let entity = record["_entity"].as_str().unwrap().to_owned();
        record.as_object_mut().unwrap().remove("_entity");
        match groups.last_mut() {
            Some((last, records)) if *last == entity => records.push(record),
            _ => {
                assert!(
                    groups.iter().all(|(seen, _)| *seen != entity),
                    "{entity} comes in two runs"
                );
                groups.push((entity, vec![record]));
            }
        }
    }
    groups
}

/// The files of a zip, by name, in its order.
fn unzipped(bytes: &[u8]) -> Vec<(String, String)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    (0..archive.len())
        .map(|index| {
            let mut file = archive.by_index(index).unwrap();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut file, &mut text).unwrap();
            (file.name().unwrap().into_owned(), text)
        })
        .collect()
}

fn ids(records: &[Value]) -> Vec<i64> {
    let mut ids: Vec<i64> = records
        .iter()
        .map(|record| record["id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

/// Checks that the related records of an export (`groups` after the members') are those
/// the hand-written SQL finds from its members, every step in `state`.
async fn assert_related(database: &TestDatabase, groups: &[(String, Vec<Value>)], state: &str) {
    let members = list(&ids(&groups[0].1));
    let found: BTreeMap<&str, Vec<i64>> = groups[1..]
        .iter()
        .map(|(entity, records)| (entity.as_str(), ids(records)))
        .collect();
    for (entity, sql) in related_sql(&members, state) {
        let expected = database.integers(&sql).await;
        assert_eq!(
            found.get(entity).cloned().unwrap_or_default(),
            expected,
            "{entity}"
        );
    }
}

/// An SQL list of ids (`NULL` for none, which matches nothing).
fn list(ids: &[i64]) -> String {
    if ids.is_empty() {
        return "NULL".to_owned();
    }
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

both_backends!(
    an_export_with_related_records_holds_every_record_that_points_at_the_members,
    |database: TestDatabase| async move {
        demo(&database, 300);
        let lost = r#"category = "lost""#;
        let page = lethe(
            &database,
            &["select", "contact", lost, "--limit", "1000", "--json"],
        )
        .json();
        let members = page["records"].as_array().unwrap().clone();
        let m = list(&ids(&members));
        assert!(members.len() > 10, "{}", members.len());

        // NDJSON: the members first, as `select` shows them, then each related entity.
        let file = database.scratch_dir().join("lost.ndjson");
        let run = lethe(
            &database,
            &[
                "export",
                "contact",
                lost,
                "--related",
                "--format",
                "ndjson",
                "-o",
                file.to_str().unwrap(),
                "--json",
            ],
        );
        let summary: Value = serde_json::from_str(ok(&run)).unwrap();
        let written = std::fs::read_to_string(&file).unwrap();
        let groups = by_entity(&written);
        assert_eq!(groups[0].0, "contact");
        assert_eq!(groups[0].1, members);
        assert_eq!(summary["records"], members.len());
        let found: BTreeMap<&str, Vec<i64>> = groups[1..]
            .iter()
            .map(|(entity, records)| (entity.as_str(), ids(records)))
            .collect();
        let mut reached = 0;
        for (entity, sql) in related_sql(&m, "trash_batch_id IS NULL") {
            let expected = database.integers(&sql).await;
            let exported = found.get(entity).cloned().unwrap_or_default();
            assert_eq!(exported, expected, "{entity}");
            assert_eq!(summary["related"][entity], expected.len(), "{entity}");
            reached += usize::from(!expected.is_empty());
        }
        assert!(
            reached >= 8,
            "the demo data reaches most entities: {found:?}"
        );
        assert!(
            !found.contains_key("company"),
            "parents are not related records"
        );
        let place = |entity: &str| groups.iter().position(|(name, _)| name == entity);
        for (parent, child) in [
            ("ticket", "ticket_comment"),
            ("deal", "attachment"),
            ("project", "time_entry"),
        ] {
            if let (Some(parent), Some(child)) = (place(parent), place(child)) {
                assert!(parent < child, "{parent} before {child}");
            }
        }
        // Each related record is written as the records API shows it.
        let (_, tickets) = groups.iter().find(|(name, _)| name == "ticket").unwrap();
        let one = &tickets[0];
        let shown = lethe(
            &database,
            &["record", "get", "ticket", &one["id"].to_string(), "--json"],
        )
        .json();
        for (name, value) in one.as_object().unwrap() {
            assert_eq!(&shown[name.as_str()], value, "ticket.{name}");
        }

        // The history counts the related records per entity, and holds no value.
        let history = lethe(&database, &["history", "--json"]).json();
        let entry = history["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["action"] == "records.exported")
            .max_by_key(|entry| entry["seq"].as_i64())
            .unwrap()
            .clone();
        assert_eq!(entry["details"]["related"], summary["related"]);
        assert_eq!(entry["details"]["records"], members.len());
        assert_eq!(entry["details"]["complete"], true);

        // CSV: a zip of one file per entity, in the same order, with the same records.
        let zipped = database.scratch_dir().join("lost.zip");
        let run = lethe(
            &database,
            &[
                "export",
                "contact",
                lost,
                "--related",
                "-o",
                zipped.to_str().unwrap(),
            ],
        );
        assert!(
            ok(&run).contains("related record(s)") && ok(&run).contains("as a zip of CSV files"),
            "{}",
            run.stdout
        );
        let bytes = std::fs::read(&zipped).unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.clone())).unwrap();
        let names: Vec<String> = archive
            .file_names()
            .map(|name| name.unwrap().into_owned())
            .collect();
        let expected_names: Vec<String> = std::iter::once("contact".to_owned())
            .chain(
                related_sql(&m, "1 = 1")
                    .iter()
                    .map(|(e, _)| (*e).to_owned()),
            )
            .map(|entity| format!("{entity}.csv"))
            .collect();
        let mut sorted_names = names.clone();
        sorted_names.sort();
        let mut sorted_expected = expected_names.clone();
        sorted_expected.sort();
        assert_eq!(
            sorted_names, sorted_expected,
            "a file for every entity, empty or not"
        );
        for (entity, records) in &groups {
            let mut text = String::new();
            std::io::Read::read_to_string(
                &mut archive.by_name(&format!("{entity}.csv")).unwrap(),
                &mut text,
            )
            .unwrap();
            let mut reader = csv::Reader::from_reader(text.as_bytes());
            let in_csv: Vec<i64> = reader
                .records()
                .map(|row| row.unwrap()[0].parse().unwrap())
                .collect();
            let mut sorted = in_csv.clone();
            sorted.sort_unstable();
            assert_eq!(in_csv, sorted, "{entity}.csv in id order");
            assert_eq!(sorted, ids(records), "{entity}.csv");
        }

        // The API sends the same bytes, as a zip or NDJSON download.
        let (_, admin) = add_user(&database, "ann", "admin");
        let server = TestServer::start(&database);
        let client = reqwest::Client::new();
        for (format, expected, media) in [
            (
                "ndjson",
                written.as_bytes().to_vec(),
                "application/x-ndjson",
            ),
            ("csv", bytes, "application/zip"),
        ] {
            let answer = client
                .get(server.endpoint("/api/v1/export/contact"))
                .bearer_auth(&admin)
                .query(&[("filter", lost), ("format", format), ("related", "true")])
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200);
            assert_eq!(answer.headers()["content-type"], media);
            let disposition = answer.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .to_owned();
            let extension = if format == "csv" {
                ".zip\""
            } else {
                ".ndjson\""
            };
            assert!(disposition.ends_with(extension), "{disposition}");
            let body = answer.bytes().await.unwrap();
            if format == "ndjson" {
                assert_eq!(
                    body.to_vec(),
                    expected,
                    "the same bytes as the command line"
                );
            } else {
                // The same files as the command line's zip (dated when each export ran).
                assert_eq!(unzipped(&body), unzipped(&expected));
            }
        }
        let answer = client
            .get(server.endpoint("/api/v1/export/contact"))
            .bearer_auth(&admin)
            .query(&[("related", "perhaps")])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400);

        // On the pages: the bulk bar's "with related records" downloads the frozen pick
        // with them; the recycle bin offers a batch with its related records as a zip.
        add_user_with_password(&database, "pia", "admin", "a long enough passphrase");
        let mut pages = PageClient::new(&server);
        pages.sign_in("pia", "a long enough passphrase").await;
        let (_, _, records_page) = pages.get("/records/contact").await;
        assert!(records_page.contains("export-ndjson-related"));
        let token = PageClient::form_token(&records_page);
        let (status, headers, _) = pages
            .post(
                "/records/contact/bulk",
                &[
                    ("form_token", token.as_str()),
                    ("filter", lost),
                    ("all_matching", "1"),
                    ("except", ""),
                    ("action", "export-ndjson-related"),
                ],
            )
            .await;
        assert_eq!(status, 303);
        let location = headers["location"].to_str().unwrap().to_owned();
        assert!(
            location.ends_with("/export?format=ndjson&related=true"),
            "{location}"
        );
        let (status, _, body) = pages.get(&location).await;
        assert_eq!(status, 200);
        assert_eq!(body, written, "the frozen pick with its related records");

        // A deletion batch: the members in the trash, and what points at them in any state
        // (their cascade children went to the trash with them).
        let trashed = lethe(&database, &["trash", "contact", lost, "--yes", "--json"]).json();
        let batch = trashed["job"]["batch_id"].as_i64().unwrap();
        let in_batch = database
            .integers(&format!(
                "SELECT id FROM contact WHERE trash_batch_id = {batch}"
            ))
            .await;
        assert!(!in_batch.is_empty());
        let run = lethe(
            &database,
            &[
                "export",
                "contact",
                "--batch",
                &batch.to_string(),
                "--related",
                "--format",
                "ndjson",
            ],
        );
        let groups = by_entity(ok(&run));
        assert_eq!(ids(&groups[0].1), in_batch);
        assert_related(&database, &groups, "1 = 1").await;
        let trashed_tickets = database
            .scalar(&format!(
                "SELECT COUNT(*) FROM ticket WHERE trash_batch_id = {batch}"
            ))
            .await;
        assert!(trashed_tickets > 0, "the trash's children are exported too");
        let (_, _, bin) = pages.get("/recycle-bin").await;
        let link = format!("/batches/{batch}/export?format=csv&amp;related=true");
        assert!(bin.contains(&link), "{bin}");
        let (status, headers, _) = pages.get(&link.replace("&amp;", "&")).await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "application/zip");
        // Of active records only, a related record in the trash is not followed.
        let run = lethe(
            &database,
            &["export", "contact", lost, "--related", "--format", "ndjson"],
        );
        let groups = by_entity(ok(&run));
        assert_related(&database, &groups, "trash_batch_id IS NULL").await;
    }
);
