//! `lethe record get|create|update|list`.

use lethe_schema::ValueType;
use lethe_store::{ListQuery, SortOrder, Store};
use serde_json::{Map, Value};

use super::Context;
use crate::cli::RecordCommand;
use crate::output::{UsageError, print_json, print_page};

pub async fn run(context: &Context, command: RecordCommand) -> anyhow::Result<()> {
    let store = context.open().await?;
    let actor = context.actor(&store).await?;
    match command {
        RecordCommand::Get { entity, id } => {
            let record = store.get_record(&entity, id).await?;
            print_json(&record.to_json());
        }
        RecordCommand::Create {
            entity,
            fields,
            data,
            file,
        } => {
            let mut input = input_object(&store, &entity, &fields, data.as_deref())?;
            let record = match file {
                None => store.create_record(&entity, &input, actor).await?,
                Some(path) => {
                    let has_name_field = store
                        .schema()
                        .entity(&entity)
                        .is_some_and(|entity| entity.column("file_name").is_some());
                    if has_name_field
                        && !input.contains_key("file_name")
                        && let Some(name) = path.file_name()
                    {
                        input.insert(
                            "file_name".to_owned(),
                            Value::String(name.to_string_lossy().into_owned()),
                        );
                    }
                    let incoming = copy_in(&store, &entity, &path).await?;
                    store
                        .create_record_with_file(&entity, &input, actor, incoming)
                        .await?
                }
            };
            if context.json() {
                print_json(&record.to_json());
            } else {
                println!("Created {entity} {}.", record.id);
            }
        }
        RecordCommand::Update {
            entity,
            id,
            fields,
            data,
        } => {
            let input = input_object(&store, &entity, &fields, data.as_deref())?;
            let record = store.update_record(&entity, id, &input, actor).await?;
            if context.json() {
                print_json(&record.to_json());
            } else {
                println!("Updated {entity} {}.", record.id);
            }
        }
        RecordCommand::List {
            entity,
            sort,
            desc,
            limit,
            cursor,
        } => {
            let order = if desc {
                SortOrder::Desc
            } else {
                SortOrder::Asc
            };
            let page = store
                .list_records(
                    &entity,
                    &ListQuery {
                        sort,
                        order,
                        limit: Some(limit),
                        cursor,
                    },
                )
                .await?;
            print_page(context.json(), &page);
        }
    }
    Ok(())
}

/// Copies the file at `path` into the attachment folder for a new record of `entity`.
async fn copy_in(
    store: &Store,
    entity: &str,
    path: &std::path::Path,
) -> anyhow::Result<lethe_store::IncomingFile> {
    use anyhow::Context as _;
    use tokio::io::AsyncReadExt;
    let mut source = tokio::fs::File::open(path)
        .await
        .map_err(|error| UsageError(format!("cannot read {}: {error}", path.display())))?;
    let mut incoming = store.receive_file(entity).await?;
    let mut buffer = vec![0u8; 256 << 10];
    loop {
        let read = source
            .read(&mut buffer)
            .await
            .with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            break;
        }
        incoming.write(&buffer[..read]).await?;
    }
    Ok(incoming)
}

/// Builds the JSON object of field values from `--data` or `FIELD=VALUE` pairs. In pairs,
/// the value of a text-like field is taken as written; for numbers, booleans and JSON it is
/// read as JSON, so `company_id=3` is the number 3 and `name=007` stays the text "007".
pub(super) fn input_object(
    store: &Store,
    entity: &str,
    pairs: &[String],
    data: Option<&str>,
) -> anyhow::Result<Map<String, Value>> {
    if let Some(data) = data {
        return match serde_json::from_str::<Value>(data) {
            Ok(Value::Object(object)) => Ok(object),
            Ok(_) => Err(UsageError(
                "--data must be a JSON object such as '{\"name\": \"Acme\"}'".to_owned(),
            )
            .into()),
            Err(error) => Err(UsageError(format!("--data is not valid JSON: {error}")).into()),
        };
    }
    let entity = store.entity(entity)?;
    let mut object = Map::new();
    for pair in pairs {
        let Some((field, raw)) = pair.split_once('=') else {
            return Err(UsageError(format!("`{pair}` is not FIELD=VALUE")).into());
        };
        let value = match entity.column(field).map(|column| &column.value_type) {
            Some(
                ValueType::Text
                | ValueType::Enum { .. }
                | ValueType::OwnerEntity { .. }
                | ValueType::Date
                | ValueType::Timestamp,
            ) => Value::String(raw.to_owned()),
            // Unknown fields are passed on so the store names them with a suggestion.
            _ => serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned())),
        };
        let value = if raw == "null" { Value::Null } else { value };
        object.insert(field.to_owned(), value);
    }
    if object.is_empty() {
        return Err(UsageError("give FIELD=VALUE pairs or --data JSON".to_owned()).into());
    }
    Ok(object)
}
