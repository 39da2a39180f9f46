//! Webhook deliveries by [`WebhookSender`] to a real HTTP receiver (an axum server on a free
//! port in this test) that records what arrives, and can fail, be slow, redirect, or be shut
//! down; the signature checked as a receiver would with [`verify_signature`].

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::IntoResponse;
use axum::routing::post;
use lethe_notify::{SendError, SignatureError, WebhookSender, verify_signature};

const SECRET: &[u8] = b"whsec_0123456789abcdef";
const NOW: i64 = 1_760_000_000;
const BODY: &[u8] = br#"{"event":"purge.finished","batch":42,"records":1204}"#;

/// A request as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}

/// An HTTP receiver on 127.0.0.1: `/hook` takes deliveries (204), `/fail` answers 500,
/// `/busy` 429, `/late` 408, `/gone` 410, `/throttled` 503 with `Retry-After: 90`, `/paused`
/// 429 with a `Retry-After` that is not a wait, `/slow` takes 5 s, `/moved` redirects to `/hook`
/// with 308 (which a client that followed would POST again); any other path is 404.
struct Receiver {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let record = {
            let received = Arc::clone(&received);
            move |status: StatusCode| {
                let received = Arc::clone(&received);
                move |uri: Uri, headers: HeaderMap, body: Bytes| async move {
                    received.lock().unwrap().push(Received {
                        path: uri.path().to_owned(),
                        headers,
                        body: body.to_vec(),
                    });
                    status
                }
            }
        };
        let app = Router::new()
            .route("/hook", post(record(StatusCode::NO_CONTENT)))
            .route("/fail", post(record(StatusCode::INTERNAL_SERVER_ERROR)))
            .route("/busy", post(record(StatusCode::TOO_MANY_REQUESTS)))
            .route("/late", post(record(StatusCode::REQUEST_TIMEOUT)))
            .route("/gone", post(record(StatusCode::GONE)))
            .route(
                "/throttled",
                post(|| async {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [(header::RETRY_AFTER, "90")],
                    )
                        .into_response()
                }),
            )
            .route(
                "/paused",
                post(|| async {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [(header::RETRY_AFTER, "whenever")],
                    )
                        .into_response()
                }),
            )
            .route(
                "/slow",
                post(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    StatusCode::NO_CONTENT
                }),
            )
            .route(
                "/moved",
                post(|| async {
                    (
                        StatusCode::PERMANENT_REDIRECT,
                        [(header::LOCATION, "/hook")],
                    )
                        .into_response()
                }),
            )
            .fallback(record(StatusCode::NOT_FOUND));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Receiver {
            base,
            received,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Stops listening; connecting is then refused.
    async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .expect("the receiver stops")
                .unwrap();
        }
    }
}

fn sender() -> WebhookSender {
    WebhookSender::new(Duration::from_secs(10))
}

async fn deliver(sender: &WebhookSender, url: &str) -> Result<(), SendError> {
    sender
        .send(url, SECRET, "purge.finished", 7, BODY, NOW)
        .await
}

fn transient(result: Result<(), SendError>) -> String {
    match result {
        Err(SendError::Transient(text)) => text,
        other => panic!("expected a transient failure, got {other:?}"),
    }
}

fn permanent(result: Result<(), SendError>) -> String {
    match result {
        Err(SendError::Permanent(text)) => text,
        other => panic!("expected a permanent failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_delivery_arrives_with_its_headers_and_a_signature_the_receiver_accepts() {
    let receiver = Receiver::start().await;
    deliver(&sender(), &receiver.url("/hook")).await.unwrap();

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let delivery = &received[0];
    assert_eq!(delivery.path, "/hook");
    assert_eq!(delivery.body, BODY);
    assert_eq!(delivery.header("content-type"), "application/json");
    assert_eq!(delivery.header("lethe-event"), "purge.finished");
    assert_eq!(delivery.header("lethe-delivery"), "7");
    assert!(delivery.header("user-agent").starts_with("Lethe/"));
    let signature = delivery.header("lethe-signature");
    assert!(
        signature.starts_with(&format!("t={NOW},v1=")),
        "{signature}"
    );
    assert_eq!(
        verify_signature(SECRET, signature, &delivery.body, NOW + 5, 300),
        Ok(())
    );
}

#[tokio::test]
async fn the_signature_fails_for_a_changed_body_a_wrong_secret_and_an_old_timestamp() {
    let receiver = Receiver::start().await;
    deliver(&sender(), &receiver.url("/hook")).await.unwrap();
    let delivery = &receiver.received()[0];
    let signature = delivery.header("lethe-signature");

    let mut changed = delivery.body.clone();
    changed[10] ^= 0x20;
    assert_eq!(
        verify_signature(SECRET, signature, &changed, NOW, 300),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_signature(b"another secret", signature, &delivery.body, NOW, 300),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_signature(SECRET, signature, &delivery.body, NOW + 3600, 300),
        Err(SignatureError::OutsideTolerance {
            timestamp: NOW,
            now: NOW + 3600,
            distance: 3600,
            tolerance: 300,
        })
    );
}

#[tokio::test]
async fn a_server_error_is_transient_and_names_the_url_and_the_answer() {
    let receiver = Receiver::start().await;
    let url = receiver.url("/fail");
    let text = transient(deliver(&sender(), &url).await);
    assert_eq!(
        text,
        format!("the webhook at {url} answered 500 Internal Server Error")
    );
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn too_many_requests_and_request_timeout_are_transient() {
    let receiver = Receiver::start().await;
    let text = transient(deliver(&sender(), &receiver.url("/busy")).await);
    assert!(text.ends_with("answered 429 Too Many Requests"), "{text}");
    let text = transient(deliver(&sender(), &receiver.url("/late")).await);
    assert!(text.ends_with("answered 408 Request Timeout"), "{text}");
}

#[tokio::test]
async fn a_receiver_that_asks_to_wait_is_told_apart_and_a_wait_that_is_no_wait_is_ignored() {
    let receiver = Receiver::start().await;
    let url = receiver.url("/throttled");
    let error = deliver(&sender(), &url).await.unwrap_err();
    assert!(error.is_transient());
    assert_eq!(error.asked_wait(), Some(Duration::from_secs(90)));
    assert_eq!(
        error.to_string(),
        format!("the webhook at {url} answered 503 Service Unavailable and asked to wait 90 s")
    );
    // A header that names no wait leaves a plain transient failure.
    let text = transient(deliver(&sender(), &receiver.url("/paused")).await);
    assert!(text.ends_with("answered 429 Too Many Requests"), "{text}");
}

#[tokio::test]
async fn not_found_and_gone_are_permanent() {
    let receiver = Receiver::start().await;
    let url = receiver.url("/nowhere");
    let text = permanent(deliver(&sender(), &url).await);
    assert_eq!(text, format!("the webhook at {url} answered 404 Not Found"));
    let text = permanent(deliver(&sender(), &receiver.url("/gone")).await);
    assert!(text.ends_with("answered 410 Gone"), "{text}");
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_is_transient() {
    let receiver = Receiver::start().await;
    let url = receiver.url("/slow");
    let sender = WebhookSender::new(Duration::from_millis(300));
    let text = transient(deliver(&sender, &url).await);
    assert_eq!(
        text,
        format!("the webhook at {url} did not answer within 300 ms")
    );
}

#[tokio::test]
async fn a_redirect_is_permanent_and_not_followed() {
    let receiver = Receiver::start().await;
    let url = receiver.url("/moved");
    let text = permanent(deliver(&sender(), &url).await);
    assert!(
        text.starts_with(&format!(
            "the webhook at {url} answered 308 Permanent Redirect, redirecting to /hook"
        )),
        "{text}"
    );
    assert!(receiver.received().is_empty(), "the redirect was followed");
}

#[tokio::test]
async fn a_receiver_that_was_shut_down_is_transient() {
    let mut receiver = Receiver::start().await;
    let sender = sender();
    let url = receiver.url("/hook");
    deliver(&sender, &url).await.unwrap();
    receiver.stop().await;
    let text = transient(deliver(&sender, &url).await);
    assert_eq!(text, format!("the webhook at {url} refused the connection"));
}

#[tokio::test]
async fn an_https_url_reaches_for_tls_and_a_plain_server_is_transient() {
    let receiver = Receiver::start().await;
    let url = receiver.url("/hook").replacen("http://", "https://", 1);
    let text = transient(deliver(&sender(), &format!("{url}?token=s3cret")).await);
    assert!(
        text.starts_with(&format!("TLS with the webhook at {url} failed: ")),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn bad_urls_and_event_names_are_permanent_and_nothing_is_sent() {
    let receiver = Receiver::start().await;
    let sender = sender();
    let text = permanent(deliver(&sender, "not a url").await);
    assert!(
        text.starts_with("`not a url` is not a webhook URL"),
        "{text}"
    );
    let text = permanent(deliver(&sender, "ftp://example.org/hook").await);
    assert!(
        text.contains("must start with https:// or http://"),
        "{text}"
    );
    let text = permanent(
        sender
            .send(&receiver.url("/hook"), SECRET, "a\nb", 1, BODY, NOW)
            .await,
    );
    assert!(text.contains("cannot be sent in a header"), "{text}");
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn messages_leave_out_passwords_and_query_strings() {
    let receiver = Receiver::start().await;
    let url = receiver
        .url("/fail?token=s3cret")
        .replacen("http://", "http://user:pa55@", 1);
    let text = transient(deliver(&sender(), &url).await);
    assert!(!text.contains("s3cret") && !text.contains("pa55"), "{text}");
    assert_eq!(
        text,
        format!(
            "the webhook at {} answered 500 Internal Server Error",
            receiver.url("/fail")
        )
    );
}
