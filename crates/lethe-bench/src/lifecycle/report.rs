//! The comparison printed at the end of a run: the check that Lethe and the hand-written SQL
//! changed the same rows, then the table of times, peaks and ratios and the read latencies.

use std::collections::BTreeMap;

use anyhow::ensure;
use serde_json::Value as Json;

use super::LifecycleArgs;

/// Per entity type, without zero entries.
fn counts(json: &Json, key: &str) -> BTreeMap<String, u64> {
    json.get(key)
        .and_then(Json::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(entity, count)| count.as_u64().map(|count| (entity.clone(), count)))
                .filter(|(_, count)| *count > 0)
                .collect()
        })
        .unwrap_or_default()
}

fn add_counts(
    left: &BTreeMap<String, u64>,
    right: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    let mut sum = left.clone();
    for (entity, count) in right {
        *sum.entry(entity.clone()).or_default() += count;
    }
    sum
}

fn check_same(
    what: &str,
    lethe: &BTreeMap<String, u64>,
    hand: &BTreeMap<String, u64>,
) -> anyhow::Result<()> {
    ensure!(
        lethe == hand,
        "{what}: Lethe changed {lethe:?}, the hand-written SQL {hand:?}"
    );
    eprintln!("{what}: the same rows changed on both sides: {lethe:?}");
    Ok(())
}

fn total(counts: &BTreeMap<String, u64>) -> u64 {
    counts.values().sum()
}

fn seconds_of(json: &Json, path: &[&str]) -> Option<f64> {
    number_at(json, path, "seconds")
}

fn peak_of(json: &Json, path: &[&str]) -> Option<f64> {
    number_at(json, path, "peak_mib")
}

/// The number under `name` in the object found by following `path` from `json`.
fn number_at(json: &Json, path: &[&str], name: &str) -> Option<f64> {
    let mut at = json;
    for key in path {
        at = at.get(key)?;
    }
    at.get(name).and_then(Json::as_f64)
}

fn fmt(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "–".to_owned(), |value| format!("{value:.digits$}"))
}

pub(super) fn report(backend: &str, args: &LifecycleArgs, results: &Json) -> anyhow::Result<()> {
    let lethe = results.get("lethe");
    let hand = results.get("hand");
    let hand_purge = results.get("hand-purge");
    let members = [lethe, hand, hand_purge]
        .into_iter()
        .flatten()
        .find_map(|side| side.get("members").and_then(Json::as_u64))
        .unwrap_or(0);
    let sample = [hand, hand_purge]
        .into_iter()
        .flatten()
        .find_map(|side| side.get("sample").and_then(Json::as_u64))
        .unwrap_or(args.sample);
    // Same data change on both sides, or the run fails.
    if let (Some(lethe), Some(hand)) = (lethe, hand) {
        for (lethe_op, hand_op) in [
            ("trash", "trash_one_transaction"),
            ("trash", "trash_batches"),
            ("restore", "restore_one_transaction"),
            ("restore", "restore_batches"),
            ("purge", "purge_one_transaction"),
        ] {
            let (Some(ours), Some(theirs)) = (lethe.get(lethe_op), hand.get(hand_op)) else {
                continue;
            };
            check_same(
                &format!("{lethe_op} / {hand_op} (records)"),
                &counts(ours, "counts"),
                &counts(theirs, "counts"),
            )?;
            if lethe_op == "purge" {
                check_same(
                    "purge / purge_one_transaction (links anonymised)",
                    &counts(ours, "rewritten"),
                    &counts(theirs, "rewritten"),
                )?;
            }
        }
    }
    if let (Some(lethe), Some(hand_purge)) = (lethe, hand_purge)
        && let (Some(ours), Some(one), Some(batches)) = (
            lethe.get("purge"),
            hand_purge.get("purge_one_at_a_time"),
            hand_purge.get("purge_batches"),
        )
    {
        check_same(
            "purge / one at a time + batches (records)",
            &counts(ours, "counts"),
            &add_counts(&counts(one, "counts"), &counts(batches, "counts")),
        )?;
        check_same(
            "purge / one at a time + batches (links anonymised)",
            &counts(ours, "rewritten"),
            &add_counts(&counts(one, "rewritten"), &counts(batches, "rewritten")),
        )?;
    }

    let extrapolate = |seconds: Option<f64>| {
        seconds.map(|seconds| seconds * members as f64 / sample.max(1) as f64)
    };
    println!(
        "\n{backend}: {members} contacts picked; Lethe batch size {} (purge {}); hand batches of {}; one at a time measured on {sample} contacts and extrapolated",
        args.lethe_batch.unwrap_or(if backend == "postgres" {
            lethe_store::DEFAULT_POSTGRES_BATCH_SIZE
        } else {
            lethe_store::DEFAULT_BATCH_SIZE
        }),
        args.lethe_batch
            .unwrap_or(lethe_store::DEFAULT_PURGE_BATCH_SIZE),
        args.hand_batch
    );
    println!(
        "| backend | operation | records changed | Lethe (s) | Lethe peak (MiB) | hand, one tx (s) | hand, batches (s) | fastest hand peak (MiB) | one at a time, extrapolated (s) | Lethe / fastest hand | one at a time / Lethe |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for operation in ["trash", "restore", "purge"] {
        let ours = lethe.and_then(|side| side.get(operation));
        let changed = ours.map(|ours| total(&counts(ours, "counts")));
        let lethe_time = lethe.and_then(|side| seconds_of(side, &[operation]));
        let lethe_peak = lethe.and_then(|side| peak_of(side, &[operation]));
        let (one_tx, one_tx_peak, batches, batches_peak, single) = match operation {
            "purge" => {
                let scale = |seconds: Option<f64>| {
                    let done = hand_purge
                        .and_then(|side| side.get("purge_batches"))
                        .and_then(|batch| batch.get("members_left"))
                        .and_then(Json::as_u64)
                        .unwrap_or(members);
                    seconds.map(|seconds| seconds * members as f64 / done.max(1) as f64)
                };
                (
                    hand.and_then(|side| seconds_of(side, &["purge_one_transaction"])),
                    hand.and_then(|side| peak_of(side, &["purge_one_transaction"])),
                    scale(hand_purge.and_then(|side| seconds_of(side, &["purge_batches"]))),
                    hand_purge.and_then(|side| peak_of(side, &["purge_batches"])),
                    extrapolate(
                        hand_purge.and_then(|side| seconds_of(side, &["purge_one_at_a_time"])),
                    ),
                )
            }
            _ => (
                hand.and_then(|side| seconds_of(side, &[&format!("{operation}_one_transaction")])),
                hand.and_then(|side| peak_of(side, &[&format!("{operation}_one_transaction")])),
                hand.and_then(|side| seconds_of(side, &[&format!("{operation}_batches")])),
                hand.and_then(|side| peak_of(side, &[&format!("{operation}_batches")])),
                extrapolate(
                    hand.and_then(|side| {
                        seconds_of(side, &[&format!("{operation}_one_at_a_time")])
                    }),
                ),
            ),
        };
        let (fastest, fastest_peak) = match (one_tx, batches) {
            (Some(a), Some(b)) if b < a => (Some(b), batches_peak),
            (Some(a), _) => (Some(a), one_tx_peak),
            (None, b) => (b, batches_peak),
        };
        let ratio = lethe_time.zip(fastest).map(|(ours, theirs)| ours / theirs);
        let speedup = lethe_time.zip(single).map(|(ours, theirs)| theirs / ours);
        println!(
            "| {backend} | {operation} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            changed.map_or_else(|| "–".to_owned(), |n| n.to_string()),
            fmt(lethe_time, 1),
            fmt(lethe_peak, 0),
            fmt(one_tx, 1),
            fmt(batches, 1),
            fmt(fastest_peak, 0),
            fmt(single, 0),
            fmt(ratio, 2),
            fmt(speedup, 1),
        );
    }
    if let Some(purge) = lethe.and_then(|side| side.get("purge")) {
        let batches = purge.get("batches_seconds").and_then(Json::as_f64);
        let physical = purge.get("physical_seconds").and_then(Json::as_f64);
        println!(
            "\nLethe purge: {} s in batches, {} s for the physical erasure (files, checkpoint/scan or VACUUM FULL) and finishing",
            fmt(batches, 1),
            fmt(physical, 1)
        );
        // Like with like: the data change against the hand data change, and the data change
        // plus the physical step against the hand SQL followed by its own physical step.
        let hand_one_tx = hand.and_then(|side| seconds_of(side, &["purge_one_transaction"]));
        let hand_physical = hand.and_then(|side| seconds_of(side, &["physical_after_purge"]));
        let what = hand
            .and_then(|side| side.get("physical_after_purge"))
            .and_then(|step| step.get("what"))
            .and_then(Json::as_str)
            .unwrap_or("–");
        let ratio = |ours: Option<f64>, theirs: Option<f64>| {
            ours.zip(theirs).map(|(ours, theirs)| ours / theirs)
        };
        let hand_total = hand_one_tx.zip(hand_physical).map(|(a, b)| a + b);
        let lethe_total = lethe.and_then(|side| seconds_of(side, &["purge"]));
        println!(
            "Hand-written physical step after its one-transaction purge ({what}): {} s. Batches alone / hand one transaction: {}; whole purge / (hand one transaction + its physical step, {} s): {}",
            fmt(hand_physical, 1),
            fmt(ratio(batches, hand_one_tx), 2),
            fmt(hand_total, 1),
            fmt(ratio(lethe_total, hand_total), 2),
        );
    }
    if let Some(live) = lethe.and_then(|side| side.get("liveness")) {
        println!(
            "\n| reads (GET /api/v1/records/contact/{{id}}) | requests | errors | p50 (ms) | p99 (ms) | max (ms) |"
        );
        println!("|---|---:|---:|---:|---:|---:|");
        for (label, key) in [
            ("idle", "idle"),
            ("during the purge (whole job)", "during_purge"),
            ("during the purge's batches", "during_batches"),
            ("during the physical erasure", "during_physical"),
        ] {
            if let Some(stats) = live.get(key) {
                println!(
                    "| {label} | {} | {} | {} | {} | {} |",
                    stats.get("requests").and_then(Json::as_u64).unwrap_or(0),
                    stats.get("errors").and_then(Json::as_u64).unwrap_or(0),
                    fmt(stats.get("p50_ms").and_then(Json::as_f64), 1),
                    fmt(stats.get("p99_ms").and_then(Json::as_f64), 1),
                    fmt(stats.get("max_ms").and_then(Json::as_f64), 1),
                );
            }
        }
    }
    Ok(())
}
