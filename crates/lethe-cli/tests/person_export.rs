//! Everything held about one person (GDPR Art. 15): `lethe person show` and `lethe person
//! export`, and the same zip over HTTP and from an access request's page, on a demo data set
//! with attachment files, on both backends. What it holds is checked against hand-written SQL
//! over every relation of the default schema (the person's contacts found by address,
//! ignoring case; records in the trash included); the files are the attachments' contents;
//! the history names no address; a person who does not exist, a bad address and a user who
//! is not an admin are refused clearly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::io::Read;

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

/// Every file of a zip, by name.
fn unzipped(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    (0..archive.len())
        .map(|index| {
            let mut file = archive.by_index(index).unwrap();
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).unwrap();
            (file.name().unwrap().into_owned(), bytes)
        })
        .collect()
}

fn ids_in(json: &[u8]) -> Vec<i64> {
    let records: Value = serde_json::from_slice(json).unwrap();
    let mut ids: Vec<i64> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

both_backends!(
    everything_held_about_a_person_is_gathered_into_one_zip,
    |database: TestDatabase| async move {
        let files = demo(&database, 300);
        // A person with an attachment of their own and tickets, and a second contact record
        // with the same address in other letters (a duplicate).
        let person = database
            .scalar(
                "SELECT c.id FROM contact c WHERE c.email IS NOT NULL \
                 AND EXISTS (SELECT 1 FROM attachment a WHERE a.owner_entity = 'contact' AND a.owner_id = c.id) \
                 ORDER BY c.id LIMIT 1",
            )
            .await;
        let record = lethe(
            &database,
            &["record", "get", "contact", &person.to_string(), "--json"],
        )
        .json();
        let address = record["email"].as_str().unwrap().to_owned();
        let shouted = address.to_uppercase();
        let twin = lethe(
            &database,
            &[
                "record",
                "create",
                "contact",
                &format!("email={shouted}"),
                "last_name=Twin",
                "--json",
            ],
        )
        .json()["id"]
            .as_i64()
            .unwrap();
        ok(&lethe(
            &database,
            &[
                "record",
                "create",
                "note",
                &format!("contact_id={twin}"),
                "body=about the twin",
            ],
        ));
        // One of their records in the trash: still held, so still in the export.
        ok(&lethe(
            &database,
            &["trash", "note", &format!("contact_id = {twin}"), "--yes"],
        ));
        let members = format!("{person},{twin}");
        let mut expected: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        expected.insert("contact".to_owned(), {
            let mut both = vec![person, twin];
            both.sort_unstable();
            both
        });
        for (entity, sql) in related_sql(&members, "1 = 1") {
            expected.insert(entity.to_owned(), database.integers(&sql).await);
        }
        assert_eq!(
            expected["note"].len() as i64,
            database
                .scalar(&format!(
                    "SELECT COUNT(*) FROM note WHERE contact_id IN ({members})"
                ))
                .await
        );

        // The count, without exporting: also what erasing them would reach.
        let shown = lethe(
            &database,
            &["person", "show", "--email", &address, "--json"],
        )
        .json();
        for (entity, ids) in &expected {
            assert_eq!(shown["records"][entity], ids.len(), "{entity}");
        }
        let words = ok(&lethe(
            &database,
            &["person", "show", "--contact", &twin.to_string()],
        ))
        .to_owned();
        assert!(words.contains("1 contact, 1 note."), "{words}");

        // The zip: a JSON document per entity, the files, a summary.
        let target = database.scratch_dir().join("person.zip");
        let run = lethe(
            &database,
            &[
                "person",
                "export",
                "--email",
                &format!("  {shouted} "),
                "-o",
                target.to_str().unwrap(),
            ],
        );
        assert!(
            ok(&run).starts_with("Wrote everything held about the person to "),
            "{}",
            run.stdout
        );
        let zip_bytes = std::fs::read(&target).unwrap();
        let inside = unzipped(&zip_bytes);
        for (entity, ids) in &expected {
            let json = &inside[&format!("{entity}.json")];
            assert_eq!(&ids_in(json), ids, "{entity}.json");
        }
        let contacts: Value = serde_json::from_slice(&inside["contact.json"]).unwrap();
        assert_eq!(
            contacts[0]["email"],
            address.as_str(),
            "every field as stored"
        );
        let attachments: Value = serde_json::from_slice(&inside["attachment.json"]).unwrap();
        let attachments = attachments.as_array().unwrap();
        assert!(!attachments.is_empty());
        for attachment in attachments {
            let key = attachment["storage_key"].as_str().unwrap();
            let on_disk = std::fs::read(files.join(key)).unwrap();
            let name = inside
                .keys()
                .find(|name| name.starts_with(&format!("files/attachment-{}-", attachment["id"])))
                .unwrap_or_else(|| panic!("no file for attachment {attachment}"));
            assert_eq!(inside[name], on_disk, "{name}");
            assert!(!name.contains(".."), "{name}");
        }
        let readme = String::from_utf8(inside["README.txt"].clone()).unwrap();
        assert!(readme.contains("access"), "{readme}");
        assert!(
            readme.contains(&format!("{} file(s)", attachments.len())),
            "{readme}"
        );
        assert!(readme.contains("note.json"), "{readme}");

        // The history: who and how many, never the address.
        let history = lethe(&database, &["history", "--json"]).json();
        let entry = history["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["action"] == "records.exported")
            .max_by_key(|entry| entry["seq"].as_i64())
            .unwrap()
            .clone();
        let text = entry.to_string();
        assert!(
            !text.to_lowercase().contains(&address.to_lowercase()),
            "{text}"
        );
        assert!(text.contains("hash:"), "{text}");
        assert_eq!(entry["details"]["records"], 2);
        assert_eq!(entry["details"]["related"]["note"], expected["note"].len());
        assert_eq!(entry["details"]["complete"], true);

        // Refusals: clear, and nothing written.
        for (args, words) in [
            (
                vec!["person", "show", "--email", "nobody@nowhere.example"],
                "no contact, active or in the trash, has this address",
            ),
            (
                vec!["person", "show", "--email", "not an address"],
                "is not an e-mail address",
            ),
            (
                vec!["person", "show", "--contact", "999999"],
                "contact 999999 does not exist",
            ),
        ] {
            let run = lethe(&database, &args);
            assert_ne!(run.status, 0, "{args:?}");
            assert!(run.stderr.contains(words), "{args:?}: {}", run.stderr);
        }
        add_user(&database, "ula", "user");
        let refused = database.scratch_dir().join("refused.zip");
        let run = lethe(
            &database,
            &[
                "person",
                "export",
                "--contact",
                &person.to_string(),
                "-o",
                refused.to_str().unwrap(),
                "--as",
                "ula",
            ],
        );
        assert_ne!(run.status, 0);
        assert!(
            run.stderr
                .contains("exporting everything held about a person"),
            "{}",
            run.stderr
        );
        assert!(!refused.exists());

        // Over HTTP, the same files (dated when each was made).
        let (_, admin) = add_user(&database, "ann", "admin");
        let server = TestServer::start(&database);
        let client = reqwest::Client::new();
        let answer = client
            .get(server.endpoint("/api/v1/person/export"))
            .bearer_auth(&admin)
            .query(&[("email", address.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.headers()["content-type"], "application/zip");
        let over_http = unzipped(&answer.bytes().await.unwrap());
        let without_readme = |files: &BTreeMap<String, Vec<u8>>| {
            files
                .iter()
                .filter(|(name, _)| *name != "README.txt")
                .map(|(name, bytes)| (name.clone(), bytes.clone()))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(without_readme(&over_http), without_readme(&inside));
        let (status, body) = server
            .get(Some(&admin), &format!("/api/v1/person?contact={twin}"))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["records"]["contact"], 1);
        assert_eq!(body["records"]["note"], 1);
        let (status, body) = server
            .get(
                Some(&admin),
                "/api/v1/person?email=nobody%40nowhere.example",
            )
            .await;
        assert_eq!(status, 404, "{body}");
        let (_, ula) = add_user(&database, "uma", "user");
        let (status, _) = server
            .get(Some(&ula), &format!("/api/v1/person?contact={twin}"))
            .await;
        assert_eq!(status, 403);

        // From an access request's page: what is held, counted, and the zip.
        let request = lethe(
            &database,
            &["request", "add", "--access", "--email", &address, "--json"],
        )
        .json();
        let id = request["request"]["id"].as_i64().unwrap();
        add_user_with_password(&database, "pia", "admin", "a long enough passphrase");
        let mut pages = PageClient::new(&server);
        pages.sign_in("pia", "a long enough passphrase").await;
        let (status, _, page) = pages.get(&format!("/requests/{id}")).await;
        assert_eq!(status, 200);
        assert!(page.contains(&format!("/requests/{id}/export")), "{page}");
        assert!(page.contains("What Lethe holds about them"), "{page}");
        let (status, headers, _) = pages.get(&format!("/requests/{id}/export")).await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "application/zip");
    }
);
