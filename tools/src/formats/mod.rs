//! File formats: FASTA with optional dot-bracket lines, Stockholm, bpseq, item histories, npy
//! dumps, and predicted structures as text.

pub mod bpseq;
pub mod fasta;
pub mod histories;
pub mod npy;
pub mod stockholm;
pub mod structure_out;

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

/// Lines of a byte stream, numbered from 1, for readers that never hold a whole file: a line
/// ends at `\n`, `\r\n` or a lone `\r`; a leading byte-order mark is dropped; a line that
/// is not UTF-8 is an error naming its number. At most `cap` bytes of a line are kept (cut
/// at a character boundary); the rest is only counted.
pub struct Lines<R> {
    reader: R,
    number: usize,
    cap: usize,
    /// A `\r` ended the last line: a `\n` right after it belongs to that ending.
    after_cr: bool,
}

impl<R: std::io::BufRead> Lines<R> {
    pub fn new(reader: R) -> Self {
        Lines {
            reader,
            number: 0,
            cap: usize::MAX,
            after_cr: false,
        }
    }

    /// Keeps at most `cap` bytes of any line from now on.
    pub fn set_cap(&mut self, cap: usize) {
        self.cap = cap;
    }

    /// The next line (at most `cap` bytes of it), its number and its full length in bytes,
    /// or `None` at the end.
    pub fn next_line(&mut self) -> anyhow::Result<Option<(usize, String, usize)>> {
        let mut bytes = Vec::new();
        let mut length = 0usize;
        let mut ended = false;
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let mut used = 0;
            for &b in buf {
                used += 1;
                if std::mem::take(&mut self.after_cr) && b == b'\n' {
                    continue;
                }
                if b == b'\n' || b == b'\r' {
                    self.after_cr = b == b'\r';
                    ended = true;
                    break;
                }
                length += 1;
                if bytes.len() < self.cap {
                    bytes.push(b);
                }
            }
            self.reader.consume(used);
            if ended {
                break;
            }
        }
        if !ended && length == 0 {
            return Ok(None);
        }
        self.number += 1;
        if length > bytes.len() {
            // Cut at a character boundary: drop a character the cap split.
            while std::str::from_utf8(&bytes).is_err_and(|e| e.error_len().is_none()) {
                bytes.pop();
            }
        }
        let mut line = String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("line {}: not UTF-8 text", self.number))?;
        if self.number == 1 {
            if let Some(rest) = line.strip_prefix('\u{feff}') {
                line = rest.to_string();
            }
        }
        Ok(Some((self.number, line, length)))
    }
}
