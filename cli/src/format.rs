//! Shared formatting: wasm types, durations, throughputs.

use extism::ValType;
use extism::module_info::FuncType;

/// True if Extism can call a function of this type: no parameters, no result or one `i32`.
pub(crate) fn is_callable(ty: &FuncType) -> bool {
    ty.params.is_empty() && matches!(ty.results.as_slice(), [] | [ValType::I32])
}

/// A value type as wasm text writes it (`i32`, `externref`, …).
pub(crate) fn val_type(ty: &ValType) -> String {
    format!("{ty:?}").to_ascii_lowercase()
}

/// `(i64, i32) -> i64` style.
pub(crate) fn func_type(ty: &FuncType) -> String {
    let list = |types: &[ValType]| types.iter().map(val_type).collect::<Vec<_>>().join(", ");
    match ty.results.as_slice() {
        [] => format!("({})", list(&ty.params)),
        [one] => format!("({}) -> {}", list(&ty.params), val_type(one)),
        many => format!("({}) -> ({})", list(&ty.params), list(many)),
    }
}

/// A duration in nanoseconds, with three significant digits and a unit (`812 ns`, `12.3 µs`, `4.56 ms`, `1.23 s`).
pub(crate) fn duration(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{} {unit}", significant(value))
}

/// Bytes per second, in binary units (`512 B/s`, `1.23 GiB/s`).
pub(crate) fn throughput(bytes_per_second: f64) -> String {
    let units = ["B/s", "KiB/s", "MiB/s", "GiB/s", "TiB/s"];
    let mut value = bytes_per_second;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{} {}", significant(value), units[unit])
}

/// Three significant digits for values from 1 to 999 (whole numbers from 100 on).
fn significant(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_a_unit_and_three_digits() {
        assert_eq!(duration(812.0), "812 ns");
        assert_eq!(duration(12_345.0), "12.3 µs");
        assert_eq!(duration(4_561_000.0), "4.56 ms");
        assert_eq!(duration(1_234_000_000.0), "1.23 s");
    }

    #[test]
    fn throughputs_use_binary_units() {
        assert_eq!(throughput(512.0), "512 B/s");
        assert_eq!(throughput(2048.0), "2.00 KiB/s");
        assert_eq!(throughput(3.0 * 1024.0 * 1024.0 * 1024.0), "3.00 GiB/s");
    }

    #[test]
    fn function_types_print_like_wat() {
        let ty = FuncType {
            params: vec![ValType::I64],
            results: vec![ValType::I64],
        };
        assert_eq!(func_type(&ty), "(i64) -> i64");
        assert!(!is_callable(&ty));
        let ty = FuncType {
            params: vec![],
            results: vec![ValType::I32],
        };
        assert!(is_callable(&ty));
    }
}
