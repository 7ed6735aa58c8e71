//! The one CSV writer every export goes through (`tests/api/layers.rs` checks that no other code
//! makes one). A spreadsheet opening the file takes a cell that starts with `=`, `+`, `-` or `@`
//! (or a tab or carriage return) as a formula, which can run commands or send the sheet's data
//! away; such cells get a leading `'`, which spreadsheets read as "this is text". Quoting is the
//! csv crate's (RFC 4180).

use std::borrow::Cow;

/// The first characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `cell` as it is safe to write: unchanged, or behind a `'`.
pub fn neutralised(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A CSV document in memory, every cell neutralised.
pub struct CsvExport {
    writer: csv::Writer<Vec<u8>>,
}

impl Default for CsvExport {
    fn default() -> Self {
        CsvExport {
            writer: csv::Writer::from_writer(Vec::new()),
        }
    }
}

impl CsvExport {
    pub fn row<I, T>(&mut self, cells: I) -> Result<(), csv::Error>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        let cells: Vec<T> = cells.into_iter().collect();
        self.writer
            .write_record(cells.iter().map(|c| neutralised(c.as_ref()).into_owned()))
    }

    pub fn finish(self) -> Result<Vec<u8>, csv::Error> {
        self.writer.into_inner().map_err(|e| e.into_error().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_written_as_text() {
        let mut csv = CsvExport::default();
        csv.row([
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "plain",
            "a=b",
            "",
        ])
        .unwrap();
        let bytes = csv.finish().unwrap();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes.as_slice());
        let row = reader.records().next().unwrap().unwrap();
        let cells: Vec<&str> = row.iter().collect();
        assert_eq!(
            cells,
            [
                "'=HYPERLINK(\"http://x\")",
                "'+1",
                "'-2+3",
                "'@SUM(A1)",
                "'\t=1",
                "'\r=1",
                "plain",
                "a=b",
                ""
            ]
        );
    }
}
