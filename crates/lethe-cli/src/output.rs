//! Printing results and errors. With `--json` every command prints exactly one JSON document
//! on stdout, and errors are one JSON object with an `error` field on stderr.

use std::process::ExitCode;

use lethe_store::{ErrorClass, StoreError};
use serde_json::json;

pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,sqlx=warn",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LETHE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Prints `value` as the one JSON document of a `--json` run.
pub fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".to_owned())
    );
}

/// Reports a failed command and chooses the exit code: 2 for a problem with the input, 1 for
/// a fault.
pub fn report_error(json: bool, error: &anyhow::Error) -> ExitCode {
    let store_error = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<StoreError>());
    let (code, exit) = match store_error {
        Some(store_error)
            if !matches!(
                store_error.class(),
                ErrorClass::Internal | ErrorClass::Unavailable
            ) =>
        {
            (store_error.code(), 2)
        }
        Some(store_error) => (store_error.code(), 1),
        None => ("error", if error.is::<UsageError>() { 2 } else { 1 }),
    };
    // The store's own message is the one users act on; context added on the way out goes
    // first so they see where it happened.
    let message = error
        .chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    if json {
        let field = store_error.and_then(StoreError::field);
        eprintln!(
            "{}",
            json!({"error": message, "code": code, "field": field})
        );
    } else {
        eprintln!("error: {message}");
    }
    ExitCode::from(exit)
}

/// A mistake in how a command was called, found after parsing.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Prints a page of records: one JSON document with `--json`, else one record per line and
/// the cursor of the next page on stderr.
pub fn print_page(json: bool, page: &lethe_store::Page) {
    let records: Vec<serde_json::Value> =
        page.records.iter().map(|record| record.to_json()).collect();
    if json {
        print_json(&json!({"records": records, "next_cursor": page.next_cursor}));
        return;
    }
    for record in &records {
        println!("{record}");
    }
    match &page.next_cursor {
        Some(next) => eprintln!("more: --cursor {next}"),
        None => eprintln!("({} record(s), end of list)", records.len()),
    }
}

/// A progress bar's rate as people read it: `1,265/s`, whole items per second (indicatif's
/// own `{per_sec}` prints `1,265.4077/s`).
pub fn rate_key(state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write) {
    let _ = write!(out, "{}/s", thousands(state.per_sec().round() as u64));
}

/// `1265` as `1,265`.
pub fn thousands(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod rate_tests {
    #[test]
    fn rates_read_as_whole_numbers_with_separators() {
        assert_eq!(super::thousands(1_265), "1,265");
        assert_eq!(super::thousands(12), "12");
        assert_eq!(super::thousands(1_000_000), "1,000,000");
    }
}
