//! Checking values against the server's OpenAPI 3.1 document, so a test can prove that what
//! Lethe sends is what the document says.
//!
//! A schema of the document is JSON Schema 2020-12 whose `$ref`s point into
//! `#/components/schemas`; it is checked with the `jsonschema` crate, formats included
//! (`date-time`), after [`strict`] has closed every object schema: OpenAPI lets a client
//! ignore a property its schema does not declare, but a served field the document does not
//! know is exactly the drift these tests look for.

use serde_json::{Value, json};

/// The document with every object schema that lists its `properties`, and says nothing about
/// other properties, closed to them (`unevaluatedProperties: false`; unlike
/// `additionalProperties` it also sees properties declared through `allOf` and `$ref`).
pub fn strict(document: &Value) -> Value {
    let mut document = document.clone();
    if let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.values_mut().for_each(close_schema);
    }
    if let Some(paths) = document.get_mut("paths") {
        close_media_schemas(paths);
    }
    document
}

/// Closes the schemas under `paths`: those of request and response bodies and of parameters,
/// the values of their `schema` members.
fn close_media_schemas(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                if key == "schema" {
                    close_schema(child);
                } else {
                    close_media_schemas(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(close_media_schemas),
        _ => {}
    }
}

/// Closes `schema` and every schema inside it, following the keywords that hold schemas (and
/// only those: a property may well be called `properties`).
fn close_schema(schema: &mut Value) {
    let Value::Object(object) = schema else {
        return;
    };
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        properties.values_mut().for_each(close_schema);
    }
    for keyword in ["items", "additionalProperties", "not", "if", "then", "else"] {
        if let Some(inner) = object.get_mut(keyword) {
            close_schema(inner);
        }
    }
    for keyword in ["allOf", "anyOf", "oneOf", "prefixItems"] {
        if let Some(Value::Array(inner)) = object.get_mut(keyword) {
            inner.iter_mut().for_each(close_schema);
        }
    }
    if object.contains_key("properties")
        && !object.contains_key("additionalProperties")
        && !object.contains_key("unevaluatedProperties")
    {
        object.insert("unevaluatedProperties".to_owned(), Value::Bool(false));
    }
}

/// Checks `value` against `schema`, a schema of `document` (which may `$ref` its components;
/// pass a [`strict`] document to refuse undeclared properties). The error lists every
/// mismatch with where it is in the value.
pub fn check(document: &Value, schema: &Value, value: &Value) -> Result<(), String> {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "allOf": [schema],
        "components": document["components"],
    });
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .map_err(|error| format!("the schema is not valid JSON Schema: {error}"))?;
    let problems: Vec<String> = validator
        .iter_errors(value)
        .map(|error| format!("at `{}`: {error}", error.instance_path()))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Checks `value` against the component `name` of `document`.
pub fn check_component(document: &Value, name: &str, value: &Value) -> Result<(), String> {
    if document["components"]["schemas"][name].is_null() {
        return Err(format!("the document has no component `{name}`"));
    }
    check(
        document,
        &json!({"$ref": format!("#/components/schemas/{name}")}),
        value,
    )
}

/// Checks the JSON body of an answer to `method path_template` with `status` against the
/// schema the document gives that answer.
pub fn check_answer(
    document: &Value,
    method: &str,
    path_template: &str,
    status: u16,
    body: &Value,
) -> Result<(), String> {
    let operation = &document["paths"][path_template][method];
    if operation.is_null() {
        return Err(format!(
            "the document has no operation {method} {path_template}"
        ));
    }
    let schema =
        &operation["responses"][status.to_string()]["content"]["application/json"]["schema"];
    if schema.is_null() {
        return Err(format!(
            "the document lists no JSON answer {status} for {method} {path_template}"
        ));
    }
    check(document, schema, body)
        .map_err(|problems| format!("{method} {path_template} {status}: {problems}"))
}
