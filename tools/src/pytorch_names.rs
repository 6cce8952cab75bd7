//! Reading weights saved straight from a PyTorch `state_dict`: the names an `nn.Sequential`
//! (`net.0.weight`, `net.1.running_mean`, …), conv + batch-norm blocks
//! (`layers.0.conv.weight`, `layers.0.bn.weight`, …) or numbered attributes (`conv1.weight`,
//! `bn1.weight`, …) give, mapped onto scnn's `layers.N.*` and `embedding.weight`.
//!
//! The rule: the 4-D `*.weight` tensors are the convs, in natural order (numbers compared as
//! numbers); each has its `*.bias` if present. A batch norm (a module with `running_mean`)
//! belongs to the one conv in its parent module, or to the conv that is its parent, or to the
//! conv with its number, or else to the last conv before it. One 2-D `*.weight` of shape
//! `[V, D]` is the embedding.

use std::cmp::Ordering;
use std::collections::HashMap;

use anyhow::{bail, Result};

use crate::config::ModelConfig;

/// Names compared with their runs of digits as numbers: `net.10` after `net.9`, `conv12`
/// after `conv3`.
fn natural(a: &str, b: &str) -> Ordering {
    let key = |s: &str| -> Vec<(u8, u64, String)> {
        let mut runs: Vec<(u8, u64, String)> = Vec::new();
        for ch in s.chars() {
            let digit = ch.is_ascii_digit();
            match runs.last_mut() {
                Some(run) if (run.0 == 0) == digit => run.2.push(ch),
                _ => runs.push((u8::from(!digit), 0, ch.to_string())),
            }
        }
        for run in &mut runs {
            if run.0 == 0 {
                run.1 = run.2.parse().unwrap_or(u64::MAX);
                run.2.clear();
            }
        }
        runs
    };
    key(a).cmp(&key(b))
}

fn parent(prefix: &str) -> &str {
    prefix.rsplit_once('.').map_or("", |(p, _)| p)
}

/// The digits a module's last name part ends with (`conv12` → 12).
fn trailing_number(prefix: &str) -> Option<u64> {
    let last = prefix.rsplit('.').next().unwrap_or(prefix);
    let digits: String = last
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok().filter(|_| digits.len() < last.len())
}

/// For a file whose tensors (`names` with shapes) do not use scnn's names, the scnn name of
/// each tensor it maps (scnn name → file name); `None` when the file already uses scnn's
/// names. The error lists what was found and what the description expects.
pub fn map(
    names: &[(String, Vec<usize>)],
    config: &ModelConfig,
) -> Result<Option<HashMap<String, String>>> {
    if names.iter().any(|(n, _)| n == "layers.0.weight") {
        return Ok(None);
    }
    let shape_of = |name: &str| names.iter().find(|(n, _)| n == name).map(|(_, s)| s);
    let mut convs: Vec<&str> = names
        .iter()
        .filter(|(n, s)| s.len() == 4 && n.ends_with(".weight"))
        .map(|(n, _)| n.trim_end_matches(".weight"))
        .collect();
    convs.sort_by(|a, b| natural(a, b));
    let wanted = config.layers.len();
    if config.head.is_some() || convs.len() != wanted {
        let found: Vec<String> = convs.iter().map(|c| format!("{c}.weight")).collect();
        bail!(
            "the tensors are not named `layers.N.weight`, and their layout was not recognised: the description has {wanted} conv layers{}, the file {} 4-D `*.weight` tensors ({}); rename them as tools/README.md shows",
            if config.head.is_some() { " and a pooled head" } else { "" },
            convs.len(),
            if found.is_empty() { "none".to_string() } else { found.join(", ") }
        );
    }
    let mut map = HashMap::new();
    for (t, conv) in convs.iter().enumerate() {
        map.insert(format!("layers.{t}.weight"), format!("{conv}.weight"));
        let bias = format!("{conv}.bias");
        if shape_of(&bias).is_some_and(|s| s.len() == 1) {
            map.insert(format!("layers.{t}.bias"), bias);
        }
    }
    let mut norms: Vec<&str> = names
        .iter()
        .filter_map(|(n, _)| n.strip_suffix(".running_mean"))
        .collect();
    norms.sort_by(|a, b| natural(a, b));
    let mut owner_of_norm: HashMap<usize, &str> = HashMap::new();
    for norm in norms {
        let siblings: Vec<usize> = (0..convs.len())
            .filter(|&t| parent(convs[t]) == parent(norm))
            .collect();
        let same_number = |t: &usize| {
            trailing_number(convs[*t]).is_some()
                && trailing_number(convs[*t]) == trailing_number(norm)
        };
        let owner = match siblings.as_slice() {
            [only] if !parent(norm).is_empty() => Some(*only),
            _ => (0..convs.len())
                // `m.1.bn` after the conv `m.1` itself …
                .find(|&t| convs[t] == parent(norm))
                // … `bn2` with `conv2` …
                .or_else(|| siblings.iter().copied().find(same_number))
                // … else the last conv before it.
                .or_else(|| {
                    (0..convs.len())
                        .rev()
                        .find(|&t| natural(convs[t], norm) == Ordering::Less)
                }),
        };
        let Some(t) = owner else {
            bail!("batch norm `{norm}` follows no conv");
        };
        if let Some(other) = owner_of_norm.insert(t, norm) {
            bail!(
                "batch norms `{other}` and `{norm}` both belong to conv `{}`",
                convs[t]
            );
        }
        for key in ["weight", "bias", "running_mean", "running_var"] {
            map.insert(format!("layers.{t}.bn.{key}"), format!("{norm}.{key}"));
        }
    }
    for (t, layer) in config.layers.iter().enumerate() {
        match (layer.batch_norm, owner_of_norm.get(&t)) {
            (true, None) => bail!(
                "layer {t} (`{}.weight`) has batch_norm in the description, but no batch norm follows it in the file",
                convs[t]
            ),
            (false, Some(norm)) => bail!(
                "batch norm `{norm}` follows layer {t} (`{}.weight`), whose description has no batch_norm: set \"batch_norm\": true",
                convs[t]
            ),
            _ => {}
        }
    }
    let (v, d) = (config.vocab_size(), config.embedding_dim);
    let tables: Vec<&str> = names
        .iter()
        .filter(|(n, s)| n.ends_with(".weight") && s.as_slice() == [v, d])
        .map(|(n, _)| n.as_str())
        .collect();
    if let [table] = tables.as_slice() {
        map.insert("embedding.weight".into(), table.to_string());
    }
    Ok(Some(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_sort_as_numbers() {
        let mut names = vec!["net.10", "net.2", "net.1", "conv12", "conv3"];
        names.sort_by(|a, b| natural(a, b));
        assert_eq!(names, ["conv3", "conv12", "net.1", "net.2", "net.10"]);
        assert_eq!(trailing_number("a.conv12"), Some(12));
        assert_eq!(trailing_number("a.12"), None);
        assert_eq!(trailing_number("bn"), None);
    }
}
