//! Attachments: the attachment rows and the small text files they describe.
//!
//! The files are real, so that the consolidated table's file volumes and the erasure of
//! attachment blobs after a purge (SPEC §6) have something to measure and delete. They are a few
//! hundred bytes of fake text each. Generating a file's contents is pure (it is part of the
//! chunk); writing it is a separate step, [`write_files`], so that generation stays testable
//! without a disk.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use lethe_store::Value;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::enums::AttachmentOwner;
use crate::places::ascii_slug;
use crate::plan::{DAY, NextIds, Plan};
use crate::random::{between, pick};
use crate::tables::{Chunk, Kind};
use crate::words::SENTENCES;

/// The directory inside the files directory that holds every demo file, so that demo files
/// can never collide with files uploaded later.
const DEMO_DIRECTORY: &str = "demo";
/// Files per subdirectory, so that no directory grows to tens of thousands of entries.
const FILES_PER_DIRECTORY: i64 = 1_000;

/// A file to write below the files directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DemoFile {
    /// The path relative to the files directory, with `/` separators; also the attachment's
    /// `storage_key`.
    pub(crate) storage_key: String,
    pub(crate) contents: String,
}

/// The record an attachment belongs to.
#[derive(Debug)]
pub(crate) struct Owner<'a> {
    pub(crate) entity: AttachmentOwner,
    pub(crate) id: i64,
    pub(crate) created_age: i64,
    /// A person's name to put in the file name ("cv-anna-berg.txt"); file names are personal
    /// data in the schema, and a name in them makes their anonymisation visible.
    pub(crate) name_hint: Option<&'a str>,
}

/// What kind of document a file is.
#[derive(Debug)]
struct FileKind {
    stem: &'static str,
    extension: &'static str,
    title: &'static str,
}

fn kinds_for(owner: AttachmentOwner) -> &'static [FileKind] {
    match owner {
        AttachmentOwner::Contact => &[
            FileKind {
                stem: "cv",
                extension: "txt",
                title: "Curriculum vitae",
            },
            FileKind {
                stem: "meeting-notes",
                extension: "md",
                title: "Meeting notes",
            },
            FileKind {
                stem: "business-card",
                extension: "txt",
                title: "Business card",
            },
            FileKind {
                stem: "signed-consent",
                extension: "txt",
                title: "Consent form",
            },
            FileKind {
                stem: "questionnaire",
                extension: "csv",
                title: "Questionnaire",
            },
        ],
        AttachmentOwner::Company => &[
            FileKind {
                stem: "company-profile",
                extension: "md",
                title: "Company profile",
            },
            FileKind {
                stem: "price-agreement",
                extension: "txt",
                title: "Price agreement",
            },
            FileKind {
                stem: "org-chart",
                extension: "txt",
                title: "Organisation chart",
            },
        ],
        AttachmentOwner::Deal => &[
            FileKind {
                stem: "offer",
                extension: "txt",
                title: "Offer",
            },
            FileKind {
                stem: "quote",
                extension: "csv",
                title: "Quote",
            },
            FileKind {
                stem: "contract-draft",
                extension: "md",
                title: "Contract draft",
            },
        ],
        AttachmentOwner::Ticket => &[
            FileKind {
                stem: "error-log",
                extension: "txt",
                title: "Error log",
            },
            FileKind {
                stem: "screenshot-description",
                extension: "txt",
                title: "What the screen showed",
            },
        ],
        AttachmentOwner::Invoice => &[
            FileKind {
                stem: "invoice-copy",
                extension: "csv",
                title: "Invoice copy",
            },
            FileKind {
                stem: "payment-reminder",
                extension: "txt",
                title: "Payment reminder",
            },
        ],
        AttachmentOwner::Project => &[
            FileKind {
                stem: "project-plan",
                extension: "md",
                title: "Project plan",
            },
            FileKind {
                stem: "timesheet",
                extension: "csv",
                title: "Timesheet",
            },
            FileKind {
                stem: "status-report",
                extension: "md",
                title: "Status report",
            },
        ],
    }
}

/// Adds an attachment row for `owner` and the file it describes.
pub(crate) fn attach(
    plan: &Plan,
    rng: &mut ChaCha8Rng,
    owner: &Owner<'_>,
    next_ids: &mut NextIds,
    chunk: &mut Chunk,
) {
    let id = next_ids.take(Kind::Attachment);
    let kind = pick(rng, kinds_for(owner.entity));
    let created_age = between(
        rng,
        (owner.created_age - 120 * DAY).max(0),
        owner.created_age,
    );
    let year = plan.year(created_age);
    let file_name = match owner.name_hint {
        Some(name) => format!("{}-{}.{}", kind.stem, ascii_slug(name, "-"), kind.extension),
        None => format!("{}-{year}.{}", kind.stem, kind.extension),
    };
    let contents = file_contents(rng, kind, year);
    let storage_key = format!(
        "{DEMO_DIRECTORY}/{:04}/{id:08}.{}",
        id / FILES_PER_DIRECTORY,
        kind.extension
    );
    chunk.push(
        Kind::Attachment,
        plan.builtin(id, created_age, created_age),
        [
            owner.entity.value(),
            Value::Integer(owner.id),
            Value::Text(file_name),
            Value::Integer(contents.len() as i64),
            Value::Text(storage_key.clone()),
        ],
    );
    chunk.files.push(DemoFile {
        storage_key,
        contents,
    });
}

/// A few hundred bytes of text that look like the document the file name promises.
fn file_contents(rng: &mut ChaCha8Rng, kind: &FileKind, year: i32) -> String {
    let mut text = String::with_capacity(512);
    // Writing into a String cannot fail.
    if kind.extension == "csv" {
        let _ = writeln!(text, "date,item,quantity,amount");
        for _ in 0..rng.random_range(4..9) {
            let _ = writeln!(
                text,
                "{year}-{:02}-{:02},{},{},{}.{:02}",
                rng.random_range(1..=12),
                rng.random_range(1..=28),
                pick(rng, crate::words::DEAL_PRODUCTS),
                rng.random_range(1..20),
                rng.random_range(50..20_000),
                rng.random_range(0..100)
            );
        }
    } else {
        let heading = if kind.extension == "md" { "# " } else { "" };
        let _ = writeln!(text, "{heading}{} ({year})\n", kind.title);
        for _ in 0..rng.random_range(3..6) {
            let _ = writeln!(text, "{}", pick(rng, SENTENCES));
        }
    }
    text
}

/// How much [`write_files`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FilesWritten {
    pub(crate) files: u64,
    pub(crate) bytes: u64,
}

/// Writes a chunk's files below `files_dir`, creating subdirectories as needed.
pub(crate) fn write_files(files_dir: &Path, files: &[DemoFile]) -> anyhow::Result<FilesWritten> {
    let mut written = FilesWritten::default();
    // Files of a chunk come in id order, so consecutive files share a directory; creating it
    // once per run of files saves a system call per file.
    let mut last_directory: Option<PathBuf> = None;
    for file in files {
        let path = files_dir.join(&file.storage_key);
        if let Some(directory) = path.parent()
            && last_directory.as_deref() != Some(directory)
        {
            std::fs::create_dir_all(directory)
                .with_context(|| format!("creating the directory {}", directory.display()))?;
            last_directory = Some(directory.to_path_buf());
        }
        std::fs::write(&path, &file.contents)
            .with_context(|| format!("writing the demo file {}", path.display()))?;
        written.files += 1;
        written.bytes += file.contents.len() as u64;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::{SeedKey, Stream};
    use time::macros::datetime;

    #[test]
    fn an_attachment_row_describes_the_file_it_comes_with() {
        let plan = Plan::new(100, 5, datetime!(2025-06-01 0:00 UTC), None);
        let mut rng = SeedKey::from_seed(5).stream(Stream::Contact, 1);
        let mut next_ids = NextIds::new();
        let mut chunk = Chunk::new();
        let owner = Owner {
            entity: AttachmentOwner::Contact,
            id: 1,
            created_age: 400 * DAY,
            name_hint: Some("Anna Sjöberg"),
        };
        attach(&plan, &mut rng, &owner, &mut next_ids, &mut chunk);

        let row = &chunk.table(Kind::Attachment).rows[0];
        let file = &chunk.files[0];
        assert_eq!(row[4], Value::Text("contact".to_owned()));
        assert_eq!(row[5], Value::Integer(1));
        let Value::Text(file_name) = &row[6] else {
            panic!("file name is text")
        };
        assert!(file_name.contains("anna-sjoberg"), "{file_name}");
        assert_eq!(row[7], Value::Integer(file.contents.len() as i64));
        assert_eq!(row[8], Value::Text(file.storage_key.clone()));
        assert!(
            (100..1_000).contains(&file.contents.len()),
            "{} bytes",
            file.contents.len()
        );
    }

    #[test]
    fn files_are_written_below_the_files_directory() {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let files = vec![
            DemoFile {
                storage_key: "demo/0000/00000001.txt".to_owned(),
                contents: "one".to_owned(),
            },
            DemoFile {
                storage_key: "demo/0001/00001000.txt".to_owned(),
                contents: "two!".to_owned(),
            },
        ];
        let written = write_files(directory.path(), &files).expect("files are written");
        assert_eq!(written, FilesWritten { files: 2, bytes: 7 });
        let read = std::fs::read_to_string(directory.path().join("demo/0001/00001000.txt"))
            .expect("the file exists");
        assert_eq!(read, "two!");
    }
}
