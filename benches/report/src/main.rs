//! `bench-report`: turns criterion's saved results of `benches/calls.rs` into `benches/REPORT.md` (rows =
//! benchmarks, columns = engines, each with its ratio to wasmtime) and `benches/report.svg` (log-scale bars, one
//! colour per engine), stating the machine, the date and the commit.
//!
//! ```sh
//! cargo bench --bench calls --all-features            # criterion saves its results under $CARGO_TARGET_DIR/criterion
//! cargo run -p bench-report -- [--criterion DIR] [--out DIR] [--settings TEXT]
//! ```
//!
//! The figure per benchmark and engine is criterion's median estimate of one iteration (`new/estimates.json`); the
//! benchmark and engine come from `new/benchmark.json` (group id and parameter, as `BenchmarkId::from_parameter`
//! names them in `calls.rs`).

mod svg;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use serde_json::Value;

/// The engine every other is compared with.
const REFERENCE_ENGINE: &str = "wasmtime";

/// Engines in the order of the table's columns; others follow alphabetically.
const ENGINE_ORDER: &[&str] = &["wasmtime", "wasmer", "wasmi"];

/// Benchmarks in the order of the table's rows (fixed cost, data size, host-bound, compute, start-up); others
/// follow alphabetically.
const BENCHMARK_ORDER: &[&str] = &[
    "noop",
    "echo_1KiB",
    "echo_64KiB",
    "echo_1MiB",
    "echo_16MiB",
    "reflect_64KiB",
    "host_call",
    "count_vowels_1MiB",
    "create",
    "create_warm_cache",
    "create_and_call",
    "create_warm_cache_and_call",
    "instantiate",
];

/// Median nanoseconds per iteration, by benchmark and engine.
pub type Results = BTreeMap<String, BTreeMap<String, f64>>;

/// What the report states about where and when the figures were measured.
pub struct Context {
    /// CPU model, logical CPUs, OS and architecture.
    pub machine: String,
    /// The date the report was generated, `YYYY-MM-DD` (UTC).
    pub date: String,
    /// The commit, with `-dirty` if the tree had uncommitted changes.
    pub commit: String,
    /// How the benches were run, if the caller says (e.g. criterion's options).
    pub settings: Option<String>,
}

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench-report: {message}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut criterion = None;
    let mut out = root.join("benches");
    let mut settings = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--criterion" => criterion = Some(PathBuf::from(value("--criterion")?)),
            "--out" => out = PathBuf::from(value("--out")?),
            "--settings" => settings = Some(value("--settings")?),
            "-h" | "--help" => {
                println!("usage: bench-report [--criterion DIR] [--out DIR] [--settings TEXT]");
                println!(
                    "  --criterion  criterion's output (default: $CARGO_TARGET_DIR/criterion, else target/criterion)"
                );
                println!("  --out        where REPORT.md and report.svg go (default: benches/)");
                println!("  --settings   how the benches were run, stated in the report");
                return Ok(());
            }
            other => return Err(format!("unknown argument `{other}` (see --help)")),
        }
    }
    let criterion = criterion.unwrap_or_else(|| match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("criterion"),
        None => root.join("target/criterion"),
    });
    let results = read_results(&criterion)?;
    if results.is_empty() {
        return Err(format!(
            "no saved results under {} (run `cargo bench --bench calls --all-features` first)",
            criterion.display()
        ));
    }
    let context = Context {
        machine: machine(),
        date: today(),
        commit: commit(&root),
        settings,
    };
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let report = out.join("REPORT.md");
    let chart = out.join("report.svg");
    std::fs::write(&report, markdown(&results, &context)).map_err(|e| format!("{}: {e}", report.display()))?;
    std::fs::write(&chart, svg::chart(&results, &context)).map_err(|e| format!("{}: {e}", chart.display()))?;
    println!("wrote {} and {}", report.display(), chart.display());
    Ok(())
}

/// Every `*/new/benchmark.json` under `dir` with its `estimates.json` beside it.
fn read_results(dir: &Path) -> Result<Results, String> {
    let mut results = Results::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        };
        for entry in entries {
            let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
            if !path.is_dir() {
                continue;
            }
            let benchmark = path.join("new/benchmark.json");
            if path.file_name().is_some_and(|n| n != "report") && benchmark.is_file() {
                let (group, engine) = benchmark_id(&read_json(&benchmark)?)
                    .ok_or_else(|| format!("{}: no group_id and value_str", benchmark.display()))?;
                let estimates = read_json(&path.join("new/estimates.json"))?;
                let median = estimates["median"]["point_estimate"]
                    .as_f64()
                    .ok_or_else(|| format!("{}: no median estimate", path.join("new/estimates.json").display()))?;
                results.entry(group).or_default().insert(engine, median);
            } else {
                pending.push(path);
            }
        }
    }
    Ok(results)
}

/// (benchmark, engine) from criterion's `benchmark.json`: the group and the parameter (`BenchmarkId::from_parameter`).
fn benchmark_id(benchmark: &Value) -> Option<(String, String)> {
    let group = benchmark["group_id"].as_str()?;
    let engine = benchmark["value_str"]
        .as_str()
        .or_else(|| benchmark["function_id"].as_str())?;
    Some((group.to_string(), engine.to_string()))
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Items in `preferred` order first, then the rest alphabetically.
pub fn ordered<'a>(names: impl IntoIterator<Item = &'a String>, preferred: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = names.into_iter().cloned().collect();
    names.sort_by_key(|n| (preferred.iter().position(|p| p == n).unwrap_or(usize::MAX), n.clone()));
    names.dedup();
    names
}

/// The engines that appear in `results`, in column order.
pub fn engines(results: &Results) -> Vec<String> {
    ordered(results.values().flat_map(|e| e.keys()), ENGINE_ORDER)
}

/// The benchmarks in row order.
pub fn benchmarks(results: &Results) -> Vec<String> {
    ordered(results.keys(), BENCHMARK_ORDER)
}

/// A duration in nanoseconds with three significant digits and a unit.
pub fn duration(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    if value >= 100.0 {
        format!("{value:.0} {unit}")
    } else if value >= 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.2} {unit}")
    }
}

fn markdown(results: &Results, context: &Context) -> String {
    let engines = engines(results);
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmark report\n");
    let _ = writeln!(
        out,
        "Generated by `cargo run -p bench-report` from criterion's saved results of `benches/calls.rs` \
         (`cargo bench --bench calls --all-features`); see that file for what each benchmark measures.\n"
    );
    let _ = writeln!(out, "- Machine: {}", context.machine);
    let _ = writeln!(out, "- Date: {} (UTC)", context.date);
    let _ = writeln!(out, "- Commit: {}", context.commit);
    if let Some(settings) = &context.settings {
        let _ = writeln!(out, "- Settings: {settings}");
    }
    let _ = writeln!(
        out,
        "\nMedian time per iteration (lower is better); in parentheses, the time relative to {REFERENCE_ENGINE} \
         (2.0× = twice as long). For `host_call` an iteration is one host call; for the others, one plug-in call or \
         creation.\n"
    );
    let _ = writeln!(out, "| benchmark | {} |", engines.join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(engines.len()));
    for benchmark in benchmarks(results) {
        let figures = &results[&benchmark];
        let reference = figures.get(REFERENCE_ENGINE).copied();
        let cells: Vec<String> = engines
            .iter()
            .map(|engine| match (figures.get(engine), reference) {
                (None, _) => "–".to_string(),
                (Some(&ns), Some(reference)) if engine != REFERENCE_ENGINE && reference > 0.0 => {
                    format!("{} ({:.2}×)", duration(ns), ns / reference)
                }
                (Some(&ns), _) => duration(ns),
            })
            .collect();
        let _ = writeln!(out, "| `{benchmark}` | {} |", cells.join(" | "));
    }
    let _ = writeln!(out, "\n![median time per benchmark and engine, log scale](report.svg)");
    out
}

/// CPU model, logical CPUs, OS and architecture.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!(
        "{cpu}, {cpus} logical CPUs available, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// The current commit, `-dirty` when the tree has uncommitted changes; `unknown` outside a git checkout.
fn commit(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(hash) => match git(&["status", "--porcelain", "--untracked-files=no"]) {
            Some(status) if !status.is_empty() => format!("{hash}-dirty"),
            _ => hash,
        },
        None => "unknown".to_string(),
    }
}

/// Today's date in UTC, `YYYY-MM-DD`.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days` algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_from_day_counts() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_790), (2026, 12, 3));
    }

    #[test]
    fn rows_and_columns_follow_the_preferred_order() {
        let mut results = Results::new();
        for bench in ["zeta", "echo_16MiB", "noop", "echo_1KiB"] {
            for engine in ["wasmi", "other", "wasmtime"] {
                results
                    .entry(bench.to_string())
                    .or_default()
                    .insert(engine.to_string(), 1.0);
            }
        }
        assert_eq!(benchmarks(&results), ["noop", "echo_1KiB", "echo_16MiB", "zeta"]);
        assert_eq!(engines(&results), ["wasmtime", "wasmi", "other"]);
    }

    #[test]
    fn the_table_gives_ratios_to_wasmtime() {
        let mut results = Results::new();
        let noop = results.entry("noop".to_string()).or_default();
        noop.insert("wasmtime".to_string(), 100.0);
        noop.insert("wasmi".to_string(), 250.0);
        let context = Context {
            machine: "m".into(),
            date: "d".into(),
            commit: "c".into(),
            settings: None,
        };
        let text = markdown(&results, &context);
        assert!(text.contains("| `noop` | 100 ns | 250 ns (2.50×) |"), "{text}");
    }

    #[test]
    fn criterion_results_are_read_from_their_directories() {
        let dir = std::env::temp_dir().join(format!("bench-report-test-{}", std::process::id()));
        let new = dir.join("echo_64KiB/wasmi/new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(
            new.join("benchmark.json"),
            r#"{"group_id":"echo_64KiB","function_id":null,"value_str":"wasmi"}"#,
        )
        .unwrap();
        std::fs::write(new.join("estimates.json"), r#"{"median":{"point_estimate":1234.5}}"#).unwrap();
        let results = read_results(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(results["echo_64KiB"]["wasmi"], 1234.5);
    }
}
