//! Stockholm alignments with per-sequence (`#=GR <name> SS`) or consensus (`#=GC SS_cons`)
//! structures, turned into ungapped sequences with their base pairs.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};

use super::fasta::pairs_of;
use super::Structured;

/// Alignment gap characters.
fn is_gap(ch: char) -> bool {
    matches!(ch, '.' | '-' | '~' | '_' | ' ')
}

#[derive(Default)]
struct Alignment {
    order: Vec<String>,
    rows: HashMap<String, String>,
    ss: HashMap<String, String>,
    ss_cons: String,
    /// `#=GF AC` and `#=GF ID` (an Rfam family's accession and name), when given.
    accession: Option<String>,
    id: Option<String>,
}

impl Alignment {
    fn finish(self, out: &mut Vec<Structured>, block: usize) -> Result<()> {
        for name in &self.order {
            let row = &self.rows[name];
            let structure = match self.ss.get(name) {
                Some(ss) => ss,
                None if !self.ss_cons.is_empty() => &self.ss_cons,
                None => bail!(
                    "alignment {block}: sequence `{name}` has no `#=GR {name} SS` line and the alignment has no `#=GC SS_cons`"
                ),
            };
            let mut record = project(name, row, structure)?;
            // Rfam's naming, `ACCESSION|ID|name`, lets training split by family.
            if let Some(accession) = &self.accession {
                let id = self.id.as_deref().unwrap_or("");
                record.name = format!("{accession}|{id}|{name}");
            }
            out.push(record);
        }
        Ok(())
    }
}

/// Removes the gaps of an aligned row and keeps the pairs whose both ends are residues.
pub fn project(name: &str, row: &str, structure: &str) -> Result<Structured> {
    let row: Vec<char> = row.chars().collect();
    if structure.chars().count() != row.len() {
        bail!(
            "sequence `{name}`: structure has {} columns for an aligned row of {}",
            structure.chars().count(),
            row.len()
        );
    }
    let column_pairs = pairs_of(structure).with_context(|| format!("sequence `{name}`"))?;
    let mut position = vec![None; row.len()];
    let mut sequence = String::new();
    for (column, &ch) in row.iter().enumerate() {
        if !is_gap(ch) {
            position[column] = Some(sequence.len());
            sequence.push(ch);
        }
    }
    let pairs = column_pairs
        .into_iter()
        .filter_map(|(a, b)| Some((position[a]?, position[b]?)))
        .collect();
    Ok(Structured {
        name: name.to_string(),
        sequence,
        pairs,
    })
}

/// Parses Stockholm text: one or more alignments, each ending in `//`; rows may be split
/// across blocks.
pub fn parse(text: &str) -> Result<Vec<Structured>> {
    let mut out = Vec::new();
    let mut alignment = Alignment::default();
    let mut block = 1;
    let mut seen_header = false;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_end();
        let at = || format!("line {}", number + 1);
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with("# STOCKHOLM") {
            seen_header = true;
            continue;
        }
        if !seen_header {
            bail!(
                "{}: not a Stockholm file (no `# STOCKHOLM 1.0` header)",
                at()
            );
        }
        if line == "//" {
            std::mem::take(&mut alignment).finish(&mut out, block)?;
            block += 1;
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["#=GR", name, "SS", structure] => alignment
                .ss
                .entry(name.to_string())
                .or_default()
                .push_str(structure),
            ["#=GC", "SS_cons", structure] => alignment.ss_cons.push_str(structure),
            ["#=GF", "AC", accession] => alignment.accession = Some(accession.to_string()),
            ["#=GF", "ID", id] => alignment.id = Some(id.to_string()),
            [first, ..] if first.starts_with('#') => {}
            [name, row] => {
                if !alignment.rows.contains_key(*name) {
                    alignment.order.push(name.to_string());
                }
                alignment
                    .rows
                    .entry(name.to_string())
                    .or_default()
                    .push_str(row);
            }
            _ => bail!("{}: expected `<name> <aligned sequence>`", at()),
        }
    }
    if !alignment.order.is_empty() {
        bail!("alignment {block}: missing the closing `//`");
    }
    if out.is_empty() {
        bail!("no sequences found");
    }
    Ok(out)
}
