//! The chart: one group of horizontal bars per benchmark, one bar per engine, on a logarithmic time axis (the
//! figures span nanoseconds to seconds), written as SVG text.

use std::fmt::Write;

use crate::{Context, Results, benchmarks, duration, engines};

/// Bar colours by engine column (a colour-blind-safe palette); engines beyond them reuse it.
const COLOURS: &[&str] = &["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9"];

const LABEL_WIDTH: f64 = 170.0;
const PLOT_WIDTH: f64 = 560.0;
const VALUE_WIDTH: f64 = 90.0;
const BAR_HEIGHT: f64 = 12.0;
const BAR_GAP: f64 = 3.0;
const GROUP_GAP: f64 = 12.0;
const TOP: f64 = 78.0;

/// Escape text for SVG.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SVG document.
pub(crate) fn chart(results: &Results, context: &Context) -> String {
    let engines = engines(results);
    let benchmarks = benchmarks(results);
    let values: Vec<f64> = results
        .values()
        .flat_map(|e| e.values().copied())
        .filter(|v| *v > 0.0)
        .collect();
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    // Whole decades, so that the grid lines fall on 1, 10, 100 … of a unit.
    let low = min.log10().floor();
    let high = max.log10().ceil().max(low + 1.0);
    let x = |ns: f64| LABEL_WIDTH + (ns.log10() - low) / (high - low) * PLOT_WIDTH;

    let group_height = engines.len() as f64 * (BAR_HEIGHT + BAR_GAP) - BAR_GAP + GROUP_GAP;
    let plot_bottom = TOP + benchmarks.len() as f64 * group_height;
    let width = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH;
    let height = plot_bottom + 40.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">Median time per iteration, by engine (log scale; shorter is faster)</text>"#
    );
    let _ = writeln!(
        svg,
        r##"<text x="10" y="37" fill="#444">{}</text>"##,
        escape(&format!(
            "{} · {} · commit {}",
            context.machine, context.date, context.commit
        ))
    );
    // Legend.
    let mut legend_x = 10.0;
    for (i, engine) in engines.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let _ = writeln!(
            svg,
            r#"<rect x="{legend_x}" y="47" width="12" height="12" fill="{colour}"/><text x="{}" y="57">{}</text>"#,
            legend_x + 16.0,
            escape(engine)
        );
        legend_x += 24.0 + 7.0 * engine.len() as f64;
    }
    // Decade grid lines with their labels.
    let mut decade = low;
    while decade <= high {
        let gx = x(10f64.powf(decade));
        let _ = writeln!(
            svg,
            r##"<line x1="{gx:.1}" y1="{}" x2="{gx:.1}" y2="{plot_bottom}" stroke="#ddd"/><text x="{gx:.1}" y="{}" text-anchor="middle" fill="#444">{}</text>"##,
            TOP - 6.0,
            plot_bottom + 14.0,
            escape(&duration(10f64.powf(decade)))
        );
        decade += 1.0;
    }
    // Bars.
    for (b, benchmark) in benchmarks.iter().enumerate() {
        let group_top = TOP + b as f64 * group_height;
        let label_y = group_top + (group_height - GROUP_GAP) / 2.0 + 4.0;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{label_y:.1}" text-anchor="end">{}</text>"#,
            LABEL_WIDTH - 8.0,
            escape(benchmark)
        );
        for (e, engine) in engines.iter().enumerate() {
            let Some(&ns) = results[benchmark].get(engine) else {
                continue;
            };
            let y = group_top + e as f64 * (BAR_HEIGHT + BAR_GAP);
            let bar = (x(ns) - LABEL_WIDTH).max(1.0);
            let colour = COLOURS[e % COLOURS.len()];
            let _ = writeln!(
                svg,
                r##"<rect x="{LABEL_WIDTH}" y="{y:.1}" width="{bar:.1}" height="{BAR_HEIGHT}" fill="{colour}"><title>{}</title></rect><text x="{:.1}" y="{:.1}" fill="#222">{}</text>"##,
                escape(&format!("{benchmark} on {engine}: {}", duration(ns))),
                LABEL_WIDTH + bar + 4.0,
                y + BAR_HEIGHT - 2.0,
                escape(&duration(ns))
            );
        }
    }
    let _ = writeln!(svg, "</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_proportional_to_the_logarithm() {
        let mut results = Results::new();
        let noop = results.entry("noop".to_string()).or_default();
        noop.insert("wasmtime".to_string(), 100.0);
        noop.insert("wasmi".to_string(), 10_000.0);
        let context = Context {
            machine: "m".into(),
            date: "d".into(),
            commit: "c".into(),
            settings: None,
        };
        let svg = chart(&results, &context);
        // 100 ns and 10 µs span the whole axis (two decades): the first bar has no length, the second all of it.
        assert!(svg.contains(r#"width="1.0" height="12""#), "{svg}");
        assert!(
            svg.contains(&format!(r#"width="{PLOT_WIDTH:.1}" height="12""#)),
            "{svg}"
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }
}
