//! A webhook receiver for tests: an HTTP server on 127.0.0.1 answering `/hook` with the
//! status it is told to give, and keeping what it was sent. A 503 says `Retry-After: 120`,
//! as a receiver that is being maintained would.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;

/// A webhook receiver on 127.0.0.1 answering with the status it is told to give.
pub struct Receiver {
    pub url: String,
    /// The status the next request is answered with.
    pub status: Arc<AtomicU16>,
    received: Arc<Mutex<Vec<(HeaderMap, Bytes, u16)>>>,
}

impl Receiver {
    pub async fn start(status: u16) -> Receiver {
        let answer = Arc::new(AtomicU16::new(status));
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().route(
            "/hook",
            post({
                let answer = Arc::clone(&answer);
                let received = Arc::clone(&received);
                move |headers: HeaderMap, body: Bytes| async move {
                    let status = answer.load(Ordering::SeqCst);
                    received.lock().unwrap().push((headers, body, status));
                    let code = StatusCode::from_u16(status).unwrap();
                    if code == StatusCode::SERVICE_UNAVAILABLE {
                        (code, [(header::RETRY_AFTER, "120")]).into_response()
                    } else {
                        code.into_response()
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            url,
            status: answer,
            received,
        }
    }

    /// Every request so far: its headers, its body and the status it was answered with.
    pub fn received(&self) -> Vec<(HeaderMap, Bytes, u16)> {
        self.received.lock().unwrap().clone()
    }
}
