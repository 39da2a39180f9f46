//! The README's tour, run as written: every shell command of the "A short tour" section,
//! pasted into bash in an empty folder with the `lethe` under test first on the `PATH`, one
//! after the other, with nobody at the keyboard (stdin is empty, so a command that asks a
//! question fails). A command whose comment starts with `# error` must fail; every other
//! must succeed. Only two things are changed from the text: `cargo` lines are skipped (the
//! binary is built already) and the server's port 8080 becomes a free one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

/// The shell commands of the README section headed `heading`, in order, with continued
/// lines joined.
fn commands_of(readme: &str, heading: &str) -> Vec<String> {
    let start = readme
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("the README has no section `{heading}`"));
    let section = &readme[start + 4..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in section.lines() {
        if line.starts_with("```") {
            in_block = line == "```sh";
            continue;
        }
        if !in_block || line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(continued) => {
                pending.push_str(continued);
                pending.push(' ');
            }
            None => {
                pending.push_str(line);
                commands.push(std::mem::take(&mut pending));
            }
        }
    }
    commands
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn the_readme_tour_runs_as_written() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .expect("read the README");
    let commands: Vec<String> = commands_of(&readme, "A short tour")
        .into_iter()
        .filter(|command| !command.starts_with("cargo "))
        .collect();
    assert!(commands.len() > 40, "the tour was not read: {commands:?}");
    let port = free_port().to_string();

    // One script: each command with its output kept apart, then its exit status.
    let folder = tempfile::tempdir().expect("a scratch folder");
    let mut script = String::from("set -u\ntrap 'kill $(jobs -p) 2>/dev/null' EXIT\n");
    for (index, command) in commands.iter().enumerate() {
        let command = command.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
        script.push_str(&format!(
            "{{ {command}\n}} >out.{index} 2>err.{index} </dev/null\necho \"{index} $?\" >>statuses\n"
        ));
    }
    let binary_dir = Path::new(env!("CARGO_BIN_EXE_lethe"))
        .parent()
        .expect("the binary's folder");
    let path = format!(
        "{}:{}",
        binary_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut shell = Command::new("timeout");
    shell
        .args(["600", "bash", "-c", &script])
        .current_dir(folder.path())
        .env("PATH", path)
        .env("HOME", folder.path())
        .stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("LETHE_") {
            shell.env_remove(name);
        }
    }
    let finished = shell.output().expect("run bash");
    let statuses = std::fs::read_to_string(folder.path().join("statuses")).unwrap_or_default();
    let read = |name: String| std::fs::read_to_string(folder.path().join(name)).unwrap_or_default();

    let mut failures = Vec::new();
    for (index, command) in commands.iter().enumerate() {
        let status = statuses
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{index} ")))
            .map(str::to_owned);
        let expect_error = command
            .split_once("  #")
            .is_some_and(|(_, comment)| comment.trim_start().starts_with("error"));
        let good = match status.as_deref() {
            Some("0") => !expect_error,
            Some(_) => expect_error,
            None => false,
        };
        if !good {
            failures.push(format!(
                "`{command}` exited {status:?}{}:\n{}{}",
                if expect_error {
                    " (it should fail)"
                } else {
                    ""
                },
                read(format!("out.{index}")),
                read(format!("err.{index}"))
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} tour commands went wrong (bash exited {:?}; {}):\n\n{}",
        failures.len(),
        commands.len(),
        finished.status.code(),
        String::from_utf8_lossy(&finished.stderr),
        failures.join("\n\n")
    );

    // The tour's numbers line up: the company it updates is the one it made, and the batch,
    // job and purge numbers it names are the ones its own commands made.
    let output_of = |start: &str| {
        let index = commands
            .iter()
            .position(|command| command.starts_with(start))
            .unwrap_or_else(|| panic!("no tour command starts with `{start}`"));
        read(format!("out.{index}"))
    };
    let company = output_of("lethe --db tour.db record get company");
    assert!(
        company.contains("Nordlys AS") && company.contains("https://nordlys.example"),
        "{company}"
    );
    let job = output_of("lethe --db tour.db job show 1");
    assert!(
        job.contains("trash"),
        "job 1 is the tour's first trash: {job}"
    );
    let cancelled = output_of("lethe --db tour.db purge cancel 4");
    assert!(cancelled.contains('4'), "{cancelled}");
    let verified = output_of("lethe --db tour.db history --verify");
    assert!(!verified.is_empty(), "the history check says what it found");
}

#[test]
fn tour_commands_are_read_with_continued_lines_joined() {
    let readme = "intro\n## A short tour\ntext\n```sh\nlethe a   # comment\n# a comment line\ncurl -s \\\n     -d x\n```\n```text\nnot a command\n```\n## Next\n```sh\nlethe b\n```\n";
    assert_eq!(
        commands_of(readme, "A short tour"),
        vec![
            "lethe a   # comment".to_owned(),
            "curl -s       -d x".to_owned()
        ]
    );
}
