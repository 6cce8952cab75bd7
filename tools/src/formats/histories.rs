//! Item histories for recommendation models: a tab-separated file with the header
//! `name<TAB>user<TAB>items`, one history a line: a name, the user's row of the model's side
//! table (empty for models without one), and the item tokens, oldest first, separated by
//! spaces. `scnn random --app items --sequences` writes one.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// One history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    pub name: String,
    /// The side token (the user), if given.
    pub user: Option<u16>,
    /// Item tokens, oldest first.
    pub items: Vec<u16>,
}

/// The header line.
pub const HEADER: &str = "name\tuser\titems";

fn token(line: usize, what: &str, text: &str) -> Result<u16> {
    match text.parse::<u16>() {
        Ok(t) if t != u16::MAX => Ok(t),
        _ => bail!("line {line}: {what} `{text}` is not a token in 0..65535"),
    }
}

/// Parses a histories file's text.
pub fn parse(text: &str) -> Result<Vec<History>> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header.trim_end() == HEADER => {}
        _ => bail!("line 1: expected the header `name<TAB>user<TAB>items`"),
    }
    let mut histories: Vec<History> = Vec::new();
    for (n, line) in lines {
        let number = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, user, items] = fields[..] else {
            bail!(
                "line {number}: expected 3 tab-separated fields, found {}",
                fields.len()
            );
        };
        let name = name.trim();
        if name.is_empty() {
            bail!("line {number}: empty name");
        }
        if histories.iter().any(|h| h.name == name) {
            bail!("line {number}: name `{name}` appears twice");
        }
        let user = match user.trim() {
            "" => None,
            u => Some(token(number, "user", u)?),
        };
        let items = items
            .split_whitespace()
            .map(|i| token(number, "item", i))
            .collect::<Result<Vec<_>>>()?;
        if items.is_empty() {
            bail!("line {number}: history `{name}` has no items");
        }
        histories.push(History {
            name: name.to_string(),
            user,
            items,
        });
    }
    if histories.is_empty() {
        bail!("no histories found");
    }
    Ok(histories)
}

/// Reads a histories file.
pub fn read(path: &Path) -> Result<Vec<History>> {
    let text = crate::formats::read_text(path)?;
    parse(&text).with_context(|| format!("{}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_histories_and_names_the_bad_line() {
        let text = "name\tuser\titems\nu1\t3\t5 9 2\nu2\t\t7\n";
        let got = parse(text).unwrap();
        assert_eq!(got[0].user, Some(3));
        assert_eq!(got[0].items, vec![5, 9, 2]);
        assert_eq!(got[1].user, None);
        let bad = parse("name\tuser\titems\nu1\t3\t5 x\n").unwrap_err();
        assert!(format!("{bad:#}").contains("line 2: item `x`"), "{bad:#}");
        assert!(parse("u1\t3\t5\n").is_err());
        assert!(parse("name\tuser\titems\nu1\t3\t5\nu1\t2\t4\n").is_err());
    }
}
