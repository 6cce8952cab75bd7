//! The pair-probability heatmap as a PNG.

use std::io::Cursor;
use std::path::Path;

use anyhow::{Context, Result};
use image::{ImageBuffer, ImageFormat, Rgb};

/// Draws probabilities in the upper triangle (white 0 → dark blue 1) and the decoded pairs in
/// the lower triangle (red), each pair cell `scale` pixels wide.
pub fn render(probs: &[f32], n: usize, pairs: &[(usize, usize)]) -> Result<Vec<u8>> {
    let scale = (512 / n.max(1)).clamp(1, 16) as u32;
    let size = n as u32 * scale;
    let mut img = ImageBuffer::from_pixel(size, size, Rgb([255u8, 255, 255]));
    let paired: std::collections::HashSet<(usize, usize)> = pairs.iter().copied().collect();
    for i in 0..n {
        for j in 0..n {
            let color = if i <= j {
                let p = probs[i * n + j].clamp(0.0, 1.0);
                let shade = |full: f32| (255.0 - p * (255.0 - full)).round() as u8;
                Rgb([shade(8.0), shade(48.0), shade(107.0)])
            } else if paired.contains(&(j, i)) {
                Rgb([200, 30, 30])
            } else {
                Rgb([245, 245, 245])
            };
            for dy in 0..scale {
                for dx in 0..scale {
                    img.put_pixel(j as u32 * scale + dx, i as u32 * scale + dy, color);
                }
            }
        }
    }
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .context("PNG encoding")?;
    Ok(bytes)
}

/// Where the heatmaps of records named `names` go: `out` itself for one record, else `out`'s
/// stem plus each name with characters other than `[A-Za-z0-9_-]` as `_`. Names that come
/// out the same (`x.1`, `x_1`, `x/1`, or a name given twice) get `_2`, `_3`, … in record
/// order, so no two records share a file.
pub fn paths_for(out: &Path, names: &[&str]) -> Vec<std::path::PathBuf> {
    if names.len() == 1 {
        return vec![out.to_path_buf()];
    }
    let stem = out
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("heatmap");
    let mut taken = std::collections::HashSet::new();
    names
        .iter()
        .map(|name| {
            let safe: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let mut file = format!("{stem}_{safe}.png");
            let mut n = 1;
            while !taken.insert(file.clone()) {
                n += 1;
                file = format!("{stem}_{safe}_{n}.png");
            }
            out.with_file_name(file)
        })
        .collect()
}
