//! `.npy` files for layer-by-layer debugging (NumPy reads them with `np.load`).

use std::path::Path;

use anyhow::{Context, Result};
use npyz::WriterBuilder;

/// Writes `values` with `shape` (row-major) as an `.npy` file.
pub fn write<T: npyz::Serialize + npyz::AutoSerialize + Copy>(
    path: &Path,
    shape: &[u64],
    values: &[T],
) -> Result<()> {
    let mut bytes = Vec::new();
    {
        let mut writer = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(&mut bytes)
            .begin_nd()
            .context("npy header")?;
        writer.extend(values.iter().copied()).context("npy data")?;
        writer.finish().context("npy data")?;
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
