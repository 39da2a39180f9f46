//! Samples of the monitors' components, for the check that each derived component matches
//! values of its type.

use std::collections::BTreeMap;

use lethe_store::{Monitor, MonitorHit, MonitorHits, MonitorRun};
use serde_json::Value;

use super::{at, to_values};

pub(super) fn monitor_samples(samples: &mut BTreeMap<&'static str, Vec<Value>>) {
    let monitor = |enabled: bool| Monitor {
        id: 1,
        name: "stale-watch".to_owned(),
        selection: "stale".to_owned(),
        entity: "contact".to_owned(),
        schedule: "0 8 * * *".to_owned(),
        time_zone: "Europe/Oslo".to_owned(),
        schedule_words: "At 08:00 (Europe/Oslo)".to_owned(),
        notify_on_leave: enabled,
        owner: enabled.then(|| "ann".to_owned()),
        enabled,
        subscribers: if enabled {
            vec!["ann".to_owned()]
        } else {
            Vec::new()
        },
        members: 12,
        next_run_at: enabled.then(|| at(60)),
        changed_by: enabled.then(|| "ann".to_owned()),
        changed_at: at(0),
        created_at: at(0),
    };
    samples.insert("Monitor", to_values([monitor(true), monitor(false)]));
    let run = |kind: &str, done: bool| MonitorRun {
        id: 7,
        monitor: "stale-watch".to_owned(),
        kind: kind.to_owned(),
        due_at: (kind == "scheduled").then(|| at(60)),
        state: if done { "done" } else { "due" }.to_owned(),
        entered: 3,
        left: 1,
        notified: 2,
        actor: "operator".to_owned(),
        claimed_at: at(60),
        done_at: done.then(|| at(61)),
    };
    let runs = [
        run("baseline", true),
        run("run", true),
        run("scheduled", false),
    ];
    samples.insert("MonitorRun", to_values(runs.clone()));
    let hits = vec![
        MonitorHit {
            record_id: 12,
            change: "entered".to_owned(),
        },
        MonitorHit {
            record_id: 15,
            change: "left".to_owned(),
        },
    ];
    samples.insert("MonitorHit", to_values(hits.clone()));
    samples.insert(
        "MonitorHits",
        to_values([
            MonitorHits {
                run: runs[1].clone(),
                hits,
                next_after: Some(15),
            },
            MonitorHits {
                run: runs[0].clone(),
                hits: Vec::new(),
                next_after: None,
            },
        ]),
    );
}
