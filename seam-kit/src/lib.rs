//! The seam test kit: tests of the engine seam ([`EngineApi`] and [`PluginStore`]), each a generic function
//! `fn test<B: EngineApi>()`, that every backend crate runs on its own engine with one line:
//!
//! ```ignore
//! // backends/<engine>/tests/seam.rs
//! extism_seam_kit::seam_tests!(extism_wasmi::Wasmi);
//! ```
//!
//! [`seam_tests!`] expands to one `#[test]` per kit test, grouped in modules named after the kit's (so a test reads
//! `interrupts::stop_only_their_own_store`). The same tests run on every engine, as rustls runs the same test modules
//! against each crypto provider.
//!
//! The kit drives stores directly through the seam, below the core's call path: what it checks is each backend's
//! implementation of the seam, so a broken limit or host-call path fails here, named after the seam method, before
//! the conformance suite (which checks what users see, through the `extism` facade) gets to it.
//!
//! - Engines, modules and stores are built, and the kernel is called directly, only in [`setup`].
//! - Where an engine cannot do something, the test checks that it says so ([`capabilities`]); no test skips an
//!   engine.
//! - Tests that wait for an interrupt or a limit run under a deadline ([`deadline`]), so that a regression fails
//!   instead of hanging.
//!
//! [`EngineApi`]: extism_core::backend::EngineApi
//! [`PluginStore`]: extism_core::backend::PluginStore

pub mod calls;
pub mod capabilities;
/// The conformance suite's deadline helpers, shared by path (the kit uses some of them).
#[allow(dead_code)]
#[path = "../../tests/conformance/deadline.rs"]
pub mod deadline;
pub mod fuel;
pub mod guests;
pub mod host_functions;
pub mod interrupts;
pub mod memory_budget;
pub mod plugin;
pub mod setup;
pub mod tables;

/// Declare every kit test for the engine `$engine` (a type implementing [`extism_core::backend::EngineApi`]): one
/// `#[test]` per kit test, in modules named after the kit's modules.
#[macro_export]
macro_rules! seam_tests {
    ($engine:ty $(,)?) => {
        $crate::__seam_kit_tests! {
            $engine;
            interrupts {
                stop_a_spinning_call_and_leave_the_store_usable,
                stop_a_guest_that_keeps_calling_the_host,
                stop_only_their_own_store,
                requested_before_the_engine_call_still_stop_it,
                stop_a_start_function,
            }
            fuel {
                runs_out_and_refills,
                is_the_same_with_interrupts_enabled,
                remaining_is_none_without_metering,
                without_metering_is_refused_or_honoured,
                covers_start_functions,
                start_trap_then_retry_traps_again,
                covers_every_module_of_a_store,
                runs_out_in_a_guest_that_keeps_calling_the_host,
            }
            memory_budget {
                fails_the_call_even_if_the_guest_carries_on,
                counts_memory_creation,
                covers_the_kernel,
            }
            tables {
                limit_stops_growth_and_oversized_tables,
            }
            host_functions {
                pass_i64_arguments_and_results,
                pass_every_value_type,
                with_several_results,
                errors_come_back_unchanged,
                see_their_callers_memory_and_the_state,
                defined_later_shadow_prepared_ones,
            }
            calls {
                traps_are_traps_and_leave_the_store_usable,
                call_function_converts_values_both_ways,
                kernel_memory_holds_the_call_protocol,
                modules_list_their_imports_and_exports,
                registered_instances_link_into_later_modules,
                command_modules_instantiate_afresh_for_every_call,
                proposals_run_or_are_refused_by_name,
            }
        }
    };
}

/// The expansion of [`seam_tests!`], from its list of kit tests.
#[doc(hidden)]
#[macro_export]
macro_rules! __seam_kit_tests {
    ($engine:ty; $($group:ident { $($test:ident),* $(,)? })*) => {
        /// The engine the seam kit's tests run on.
        type SeamKitEngine = $engine;
        $(
            #[doc = concat!("The seam kit's `", stringify!($group), "` tests.")]
            mod $group {
                $(
                    #[test]
                    fn $test() {
                        $crate::$group::$test::<super::SeamKitEngine>();
                    }
                )*
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    /// Every test function of the kit (a `pub fn` generic over the engine) is in [`seam_tests!`]'s list, so that no
    /// test is written and never run. (The reverse, a listed test that does not exist, fails to compile.)
    #[test]
    fn seam_tests_lists_every_kit_test() {
        let lib = include_str!("lib.rs");
        let list =
            &lib[lib.find("macro_rules! seam_tests").unwrap()..lib.find("macro_rules! __seam_kit_tests").unwrap()];
        let groups = [
            ("interrupts", include_str!("interrupts.rs")),
            ("fuel", include_str!("fuel.rs")),
            ("memory_budget", include_str!("memory_budget.rs")),
            ("tables", include_str!("tables.rs")),
            ("host_functions", include_str!("host_functions.rs")),
            ("calls", include_str!("calls.rs")),
        ];
        let mut count = 0;
        for (group, source) in groups {
            let listed = &list[list.find(&format!("{group} {{")).unwrap()..];
            let listed = &listed[..listed.find('}').unwrap()];
            for line in source.lines() {
                let Some(rest) = line.strip_prefix("pub fn ") else {
                    continue;
                };
                let Some((name, _)) = rest.split_once("<B: EngineApi>()") else {
                    continue;
                };
                assert!(
                    listed.contains(&format!("{name},")),
                    "`{group}::{name}` is missing from seam_tests!"
                );
                count += 1;
            }
        }
        assert!(count >= 25, "found only {count} kit tests: has the signature changed?");
    }
}
