//! What changed between two policy versions, as a reader sees it: the rendered Markdown is read
//! into lines of text (headings, paragraphs, list items, table rows as cells: no Markdown syntax
//! left), the lines are compared, and a changed line is compared word by word.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use serde::Serialize;
use similar::{Algorithm, ChangeTag, DiffOp, TextDiff, capture_diff_slices};

/// CRLF and lone CR become LF: a browser's textarea sends CRLF, an API client usually LF, and the
/// same text must be the same text.
pub fn normalize_line_ends(text: &str) -> String {
    if !text.contains('\r') {
        return text.to_owned();
    }
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// What a line of the reader's text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Heading,
    Paragraph,
    /// A list item.
    Item,
    /// A table's header row.
    Header,
    /// A table row.
    Row,
    /// A line of a code block.
    Code,
}

impl LineKind {
    /// Its name, as the API spells it.
    pub fn name(&self) -> &'static str {
        match self {
            LineKind::Heading => "heading",
            LineKind::Paragraph => "paragraph",
            LineKind::Item => "item",
            LineKind::Header => "header",
            LineKind::Row => "row",
            LineKind::Code => "code",
        }
    }
}

/// One line as a reader sees it: one cell, or a table row's cells.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReaderLine {
    pub kind: LineKind,
    pub cells: Vec<String>,
}

/// Collapses runs of white space, as a browser shows them.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads rendered Markdown into the lines a reader sees.
pub fn reader_lines(markdown: &str) -> Vec<ReaderLine> {
    let markdown = normalize_line_ends(markdown);
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);

    let mut lines = Vec::new();
    let mut text = String::new();
    let mut kind = LineKind::Paragraph;
    let mut item_depth = 0usize;
    let mut row: Option<Vec<String>> = None;
    let mut in_code = false;

    fn flush(lines: &mut Vec<ReaderLine>, text: &mut String, kind: LineKind) {
        let line = collapse(text);
        if !line.is_empty() {
            lines.push(ReaderLine {
                kind,
                cells: vec![line],
            });
        }
        text.clear();
    }

    for event in Parser::new_ext(&markdown, options) {
        match event {
            Event::Start(Tag::Heading { .. }) => {
                flush(&mut lines, &mut text, kind);
                kind = LineKind::Heading;
            }
            Event::Start(Tag::Paragraph) => {
                flush(&mut lines, &mut text, kind);
                kind = if item_depth > 0 {
                    LineKind::Item
                } else {
                    LineKind::Paragraph
                };
            }
            Event::Start(Tag::Item) => {
                flush(&mut lines, &mut text, kind);
                item_depth += 1;
                kind = LineKind::Item;
            }
            Event::End(TagEnd::Item) => {
                flush(&mut lines, &mut text, kind);
                item_depth = item_depth.saturating_sub(1);
                kind = if item_depth > 0 {
                    LineKind::Item
                } else {
                    LineKind::Paragraph
                };
            }
            Event::End(TagEnd::Heading(_) | TagEnd::Paragraph) => {
                flush(&mut lines, &mut text, kind);
                kind = if item_depth > 0 {
                    LineKind::Item
                } else {
                    LineKind::Paragraph
                };
            }
            Event::Start(Tag::CodeBlock(_)) => {
                flush(&mut lines, &mut text, kind);
                in_code = true;
            }
            Event::End(TagEnd::CodeBlock) => in_code = false,
            Event::Start(Tag::TableHead | Tag::TableRow) => {
                flush(&mut lines, &mut text, kind);
                row = Some(Vec::new());
            }
            Event::End(end @ (TagEnd::TableHead | TagEnd::TableRow)) => {
                if let Some(cells) = row.take() {
                    let kind = if end == TagEnd::TableHead {
                        LineKind::Header
                    } else {
                        LineKind::Row
                    };
                    lines.push(ReaderLine { kind, cells });
                }
            }
            Event::Start(Tag::TableCell) => text.clear(),
            Event::End(TagEnd::TableCell) => {
                if let Some(cells) = row.as_mut() {
                    cells.push(collapse(&text));
                }
                text.clear();
            }
            Event::Text(t) if in_code => {
                for code in t.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
                    lines.push(ReaderLine {
                        kind: LineKind::Code,
                        cells: vec![code.to_owned()],
                    });
                }
            }
            Event::Text(t) | Event::Code(t) => text.push_str(&t),
            Event::SoftBreak => text.push(' '),
            Event::HardBreak | Event::Rule => flush(&mut lines, &mut text, kind),
            // Raw HTML is not shown as written (it is sanitized or rendered), so it is no text.
            _ => {}
        }
    }
    flush(&mut lines, &mut text, kind);
    lines
}

/// How a line or a run of words compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum Change {
    #[serde(rename = "=")]
    Same,
    #[serde(rename = "-")]
    Removed,
    #[serde(rename = "+")]
    Added,
    /// In both versions with some words changed (lines only).
    #[serde(rename = "~")]
    Changed,
}

impl Change {
    /// The word for it, also the class the console styles it with.
    pub fn name(&self) -> &'static str {
        match self {
            Change::Same => "same",
            Change::Removed => "removed",
            Change::Added => "added",
            Change::Changed => "changed",
        }
    }
}

/// A run of words of a cell that compares the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Words {
    /// `=` in both versions, `-` only in the older, `+` only in the newer.
    pub op: Change,
    pub text: String,
}

/// One line of a diff between two versions' text as a reader sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DiffLine {
    /// `=` unchanged, `-` only in the older version, `+` only in the newer, `~` in both with
    /// words changed (marked in `cells`).
    pub op: Change,
    pub kind: LineKind,
    /// The line as it reads in the newer version (the older, for a removed line); a table row's
    /// cells are separated by a tab.
    pub text: String,
    /// The line's cells (one, unless it is a table row), each a sequence of runs of words.
    pub cells: Vec<Vec<Words>>,
}

impl DiffLine {
    fn whole(op: Change, line: &ReaderLine) -> Self {
        DiffLine {
            op,
            kind: line.kind,
            text: line.cells.join("\t"),
            cells: line
                .cells
                .iter()
                .map(|c| {
                    vec![Words {
                        op,
                        text: c.clone(),
                    }]
                })
                .collect(),
        }
    }

    fn changed(older: &ReaderLine, newer: &ReaderLine) -> Self {
        DiffLine {
            op: Change::Changed,
            kind: newer.kind,
            text: newer.cells.join("\t"),
            cells: older
                .cells
                .iter()
                .zip(&newer.cells)
                .map(|(a, b)| word_diff(a, b))
                .collect(),
        }
    }
}

/// Word runs of `older` → `newer`. A space alone between two changes joins them, so "30 days"
/// → "90 weeks" reads as one change rather than two.
pub fn word_diff(older: &str, newer: &str) -> Vec<Words> {
    let diff = TextDiff::from_words(older, newer);
    let tokens: Vec<(Change, &str)> = diff
        .iter_all_changes()
        .map(|c| {
            let op = match c.tag() {
                ChangeTag::Equal => Change::Same,
                ChangeTag::Delete => Change::Removed,
                ChangeTag::Insert => Change::Added,
            };
            (op, c.value())
        })
        .collect();
    let changed = |i: usize| tokens.get(i).is_some_and(|(op, _)| *op != Change::Same);
    // Runs: an unchanged run, or a change made of what was removed and what was added.
    let mut runs: Vec<Words> = Vec::new();
    let (mut removed, mut added) = (String::new(), String::new());
    let flush = |runs: &mut Vec<Words>, removed: &mut String, added: &mut String| {
        for (op, text) in [(Change::Removed, removed), (Change::Added, added)] {
            if !text.is_empty() {
                runs.push(Words {
                    op,
                    text: std::mem::take(text),
                });
            }
        }
    };
    for (i, (op, text)) in tokens.iter().enumerate() {
        let joins = *op == Change::Same
            && text.trim().is_empty()
            && i > 0
            && changed(i - 1)
            && changed(i + 1);
        match op {
            Change::Removed => removed.push_str(text),
            Change::Added => added.push_str(text),
            _ if joins => {
                removed.push_str(text);
                added.push_str(text);
            }
            _ => {
                flush(&mut runs, &mut removed, &mut added);
                match runs.last_mut() {
                    Some(last) if last.op == Change::Same => last.text.push_str(text),
                    _ => runs.push(Words {
                        op: Change::Same,
                        text: (*text).to_owned(),
                    }),
                }
            }
        }
    }
    flush(&mut runs, &mut removed, &mut added);
    runs
}

/// Whether two lines are one line edited rather than one removed and another added: same kind
/// and shape, and at least half of their words in common.
fn same_line_edited(older: &ReaderLine, newer: &ReaderLine) -> bool {
    older.kind == newer.kind
        && older.cells.len() == newer.cells.len()
        && TextDiff::from_words(older.cells.join(" "), newer.cells.join(" ")).ratio() >= 0.5
}

/// How far ahead a removed line looks for the added line it became.
const PAIRING_WINDOW: usize = 8;

/// Pairs the lines of a replaced block into edits where they are one, in order.
fn pair_block(older: &[ReaderLine], newer: &[ReaderLine], out: &mut Vec<DiffLine>) {
    let (mut i, mut j) = (0, 0);
    while i < older.len() && j < newer.len() {
        if same_line_edited(&older[i], &newer[j]) {
            out.push(DiffLine::changed(&older[i], &newer[j]));
            i += 1;
            j += 1;
        } else if newer[j + 1..]
            .iter()
            .take(PAIRING_WINDOW)
            .any(|n| same_line_edited(&older[i], n))
        {
            out.push(DiffLine::whole(Change::Added, &newer[j]));
            j += 1;
        } else {
            out.push(DiffLine::whole(Change::Removed, &older[i]));
            i += 1;
        }
    }
    out.extend(
        older[i..]
            .iter()
            .map(|l| DiffLine::whole(Change::Removed, l)),
    );
    out.extend(newer[j..].iter().map(|l| DiffLine::whole(Change::Added, l)));
}

/// The diff of two rendered Markdown texts (older first), as a reader sees them.
pub fn diff(older_markdown: &str, newer_markdown: &str) -> Vec<DiffLine> {
    let older = reader_lines(older_markdown);
    let newer = reader_lines(newer_markdown);
    let mut out = Vec::new();
    for op in capture_diff_slices(Algorithm::Patience, &older, &newer) {
        match op {
            DiffOp::Equal { old_index, len, .. } => out.extend(
                older[old_index..old_index + len]
                    .iter()
                    .map(|l| DiffLine::whole(Change::Same, l)),
            ),
            DiffOp::Delete {
                old_index, old_len, ..
            } => out.extend(
                older[old_index..old_index + old_len]
                    .iter()
                    .map(|l| DiffLine::whole(Change::Removed, l)),
            ),
            DiffOp::Insert {
                new_index, new_len, ..
            } => out.extend(
                newer[new_index..new_index + new_len]
                    .iter()
                    .map(|l| DiffLine::whole(Change::Added, l)),
            ),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => pair_block(
                &older[old_index..old_index + old_len],
                &newer[new_index..new_index + new_len],
                &mut out,
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(lines: &[DiffLine]) -> Vec<(&'static str, String)> {
        lines
            .iter()
            .map(|l| (l.op.name(), l.text.clone()))
            .collect()
    }

    #[test]
    fn line_ends_are_one_kind() {
        assert_eq!(normalize_line_ends("a\r\nb\rc\n"), "a\nb\nc\n");
        assert_eq!(normalize_line_ends("plain\n"), "plain\n");
    }

    #[test]
    fn markdown_is_read_as_text_tables_as_cells() {
        let md = "# Our policy\n\nWe keep *little*\nand say `why`.\n\n\
                  | Data | Why |\n|---|---|\n| E-mail \\| address | log in |\n\n\
                  - **Access**: ask\n- Deletion\n";
        let lines = reader_lines(md);
        let as_read: Vec<(LineKind, Vec<&str>)> = lines
            .iter()
            .map(|l| (l.kind, l.cells.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            as_read,
            [
                (LineKind::Heading, vec!["Our policy"]),
                (LineKind::Paragraph, vec!["We keep little and say why."]),
                (LineKind::Header, vec!["Data", "Why"]),
                (LineKind::Row, vec!["E-mail | address", "log in"]),
                (LineKind::Item, vec!["Access: ask"]),
                (LineKind::Item, vec!["Deletion"]),
            ]
        );
    }

    #[test]
    fn crlf_and_lf_texts_do_not_differ() {
        let lf = "# A\n\nOne line\nand more.\n\n| x | y |\n|---|---|\n| 1 | 2 |\n";
        let crlf = lf.replace('\n', "\r\n");
        assert!(diff(&crlf, lf).iter().all(|l| l.op == Change::Same));
    }

    #[test]
    fn a_changed_word_is_marked_within_its_line() {
        let d = diff(
            "# A\n\nWe keep logs for 30 days.\n\n| Data | Kept |\n|---|---|\n| Logs | 30 days |\n",
            "# A\n\nWe keep logs for 90 days.\n\n| Data | Kept |\n|---|---|\n| Logs | 90 days |\n",
        );
        assert_eq!(
            ops(&d),
            [
                ("same", "A".to_owned()),
                ("changed", "We keep logs for 90 days.".to_owned()),
                ("same", "Data\tKept".to_owned()),
                ("changed", "Logs\t90 days".to_owned()),
            ]
        );
        let words: Vec<(&str, &str)> = d[1].cells[0]
            .iter()
            .map(|w| (w.op.name(), w.text.as_str()))
            .collect();
        assert_eq!(
            words,
            [
                ("same", "We keep logs for "),
                ("removed", "30"),
                ("added", "90"),
                ("same", " days.")
            ]
        );
        assert_eq!(
            d[3].cells[0],
            [Words {
                op: Change::Same,
                text: "Logs".into()
            }]
        );
        assert!(d.iter().all(|l| !l.text.contains('|')));
    }

    #[test]
    fn neighbouring_changed_words_read_as_one_change() {
        let words = word_diff("kept 30 days here", "kept 2 weeks here");
        let shown: Vec<(&str, &str)> = words
            .iter()
            .map(|w| (w.op.name(), w.text.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                ("same", "kept "),
                ("removed", "30 days"),
                ("added", "2 weeks"),
                ("same", " here")
            ]
        );
    }

    #[test]
    fn unrelated_lines_are_removed_and_added_not_paired() {
        let d = diff(
            "Intro.\n\nCompletely different words here.\n\nEnd.\n",
            "Intro.\n\nNothing alike at all, honestly.\n\nEnd.\n",
        );
        assert_eq!(
            d.iter().map(|l| l.op.name()).collect::<Vec<_>>(),
            ["same", "removed", "added", "same"]
        );
        // A new paragraph before an edited one: the edit still pairs with its old line.
        let d = diff(
            "We keep logs for 30 days.\n",
            "A new paragraph.\n\nWe keep logs for 90 days.\n",
        );
        assert_eq!(
            d.iter().map(|l| l.op.name()).collect::<Vec<_>>(),
            ["added", "changed"]
        );
    }
}
