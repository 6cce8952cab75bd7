//! Writing files so that a failure leaves nothing behind, and standard output so that a
//! closed pipe or a full disk is an error, not a panic.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Writes `bytes` to a temporary file beside `path`, then renames it into place: readers see
/// the old file or the whole new one, and an error leaves no partial file. Only a regular
/// file is replaced; the new one gets the mode the umask allows (`0666 & !umask`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut staged = Staged::default();
    staged.add(path, bytes.to_vec())?;
    staged.commit()
}

/// The files a command writes, held until everything that can fail has run, then written
/// together: a command that fails leaves none of them behind.
#[derive(Default)]
pub struct Staged {
    files: Vec<(PathBuf, Vec<u8>)>,
}

impl Staged {
    /// Adds a file; two outputs for one file (however the paths spell it) are an error,
    /// never a silent overwrite.
    pub fn add(&mut self, path: &Path, bytes: Vec<u8>) -> Result<()> {
        let key = identity(path)?;
        if let Some((first, _)) = self
            .files
            .iter()
            .find(|(p, _)| identity(p).is_ok_and(|p| p == key))
        {
            bail!(
                "two outputs would both be written to {} ({} already is one)",
                path.display(),
                first.display()
            );
        }
        self.files.push((path.to_path_buf(), bytes));
        Ok(())
    }

    /// Checks every destination, writes each file beside it, then renames them all into
    /// place. Everything that can fail for want of room or rights fails before the first
    /// rename; a rename that fails after others (rare: the file is written already) leaves
    /// those done.
    pub fn commit(self) -> Result<()> {
        for (path, _) in &self.files {
            check_replaceable(path)?;
        }
        let mut written = Vec::with_capacity(self.files.len());
        for (path, bytes) in &self.files {
            written.push((path, write_beside(path, bytes)?));
        }
        for (path, file) in written {
            file.persist(path)
                .map_err(|e| e.error)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }
}

/// The file a path names: its directory resolved (`..`, symbolic links), then its name.
fn identity(path: &Path) -> Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    Ok(match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => dir
            .canonicalize()
            .map_or_else(|_| absolute.clone(), |dir| dir.join(name)),
        _ => absolute,
    })
}

/// Fails unless `path` is absent or a regular file: a device, a FIFO, a directory or a
/// symbolic link is not ours to replace with a file.
pub fn check_replaceable(path: &Path) -> Result<()> {
    let kind = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot write {}", path.display())),
        Ok(meta) => meta.file_type(),
    };
    if kind.is_file() {
        return Ok(());
    }
    let what = if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a directory"
    } else {
        "a device, FIFO or socket"
    };
    bail!(
        "cannot write {}: it is {what}, and scnn replaces only regular files",
        path.display()
    )
}

fn write_beside(path: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    // Like any new file: `0666` less the umask, which the kernel applies at creation.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut file = builder.tempfile_in(dir).with_context(|| {
        format!(
            "cannot write {}: directory {} is not writable",
            path.display(),
            dir.display()
        )
    })?;
    file.write_all(bytes)
        .and_then(|_| file.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(file)
}

/// `println!` that returns an error instead of panicking when standard output cannot be
/// written (a closed pipe, a full disk): use as `outln!(...)?`.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        ::std::writeln!(::std::io::stdout().lock(), $($arg)*)
            .map_err($crate::output::stdout_error)
    }};
}

/// `print!` that returns an error instead of panicking: use as `out!(...)?`.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        ::std::write!(::std::io::stdout().lock(), $($arg)*)
            .map_err($crate::output::stdout_error)
    }};
}

/// The error of a failed write to standard output.
pub fn stdout_error(error: std::io::Error) -> anyhow::Error {
    anyhow::Error::new(error).context("cannot write to standard output")
}

/// True when `error` comes from writing to a pipe whose reader has gone (`scnn … | head`),
/// which ends a command quietly, as it ends the Unix tools.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_under_two_spellings_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        let mut staged = Staged::default();
        staged.add(&dir.path().join("x.png"), vec![1]).unwrap();
        let again = dir.path().join("d").join("..").join("x.png");
        let error = staged.add(&again, vec![2]).unwrap_err().to_string();
        assert!(
            error.contains("two outputs would both be written"),
            "{error}"
        );
    }
}
