//! The read load run against Lethe's HTTP server during the benchmark: paced readers of
//! random active contacts, and their latencies summed up as percentiles.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

/// A bounded read load: `readers` tasks, each one request at a time with a pause between.
#[derive(Clone)]
pub(super) struct Load {
    pub(super) base: String,
    pub(super) token: String,
    pub(super) ids: Arc<Vec<i64>>,
    pub(super) readers: usize,
    pub(super) pause: Duration,
}

/// When a request started (since the load started), its latency (`None`: it failed).
pub(super) type Sample = (Duration, Option<Duration>);

/// The most requests one run keeps.
const MAX_REQUESTS: usize = 500_000;

impl Load {
    pub(super) async fn run(
        &self,
        stop: Arc<AtomicBool>,
        limit: Duration,
    ) -> anyhow::Result<Vec<Sample>> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for reader in 0..self.readers {
            let (client, load, stop) = (client.clone(), self.clone(), stop.clone());
            tasks.spawn(async move {
                let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ ((reader as u64 + 1) << 17);
                let mut samples = Vec::new();
                while !stop.load(Ordering::Relaxed)
                    && started.elapsed() < limit
                    && samples.len() < MAX_REQUESTS / load.readers.max(1)
                {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let id = load.ids[(state % load.ids.len() as u64) as usize];
                    let at = started.elapsed();
                    let sent = Instant::now();
                    let answer = client
                        .get(format!("{}/api/v1/records/contact/{id}", load.base))
                        .bearer_auth(&load.token)
                        .send()
                        .await;
                    let ok = match answer {
                        Ok(answer) if answer.status().is_success() => answer.bytes().await.is_ok(),
                        _ => false,
                    };
                    samples.push((at, ok.then(|| sent.elapsed())));
                    tokio::time::sleep(load.pause).await;
                }
                samples
            });
        }
        let mut all = Vec::new();
        while let Some(samples) = tasks.join_next().await {
            all.extend(samples?);
        }
        Ok(all)
    }
}

fn idle_errors(samples: &[Sample]) -> usize {
    samples.iter().filter(|sample| sample.1.is_none()).count()
}

fn latency_json(samples: impl Iterator<Item = Option<Duration>>, errors: usize) -> Json {
    let mut ok: Vec<Duration> = samples.flatten().collect();
    ok.sort();
    let at = |quantile: f64| {
        (!ok.is_empty()).then(|| {
            let index = ((ok.len() as f64 * quantile).ceil() as usize).clamp(1, ok.len()) - 1;
            (ok[index].as_secs_f64() * 10_000.0).round() / 10.0
        })
    };
    json!({
        "requests": ok.len() + errors,
        "errors": errors,
        "p50_ms": at(0.5),
        "p99_ms": at(0.99),
        "max_ms": ok.last().map(|max| (max.as_secs_f64() * 10_000.0).round() / 10.0),
    })
}

/// The latency summary of one run's samples, its failed requests counted as errors.
pub(super) fn samples_json(samples: &[Sample]) -> Json {
    latency_json(samples.iter().map(|sample| sample.1), idle_errors(samples))
}
