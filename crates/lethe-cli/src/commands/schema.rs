//! `lethe schema show|check`.

use anyhow::Context as _;
use lethe_schema::Schema;
use serde_json::json;

use super::Context;
use crate::cli::SchemaCommand;
use crate::output::print_json;

pub async fn run(context: &Context, command: SchemaCommand) -> anyhow::Result<()> {
    match command {
        SchemaCommand::Show => {
            let schema = context.schema()?;
            if context.json() {
                print_json(&schema.to_json());
            } else {
                print!("{}", schema.to_toml());
            }
        }
        SchemaCommand::Check { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading the schema file {}", file.display()))?;
            let schema =
                Schema::from_toml(&text).with_context(|| format!("in {}", file.display()))?;
            let relations = schema.relations().len();
            let entities = schema.entities().len();
            if context.json() {
                print_json(&json!({"valid": true, "entities": entities, "relations": relations}));
            } else {
                println!(
                    "{} is valid: {entities} entities, {relations} relations.",
                    file.display()
                );
            }
        }
    }
    Ok(())
}
