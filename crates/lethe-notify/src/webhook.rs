//! Webhooks: one signed JSON POST to a receiver's URL, and what its answer means.
//!
//! A 2xx answer is a delivery. 408, 429 and 5xx say "not now"; any other 4xx says this
//! request will never be taken. Redirects are never followed: the signature covers the body,
//! not where it goes, and following a redirect would send it to a place no admin chose, so a
//! receiver that redirects is told to fix its URL ([`SendError::Permanent`]).
//!
//! Messages name the URL without its user name, password, query and fragment, where
//! receivers often put tokens.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use crate::{SendError, causes, describe_duration, has_io_error, innermost, signature_header};

/// Sends webhook deliveries. One sender keeps its connections open between deliveries, so
/// make one and share it (it is cheap to clone).
#[derive(Debug, Clone)]
pub struct WebhookSender {
    /// The HTTP client, or why none could be made (every send then fails with that reason).
    client: Result<reqwest::Client, String>,
    timeout: Duration,
}

impl WebhookSender {
    /// A sender that gives every delivery `timeout`, from connecting to the end of the
    /// receiver's answer. It follows no redirects and uses no proxy.
    pub fn new(timeout: Duration) -> WebhookSender {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .no_proxy()
            .user_agent(concat!("Lethe/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| causes(&error));
        WebhookSender { client, timeout }
    }

    /// POSTs `body` (JSON bytes) to `url` with headers: `Content-Type: application/json`,
    /// `Lethe-Event: <event>`, `Lethe-Delivery: <delivery_id>`, `Lethe-Signature:
    /// t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` (see
    /// [`signature_header`]), signed at `now_unix`.
    pub async fn send(
        &self,
        url: &str,
        secret: &[u8],
        event: &str,
        delivery_id: i64,
        body: &[u8],
        now_unix: i64,
    ) -> Result<(), SendError> {
        let parsed = Url::parse(url.trim()).map_err(|error| {
            SendError::Permanent(format!("`{url}` is not a webhook URL: {error}"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SendError::Permanent(format!(
                "`{}` is not a webhook URL: it must start with https:// or http://",
                shown(&parsed)
            )));
        }
        let shown = shown(&parsed);
        let event = HeaderValue::from_str(event).map_err(|_| {
            SendError::Permanent(format!(
                "the event name `{}` cannot be sent in a header: use letters, digits and punctuation",
                event.escape_debug()
            ))
        })?;
        let signature = HeaderValue::from_str(&signature_header(secret, now_unix, body))
            .map_err(|error| SendError::Permanent(format!("the signature header: {error}")))?;
        let client = self.client.as_ref().map_err(|why| {
            SendError::Transient(format!("the HTTP client could not be set up: {why}"))
        })?;
        let request = client
            .post(parsed)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("Lethe-Event", event)
            .header("Lethe-Delivery", delivery_id)
            .header("Lethe-Signature", signature)
            .body(body.to_vec());
        let answer = match request.send().await {
            Ok(answer) => answer,
            Err(error) => return Err(self.unreachable(&shown, &error)),
        };
        let headers = answer.headers();
        judge(&shown, answer.status(), headers.get(LOCATION)).map_err(|error| {
            match (error, headers.get(RETRY_AFTER).and_then(asked_wait)) {
                (SendError::Transient(message), Some(wait)) => SendError::Busy {
                    message: format!("{message} and asked to wait {}", describe_duration(wait)),
                    wait,
                },
                (error, _) => error,
            }
        })
    }

    /// Why no answer came.
    fn unreachable(&self, shown: &str, error: &reqwest::Error) -> SendError {
        if error.is_timeout() {
            return SendError::Transient(format!(
                "the webhook at {shown} did not answer within {}",
                describe_duration(self.timeout)
            ));
        }
        if has_io_error(error, std::io::ErrorKind::ConnectionRefused) {
            return SendError::Transient(format!("the webhook at {shown} refused the connection"));
        }
        // reqwest's own text repeats the whole URL, query included: keep the cause only.
        let detail = innermost(error);
        if error.is_builder() {
            return SendError::Permanent(format!(
                "the request to the webhook at {shown} cannot be made: {detail}"
            ));
        }
        if shown.starts_with("https:") && has_io_error(error, std::io::ErrorKind::InvalidData) {
            return SendError::Transient(format!(
                "TLS with the webhook at {shown} failed: {detail}"
            ));
        }
        if error.is_connect() {
            return SendError::Transient(format!(
                "the webhook at {shown} could not be reached: {detail}"
            ));
        }
        SendError::Transient(format!(
            "the delivery to the webhook at {shown} failed: {detail}"
        ))
    }
}

/// What the receiver's answer means.
fn judge(shown: &str, status: StatusCode, location: Option<&HeaderValue>) -> Result<(), SendError> {
    if status.is_success() {
        return Ok(());
    }
    if status.is_redirection() {
        let target = location
            .and_then(|location| location.to_str().ok())
            .map(|location| format!(" to {location}"))
            .unwrap_or_default();
        return Err(SendError::Permanent(format!(
            "the webhook at {shown} answered {status}, redirecting{target}; Lethe does not follow redirects for webhooks: set the webhook's URL to where the receiver is"
        )));
    }
    let answered = format!("the webhook at {shown} answered {status}");
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        return Err(SendError::Transient(answered));
    }
    if status.is_client_error() {
        return Err(SendError::Permanent(answered));
    }
    // 1xx as a final answer is not HTTP; try again.
    Err(SendError::Transient(answered))
}

/// The wait a `Retry-After` header asks for: a number of seconds, or an HTTP date (a date
/// already past asks for no wait). None when it is neither.
fn asked_wait(header: &HeaderValue) -> Option<Duration> {
    let text = header.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// The URL without user name, password, query and fragment.
fn shown(url: &Url) -> String {
    let mut shown = url.clone();
    // Both fail only for URLs that cannot have them (no host), which are left as they are.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: u16) -> &'static str {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
        match judge("http://h/", status, None) {
            Ok(()) => "delivered",
            Err(SendError::Transient(_) | SendError::Busy { .. }) => "transient",
            Err(SendError::Permanent(_)) => "permanent",
        }
    }

    #[test]
    fn answers_are_delivered_transient_or_permanent() {
        for status in [200, 201, 202, 204] {
            assert_eq!(kind(status), "delivered", "{status}");
        }
        for status in [408, 429, 500, 502, 503, 504] {
            assert_eq!(kind(status), "transient", "{status}");
        }
        for status in [301, 302, 303, 307, 308, 400, 401, 403, 404, 410, 413, 422] {
            assert_eq!(kind(status), "permanent", "{status}");
        }
    }

    #[test]
    fn a_redirect_says_where_it_pointed() {
        let location = HeaderValue::from_static("https://new.example.org/hook");
        let error = judge(
            "http://old.example.org/hook",
            StatusCode::MOVED_PERMANENTLY,
            Some(&location),
        );
        let text = error
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(
            text.contains(
                "answered 301 Moved Permanently, redirecting to https://new.example.org/hook"
            ),
            "{text}"
        );
    }

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let wait = |text: &'static str| asked_wait(&HeaderValue::from_static(text));
        assert_eq!(wait("120"), Some(Duration::from_secs(120)));
        assert_eq!(wait(" 0 "), Some(Duration::ZERO));
        assert_eq!(wait("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        let later =
            httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3_600));
        let asked =
            asked_wait(&HeaderValue::from_str(&later).unwrap_or(HeaderValue::from_static("x")));
        assert!(
            asked
                .is_some_and(|asked| asked > Duration::from_secs(3_500)
                    && asked <= Duration::from_secs(3_600)),
            "{later}: {asked:?}"
        );
        assert_eq!(wait("soon"), None);
        assert_eq!(wait("-5"), None);
    }

    #[test]
    fn urls_in_messages_leave_out_credentials_and_query() {
        let url = Url::parse("https://user:pw@hooks.example.org:8443/in/abc?token=s3cret#x");
        let text = url.map(|url| shown(&url)).unwrap_or_default();
        assert_eq!(text, "https://hooks.example.org:8443/in/abc");
    }
}
