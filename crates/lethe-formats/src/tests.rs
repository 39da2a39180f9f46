#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

fn csv_of(rows: &[Vec<Value>]) -> (String, u64) {
    let mut writer = CsvWriter::new(Vec::new(), &["a", "b"]).unwrap();
    for row in rows {
        writer.row(row).unwrap();
    }
    let guarded = writer.guarded();
    (
        String::from_utf8(writer.into_inner().unwrap()).unwrap(),
        guarded,
    )
}

#[test]
fn rfc_4180_quotes_what_must_be_quoted_and_ends_lines_with_crlf() {
    let (text, guarded) = csv_of(&[
        vec![Value::Text("plain".into()), Value::Integer(-5)],
        vec![Value::Text("a, \"quoted\"\nline".into()), Value::Null],
    ]);
    assert_eq!(text, "a,b\r\nplain,-5\r\n\"a, \"\"quoted\"\"\nline\",\r\n");
    assert_eq!(guarded, 0, "a negative number is a number, not a formula");
}

#[test]
fn text_a_spreadsheet_would_run_is_prefixed_and_counted() {
    let (text, guarded) = csv_of(&[
        vec![
            Value::Text("=HYPERLINK(\"http://x\")".into()),
            Value::Text("+1 555".into()),
        ],
        vec![Value::Text("@SUM(A1)".into()), Value::Text("-2".into())],
        vec![Value::Text("\t=1".into()), Value::Text("Ann = Bob".into())],
    ]);
    assert_eq!(
        text,
        "a,b\r\n\"'=HYPERLINK(\"\"http://x\"\")\",'+1 555\r\n'@SUM(A1),'-2\r\n'\t=1,Ann = Bob\r\n"
    );
    assert_eq!(guarded, 5);
}

#[test]
fn values_are_written_in_the_apis_form() {
    let json = serde_json::json!({"k": [1, 2]});
    let (text, _) = csv_of(&[vec![Value::Boolean(true), Value::Json(json)]]);
    assert_eq!(text, "a,b\r\ntrue,\"{\"\"k\"\":[1,2]}\"\r\n");
}

#[test]
fn an_ndjson_line_is_one_object_and_a_newline() {
    let mut out = Vec::new();
    ndjson_line(
        &mut out,
        &serde_json::json!({"id": 1, "note": "two\nlines"}),
    )
    .unwrap();
    assert_eq!(out, b"{\"id\":1,\"note\":\"two\\nlines\"}\n");
}

proptest! {
    /// Whatever the text, the CSV reads back as the same cells (after the guard's prefix is
    /// taken off where it was put), one row per row written.
    #[test]
    fn any_text_reads_back_as_written(cells in proptest::collection::vec((".*", ".*"), 0..8)) {
        let rows: Vec<Vec<Value>> = cells
            .iter()
            .map(|(a, b)| vec![Value::Text(a.clone()), Value::Text(b.clone())])
            .collect();
        let (text, _) = csv_of(&rows);
        let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let read: Vec<Vec<String>> = reader
            .records()
            .map(|record| record.unwrap().iter().map(str::to_owned).collect())
            .collect();
        prop_assert_eq!(read.len(), rows.len());
        for ((a, b), row) in cells.iter().zip(&read) {
            for (written, read) in [a, b].into_iter().zip(row) {
                let unguarded = if looks_like_formula(written) {
                    read.strip_prefix(FORMULA_GUARD).unwrap_or(read)
                } else {
                    read.as_str()
                };
                prop_assert_eq!(unguarded, written.as_str());
            }
        }
    }
}

#[test]
fn an_export_writer_writes_either_format_and_hands_its_bytes_on_as_they_come() {
    let columns = vec!["id".to_owned(), "name".to_owned()];
    let mut csv = ExportWriter::chunked(Format::Csv, false);
    csv.section("contact", columns.clone()).unwrap();
    csv.row(&[Value::Integer(1), Value::Text("=1+1".into())])
        .unwrap();
    assert_eq!(csv.take_bytes().unwrap(), b"id,name\r\n1,'=1+1\r\n");
    csv.section("contact", columns.clone()).unwrap();
    csv.row(&[Value::Integer(2), Value::Null]).unwrap();
    assert_eq!(csv.take_bytes().unwrap(), b"2,\r\n");
    assert_eq!((csv.rows(), csv.guarded()), (2, 1));
    let refused = csv.section("ticket", columns.clone()).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "this export is of contact only, not of ticket"
    );

    let mut ndjson = ExportWriter::chunked(Format::Ndjson, false);
    ndjson.section("contact", columns.clone()).unwrap();
    ndjson
        .row(&[Value::Integer(1), Value::Text("=1+1".into())])
        .unwrap();
    assert_eq!(
        ndjson.take_bytes().unwrap(),
        b"{\"id\":1,\"name\":\"=1+1\"}\n"
    );
    assert_eq!(ndjson.guarded(), 0, "JSON is not run by spreadsheets");
    assert_eq!(
        Format::parse("xml"),
        Err("`xml` is not an export format; use csv or ndjson".to_owned())
    );
}

#[test]
fn ndjson_of_several_entities_names_each_lines_entity() {
    let mut ndjson = ExportWriter::chunked(Format::Ndjson, true);
    ndjson.section("contact", vec!["id".to_owned()]).unwrap();
    ndjson.row(&[Value::Integer(1)]).unwrap();
    ndjson
        .section("ticket", vec!["id".to_owned(), "entity".to_owned()])
        .unwrap();
    ndjson
        .row(&[
            Value::Integer(7),
            Value::Text("a field called entity".into()),
        ])
        .unwrap();
    let text = String::from_utf8(ndjson.finish_bytes().unwrap()).unwrap();
    assert_eq!(
        text,
        "{\"_entity\":\"contact\",\"id\":1}\n{\"_entity\":\"ticket\",\"entity\":\"a field called entity\",\"id\":7}\n"
    );
}

#[test]
fn csv_of_several_entities_is_a_zip_of_one_file_each_written_without_seeking() {
    let made = time::macros::datetime!(2026-12-07 14:30:05 UTC);
    let mut writer = ExportWriter::chunked(Format::Csv, true).made_at(made);
    let mut sent = Vec::new();
    writer
        .section("contact", vec!["id".to_owned(), "name".to_owned()])
        .unwrap();
    for id in 0..5_000 {
        writer
            .row(&[Value::Integer(id), Value::Text(format!("=name {id}"))])
            .unwrap();
    }
    sent.extend(writer.take_bytes().unwrap());
    assert!(
        sent.len() > 1_000,
        "the first file streams before the export ends"
    );
    writer.section("ticket", vec!["id".to_owned()]).unwrap();
    writer.section("note", vec!["id".to_owned()]).unwrap();
    writer.row(&[Value::Integer(9)]).unwrap();
    assert_eq!((writer.rows(), writer.guarded()), (5_001, 5_000));
    sent.extend(writer.finish_bytes().unwrap());

    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(sent)).unwrap();
    let names: Vec<String> = archive
        .file_names()
        .map(|name| name.unwrap().into_owned())
        .collect();
    assert_eq!(names, ["contact.csv", "ticket.csv", "note.csv"]);
    let read = |archive: &mut zip::ZipArchive<_>, name: &str| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut archive.by_name(name).unwrap(), &mut text).unwrap();
        text
    };
    let contacts = read(&mut archive, "contact.csv");
    assert!(contacts.starts_with("id,name\r\n0,'=name 0\r\n1,'=name 1\r\n"));
    assert_eq!(contacts.lines().count(), 5_001);
    assert_eq!(
        read(&mut archive, "ticket.csv"),
        "id\r\n",
        "an empty file keeps its header"
    );
    assert_eq!(read(&mut archive, "note.csv"), "id\r\n9\r\n");
    let stamp = archive
        .by_name("note.csv")
        .unwrap()
        .last_modified()
        .unwrap();
    assert_eq!(
        (
            stamp.year(),
            stamp.month(),
            stamp.day(),
            stamp.hour(),
            stamp.minute()
        ),
        (2026, 12, 7, 14, 30)
    );
}

#[test]
fn documents_are_a_zip_of_json_arrays_and_files_of_their_own() {
    let mut writer = ExportWriter::chunked_documents();
    writer
        .section("contact", vec!["id".to_owned(), "name".to_owned()])
        .unwrap();
    writer
        .row(&[Value::Integer(1), Value::Text("=Ada".into())])
        .unwrap();
    writer
        .row(&[Value::Integer(2), Value::Text("Bo\n".into())])
        .unwrap();
    writer.section("ticket", vec!["id".to_owned()]).unwrap();
    writer.file("files/attachment-7/scan.pdf").unwrap();
    writer.file_bytes(b"%PDF-1.4 ").unwrap();
    writer.file_bytes(&[0, 159, 255]).unwrap();
    assert!(
        writer.row(&[Value::Integer(3)]).is_err(),
        "no section is open"
    );
    writer.file("README.txt").unwrap();
    writer.file_bytes(b"what this is").unwrap();
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(writer.finish_bytes().unwrap())).unwrap();
    let mut read = |name: &str| {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut archive.by_name(name).unwrap(), &mut bytes).unwrap();
        bytes
    };
    let contacts: serde_json::Value = serde_json::from_slice(&read("contact.json")).unwrap();
    assert_eq!(
        contacts,
        serde_json::json!([{"id": 1, "name": "=Ada"}, {"id": 2, "name": "Bo\n"}]),
        "JSON needs no formula guard"
    );
    let tickets: serde_json::Value = serde_json::from_slice(&read("ticket.json")).unwrap();
    assert_eq!(tickets, serde_json::json!([]));
    assert_eq!(read("files/attachment-7/scan.pdf"), b"%PDF-1.4 \0\x9f\xff");
    assert_eq!(read("README.txt"), b"what this is");
}

fn read_all(bytes: &[u8]) -> (Vec<String>, Vec<Result<CsvRow, RowProblem>>) {
    let mut reader = CsvReader::new(bytes).unwrap();
    let header = reader.header().to_vec();
    let mut rows = Vec::new();
    while let Some(row) = reader.next_row().unwrap() {
        rows.push(row);
    }
    (header, rows)
}

#[test]
fn rows_come_with_the_line_they_start_on_and_a_bom_is_skipped() {
    let (header, rows) = read_all(
        b"\xEF\xBB\xBFname , email\r\nAnn,a@x.org\r\n\"Bo\nb\",b@x.org\r\n\r\nCy,\r\n,\r\n,,,\r\n",
    );
    assert_eq!(header, ["name", "email"]);
    let rows: Vec<CsvRow> = rows.into_iter().map(Result::unwrap).collect();
    assert_eq!(rows[0].line, 2);
    assert_eq!(rows[1].line, 3);
    assert_eq!(rows[1].cells, ["Bo\nb", "b@x.org"]);
    assert_eq!(rows[2].line, 6, "the blank line is passed over");
    assert_eq!(rows[2].cells, ["Cy", ""]);
    assert_eq!(rows.len(), 3, "rows of empty cells only are blank lines");
}

#[test]
fn a_row_with_the_wrong_number_of_cells_or_bad_utf8_is_named_with_its_line() {
    let (_, rows) = read_all(b"a,b\n1,2,3\n1,\xff\xfe\n4,5\n");
    let problem = rows[0].clone().unwrap_err();
    assert_eq!((problem.line, problem.column), (2, None));
    assert!(
        problem
            .message
            .starts_with("has 3 cells where the header has 2 columns")
    );
    let problem = rows[1].clone().unwrap_err();
    assert_eq!((problem.line, problem.column), (3, Some(2)));
    assert!(problem.message.contains("not UTF-8"));
    assert_eq!(rows[2].clone().unwrap().cells, ["4", "5"]);
}

#[test]
fn an_unclosed_quote_in_a_large_file_stops_at_the_row_limit() {
    let mut file = b"a,b\n1,\"never closed\n".to_vec();
    file.extend(std::iter::repeat_n(
        b'x',
        (MAX_ROW_BYTES + (1 << 20)) as usize,
    ));
    let mut reader = CsvReader::new(file.as_slice()).unwrap();
    match reader.next_row() {
        Err(CsvReadError::RowTooLong { line }) => assert_eq!(line, 2),
        other => panic!("expected a too long row, got {other:?}"),
    }
}

#[test]
fn an_empty_file_or_header_is_refused() {
    assert!(matches!(
        CsvReader::new(&b""[..]),
        Err(CsvReadError::NoHeader)
    ));
    assert!(matches!(
        CsvReader::new(&b",\n1,2\n"[..]),
        Err(CsvReadError::NoHeader)
    ));
}

proptest! {
    /// What the export's CSV writer writes, the reader reads back cell for cell.
    #[test]
    fn written_rows_read_back(cells in proptest::collection::vec(("[^\u{0}]{0,12}", "[a-z\"\n, ]{0,8}"), 1..20)) {
        let mut writer = CsvWriter::new(Vec::new(), &["a", "b"]).unwrap();
        for (a, b) in &cells {
            writer.row(&[Value::Text(a.clone()), Value::Text(b.clone())]).unwrap();
        }
        let bytes = writer.into_inner().unwrap();
        let (header, rows) = read_all(&bytes);
        prop_assert_eq!(header, vec!["a".to_owned(), "b".to_owned()]);
        let read: Vec<(String, String)> = rows
            .into_iter()
            .map(|row| {
                let row = row.unwrap();
                (row.cells[0].clone(), row.cells[1].clone())
            })
            .collect();
        let expected: Vec<(String, String)> = cells
            .iter()
            .filter(|(a, b)| !(a.is_empty() && b.is_empty()))
            .map(|(a, b)| {
                let guard = |text: &str| if looks_like_formula(text) { format!("'{text}") } else { text.to_owned() };
                (guard(a), guard(b))
            })
            .collect();
        prop_assert_eq!(read, expected);
    }
}
