//! Printing tables for analysts: JSON (an array of objects) or CSV (RFC 4180 quoting), from the
//! same rows, so both formats always carry the same figures.

use std::io::Write;

use serde_json::{Map, Value};

use crate::cli::Format;

/// A table: column names and rows of JSON values (strings, numbers, booleans or null).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    pub fn new(columns: &[&str]) -> Table {
        Table {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<Value>) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.rows.push(row);
    }

    /// The rows as JSON objects keyed by column name.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.rows
                .iter()
                .map(|row| {
                    let object: Map<String, Value> = self
                        .columns
                        .iter()
                        .cloned()
                        .zip(row.iter().cloned())
                        .collect();
                    Value::Object(object)
                })
                .collect(),
        )
    }

    /// Writes the table in `format` to `out`.
    pub fn write(&self, format: Format, out: &mut dyn Write) -> std::io::Result<()> {
        match format {
            Format::Json => {
                serde_json::to_writer_pretty(&mut *out, &self.to_json())?;
                writeln!(out)
            }
            Format::Csv => {
                write_csv_line(out, self.columns.iter().map(|c| c.as_str().into()))?;
                for row in &self.rows {
                    write_csv_line(out, row.iter().map(csv_cell))?;
                }
                Ok(())
            }
        }
    }
}

impl Table {
    /// Writes only the rows as CSV, without the header line (for exports written as they
    /// come).
    pub fn write_rows_csv(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for row in &self.rows {
            write_csv_line(out, row.iter().map(csv_cell))?;
        }
        Ok(())
    }
}

fn csv_cell(value: &Value) -> std::borrow::Cow<'_, str> {
    match value {
        Value::Null => "".into(),
        Value::String(s) => s.as_str().into(),
        other => other.to_string().into(),
    }
}

fn write_csv_line<'a>(
    out: &mut dyn Write,
    cells: impl Iterator<Item = std::borrow::Cow<'a, str>>,
) -> std::io::Result<()> {
    let mut first = true;
    for cell in cells {
        if !first {
            out.write_all(b",")?;
        }
        first = false;
        if cell.contains([',', '"', '\n', '\r']) {
            write!(out, "\"{}\"", cell.replace('"', "\"\""))?;
        } else {
            out.write_all(cell.as_bytes())?;
        }
    }
    out.write_all(b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let mut table = Table::new(&["name", "count"]);
        table.push(vec![json!("Lycée \"Hoche\", Versailles"), json!(3)]);
        table.push(vec![Value::Null, json!(0.5)]);
        let mut out = Vec::new();
        table.write(Format::Csv, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "name,count\r\n\"Lycée \"\"Hoche\"\", Versailles\",3\r\n,0.5\r\n"
        );
    }

    #[test]
    fn json_rows_are_objects_by_column() {
        let mut table = Table::new(&["a", "b"]);
        table.push(vec![json!(1), json!("x")]);
        assert_eq!(table.to_json(), json!([{"a": 1, "b": "x"}]));
    }
}
