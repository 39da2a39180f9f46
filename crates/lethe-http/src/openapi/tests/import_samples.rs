//! Samples of an import's components, for the check that each derived component matches
//! values of its type.

use std::collections::BTreeMap;

use lethe_store::{ImportCheck, ImportField, ImportProblem};
use serde_json::Value;

use super::to_values;

pub(super) fn import_samples(samples: &mut BTreeMap<&'static str, Vec<Value>>) {
    let by_id = ImportField {
        column: "First name".to_owned(),
        field: "first_name".to_owned(),
        by: None,
    };
    let by_unique = ImportField {
        column: "Org no".to_owned(),
        field: "company_id".to_owned(),
        by: Some("org_number".to_owned()),
    };
    let in_a_cell = ImportProblem {
        line: 7,
        column: Some("category".to_owned()),
        message: "`lead` is not allowed; expected one of: prospect, customer, lost".to_owned(),
    };
    let of_the_row = ImportProblem {
        line: 9,
        column: None,
        message: "has 2 cells where the header has 7 columns".to_owned(),
    };
    let check = |problems: Vec<ImportProblem>| ImportCheck {
        entity: "contact".to_owned(),
        rows: 10,
        create: 7,
        update: 1,
        skip: 0,
        problems: problems.len() as u64,
        first_problems: problems,
        fields: vec![by_id.clone(), by_unique.clone()],
        ignored: vec!["id".to_owned()],
    };
    samples.insert(
        "ImportCheck",
        to_values([
            check(Vec::new()),
            check(vec![in_a_cell.clone(), of_the_row.clone()]),
        ]),
    );
    samples.insert("ImportField", to_values([by_id.clone(), by_unique.clone()]));
    samples.insert("ImportProblem", to_values([in_a_cell, of_the_row]));
}
