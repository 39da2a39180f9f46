//! `lethe selection …` and `lethe snapshot …` (SPEC §4).

use lethe_store::{ListQuery, MemberPick, PickSource, Scope, SelectionDefinition, SetOperator};
use serde_json::json;

use super::Context;
use crate::cli::{SelectionCommand, SnapshotCommand};
use crate::output::{UsageError, print_json, print_page};

/// The one definition given by the flags of `save` or `update`.
#[allow(clippy::too_many_arguments)]
fn definition(
    store: &lethe_store::Store,
    entity: &str,
    filter: Option<String>,
    ids: Option<Vec<i64>>,
    union: Option<Vec<String>>,
    intersection: Option<Vec<String>>,
    difference: Option<Vec<String>>,
) -> anyhow::Result<SelectionDefinition> {
    let mut definitions = Vec::new();
    if let Some(text) = filter {
        definitions.push(SelectionDefinition::Dynamic(
            store.parse_filter(entity, &text)?,
        ));
    }
    if let Some(ids) = ids {
        definitions.push(SelectionDefinition::Static(ids));
    }
    for (operator, parts) in [
        (SetOperator::Union, union),
        (SetOperator::Intersection, intersection),
        (SetOperator::Difference, difference),
    ] {
        if let Some(parts) = parts {
            definitions.push(SelectionDefinition::Combined { operator, parts });
        }
    }
    let [definition] = <[SelectionDefinition; 1]>::try_from(definitions).map_err(|_| {
        UsageError(
            "give exactly one of --filter, --ids, --union, --intersection or --difference"
                .to_owned(),
        )
    })?;
    Ok(definition)
}

pub async fn run_selection(context: &Context, command: SelectionCommand) -> anyhow::Result<()> {
    let store = context.open().await?;
    let actor = context.actor(&store).await?;
    match command {
        SelectionCommand::Save {
            name,
            entity,
            filter,
            ids,
            union,
            intersection,
            difference,
            description,
        } => {
            let definition = definition(
                &store,
                &entity,
                filter,
                ids,
                union,
                intersection,
                difference,
            )?;
            let saved = store
                .save_selection(&name, &entity, &definition, &description, actor)
                .await?;
            let count = store.count_selection(&name, Scope::Active).await?;
            if context.json() {
                print_json(&json!({"selection": saved, "count": count}));
            } else {
                println!(
                    "Saved {} selection `{}` of {}: {count} record(s) now.",
                    saved.kind, saved.name, saved.entity
                );
            }
        }
        SelectionCommand::Update {
            name,
            filter,
            ids,
            union,
            intersection,
            difference,
            description,
        } => {
            let current = store.get_selection(&name).await?;
            let definition = definition(
                &store,
                &current.entity,
                filter,
                ids,
                union,
                intersection,
                difference,
            )?;
            let saved = store
                .update_selection(
                    &name,
                    &definition,
                    &description,
                    &context.acting(&store).await?,
                )
                .await?;
            let count = store.count_selection(&name, Scope::Active).await?;
            if context.json() {
                print_json(&json!({"selection": saved, "count": count}));
            } else {
                println!(
                    "Updated {} selection `{}` of {}: {count} record(s) now.",
                    saved.kind, saved.name, saved.entity
                );
            }
        }
        SelectionCommand::List => {
            let selections = store.list_selections().await?;
            if context.json() {
                print_json(&json!({"selections": selections}));
            } else if selections.is_empty() {
                println!(
                    "No saved selections. Save one with `lethe selection save NAME ENTITY --filter '...'`."
                );
            } else {
                for selection in selections {
                    let definition = match selection.kind.as_str() {
                        "dynamic" => selection.filter.clone().unwrap_or_default(),
                        "static" => "fixed ids".to_owned(),
                        _ => format!(
                            "{} of {}",
                            selection.operator.map_or("union", |o| o.as_str()),
                            selection.parts.join(", ")
                        ),
                    };
                    println!(
                        "{:<24} {:<10} {:<10} {definition}",
                        selection.name, selection.entity, selection.kind
                    );
                }
            }
        }
        SelectionCommand::Show { name, scope } => {
            let scope = Scope::parse(&scope)?;
            let selection = store.get_selection(&name).await?;
            let count = store.count_selection(&name, scope).await?;
            if context.json() {
                print_json(
                    &json!({"selection": selection, "scope": scope.as_str(), "count": count}),
                );
            } else {
                println!("{}", serde_json::to_string_pretty(&selection)?);
                println!("{count} {} record(s) now.", scope.as_str());
            }
        }
        SelectionCommand::Members {
            name,
            scope,
            limit,
            cursor,
        } => {
            let scope = Scope::parse(&scope)?;
            let query = ListQuery {
                limit: Some(limit),
                cursor,
                ..Default::default()
            };
            let page = store.selection_page(&name, scope, &query).await?;
            print_page(context.json(), &page);
        }
        SelectionCommand::Delete { name } => {
            store
                .delete_selection(&name, &context.acting(&store).await?)
                .await?;
            if context.json() {
                print_json(&json!({"deleted": name}));
            } else {
                println!("Deleted selection `{name}`.");
            }
        }
    }
    Ok(())
}

pub async fn run_snapshot(context: &Context, command: SnapshotCommand) -> anyhow::Result<()> {
    let store = context.open().await?;
    let actor = context.actor(&store).await?;
    match command {
        SnapshotCommand::Create {
            entity,
            filter,
            selection,
            all_matching,
            include,
            exclude,
            scope,
            note,
        } => {
            let source = match selection {
                Some(name) => PickSource::Selection(name),
                None => PickSource::Filter(store.parse_filter(&entity, &filter)?),
            };
            let pick = MemberPick {
                entity,
                source,
                all_matching,
                include,
                exclude,
                scope: Scope::parse(&scope)?,
            };
            let snapshot = store.create_snapshot(&pick, &note, actor).await?;
            if context.json() {
                print_json(&json!({"snapshot": snapshot}));
            } else {
                println!(
                    "Snapshot {} holds {} {} record(s) ({}).",
                    snapshot.id, snapshot.member_count, snapshot.entity, snapshot.source
                );
            }
        }
        SnapshotCommand::Show { id } => {
            let snapshot = store
                .snapshot_for(id, &context.acting(&store).await?)
                .await?;
            if context.json() {
                print_json(&json!({"snapshot": snapshot}));
            } else {
                println!("{}", serde_json::to_string_pretty(&snapshot)?);
            }
        }
        SnapshotCommand::Members { id, limit, cursor } => {
            let query = ListQuery {
                limit: Some(limit),
                cursor,
                ..Default::default()
            };
            let page = store.snapshot_page(id, &query).await?;
            print_page(context.json(), &page);
        }
    }
    Ok(())
}
