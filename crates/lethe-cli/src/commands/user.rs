//! `lethe user add|passwd|token|list|tokens|revoke-token|sessions|end-sessions|delivery|role|remove`.

use lethe_store::policy::{self, UserAction};
use lethe_store::{Role, StoreError};
use serde_json::json;

use super::Context;
use crate::cli::UserCommand;
use crate::output::print_json;

pub async fn run(context: &Context, command: UserCommand) -> anyhow::Result<()> {
    let store = context.open().await?;
    match command {
        UserCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            let actor = context.acting(&store).await?;
            policy::manage_users(&actor, UserAction::Add).map_err(StoreError::from)?;
            // The user, the token and the password are made together, or nothing is.
            let (user, token) = if password_stdin {
                let password = read_password()?;
                store
                    .add_user_with_password(&name, Role::parse(&role)?, &password, &actor)
                    .await?
            } else {
                store.add_user(&name, Role::parse(&role)?).await?
            };
            if context.json() {
                print_json(&json!({"user": user, "token": token}));
            } else {
                println!(
                    "Created {} user `{}` (id {}).",
                    user.role.as_str(),
                    user.name,
                    user.id
                );
                println!("API token (shown only now; store it safely):\n{token}");
            }
        }
        UserCommand::Passwd { name } => {
            let actor = context.acting(&store).await?;
            let password = read_password()?;
            let user = store.set_password(&name, &password, &actor).await?;
            if context.json() {
                print_json(&json!({"user": user, "password_set": true}));
            } else {
                println!("The password of `{}` is set.", user.name);
            }
        }
        UserCommand::Token { name, label } => {
            let actor = context.acting(&store).await?;
            if let Some(owner) = store.find_user(&name).await? {
                policy::handle_tokens(&actor, owner.id, &name).map_err(StoreError::from)?;
            }
            let (user, token) = store.issue_token(&name, &label).await?;
            if context.json() {
                print_json(&json!({"user": user, "token": token}));
            } else {
                println!(
                    "New API token for `{}` (shown only now):\n{token}",
                    user.name
                );
            }
        }
        UserCommand::List => {
            policy::manage_users(&context.acting(&store).await?, UserAction::List)
                .map_err(StoreError::from)?;
            let users = store.list_users().await?;
            if context.json() {
                print_json(&json!({"users": users}));
            } else if users.is_empty() {
                println!("No users yet. Create one with `lethe user add NAME --role admin`.");
            } else {
                println!("{:>6}  {:<6}  name", "id", "role");
                for user in users {
                    println!("{:>6}  {:<6}  {}", user.id, user.role.as_str(), user.name);
                }
            }
        }
        UserCommand::Tokens { name } => {
            let actor = context.acting(&store).await?;
            let tokens = store.tokens_of(&name, &actor).await?;
            if context.json() {
                print_json(&json!({"tokens": tokens}));
            } else if tokens.is_empty() {
                println!("`{name}` has no API tokens.");
            } else {
                println!("{:>6}  {:<27}  {:<27}  label", "id", "created", "revoked");
                for token in tokens {
                    println!(
                        "{:>6}  {:<27}  {:<27}  {}",
                        token.id,
                        token.created_at,
                        token.revoked_at.as_deref().unwrap_or("-"),
                        token.label
                    );
                }
            }
        }
        UserCommand::RevokeToken { id } => {
            let actor = context.acting(&store).await?;
            let token = store.revoke_token(id, &actor).await?;
            if context.json() {
                print_json(&json!({"token": token}));
            } else {
                println!("Token {id} is revoked: it no longer works.");
            }
        }
        UserCommand::Sessions { name } => {
            let actor = context.acting(&store).await?;
            let sessions = store.sessions_of(&name, &actor).await?;
            if context.json() {
                print_json(&json!({"sessions": sessions}));
            } else if sessions.is_empty() {
                println!("`{name}` is not signed in anywhere.");
            } else {
                println!(
                    "{:>6}  {:<27}  {:<27}  ends",
                    "id", "signed in", "last used"
                );
                for session in sessions {
                    println!(
                        "{:>6}  {:<27}  {:<27}  {}",
                        session.id, session.created_at, session.last_seen_at, session.ends_at
                    );
                }
            }
        }
        UserCommand::EndSessions { name } => {
            let actor = context.acting(&store).await?;
            let ended = store.end_sessions_of(&name, &actor).await?;
            if context.json() {
                print_json(&json!({"user": name, "sessions_ended": ended}));
            } else {
                println!("`{name}` is signed out everywhere ({ended} session(s) ended).");
            }
        }
        UserCommand::Delivery {
            name,
            email,
            no_email,
            on,
            off,
        } => {
            let actor = context.acting(&store).await?;
            let mut email_kinds = Vec::new();
            for (kinds, wanted) in [(&on, true), (&off, false)] {
                for kind in kinds {
                    let kind = kind.parse().map_err(crate::output::UsageError)?;
                    email_kinds.push((kind, wanted));
                }
            }
            let change = lethe_store::DeliveryChange {
                email: if no_email {
                    Some(None)
                } else {
                    email.map(Some)
                },
                email_kinds,
            };
            let settings = if change == lethe_store::DeliveryChange::default() {
                store.delivery_settings(&name, &actor).await?
            } else {
                store.change_delivery(&name, &change, &actor).await?
            };
            if context.json() {
                print_json(&json!({"delivery": settings}));
            } else {
                match &settings.email {
                    Some(address) => println!("E-mails for `{name}` go to {address}."),
                    None => println!(
                        "`{name}` has no e-mail address (set one with --email); notifications stay in the in-app feed."
                    ),
                }
                println!("{:<17}  {:<6}  heard by", "kind", "e-mail");
                for kind in &settings.kinds {
                    println!(
                        "{:<17}  {:<6}  {}",
                        kind.kind,
                        if kind.email { "yes" } else { "no" },
                        kind.heard_by
                    );
                }
            }
        }
        UserCommand::Role { name, role } => {
            let actor = context.acting(&store).await?;
            let user = store
                .set_role(&name, lethe_store::Role::parse(&role)?, &actor)
                .await?;
            if context.json() {
                print_json(&json!({"user": user}));
            } else {
                println!("`{name}` is now {}.", user.role.as_str());
            }
        }
        UserCommand::Remove { name, yes } => {
            let actor = context.acting(&store).await?;
            super::lifecycle::confirm_once(
                &format!("Remove user `{name}`? Every API token of theirs stops working at once."),
                yes,
                context.json(),
            )?;
            let revoked = store.remove_user(&name, &actor).await?;
            if context.json() {
                print_json(&json!({"removed": name, "tokens_revoked": revoked}));
            } else {
                println!("Removed `{name}`; {revoked} token(s) revoked.");
            }
        }
    }
    Ok(())
}

/// The first line of standard input, without its line ending: a password is never taken from
/// the command line, where other users of the machine could read it.
fn read_password() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(crate::output::UsageError(
            "give the password on standard input, e.g. `printf '%s\\n' \"$PASSWORD\" | lethe user passwd NAME`; it is not read from a terminal, where it would be shown".to_owned(),
        )
        .into());
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    Ok(password.strip_suffix('\r').unwrap_or(password).to_owned())
}
