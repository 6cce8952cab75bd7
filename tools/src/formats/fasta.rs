//! FASTA records, each optionally followed by a dot-bracket structure line.

use std::path::Path;

use anyhow::{bail, Context, Result};
use scnn::blob::App;

/// One record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The header's first word.
    pub name: String,
    /// The rest of the header, if any.
    pub description: Option<String>,
    /// The sequence as given (A C G U T N, either case).
    pub sequence: String,
    /// The dot-bracket line, if the file has one.
    pub structure: Option<String>,
    /// Letters of the sequence in the input: `sequence.len()`, unless a capped reader
    /// ([`Records::with_max_len`]) kept only the first letters of an overlong record.
    pub length: usize,
}

const STRUCTURE_MARKS: &[char] = &['.', '(', ')', '[', ']', '{', '}', '<', '>'];

fn is_base(ch: char) -> bool {
    matches!(ch.to_ascii_uppercase(), 'A' | 'C' | 'G' | 'U' | 'T' | 'N')
}

/// An IUPAC ambiguity code (R Y K M S W B D H V) or X, either case: read as N everywhere.
pub fn is_ambiguity_code(ch: char) -> bool {
    matches!(
        ch.to_ascii_uppercase(),
        'R' | 'Y' | 'K' | 'M' | 'S' | 'W' | 'B' | 'D' | 'H' | 'V' | 'X'
    )
}

/// `sequence` with its ambiguity codes as N, as `train` reads them.
pub fn ambiguity_as_n(sequence: &str) -> String {
    sequence
        .chars()
        .map(|c| if is_ambiguity_code(c) { 'N' } else { c })
        .collect()
}

/// Checks a sequence's characters; the error names the record and the 1-based position.
pub fn check_sequence(name: &str, sequence: &str) -> Result<()> {
    check_symbols(name, sequence, App::Rna)
}

/// Checks a sequence against the alphabet of `app` (RNA letters, amino acids; any symbol
/// for models whose blob carries its own alphabet, which the runtime checks).
pub fn check_symbols(name: &str, sequence: &str, app: App) -> Result<()> {
    if sequence.is_empty() {
        bail!("record `{name}`: empty sequence");
    }
    let (ok, allowed): (fn(char) -> bool, &str) = match app {
        App::Rna => (is_base, "A C G U T N, either case"),
        App::Protein => (
            is_residue,
            "the 20 amino acids, X, B, Z, J, U, O, either case",
        ),
        App::Generic | App::Items => (|_| true, ""),
    };
    if let Some((i, ch)) = sequence.chars().enumerate().find(|&(_, ch)| !ok(ch)) {
        bail!(
            "record `{name}`: invalid character {ch:?} at position {} (allowed: {allowed})",
            i + 1
        );
    }
    Ok(())
}

fn is_residue(ch: char) -> bool {
    u8::try_from(ch).is_ok_and(|b| {
        scnn::apps::protein::ALPHABET
            .iter()
            .any(|&(symbol, _)| symbol == b)
    })
}

/// The tokens of a checked sequence in `alphabet`.
pub fn tokens(name: &str, sequence: &str, alphabet: &[(u8, u16)]) -> Result<Vec<u16>> {
    sequence
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            alphabet
                .iter()
                .find(|&&(symbol, _)| symbol == b)
                .map(|&(_, token)| token)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "record `{name}`: invalid character {:?} at position {}",
                        b as char,
                        i + 1
                    )
                })
        })
        .collect()
}

/// Parses FASTA text of RNA sequences. Sequence lines of a record are joined; a line with `.`
/// or brackets is the record's structure.
pub fn parse(text: &str) -> Result<Vec<Record>> {
    parse_for(text, App::Rna)
}

/// Parses FASTA text whose sequences use the alphabet of `app`; any bad record fails it.
/// RNA ambiguity codes (R, Y, …, X) are read as N.
pub fn parse_for(text: &str, app: App) -> Result<Vec<Record>> {
    let mut records = Vec::new();
    for record in Records::new(text.as_bytes()) {
        let mut record = record?;
        if app == App::Rna {
            record.sequence = ambiguity_as_n(&record.sequence);
        }
        check_record(&record, app)?;
        records.push(record);
    }
    if records.is_empty() {
        bail!("no FASTA records found");
    }
    Ok(records)
}

/// Checks one record: its symbols against `app`'s alphabet, and a structure line's length
/// and brackets. The error names the record.
pub fn check_record(record: &Record, app: App) -> Result<()> {
    check_symbols(&record.name, &record.sequence, app)?;
    if let Some(structure) = &record.structure {
        let n = structure.chars().count();
        if n != record.sequence.len() {
            bail!(
                "record `{}`: structure has {n} characters for a sequence of {}",
                record.name,
                record.sequence.len()
            );
        }
        pairs_of(structure).with_context(|| format!("record `{}`", record.name))?;
    }
    Ok(())
}

/// FASTA records read one at a time from a stream, so a file of any size (or standard input)
/// takes the memory of its longest record. Sequence lines of a record are joined; a line with
/// `.` or brackets is the record's structure; `;` lines are comments. Line ends may be `\n`,
/// `\r\n` or `\r`, and a UTF-8 byte-order mark is skipped. An error here (unreadable
/// input, a sequence line before the first header, a second structure line) ends the
/// stream; checking a record's symbols is [`check_record`]'s job.
pub struct Records<R> {
    lines: crate::formats::Lines<R>,
    /// Letters of a sequence kept at most (the rest only counted).
    max_len: usize,
    /// The header of the next record, already read: name and description.
    next_name: Option<(String, Option<String>)>,
    count: usize,
    done: bool,
}

impl<R: std::io::BufRead> Records<R> {
    pub fn new(reader: R) -> Self {
        Records {
            lines: crate::formats::Lines::new(reader),
            max_len: usize::MAX,
            next_name: None,
            count: 0,
            done: false,
        }
    }

    /// A reader that keeps at most `max_len + 1` letters of a sequence, enough to tell it is
    /// longer than `max_len`: one huge record then costs no more memory than a short one.
    pub fn with_max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        // Lines too: a record on one line of any length stays bounded (headers keep 64 KiB).
        self.lines.set_cap(max_len.saturating_add(1).max(1 << 16));
        self
    }

    fn name_of(&self, header: &str) -> (String, Option<String>) {
        let header = header.trim();
        let (name, rest) = header
            .split_once(char::is_whitespace)
            .unwrap_or((header, ""));
        let name = if name.is_empty() {
            format!("record{}", self.count + 1)
        } else {
            name.to_string()
        };
        let rest = rest.trim();
        (name, (!rest.is_empty()).then(|| rest.to_string()))
    }

    fn read_record(&mut self) -> Result<Option<Record>> {
        let (name, description) = loop {
            if let Some(name) = self.next_name.take() {
                break name;
            }
            let Some((number, line, _)) = self.lines.next_line()? else {
                return Ok(None);
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with(';') {
                continue;
            }
            match line.strip_prefix('>') {
                Some(header) => break self.name_of(header),
                None => bail!("line {number}: sequence before the first `>` header"),
            }
        };
        self.count += 1;
        let mut record = Record {
            name,
            description,
            sequence: String::new(),
            structure: None,
            length: 0,
        };
        while let Some((_, raw, length)) = self.lines.next_line()? {
            let capped = length > raw.len();
            let line = raw.trim();
            if line.is_empty() || line.starts_with(';') {
                continue;
            }
            if let Some(header) = line.strip_prefix('>') {
                self.next_name = Some(self.name_of(header));
                break;
            }
            if line.contains(STRUCTURE_MARKS) {
                if record.structure.is_some() {
                    bail!("record `{}`: more than one structure line", record.name);
                }
                record.structure = Some(line.to_string());
            } else {
                if record.structure.is_some() {
                    bail!(
                        "record `{}`: sequence continues after its structure line",
                        record.name
                    );
                }
                // A line cut by the cap counts in full.
                record.length += if capped { length } else { line.len() };
                let keep = self
                    .max_len
                    .saturating_add(1)
                    .saturating_sub(record.sequence.len());
                let cut = (0..=keep.min(line.len()))
                    .rev()
                    .find(|&k| line.is_char_boundary(k))
                    .unwrap_or(0);
                record.sequence.push_str(&line[..cut]);
            }
        }
        Ok(Some(record))
    }
}

impl<R: std::io::BufRead> Iterator for Records<R> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.read_record().transpose();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

/// Records of the FASTA file at `path`, or of standard input for `-`, as a stream.
pub fn open(path: &Path) -> Result<Records<Box<dyn std::io::BufRead>>> {
    let reader: Box<dyn std::io::BufRead> = if path == Path::new("-") {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        Box::new(std::io::BufReader::new(file))
    };
    Ok(Records::new(reader))
}

/// Reads a FASTA file of RNA sequences.
pub fn read(path: &Path) -> Result<Vec<Record>> {
    read_for(path, App::Rna)
}

/// Reads a FASTA file whose sequences use the alphabet of `app`.
pub fn read_for(path: &Path, app: App) -> Result<Vec<Record>> {
    let text = crate::formats::read_text(path)?;
    parse_for(&text, app).with_context(|| format!("{}", path.display()))
}

/// Base pairs `(i, j)`, `i < j`, of a dot-bracket string: `()[]{}<>`, and `Aa`, `Bb`, … for
/// further pseudoknot levels.
pub fn pairs_of(structure: &str) -> Result<Vec<(usize, usize)>> {
    let mut stacks: std::collections::HashMap<char, Vec<usize>> = Default::default();
    let mut pairs = Vec::new();
    for (i, ch) in structure.chars().enumerate() {
        let open = match ch {
            '(' | '[' | '{' | '<' => Some(ch),
            c if c.is_ascii_uppercase() => Some(c),
            _ => None,
        };
        if let Some(open) = open {
            stacks.entry(open).or_default().push(i);
            continue;
        }
        let opener = match ch {
            ')' => '(',
            ']' => '[',
            '}' => '{',
            '>' => '<',
            c if c.is_ascii_lowercase() => c.to_ascii_uppercase(),
            '.' | '-' | ',' | ':' | '_' | '~' => continue,
            other => bail!(
                "structure: unexpected character {other:?} at position {}",
                i + 1
            ),
        };
        let Some(j) = stacks.get_mut(&opener).and_then(|s| s.pop()) else {
            bail!("structure: unmatched {ch:?} at position {}", i + 1);
        };
        pairs.push((j, i));
    }
    if let Some((ch, stack)) = stacks.iter().find(|(_, s)| !s.is_empty()) {
        bail!("structure: unmatched {ch:?} at position {}", stack[0] + 1);
    }
    pairs.sort();
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_records_with_and_without_structures() {
        let records = parse(">a desc\nGGGA\nAACCC\n(((...)))\n>b\nacgu\n").unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].name, "a");
        assert_eq!(records[0].sequence, "GGGAAACCC");
        assert_eq!(records[0].structure.as_deref(), Some("(((...)))"));
        assert_eq!(records[1].structure, None);
    }

    #[test]
    fn pseudoknot_levels_pair_up() {
        assert_eq!(
            pairs_of("((..[[..))..]]").unwrap(),
            vec![(0, 9), (1, 8), (4, 13), (5, 12)]
        );
        assert_eq!(pairs_of("A.(.a.)").unwrap(), vec![(0, 4), (2, 6)]);
        assert!(pairs_of("((.)").is_err());
        assert!(pairs_of("(.))").is_err());
    }

    #[test]
    fn bad_characters_are_named() {
        let err = parse(">x\nACGZU\n").unwrap_err().to_string();
        assert!(
            err.contains("record `x`") && err.contains("'Z'") && err.contains("position 4"),
            "{err}"
        );
    }

    #[test]
    fn ambiguity_codes_read_as_n_and_headers_keep_their_description() {
        let records = parse(">x the first one\nACRYkmGU\n>y\nA\n").unwrap();
        assert_eq!(records[0].sequence, "ACNNNNGU");
        assert_eq!(records[0].description.as_deref(), Some("the first one"));
        assert_eq!(records[1].description, None);
    }
}
