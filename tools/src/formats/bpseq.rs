//! bpseq files: one line `index base partner` per residue (1-based, partner 0 when unpaired).

use anyhow::{bail, Result};

use super::Structured;

/// Parses one bpseq record; `name` names it in errors.
pub fn parse(name: &str, text: &str) -> Result<Structured> {
    let mut sequence = String::new();
    let mut partner = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        let fields: Vec<&str> = line.split_whitespace().collect();
        // Header and comment lines (`Filename: …`, `# …`) don't start with an index.
        if fields.is_empty() || fields[0].parse::<usize>().is_err() {
            continue;
        }
        let at = || format!("`{name}` line {}", number + 1);
        let [index, base, pair] = fields.as_slice() else {
            bail!("{}: expected `index base partner`", at());
        };
        let (Ok(index), Ok(pair)) = (index.parse::<usize>(), pair.parse::<usize>()) else {
            bail!("{}: index and partner must be numbers", at());
        };
        if index != sequence.len() + 1 {
            bail!(
                "{}: index {index} out of order (expected {})",
                at(),
                sequence.len() + 1
            );
        }
        let mut chars = base.chars();
        let (Some(base), None) = (chars.next(), chars.next()) else {
            bail!("{}: base must be one character", at());
        };
        sequence.push(base);
        partner.push(pair);
    }
    if sequence.is_empty() {
        bail!("`{name}`: no residues");
    }
    let n = partner.len();
    let mut pairs = Vec::new();
    for (i, &p) in partner.iter().enumerate() {
        if p == 0 {
            continue;
        }
        if p > n {
            bail!(
                "`{name}`: residue {} pairs with {p}, beyond the last residue {n}",
                i + 1
            );
        }
        if partner[p - 1] != i + 1 {
            bail!(
                "`{name}`: residue {} pairs with {p}, but {p} pairs with {}",
                i + 1,
                partner[p - 1]
            );
        }
        if i + 1 < p {
            pairs.push((i, p - 1));
        }
    }
    Ok(Structured {
        name: name.to_string(),
        sequence,
        pairs,
    })
}
