//! A recommender's picture: the history it was given, then its best items as horizontal bars
//! of their scores, best first, labelled with titles (or ids).

use std::io::Cursor;

use anyhow::{Context, Result};
use embedded_graphics::mono_font::ascii::{FONT_5X8, FONT_6X10};
use embedded_graphics::mono_font::MonoTextStyle;
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};
use embedded_graphics::text::Text;
use image::{ImageBuffer, ImageFormat, Rgb};

use crate::heatmap::{shade, Canvas, BLACK};

const WIDTH: i32 = 640;
const ROW: i32 = 14;
const LABEL_CHARS: usize = 44;
/// Where the bars start, after the rank and the label.
const BAR_X: i32 = 8 + 6 * (LABEL_CHARS as i32 + 4);

fn cut(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_string();
    }
    // The bitmap font is ASCII: `~` marks the cut.
    let mut out: String = text.chars().take(chars.saturating_sub(1)).collect();
    out.push('~');
    out
}

/// The chart of `items` (`(label, score)`, best first) after `history` (oldest first).
pub fn render(title: &str, history: &[String], items: &[(String, f64)]) -> Result<Vec<u8>> {
    let top = 18 + ROW * (history.len() as i32 + 2);
    let height = top + ROW * items.len() as i32 + 8;
    let mut canvas = Canvas(ImageBuffer::from_pixel(
        WIDTH as u32,
        height as u32,
        Rgb([255u8, 255, 255]),
    ));
    let c = &mut canvas;
    let big = MonoTextStyle::new(&FONT_6X10, BLACK);
    let small = MonoTextStyle::new(&FONT_5X8, BLACK);
    Text::new(&cut(title, 100), Point::new(4, 12), big).draw(c)?;
    Text::new("history, oldest first:", Point::new(8, 12 + ROW), small).draw(c)?;
    for (n, item) in history.iter().enumerate() {
        let y = 12 + ROW * (n as i32 + 2);
        Text::new(&cut(item, 100), Point::new(20, y), small).draw(c)?;
    }
    let (low, high) = items
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), (_, s)| {
            (l.min(*s), h.max(*s))
        });
    let span = (high - low).max(1e-9);
    let room = WIDTH - BAR_X - 60;
    for (rank, (label, score)) in items.iter().enumerate() {
        let y = top + ROW * rank as i32;
        let text = format!("{:>2} {}", rank + 1, cut(label, LABEL_CHARS));
        Text::new(&text, Point::new(8, y + 9), big).draw(c)?;
        // Bars from a quarter length (the lowest shown) to full length (the best).
        let fraction = 0.25 + 0.75 * (score - low) / span;
        let length = ((room as f64) * fraction).round() as u32;
        let colour: Rgb888 = shade(0.3 + 0.7 * fraction as f32);
        Rectangle::new(
            Point::new(BAR_X, y + 1),
            Size::new(length, (ROW - 3) as u32),
        )
        .into_styled(PrimitiveStyle::with_fill(colour))
        .draw(c)?;
        Text::new(
            &format!("{score:.3}"),
            Point::new(BAR_X + length as i32 + 4, y + 9),
            small,
        )
        .draw(c)?;
    }
    let mut bytes = Vec::new();
    canvas
        .0
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .context("PNG encoding")?;
    Ok(bytes)
}
