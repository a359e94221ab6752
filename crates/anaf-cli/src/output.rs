//! What the commands print: text for people (aligned tables, color only on a terminal,
//! progress bars on stderr that vanish when it is not a terminal) or one JSON document.

use std::time::Duration;

use anstream::println;
use anstyle::{AnsiColor, Style};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

pub const GOOD: Style = AnsiColor::Green.on_default().bold();
pub const BAD: Style = AnsiColor::Red.on_default().bold();
pub const WARN: Style = AnsiColor::Yellow.on_default().bold();
pub const DIM: Style = Style::new().dimmed();
pub const HEAD: Style = Style::new().bold();

/// Prints `value` as the command's one JSON document.
pub fn json(value: &impl Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("anaf: result to JSON: {e}"),
    }
}

/// `text` in `style` (the style is dropped when the output is not a terminal, by anstream).
pub fn paint(style: Style, text: impl std::fmt::Display) -> String {
    format!("{style}{text}{style:#}")
}

/// Columns padded to the widest cell. Hand-written: 20 lines, where a table crate would
/// bring its own terminal handling next to anstream's.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    println!(
        "{}",
        paint(HEAD, line(headers.iter().map(|h| (*h).to_owned()).collect()))
    );
    for row in rows {
        println!("{}", line(row.clone()));
    }
}

/// `label: value` lines, labels aligned.
pub fn fields(pairs: &[(&str, String)]) {
    let width = pairs.iter().map(|(label, _)| label.len()).max().unwrap_or(0) + 1;
    for (label, value) in pairs {
        let label = format!("{label}:");
        println!("{} {value}", paint(DIM, format!("{label:<width$}")));
    }
}

/// A spinner with elapsed time for one long call (hidden when stderr is not a terminal).
pub fn spinner(message: impl Into<String>) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_message(message.into());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A bar over `total` steps (pages, downloads), hidden when stderr is not a terminal.
pub fn bar(total: u64, message: impl Into<String>) -> ProgressBar {
    let bar = ProgressBar::new(total).with_message(message.into());
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
