//! `lethe request add|list|show|assign|start|extend|done|refuse|link|remind`: people's
//! erasure and access requests (GDPR Art. 12, 15, 17) with their legal deadlines. The store
//! asks the policy who may do what; this prints the answers.

use lethe_store::{NewSubjectRequest, RequestChange, RequestListing, SubjectRequest};
use serde_json::json;

use super::Context;
use crate::cli::RequestCommand;
use crate::output::print_json;

pub async fn run(context: &Context, command: RequestCommand) -> anyhow::Result<()> {
    let store = context.open().await?;
    let actor = context.acting(&store).await?;
    let change = |id: i64, change: RequestChange| {
        let store = store.clone();
        let actor = actor.clone();
        async move { store.change_request(id, &change, &actor).await }
    };
    let request = match command {
        RequestCommand::Add {
            erasure,
            access: _,
            email,
            contact,
            received,
            assignee,
        } => {
            let new = NewSubjectRequest {
                kind: if erasure { "erasure" } else { "access" }.to_owned(),
                email,
                contact_id: contact,
                received,
                assignee,
            };
            store.add_request(&new, &actor).await?
        }
        RequestCommand::List {
            open,
            overdue,
            email,
        } => {
            let listing = match (open, overdue) {
                (_, true) => RequestListing::Overdue,
                (true, _) => RequestListing::Open,
                _ => RequestListing::All,
            };
            let requests = store
                .subject_requests(listing, email.as_deref(), &actor)
                .await?;
            list(context, &requests);
            return Ok(());
        }
        RequestCommand::Show { id } => store.subject_request(id, &actor).await?,
        RequestCommand::Assign { id, user } => change(id, RequestChange::Assign(user)).await?,
        RequestCommand::Start { id } => change(id, RequestChange::Start).await?,
        RequestCommand::Extend { id, until, reason } => {
            change(id, RequestChange::Extend { until, reason }).await?
        }
        RequestCommand::Done { id } => change(id, RequestChange::Done).await?,
        RequestCommand::Refuse { id, reason } => {
            change(id, RequestChange::Refuse { reason }).await?
        }
        RequestCommand::Link { id, batch, job } => {
            store.link_request(id, batch, job, &actor).await?
        }
        RequestCommand::Remind => {
            let sent = store.send_request_reminders().await?;
            if context.json() {
                print_json(&json!({"sent": sent}));
            } else {
                println!(
                    "{} reminder(s) of a deadline within five days, {} report(s) of a passed deadline sent.",
                    sent.reminded, sent.overdue
                );
            }
            return Ok(());
        }
    };
    show(context, &request);
    Ok(())
}

/// Whose request it is, in words: the address or contact while open, the tag once closed.
fn subject(request: &SubjectRequest) -> String {
    match (&request.subject_email, request.subject_contact_id) {
        (Some(address), _) => address.clone(),
        (None, Some(contact)) => format!("contact {contact}"),
        (None, None) => format!("(closed; kept as {})", request.subject_tag),
    }
}

/// The deadline in words: the day, and the days left or how long ago it passed.
fn when(request: &SubjectRequest) -> String {
    let day = request.deadline.get(..10).unwrap_or(&request.deadline);
    if request.closed_at.is_some() {
        day.to_owned()
    } else if request.overdue {
        format!("{day} (OVERDUE by {} day(s))", -request.days_left)
    } else {
        format!("{day} ({} day(s) left)", request.days_left)
    }
}

fn list(context: &Context, requests: &[SubjectRequest]) {
    if context.json() {
        print_json(&json!({"requests": requests}));
        return;
    }
    if requests.is_empty() {
        println!("No requests. Register one with `lethe request add`.");
        return;
    }
    println!(
        "{:>5}  {:<8}  {:<11}  {:<10}  {:<32}  subject",
        "id", "kind", "status", "assignee", "deadline"
    );
    for request in requests {
        println!(
            "{:>5}  {:<8}  {:<11}  {:<10}  {:<32}  {}",
            request.id,
            request.kind,
            request.status,
            request.assignee.as_deref().unwrap_or("-"),
            when(request),
            subject(request)
        );
    }
}

fn show(context: &Context, request: &SubjectRequest) {
    if context.json() {
        print_json(&json!({"request": request}));
        return;
    }
    println!(
        "Request {} ({}, {}) about {}",
        request.id,
        request.kind,
        request.status,
        subject(request)
    );
    println!("  received:  {}", request.received_at);
    println!("  deadline:  {}", when(request));
    if let Some(until) = &request.extended_until {
        println!(
            "  extended:  from {} to {}: {}",
            request.due_at,
            until,
            request.extension_reason.as_deref().unwrap_or("")
        );
    }
    println!(
        "  assignee:  {}",
        request.assignee.as_deref().unwrap_or("-")
    );
    if let Some(reason) = &request.refusal_reason {
        println!("  refused:   {reason}");
    }
    if let Some(closed) = &request.closed_at {
        println!("  closed:    {closed}");
    }
    for link in &request.links {
        match (link.batch_id, link.job_id) {
            (Some(batch), _) => println!("  linked:    deletion batch {batch} ({})", link.state),
            (_, Some(job)) => println!(
                "  linked:    purge job {job} ({}){}",
                link.state,
                if link.receipt.is_some() {
                    format!("; erasure receipt: `lethe job show {job}`")
                } else {
                    String::new()
                }
            ),
            _ => {}
        }
    }
    if request.ready_to_close {
        println!(
            "  Every linked purge has run: when nothing else is left, mark it done with `lethe request done {}`.",
            request.id
        );
    }
}
