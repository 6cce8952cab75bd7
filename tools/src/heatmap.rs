//! The pair-probability heatmap as a PNG: probabilities above the diagonal, the predicted
//! structure below it and marked on the probabilities, the sequence's letters (or position
//! numbers) on both axes, ticks every 10 positions, a colour bar and the record's name.

use std::convert::Infallible;
use std::io::Cursor;
use std::path::Path;

use anyhow::{Context, Result};
use embedded_graphics::mono_font::ascii::{FONT_5X8, FONT_6X10};
use embedded_graphics::mono_font::MonoTextStyle;
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Line, PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Alignment, Text};
use image::{ImageBuffer, ImageFormat, Rgb, RgbImage};

/// An image buffer embedded-graphics can draw on.
pub(crate) struct Canvas(pub(crate) RgbImage);

impl OriginDimensions for Canvas {
    fn size(&self) -> Size {
        Size::new(self.0.width(), self.0.height())
    }
}

impl DrawTarget for Canvas {
    type Color = Rgb888;
    type Error = Infallible;

    fn draw_iter<I: IntoIterator<Item = Pixel<Rgb888>>>(
        &mut self,
        pixels: I,
    ) -> Result<(), Infallible> {
        for Pixel(at, color) in pixels {
            if let (Ok(x), Ok(y)) = (u32::try_from(at.x), u32::try_from(at.y)) {
                if x < self.0.width() && y < self.0.height() {
                    self.0
                        .put_pixel(x, y, Rgb([color.r(), color.g(), color.b()]));
                }
            }
        }
        Ok(())
    }
}

pub(crate) const BLACK: Rgb888 = Rgb888::new(0, 0, 0);
const PAIR: Rgb888 = Rgb888::new(200, 30, 30);
const EMPTY: Rgb888 = Rgb888::new(245, 245, 245);

/// White at 0 to dark blue at 1.
pub(crate) fn shade(p: f32) -> Rgb888 {
    let p = p.clamp(0.0, 1.0);
    let mix = |full: f32| (255.0 - p * (255.0 - full)).round() as u8;
    Rgb888::new(mix(8.0), mix(48.0), mix(107.0))
}

/// Margins around the map: left (letters and tick labels), top (title, letters, labels),
/// right (colour bar).
const LEFT: i32 = 34;
const TOP: i32 = 40;
const RIGHT: i32 = 64;
const BOTTOM: i32 = 10;

/// Draws `name`'s `len × len` probabilities `probs` (row-major) for `sequence`, with the
/// predicted `pairs`.
pub fn render(
    name: &str,
    sequence: &str,
    probs: &[f32],
    len: usize,
    pairs: &[(usize, usize)],
) -> Result<Vec<u8>> {
    let n = len as i32;
    let cell = (512 / len.max(1)).clamp(2, 16) as i32;
    let side = n * cell;
    let (width, height) = (LEFT + side + RIGHT, TOP + side + BOTTOM);
    let mut canvas = Canvas(ImageBuffer::from_pixel(
        width as u32,
        height as u32,
        Rgb([255u8, 255, 255]),
    ));
    let c = &mut canvas;
    let paired: std::collections::HashSet<(usize, usize)> = pairs.iter().copied().collect();
    let at = |i: i32, j: i32| Point::new(LEFT + j * cell, TOP + i * cell);
    for i in 0..len {
        for j in 0..len {
            let color = if i <= j {
                shade(probs[i * len + j])
            } else if paired.contains(&(j, i)) {
                PAIR
            } else {
                EMPTY
            };
            let cell_box =
                Rectangle::new(at(i as i32, j as i32), Size::new(cell as u32, cell as u32));
            cell_box
                .into_styled(PrimitiveStyle::with_fill(color))
                .draw(c)?;
        }
    }
    // The structure on the probabilities: a red mark in each predicted pair's cell.
    for &(i, j) in pairs {
        let mark = (cell / 2).max(1);
        let corner = at(i as i32, j as i32) + Point::new((cell - mark) / 2, (cell - mark) / 2);
        Rectangle::new(corner, Size::new(mark as u32, mark as u32))
            .into_styled(PrimitiveStyle::with_fill(PAIR))
            .draw(c)?;
    }
    Rectangle::new(
        at(0, 0) - Point::new(1, 1),
        Size::new(side as u32 + 2, side as u32 + 2),
    )
    .into_styled(PrimitiveStyle::with_stroke(BLACK, 1))
    .draw(c)?;

    // Axes: the sequence's letters where a cell is wide (5 px) or tall (8 px) enough for one,
    // and ticks every 10 positions with their 1-based numbers.
    let small = MonoTextStyle::new(&FONT_5X8, BLACK);
    let (letters_top, letters_left) = (cell >= 6, cell >= 9);
    let write = |c: &mut Canvas, text: &str, at: Point, alignment| {
        Text::with_alignment(text, at, small, alignment)
            .draw(c)
            .map(|_| ())
    };
    for (k, letter) in sequence.chars().take(len).enumerate() {
        let mid = k as i32 * cell + cell / 2;
        let text = letter.to_string();
        if letters_top {
            write(c, &text, Point::new(LEFT + mid, TOP - 6), Alignment::Center)?;
        }
        if letters_left {
            write(
                c,
                &text,
                Point::new(LEFT - 4, TOP + mid + 3),
                Alignment::Right,
            )?;
        }
    }
    let label_top = if letters_top { TOP - 16 } else { TOP - 6 };
    let tick = PrimitiveStyle::with_stroke(BLACK, 1);
    for position in (10..=len).step_by(10) {
        let mid = (position as i32 - 1) * cell + cell / 2;
        Line::new(
            Point::new(LEFT + mid, TOP - 3),
            Point::new(LEFT + mid, TOP - 1),
        )
        .into_styled(tick)
        .draw(c)?;
        Line::new(
            Point::new(LEFT - 3, TOP + mid),
            Point::new(LEFT - 1, TOP + mid),
        )
        .into_styled(tick)
        .draw(c)?;
        let number = position.to_string();
        write(
            c,
            &number,
            Point::new(LEFT + mid, label_top),
            Alignment::Center,
        )?;
        if !letters_left {
            write(
                c,
                &number,
                Point::new(LEFT - 5, TOP + mid + 3),
                Alignment::Right,
            )?;
        }
    }

    // The colour bar: probability 0 at the bottom to 1 at the top.
    let (bar_x, bar_w) = (LEFT + side + 14, 12);
    for y in 0..side {
        let p = 1.0 - y as f32 / (side - 1).max(1) as f32;
        Line::new(
            Point::new(bar_x, TOP + y),
            Point::new(bar_x + bar_w - 1, TOP + y),
        )
        .into_styled(PrimitiveStyle::with_stroke(shade(p), 1))
        .draw(c)?;
    }
    Rectangle::new(
        Point::new(bar_x - 1, TOP - 1),
        Size::new(bar_w as u32 + 2, side as u32 + 2),
    )
    .into_styled(PrimitiveStyle::with_stroke(BLACK, 1))
    .draw(c)?;
    for (label, y) in [
        ("1", TOP + 4),
        ("0.5", TOP + side / 2 + 3),
        ("0", TOP + side),
    ] {
        Text::new(label, Point::new(bar_x + bar_w + 3, y), small).draw(c)?;
    }
    Text::new("p", Point::new(bar_x + 3, TOP - 4), small).draw(c)?;

    // The title: the record's name, cut to the width.
    let title_style = MonoTextStyle::new(&FONT_6X10, BLACK);
    let fits = (width as usize).saturating_sub(8) / 6;
    let title: String = name.chars().take(fits).collect();
    Text::new(&title, Point::new(4, 10), title_style).draw(c)?;

    let mut bytes = Vec::new();
    canvas
        .0
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
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
