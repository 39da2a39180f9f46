//! `lethe user add|token|list`.

use lethe_store::Role;
use serde_json::json;

use super::Context;
use crate::cli::UserCommand;
use crate::output::print_json;

pub async fn run(context: &Context, command: UserCommand) -> anyhow::Result<()> {
    let store = context.open().await?;
    match command {
        UserCommand::Add { name, role } => {
            let (user, token) = store.add_user(&name, Role::parse(&role)?).await?;
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
        UserCommand::Token { name, label } => {
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
    }
    Ok(())
}
