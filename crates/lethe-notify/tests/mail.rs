//! E-mail sent by [`Mailer`] to a real SMTP server (aiosmtpd, through lethe-testkit's
//! `SmtpSink`), read back as that server received it and as Python's `email` package decodes
//! it; refusals, deferrals, a wrong password, a slow server and a stopped one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use lethe_notify::{Mailer, SendError, SmtpSettings, SmtpTls};
use lethe_testkit::smtp::SmtpSink;

fn settings_for(sink: &SmtpSink) -> SmtpSettings {
    SmtpSettings {
        host: sink.host().to_owned(),
        port: sink.port(),
        tls: SmtpTls::None,
        username: None,
        password: None,
        from: "Lethe <lethe@example.org>".to_owned(),
        timeout: Duration::from_secs(10),
    }
}

fn mailer_for(sink: &SmtpSink) -> Mailer {
    Mailer::new(&settings_for(sink)).unwrap()
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
async fn an_email_arrives_with_its_subject_recipient_sender_and_utf8_text() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let text = "Bonjour Zoë,\n\nLa purge « Clients 2019 » est terminée : 1 204 fiches effacées.\n\
                Ελληνικά, 日本語, emoji 🧹.\n";
    mailer_for(&sink)
        .send("Zoë Admin <zoe@example.com>", "Purge terminée ✓", text)
        .await
        .unwrap();

    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let mail = &messages[0];
    assert_eq!(mail.mail_from, "lethe@example.org");
    assert_eq!(mail.rcpt_tos, ["zoe@example.com"]);
    assert_eq!(mail.subject, "Purge terminée ✓");
    assert_eq!(mail.from, "Lethe <lethe@example.org>");
    assert_eq!(mail.to, "Zoë Admin <zoe@example.com>");
    assert_eq!(mail.content_type, "text/plain");
    assert_eq!(mail.charset.as_deref(), Some("utf-8"));
    // Line ends travel as CRLF and come back as the sender wrote them.
    assert_eq!(
        mail.text
            .as_deref()
            .map(|body| body.replace("\r\n", "\n"))
            .as_deref(),
        Some(text)
    );
    assert!(mail.date.is_some(), "no Date: {}", mail.raw);
    let message_id = mail.message_id.as_deref().unwrap_or_default();
    assert!(
        message_id.starts_with('<') && message_id.ends_with('>') && message_id.contains('@'),
        "Message-ID {message_id:?}"
    );
    assert_eq!(mail.login, None);
    // Seven-bit clean on the wire: the non-ASCII text is encoded, not sent raw.
    assert!(mail.raw.is_ascii(), "{}", mail.raw);
}

#[tokio::test]
async fn each_email_gets_a_message_id_of_its_own() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let mailer = mailer_for(&sink);
    mailer.send("a@example.com", "one", "1").await.unwrap();
    mailer.send("b@example.com", "two", "2").await.unwrap();
    let messages = sink.messages();
    assert_eq!(messages.len(), 2);
    assert_ne!(messages[0].message_id, messages[1].message_id);
    assert_eq!(messages[1].rcpt_tos, ["b@example.com"]);
}

#[tokio::test]
async fn every_try_of_one_message_carries_its_message_id() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let mailer = mailer_for(&sink);
    for _ in 0..2 {
        mailer
            .send_identified(
                "lethe.delivery.7.1765000000000000",
                "a@example.com",
                "one",
                "1",
            )
            .await
            .unwrap();
    }
    mailer
        .send_identified(
            "lethe.delivery.8.1765000000000000",
            "a@example.com",
            "two",
            "2",
        )
        .await
        .unwrap();
    let ids: Vec<_> = sink
        .messages()
        .into_iter()
        .map(|mail| mail.message_id.unwrap_or_default())
        .collect();
    assert_eq!(ids[0], "<lethe.delivery.7.1765000000000000@example.org>");
    assert_eq!(ids[0], ids[1]);
    assert_ne!(ids[1], ids[2]);
}

#[tokio::test]
async fn a_line_break_in_the_subject_cannot_add_a_header() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    mailer_for(&sink)
        .send("a@example.com", "Report\r\nBcc: spy@example.net", "text")
        .await
        .unwrap();
    let mail = &sink.messages()[0];
    assert!(mail.header("Bcc").is_empty(), "{:?}", mail.headers);
    assert_eq!(mail.rcpt_tos, ["a@example.com"]);
    assert_eq!(mail.subject, "Report  Bcc: spy@example.net");
}

#[tokio::test]
async fn a_recipient_the_server_refuses_is_a_permanent_failure() {
    let Some(sink) = SmtpSink::builder().refuse("nobody@example.com").start() else {
        return;
    };
    let text = permanent(
        mailer_for(&sink)
            .send("nobody@example.com", "Hello", "text")
            .await,
    );
    let server = format!("127.0.0.1:{}", sink.port());
    assert!(
        text.starts_with(&format!(
            "the SMTP server at {server} refused the e-mail: 550"
        )),
        "{text}"
    );
    assert!(text.contains("User unknown"), "{text}");
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn a_recipient_the_server_defers_is_a_transient_failure() {
    let Some(sink) = SmtpSink::builder().defer("later@example.com").start() else {
        return;
    };
    let text = transient(
        mailer_for(&sink)
            .send("later@example.com", "Hello", "text")
            .await,
    );
    assert!(
        text.contains("turned the e-mail away for now: 451"),
        "{text}"
    );
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn an_address_that_is_no_address_is_permanent_and_nothing_is_sent() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let text = permanent(
        mailer_for(&sink)
            .send("not an address", "Hello", "text")
            .await,
    );
    assert!(
        text.starts_with("`not an address` is not an e-mail address"),
        "{text}"
    );
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn a_stopped_server_is_a_transient_failure_that_names_it() {
    let Some(mut sink) = SmtpSink::start() else {
        return;
    };
    let mailer = mailer_for(&sink);
    sink.stop();
    let text = transient(mailer.send("a@example.com", "Hello", "text").await);
    assert_eq!(
        text,
        format!(
            "the SMTP server at 127.0.0.1:{} refused the connection",
            sink.port()
        )
    );
}

#[tokio::test]
async fn a_server_slower_than_the_timeout_is_a_transient_failure() {
    let Some(sink) = SmtpSink::builder().slow(Duration::from_secs(5)).start() else {
        return;
    };
    let mailer = Mailer::new(&SmtpSettings {
        timeout: Duration::from_millis(500),
        ..settings_for(&sink)
    })
    .unwrap();
    let text = transient(mailer.send("a@example.com", "Hello", "text").await);
    assert_eq!(
        text,
        format!(
            "the SMTP server at 127.0.0.1:{} did not answer within 500 ms",
            sink.port()
        )
    );
}

#[tokio::test]
async fn a_login_is_used_and_a_wrong_password_is_transient_and_says_what_to_check() {
    let Some(sink) = SmtpSink::builder().login("lethe", "right").start() else {
        return;
    };
    let login = |password: &str| SmtpSettings {
        username: Some("lethe".to_owned()),
        password: Some(password.to_owned()),
        ..settings_for(&sink)
    };
    Mailer::new(&login("right"))
        .unwrap()
        .send("a@example.com", "Hello", "text")
        .await
        .unwrap();
    assert_eq!(sink.messages()[0].login.as_deref(), Some("lethe"));

    let text = transient(
        Mailer::new(&login("wrong"))
            .unwrap()
            .send("a@example.com", "Hello", "text")
            .await,
    );
    assert!(text.contains("does not let Lethe send: 535"), "{text}");
    assert!(
        text.contains("check the SMTP user name, password and TLS mode"),
        "{text}"
    );
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn starttls_required_by_the_settings_but_not_offered_is_transient() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let mailer = Mailer::new(&SmtpSettings {
        tls: SmtpTls::StartTls,
        ..settings_for(&sink)
    })
    .unwrap();
    let text = transient(mailer.send("a@example.com", "Hello", "text").await);
    assert!(
        text.starts_with(&format!(
            "the SMTP server at 127.0.0.1:{} cannot be used with these settings",
            sink.port()
        )),
        "{text}"
    );
    assert!(
        text.ends_with("STARTTLS is not supported on this server"),
        "{text}"
    );
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn tls_to_a_server_that_speaks_plain_smtp_is_transient() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let mailer = Mailer::new(&SmtpSettings {
        tls: SmtpTls::Tls,
        timeout: Duration::from_secs(5),
        ..settings_for(&sink)
    })
    .unwrap();
    let text = transient(mailer.send("a@example.com", "Hello", "text").await);
    assert!(
        text.starts_with(&format!(
            "TLS with the SMTP server at 127.0.0.1:{} failed: ",
            sink.port()
        )),
        "{text}"
    );
    assert!(text.ends_with("set the TLS mode to starttls"), "{text}");
    assert!(sink.messages().is_empty());
}
