//! Record values: what a column holds, parsed from JSON at the edge and written back as JSON.
//!
//! A [`Value`] always fits the column it was parsed for; the storage code converts it into a
//! bound SQL parameter for the dialect in use and never splices it into SQL text.

use lethe_schema::ValueType;
use rust_decimal::Decimal;
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, UtcOffset, macros::format_description};

/// The longest text value accepted in a field (1 MiB), so a single request cannot grow the
/// database without bound.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

/// The most digits a decimal value may have in all, before and after the point. SQLite
/// stores decimals as 64-bit integers of 10^-scale units, which hold 18 digits exactly.
pub const MAX_DECIMAL_DIGITS: u32 = 18;

/// One column's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Text(String),
    Integer(i64),
    Decimal(Decimal),
    Boolean(bool),
    Date(Date),
    Timestamp(OffsetDateTime),
    Json(serde_json::Value),
}

/// Why a JSON value does not fit a column. The message is for users and names the expected
/// form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Parses a JSON value for a column of the given type.
    pub fn from_json(
        value_type: &ValueType,
        json: &serde_json::Value,
    ) -> Result<Value, ValueError> {
        use serde_json::Value as J;
        if json.is_null() {
            return Ok(Value::Null);
        }
        let describe = || describe_json(json);
        match value_type {
            ValueType::Text => match json {
                J::String(text) => text_value(text),
                _ => Err(ValueError(format!(
                    "expected a text string, got {}",
                    describe()
                ))),
            },
            ValueType::Enum { values } => match json {
                J::String(text) if values.contains(text) => Ok(Value::Text(text.clone())),
                J::String(text) => Err(ValueError(format!(
                    "`{text}` is not allowed; expected one of: {}",
                    values.join(", ")
                ))),
                _ => Err(ValueError(format!(
                    "expected one of: {}, got {}",
                    values.join(", "),
                    describe()
                ))),
            },
            ValueType::OwnerEntity { entities } => match json {
                J::String(text) if entities.iter().any(|entity| entity == text.as_str()) => {
                    Ok(Value::Text(text.clone()))
                }
                _ => Err(ValueError(format!(
                    "expected the name of one of: {}, got {}",
                    entities
                        .iter()
                        .map(|e| e.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    describe()
                ))),
            },
            ValueType::Integer | ValueType::Reference => match json.as_i64() {
                Some(number) => Ok(Value::Integer(number)),
                None => Err(ValueError(format!(
                    "expected a whole number, got {}",
                    describe()
                ))),
            },
            ValueType::Decimal { scale } => {
                let text = match json {
                    J::Number(number) => number.to_string(),
                    J::String(text) => text.clone(),
                    _ => String::new(),
                };
                match parse_decimal(&text, *scale) {
                    Ok(decimal)
                        if decimal.mantissa().unsigned_abs() < 10u128.pow(MAX_DECIMAL_DIGITS) =>
                    {
                        Ok(Value::Decimal(decimal))
                    }
                    Ok(_) => Err(ValueError(
                        DecimalError::TooManyDigits {
                            max: MAX_DECIMAL_DIGITS,
                            scale: *scale,
                        }
                        .to_string(),
                    )),
                    Err(DecimalError::NotANumber) => Err(ValueError(format!(
                        "expected a decimal number such as 1234.50, got {}",
                        describe()
                    ))),
                    Err(DecimalError::TooManyDigits { scale, .. }) => Err(ValueError(
                        DecimalError::TooManyDigits {
                            max: MAX_DECIMAL_DIGITS,
                            scale,
                        }
                        .to_string(),
                    )),
                    Err(problem) => Err(ValueError(problem.to_string())),
                }
            }
            ValueType::Boolean => match json {
                J::Bool(flag) => Ok(Value::Boolean(*flag)),
                _ => Err(ValueError(format!(
                    "expected true or false, got {}",
                    describe()
                ))),
            },
            ValueType::Date => match json {
                J::String(text) => parse_date(text).map(Value::Date),
                _ => Err(ValueError(format!(
                    "expected a date such as \"2024-05-31\", got {}",
                    describe()
                ))),
            },
            ValueType::Timestamp => match json {
                J::String(text) => {
                    parse_timestamp(text).map(|at| Value::Timestamp(truncate_to_micros(at)))
                }
                _ => Err(ValueError(format!(
                    "expected a timestamp such as \"2024-05-31T14:30:00Z\", got {}",
                    describe()
                ))),
            },
            ValueType::Json => {
                let size = json.to_string().len();
                if size > MAX_TEXT_BYTES {
                    return Err(ValueError(format!(
                        "is {size} bytes; at most {MAX_TEXT_BYTES} are accepted"
                    )));
                }
                Ok(Value::Json(json.clone()))
            }
        }
    }

    /// Parses a cell of a CSV file for a column of the given type, by the API's rules: an
    /// empty cell is null, numbers and `true`/`false` are read from their text, JSON columns
    /// hold JSON text, everything else is taken as the text the API would be given.
    pub fn from_text(value_type: &ValueType, text: &str) -> Result<Value, ValueError> {
        use serde_json::Value as J;
        if text.is_empty() {
            return Ok(Value::Null);
        }
        let json = match value_type {
            ValueType::Integer | ValueType::Reference => match text.trim().parse::<i64>() {
                Ok(number) => J::from(number),
                Err(_) => {
                    return Err(ValueError(format!(
                        "expected a whole number, got {}",
                        describe_json(&J::String(text.to_owned()))
                    )));
                }
            },
            ValueType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
                "true" => J::Bool(true),
                "false" => J::Bool(false),
                _ => {
                    return Err(ValueError(format!(
                        "expected true or false, got {}",
                        describe_json(&J::String(text.to_owned()))
                    )));
                }
            },
            ValueType::Json => serde_json::from_str(text).map_err(|error| {
                ValueError(format!(
                    "expected JSON text, but it does not parse: {error}"
                ))
            })?,
            ValueType::Decimal { .. } => J::String(text.trim().to_owned()),
            ValueType::Text
            | ValueType::Enum { .. }
            | ValueType::OwnerEntity { .. }
            | ValueType::Date
            | ValueType::Timestamp => J::String(text.to_owned()),
        };
        Value::from_json(value_type, &json)
    }

    /// The JSON form of the value, as the API and `--json` print it. Decimals are strings so
    /// that no precision is lost in clients that read numbers as floats.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Text(text) => serde_json::Value::String(text.clone()),
            Value::Integer(number) => serde_json::Value::from(*number),
            Value::Decimal(decimal) => serde_json::Value::String(decimal.to_string()),
            Value::Boolean(flag) => serde_json::Value::Bool(*flag),
            Value::Date(date) => serde_json::Value::String(format_date(*date)),
            Value::Timestamp(at) => serde_json::Value::String(format_timestamp(*at)),
            Value::Json(json) => json.clone(),
        }
    }
}

fn text_value(text: &str) -> Result<Value, ValueError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(ValueError(format!(
            "is {} bytes long; at most {MAX_TEXT_BYTES} are accepted",
            text.len()
        )));
    }
    if text.contains('\0') {
        return Err(ValueError("may not contain a NUL character".to_owned()));
    }
    Ok(Value::Text(text.to_owned()))
}

fn describe_json(json: &serde_json::Value) -> String {
    match json {
        serde_json::Value::Null => "null".to_owned(),
        serde_json::Value::Bool(flag) => format!("the boolean {flag}"),
        serde_json::Value::Number(number) => format!("the number {number}"),
        serde_json::Value::String(text) => {
            let shown: String = text.chars().take(40).collect();
            format!("the text \"{shown}\"")
        }
        serde_json::Value::Array(_) => "a list".to_owned(),
        serde_json::Value::Object(_) => "an object".to_owned(),
    }
}

/// Parses a calendar date written `YYYY-MM-DD` (four-digit year, two-digit month and day;
/// surrounding spaces are ignored). The one rule for dates: record values, filter literals and
/// command-line options all go through it.
pub fn parse_date(text: &str) -> Result<Date, ValueError> {
    strict_date(text.trim()).ok_or_else(|| {
        ValueError(format!(
            "`{text}` is not a date; expected the form 2024-05-31"
        ))
    })
}

fn strict_date(text: &str) -> Option<Date> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u16> {
        let part = text.get(range)?;
        if part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let month = Month::try_from(u8::try_from(number(5..7)?).ok()?).ok()?;
    let day = u8::try_from(number(8..10)?).ok()?;
    Date::from_calendar_date(i32::from(number(0..4)?), month, day).ok()
}

/// Parses an instant: an RFC 3339 timestamp, or a date alone meaning its midnight UTC
/// (surrounding spaces are ignored). The result is in UTC and within the years 0 to 9999, so
/// that it prints back in the same form; its precision is what was written (a record value
/// keeps microseconds, see [`truncate_to_micros`]; a filter refuses anything finer).
pub fn parse_timestamp(text: &str) -> Result<OffsetDateTime, ValueError> {
    let trimmed = text.trim();
    let instant = match strict_date(trimmed) {
        Some(date) => Some(date.midnight().assume_utc()),
        None => OffsetDateTime::parse(trimmed, &Rfc3339)
            .ok()
            .and_then(|instant| instant.checked_to_offset(UtcOffset::UTC)),
    };
    instant
        .filter(|instant| (0..=9999).contains(&instant.year()))
        .ok_or_else(|| {
            ValueError(format!(
                "`{text}` is not a timestamp; expected the form 2024-05-31T14:30:00Z"
            ))
        })
}

/// The most digits a decimal may have in all, so that it fits [`Decimal`]: filters accept
/// bounds this large (a stored value has at most [`MAX_DECIMAL_DIGITS`]).
pub const MAX_DECIMAL_PARSE_DIGITS: u32 = 28;

/// Why a text is not a decimal of the scale asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("is not a decimal number such as 1234.50")]
    NotANumber,
    #[error("has more than {scale} digits after the decimal point")]
    TooPrecise { scale: u32 },
    #[error("has more than {max} digits in all (with {scale} after the point)")]
    TooManyDigits { max: u32, scale: u32 },
}

/// Parses a decimal number for a field of `scale` digits after the point, at that scale
/// (`12` → `12.00`): an optional `-`, digits, and optionally a `.` followed by digits; no
/// exponent, no `+`, no separators. Zero is never negative. The one rule for decimals: record
/// values and filter literals both go through it.
pub fn parse_decimal(text: &str, scale: u32) -> Result<Decimal, DecimalError> {
    let text = text.trim();
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !all_digits(whole)
        || !all_digits(fraction)
        || (unsigned.contains('.') && fraction.is_empty())
    {
        return Err(DecimalError::NotANumber);
    }
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > usize::try_from(scale).unwrap_or(usize::MAX) {
        return Err(DecimalError::TooPrecise { scale });
    }
    let digits = u32::try_from(whole.len())
        .unwrap_or(u32::MAX)
        .saturating_add(scale);
    if digits > MAX_DECIMAL_PARSE_DIGITS {
        return Err(DecimalError::TooManyDigits {
            max: MAX_DECIMAL_PARSE_DIGITS,
            scale,
        });
    }
    let mut canonical = String::with_capacity(whole.len() + fraction.len() + 3);
    if negative {
        canonical.push('-');
    }
    canonical.push_str(if whole.is_empty() { "0" } else { whole });
    if !fraction.is_empty() {
        canonical.push('.');
        canonical.push_str(fraction);
    }
    let mut decimal = canonical
        .parse::<Decimal>()
        .map_err(|_| DecimalError::NotANumber)?;
    decimal.rescale(scale);
    if decimal.is_zero() {
        decimal.set_sign_positive(true);
    }
    Ok(decimal)
}

/// Drops sub-microsecond precision.
pub fn truncate_to_micros(at: OffsetDateTime) -> OffsetDateTime {
    let nanos = at.nanosecond();
    at.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(at)
}

pub fn format_date(date: Date) -> String {
    date.format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_else(|_| date.to_string())
}

/// Formats a timestamp in UTC with exactly six fractional digits. The fixed width makes text
/// order equal time order, which SQLite relies on for comparisons and indexes.
pub fn format_timestamp(at: OffsetDateTime) -> String {
    let utc = at.to_offset(UtcOffset::UTC);
    utc.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    ))
    .unwrap_or_else(|_| utc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn enum_values_outside_the_list_are_refused_with_the_list() {
        let value_type = ValueType::Enum {
            values: vec!["a".into(), "b".into()],
        };
        let error = Value::from_json(&value_type, &json!("c")).expect_err("not allowed");
        assert_eq!(error.0, "`c` is not allowed; expected one of: a, b");
    }

    #[test]
    fn csv_cells_are_read_by_the_api_rules() {
        let read = |value_type: &ValueType, text: &str| Value::from_text(value_type, text);
        assert_eq!(read(&ValueType::Integer, " 42 "), Ok(Value::Integer(42)));
        assert_eq!(read(&ValueType::Integer, ""), Ok(Value::Null));
        assert_eq!(
            read(&ValueType::Integer, "4x").map_err(|error| error.0),
            Err("expected a whole number, got the text \"4x\"".to_owned())
        );
        assert_eq!(read(&ValueType::Boolean, "TRUE"), Ok(Value::Boolean(true)));
        assert!(read(&ValueType::Boolean, "yes").is_err());
        assert_eq!(
            read(&ValueType::Decimal { scale: 2 }, "12.5").map(|v| v.to_json()),
            Ok(json!("12.50"))
        );
        assert_eq!(
            read(&ValueType::Json, "{\"a\":[1]}"),
            Ok(Value::Json(json!({"a": [1]})))
        );
        assert!(read(&ValueType::Json, "{").is_err());
        assert_eq!(
            read(&ValueType::Text, " spaced "),
            Ok(Value::Text(" spaced ".to_owned()))
        );
        assert!(read(&ValueType::Date, "31.05.2024").is_err());
        let status = ValueType::Enum {
            values: vec!["lead".into()],
        };
        assert_eq!(
            read(&status, "leed").map_err(|error| error.0),
            Err("`leed` is not allowed; expected one of: lead".to_owned())
        );
    }

    proptest! {
        /// What an export writes for a value (its JSON form, strings unquoted) reads back as
        /// the same value.
        #[test]
        fn exported_cells_read_back_as_the_same_value(
            number in any::<i64>(),
            flag in any::<bool>(),
            cents in -99_999_999i64..99_999_999,
            days in 0i64..100_000,
        ) {
            let date = Date::from_calendar_date(1900, Month::January, 1).expect("a valid date")
                + time::Duration::days(days);
            let cases = [
                (ValueType::Integer, Value::Integer(number)),
                (ValueType::Boolean, Value::Boolean(flag)),
                (ValueType::Decimal { scale: 2 }, Value::Decimal(Decimal::new(cents, 2))),
                (ValueType::Date, Value::Date(date)),
            ];
            for (value_type, value) in cases {
                let cell = match value.to_json() {
                    serde_json::Value::String(text) => text,
                    other => other.to_string(),
                };
                prop_assert_eq!(Value::from_text(&value_type, &cell), Ok(value));
            }
        }
    }

    #[test]
    fn decimals_keep_their_scale_and_refuse_more_digits() {
        let value_type = ValueType::Decimal { scale: 2 };
        assert_eq!(
            Value::from_json(&value_type, &json!(12.5)).map(|v| v.to_json()),
            Ok(json!("12.50"))
        );
        assert!(Value::from_json(&value_type, &json!("1.234")).is_err());
        assert!(Value::from_json(&value_type, &json!("9999999999999999.99")).is_ok());
        let error =
            Value::from_json(&value_type, &json!("10000000000000000.00")).expect_err("19 digits");
        assert_eq!(
            error.0,
            "has more than 18 digits in all (with 2 after the point)"
        );
        assert!(Value::from_json(&value_type, &json!("abc")).is_err());
    }

    #[test]
    fn timestamps_are_normalised_to_utc_micros() {
        let parsed = parse_timestamp("2024-05-31T16:30:00.123456789+02:00").expect("valid");
        assert_eq!(format_timestamp(parsed), "2024-05-31T14:30:00.123456Z");
        assert_eq!(
            format_timestamp(parse_timestamp("2024-05-31").expect("valid")),
            "2024-05-31T00:00:00.000000Z"
        );
        assert!(parse_timestamp("yesterday").is_err());
    }

    fn decimal(number: &str, scale: u32) -> Option<String> {
        parse_decimal(number, scale).ok().map(|d| d.to_string())
    }

    #[test]
    fn decimals_are_written_at_the_field_scale() {
        assert_eq!(decimal("1234.5", 2).as_deref(), Some("1234.50"));
        assert_eq!(decimal("0012", 2).as_deref(), Some("12.00"));
        assert_eq!(decimal("-0.000", 2).as_deref(), Some("0.00"));
        assert_eq!(decimal("-0.05", 2).as_deref(), Some("-0.05"));
        assert_eq!(decimal("7.00", 0).as_deref(), Some("7"));
        assert_eq!(decimal("0", 0).as_deref(), Some("0"));
        assert_eq!(decimal(" 12.5 ", 1).as_deref(), Some("12.5"));
        assert_eq!(decimal("1.234", 2), None);
        assert_eq!(decimal("1.", 2), None);
        assert_eq!(decimal(".5", 2), None);
        assert_eq!(decimal("+5", 2), None);
        assert_eq!(decimal("1_000", 2), None);
        assert_eq!(decimal("1e5", 2), None);
        assert_eq!(decimal("", 2), None);
        assert_eq!(decimal(&"9".repeat(26), 2).map(|d| d.len()), Some(29));
        assert_eq!(
            parse_decimal(&"9".repeat(27), 2),
            Err(DecimalError::TooManyDigits { max: 28, scale: 2 })
        );
        assert_eq!(
            parse_decimal("1.234", 2),
            Err(DecimalError::TooPrecise { scale: 2 })
        );
    }

    #[test]
    fn dates_and_timestamps_are_strict() {
        assert!(parse_date("2024-02-29").is_ok());
        assert!(parse_date(" 2024-02-29 ").is_ok());
        assert!(parse_date("2023-02-29").is_err());
        assert!(parse_date("2024-5-31").is_err());
        assert!(parse_date("+024-05-31").is_err());
        assert!(parse_date("2024-05-31T00:00:00Z").is_err());
        assert!(parse_timestamp("2024-05-31T14:30:00+02:00").is_ok());
        assert!(parse_timestamp("2024-05-31T14:30:00").is_err());
        assert!(parse_timestamp("0000-01-01T00:00:00+01:00").is_err());
        assert!(parse_timestamp("9999-12-31T23:00:00-02:00").is_err());
        assert!(parse_timestamp("abc").is_err());
        assert_eq!(
            parse_timestamp("2024-05-31T16:30:00.5+02:00").map(format_timestamp),
            Ok("2024-05-31T14:30:00.500000Z".to_owned())
        );
    }

    #[test]
    fn wrong_json_types_are_named() {
        let error = Value::from_json(&ValueType::Integer, &json!("12")).expect_err("a string");
        assert_eq!(error.0, "expected a whole number, got the text \"12\"");
        let error = Value::from_json(&ValueType::Boolean, &json!(1)).expect_err("a number");
        assert_eq!(error.0, "expected true or false, got the number 1");
    }

    proptest! {
        #[test]
        fn timestamp_text_order_is_time_order(a in 0i64..4_000_000_000, b in 0i64..4_000_000_000, micros in 0u32..1_000_000) {
            let at = |seconds: i64| OffsetDateTime::from_unix_timestamp(seconds)
                .expect("in range")
                .replace_nanosecond(micros * 1_000)
                .expect("in range");
            let (x, y) = (at(a), at(b));
            prop_assert_eq!(x.cmp(&y), format_timestamp(x).cmp(&format_timestamp(y)));
            prop_assert_eq!(parse_timestamp(&format_timestamp(x)).expect("round trip"), x);
        }

        #[test]
        fn parsing_any_json_for_any_type_never_panics(text in ".{0,30}", number in any::<f64>()) {
            for value_type in [ValueType::Text, ValueType::Integer, ValueType::Decimal { scale: 2 }, ValueType::Boolean, ValueType::Date, ValueType::Timestamp, ValueType::Json] {
                let _ = Value::from_json(&value_type, &json!(text));
                let _ = Value::from_json(&value_type, &json!(number));
            }
        }
    }
}
