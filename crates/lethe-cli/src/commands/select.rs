//! `lethe select`: count, page through or explain the records a filter selects (SPEC §4).

use lethe_schema::builtin;
use lethe_store::{ListQuery, Record, Scope, SortOrder, Store};
use serde_json::{Value, json};

use super::Context;
use crate::cli::SelectArgs;
use crate::output::{UsageError, print_json};

pub async fn run(context: &Context, args: SelectArgs) -> anyhow::Result<()> {
    let store = context.open().await?;
    let filter = match &args.filter_json {
        Some(raw) => {
            let json: Value = serde_json::from_str(raw)
                .map_err(|error| UsageError(format!("--filter-json is not valid JSON: {error}")))?;
            store.filter_from_json(&args.entity, &json)?
        }
        None => store.parse_filter(&args.entity, &args.filter)?,
    };
    let scope = Scope::parse(&args.scope)?;

    if args.count {
        let count = store.count_matching(&filter, scope).await?;
        if context.json() {
            print_json(&json!({
                "entity": args.entity,
                "filter": filter.to_text(),
                "scope": scope.as_str(),
                "count": count,
            }));
        } else {
            println!("{count}");
        }
        return Ok(());
    }
    if args.explain {
        let explanation = store.explain(&filter, scope).await?;
        if context.json() {
            print_json(
                &json!({"filter": filter.to_text(), "scope": scope.as_str(), "explain": explanation}),
            );
        } else {
            println!(
                "-- filter: {}\n-- scope: {}",
                filter.to_text(),
                scope.as_str()
            );
            println!(
                "{}\n-- parameters: {}",
                explanation.sql,
                explanation.parameters.join(", ")
            );
            println!("-- plan ({}):", store.backend().as_str());
            for line in &explanation.plan {
                println!("{line}");
            }
        }
        return Ok(());
    }

    let order = if args.desc {
        SortOrder::Desc
    } else {
        SortOrder::Asc
    };
    let query = ListQuery {
        sort: args.sort.clone(),
        order,
        limit: Some(args.limit),
        cursor: args.cursor.clone(),
    };
    let page = store.select_page(&filter, scope, &query).await?;
    let format = if context.json() {
        "json"
    } else {
        args.format.as_str()
    };
    match format {
        "json" => {
            let records: Vec<Value> = page.records.iter().map(Record::to_json).collect();
            print_json(&json!({"records": records, "next_cursor": page.next_cursor}));
        }
        "csv" => print!("{}", to_csv(&store, &args.entity, &page.records)?),
        _ => print_table(&store, &args.entity, &page.records)?,
    }
    if format != "json" {
        match &page.next_cursor {
            Some(next) => eprintln!("more: --cursor {next}"),
            None => eprintln!("({} record(s), end of selection)", page.records.len()),
        }
    }
    Ok(())
}

/// The columns printed for an entity: the id, its own fields, then the timestamps.
fn header(store: &Store, entity: &str) -> anyhow::Result<Vec<String>> {
    let entity = store.entity(entity)?;
    let mut columns = vec![builtin::ID.to_owned()];
    columns.extend(entity.columns.iter().map(|column| column.name.to_string()));
    columns.push(builtin::CREATED_AT.to_owned());
    columns.push(builtin::UPDATED_AT.to_owned());
    Ok(columns)
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// CSV as RFC 4180: fields with a comma, quote or line break are quoted, quotes doubled.
fn to_csv(store: &Store, entity: &str, records: &[Record]) -> anyhow::Result<String> {
    let columns = header(store, entity)?;
    let escape = |text: &str| {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    };
    let mut out = columns
        .iter()
        .map(|c| escape(c))
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    for record in records {
        let json = record.to_json();
        let line: Vec<String> = columns
            .iter()
            .map(|column| escape(&cell(&json[column])))
            .collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    Ok(out)
}

fn print_table(store: &Store, entity: &str, records: &[Record]) -> anyhow::Result<()> {
    const WIDEST: usize = 28;
    let columns = header(store, entity)?;
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|record| {
            let json = record.to_json();
            columns
                .iter()
                .map(|column| {
                    let text = cell(&json[column]).replace(['\n', '\t'], " ");
                    if text.chars().count() > WIDEST {
                        format!("{}…", text.chars().take(WIDEST - 1).collect::<String>())
                    } else {
                        text
                    }
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(index, name)| {
            rows.iter()
                .map(|row| row[index].chars().count())
                .max()
                .unwrap_or(0)
                .max(name.len())
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    println!("{}", line(&columns));
    for row in &rows {
        println!("{}", line(row));
    }
    Ok(())
}
