//! `extism bench`: the same plug-in function timed on each chosen engine, in one table.
//!
//! Per engine: `create` is one `PluginBuilder::build` (compile, link, store), the first on that engine in this process
//! (cold: it includes creating the engine, and bypasses the compilation cache); `instantiate` and `first call` are medians over a few fresh instances of
//! one compiled plug-in (the first call instantiates the main module and runs its initialisers); then the function is
//! called repeatedly on one instance, for `--iterations N` calls or `--time SECS` seconds, and the table shows the
//! median and 95th percentile of those calls and the input bytes processed per second at the median.

use std::time::{Duration, Instant};

use clap::Args;
use extism::{Backend, Manifest, Plugin};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::Failure;
use crate::format::{duration, throughput};
use crate::load::{self, PluginArgs};

/// Fresh instances timed for `instantiate` and `first call`.
const INSTANCE_SAMPLES: usize = 5;

/// `extism bench PLUGIN FUNCTION [flags]`.
#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    pub plugin: PluginArgs,
    /// The export to call.
    pub function: String,
    /// The engines to compare: `all` (every compiled engine) or a comma-separated list.
    #[arg(long, value_name = "all|LIST", default_value = "all")]
    pub backends: String,
    /// Time this many calls per engine.
    #[arg(long, value_name = "N", conflicts_with = "time", value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: Option<u64>,
    /// Call the function for this many seconds per engine (the default: 2).
    #[arg(long, value_name = "SECS")]
    pub time: Option<f64>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// How long each engine's steady-state calls run.
#[derive(Debug, Clone, Copy)]
enum Budget {
    Iterations(u64),
    Time(Duration),
}

/// One engine's figures, in nanoseconds.
#[derive(Debug, Clone)]
struct Row {
    engine: Backend,
    create: f64,
    instantiate: f64,
    first_call: f64,
    median: f64,
    p95: f64,
    calls: usize,
}

/// The columns of the table, for the verdict: (label, JSON key, the row's figure; lower is better).
/// A row's figure for one column.
type Figure = fn(&Row) -> f64;

const COLUMNS: [(&str, &str, Figure); 5] = [
    ("create", "create", |r| r.create),
    ("instantiate", "instantiate", |r| r.instantiate),
    ("first call", "first_call", |r| r.first_call),
    ("median", "median", |r| r.median),
    ("p95", "p95", |r| r.p95),
];

/// Run `extism bench`.
pub(crate) fn run(args: BenchArgs) -> Result<(), Failure> {
    let engines = parse_backends(&args.backends)?;
    let budget = match (args.iterations, args.time) {
        (Some(n), _) => Budget::Iterations(n),
        (None, Some(secs)) if secs.is_finite() && secs > 0.0 => Budget::Time(Duration::from_secs_f64(secs)),
        (None, Some(secs)) => {
            return Err(Failure::new(format!(
                "invalid --time {secs}: expected a positive number"
            )));
        }
        (None, None) => Budget::Time(Duration::from_secs(2)),
    };
    args.plugin.install_logging()?;
    let manifest = args.plugin.manifest()?;
    let input = args.plugin.input.read()?;

    let progress = progress_bar(engines.len(), budget);
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for &engine in &engines {
        progress.set_message(engine.name());
        match bench_engine(&args, &manifest, &input, engine, budget, &progress) {
            Ok(row) => rows.push(row),
            Err(failure) => failures.push((engine, failure.message)),
        }
    }
    progress.finish_and_clear();

    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report_json(&args, input.len(), &rows, &failures)).expect("JSON")
        );
    } else {
        print!("{}", table(input.len(), &rows, &failures));
    }
    if rows.is_empty() {
        let reasons: Vec<String> = failures.iter().map(|(e, m)| format!("{e}: {m}")).collect();
        return Err(Failure::new(format!(
            "no engine could run `{}`: {}",
            args.function,
            reasons.join("; ")
        )));
    }
    Ok(())
}

/// `all` or `wasmtime,wasmi`: engines in the order given, each once.
fn parse_backends(list: &str) -> Result<Vec<Backend>, Failure> {
    if list.trim() == "all" {
        return Ok(Backend::ALL.to_vec());
    }
    let mut engines = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let engine = name
            .parse::<Backend>()
            .map_err(|e| Failure::new(format!("--backends {list}: {e}")))?;
        if !engines.contains(&engine) {
            engines.push(engine);
        }
    }
    if engines.is_empty() {
        return Err(Failure::new(format!(
            "--backends {list:?} names no engine; compiled engines: {}",
            load::compiled_engines()
        )));
    }
    Ok(engines)
}

fn progress_bar(engines: usize, budget: Budget) -> ProgressBar {
    // Iterations: one tick per call; time: one tick per millisecond of calls.
    let per_engine = match budget {
        Budget::Iterations(n) => n,
        Budget::Time(t) => t.as_millis().max(1) as u64,
    };
    let bar = ProgressBar::new(per_engine * engines as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:9} [{bar:30}] {percent:>3}% {elapsed}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

fn median_of(samples: &mut [f64]) -> f64 {
    percentile(samples, 50.0)
}

/// The `p`th percentile (nearest rank) of `samples`, which it sorts.
fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

fn nanos(d: Duration) -> f64 {
    d.as_nanos() as f64
}

fn call(plugin: &mut Plugin, function: &str, input: &[u8]) -> Result<(), Failure> {
    match plugin.raw_call(function, input, None) {
        Ok(0) => Ok(()),
        Ok(code) => Err(Failure::new(format!(
            "`{function}` returned non-zero exit code: {code}"
        ))),
        Err((e, _)) => Err(Failure::new(format!("`{function}` failed: {e:#}"))),
    }
}

fn bench_engine(
    args: &BenchArgs,
    manifest: &Manifest,
    input: &[u8],
    engine: Backend,
    budget: Budget,
    progress: &ProgressBar,
) -> Result<Row, Failure> {
    let start = Instant::now();
    let plugin = args.plugin.build_uncached(manifest, engine)?;
    let create = nanos(start.elapsed());
    load::check_function(&plugin, manifest, &args.function)?;
    drop(plugin);

    let compiled = args.plugin.compile(manifest, engine)?;
    let mut instantiate = Vec::new();
    let mut first_call = Vec::new();
    let mut plugin = None;
    for _ in 0..INSTANCE_SAMPLES {
        let start = Instant::now();
        let mut fresh = Plugin::new_from_compiled(&compiled)?;
        let created = Instant::now();
        call(&mut fresh, &args.function, input)?;
        first_call.push(nanos(created.elapsed()));
        instantiate.push(nanos(created - start));
        plugin = Some(fresh);
    }
    let mut plugin = plugin.expect("INSTANCE_SAMPLES > 0");

    let mut samples = Vec::new();
    let began = Instant::now();
    let mut ticked = 0u64;
    loop {
        match budget {
            Budget::Iterations(n) if samples.len() as u64 >= n => break,
            Budget::Time(t) if began.elapsed() >= t && !samples.is_empty() => break,
            _ => {}
        }
        let start = Instant::now();
        call(&mut plugin, &args.function, input)?;
        samples.push(nanos(start.elapsed()));
        match budget {
            Budget::Iterations(_) => progress.inc(1),
            Budget::Time(t) => {
                let done = began.elapsed().min(t).as_millis() as u64;
                progress.inc(done - ticked);
                ticked = done;
            }
        }
    }
    if let Budget::Time(t) = budget {
        progress.inc((t.as_millis() as u64).saturating_sub(ticked));
    }
    Ok(Row {
        engine,
        create,
        instantiate: median_of(&mut instantiate),
        first_call: median_of(&mut first_call),
        median: median_of(&mut samples),
        p95: percentile(&mut samples, 95.0),
        calls: samples.len(),
    })
}

/// Bytes of input per second at the median call time; `None` without input.
fn rate(input_len: usize, row: &Row) -> Option<f64> {
    (input_len > 0 && row.median > 0.0).then(|| input_len as f64 * 1e9 / row.median)
}

/// The engine with the lowest figure in each column (ties: the first).
fn fastest(rows: &[Row]) -> Vec<(&'static str, &'static str, Backend)> {
    COLUMNS
        .iter()
        .filter_map(|(label, key, figure)| {
            rows.iter()
                .min_by(|a, b| figure(a).total_cmp(&figure(b)))
                .map(|r| (*label, *key, r.engine))
        })
        .collect()
}

fn table(input_len: usize, rows: &[Row], failures: &[(Backend, String)]) -> String {
    use std::fmt::Write;
    let header = [
        "engine",
        "create",
        "instantiate",
        "first call",
        "median",
        "p95",
        "calls",
        "throughput",
    ];
    let mut lines: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for row in rows {
        lines.push(vec![
            row.engine.name().to_string(),
            duration(row.create),
            duration(row.instantiate),
            duration(row.first_call),
            duration(row.median),
            duration(row.p95),
            row.calls.to_string(),
            rate(input_len, row).map(throughput).unwrap_or_else(|| "-".to_string()),
        ]);
    }
    for (engine, _) in failures {
        let mut line = vec![engine.name().to_string(), "failed".to_string()];
        line.resize(header.len(), "-".to_string());
        lines.push(line);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| lines.iter().map(|l| l[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &w))| {
                if c == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
        if i == 0 {
            let total = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
            let _ = writeln!(out, "{}", "-".repeat(total));
        }
    }
    for (engine, message) in failures {
        let _ = writeln!(out, "{engine} failed: {message}");
    }
    if !rows.is_empty() {
        let verdict: Vec<String> = fastest(rows)
            .iter()
            .map(|(label, _, engine)| format!("{label} {engine}"))
            .collect();
        let _ = writeln!(out, "fastest: {}", verdict.join(", "));
    }
    out
}

fn report_json(args: &BenchArgs, input_len: usize, rows: &[Row], failures: &[(Backend, String)]) -> Value {
    let mut results: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "engine": r.engine.name(),
                "create_ns": r.create,
                "instantiate_ns": r.instantiate,
                "first_call_ns": r.first_call,
                "median_ns": r.median,
                "p95_ns": r.p95,
                "calls": r.calls,
                "throughput_bytes_per_second": rate(input_len, r),
                "error": null,
            })
        })
        .collect();
    results.extend(
        failures
            .iter()
            .map(|(engine, message)| json!({"engine": engine.name(), "error": message})),
    );
    let fastest: serde_json::Map<String, Value> = fastest(rows)
        .into_iter()
        .map(|(_, key, engine)| (key.to_string(), json!(engine.name())))
        .collect();
    json!({
        "plugin": args.plugin.plugin.display().to_string(),
        "function": args.function,
        "input_bytes": input_len,
        "results": results,
        "fastest": fastest,
    })
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut samples, 50.0), 50.0);
        assert_eq!(percentile(&mut samples, 95.0), 95.0);
        let mut one = vec![7.0];
        assert_eq!(percentile(&mut one, 95.0), 7.0);
        let mut three = vec![3.0, 1.0, 2.0];
        assert_eq!(percentile(&mut three, 50.0), 2.0);
    }
}
