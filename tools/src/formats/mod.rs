//! File formats: FASTA with optional dot-bracket lines, Stockholm, bpseq, item histories and
//! npy dumps.

pub mod bpseq;
pub mod fasta;
pub mod histories;
pub mod npy;
pub mod stockholm;

/// A sequence with its known base pairs, from any of the structure formats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Structured {
    pub name: String,
    /// As read, gaps removed.
    pub sequence: String,
    /// 0-based `(i, j)`, `i < j`.
    pub pairs: Vec<(usize, usize)>,
}

/// Reads a text file the way every reader here wants it: a leading UTF-8 byte-order mark
/// dropped, and `\r\n` or a lone `\r` (old Mac) read as a line end. Errors name the file.
pub fn read_text(path: &std::path::Path) -> anyhow::Result<String> {
    use anyhow::Context;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not UTF-8 text (byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    Ok(normalize(&text))
}

/// `text` without a byte-order mark, with every line ending a `\n`.
pub fn normalize(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !text.contains('\r') {
        return text.to_string();
    }
    text.replace("\r\n", "\n").replace('\r', "\n")
}
