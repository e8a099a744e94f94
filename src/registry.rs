//! The engine registry: the one list of the engines this crate can be built with.
//!
//! Each line names the cargo feature that compiles the engine in (also its name: `EXTISM_BACKEND`, `--backend`, C's
//! `extism_backends`), the [`Backend`] variant, the type implementing [`extism_core::backend::EngineApi`], and the
//! identifier of its test cases. From it come the [`Backend`] enum, [`Backend::ALL`], the names and their parsing
//! (`backend.rs`), and the dispatch to the engine's type ([`Backend::visit`]), which is all that compiling a plug-in
//! (`builder.rs`) and [`crate::module_info`] need: plug-ins and compiled plug-ins are then trait objects
//! (`dispatch.rs`). Adding an engine is its crate, its feature in `Cargo.toml` (and `capi/Cargo.toml`), and a line
//! here.

use extism_core::backend::{Capabilities, EngineApi};

/// Generic code to run with the engine type behind a [`Backend`], for code that works on the seam
/// ([`extism_core::backend::EngineApi`]) directly: [`Backend::visit`] calls [`EngineVisitor::visit`] with it.
pub trait EngineVisitor {
    /// What the visit returns.
    type Output;

    /// Run with the engine type `E`.
    fn visit<E: EngineApi>(self) -> Self::Output;
}

/// Generates the registry's items from its list (see the module docs).
macro_rules! engines {
    ($( $(#[$doc:meta])* $feature:literal => $variant:ident($engine:ty) as $case:ident ),+ $(,)?) => {
        /// A WebAssembly engine compiled into this build (one variant per enabled engine feature; see the table in
        /// the crate docs).
        ///
        /// A plug-in's engine is [`crate::PluginBuilder::with_backend`] if given, else the `EXTISM_BACKEND`
        /// environment variable (see [`Backend::from_env`]), else the first compiled engine in [`Backend::ALL`]'s
        /// order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Backend {
            $(
                $(#[$doc])*
                #[cfg(feature = $feature)]
                $variant,
            )+
        }

        #[cfg(not(any($(feature = $feature),+)))]
        compile_error!(concat!(
            "enable at least one engine feature of the `extism` crate:" $(, " `", $feature, "`")+
        ));

        impl Backend {
            /// Every backend compiled into this build, in the registry's order (the first is the default).
            pub const ALL: &'static [Backend] = &[$(#[cfg(feature = $feature)] Backend::$variant,)+];

            /// Every engine this crate knows, compiled in or not, for error messages.
            pub(crate) const KNOWN: &'static [&'static str] = &[$($feature),+];

            /// The engine's name, which is also its cargo feature: `"wasmtime"`, `"wasmi"`, …
            pub fn name(self) -> &'static str {
                match self {
                    $(#[cfg(feature = $feature)] Backend::$variant => $feature,)+
                }
            }

            /// What this engine can do beyond the baseline every engine provides (for example one fuel limit over a
            /// plug-in of several wasm modules). Plug-ins that need what it cannot do are refused when they are
            /// built, with an error naming the engine and the capability.
            pub fn capabilities(self) -> Capabilities {
                match self {
                    $(#[cfg(feature = $feature)] Backend::$variant => <$engine as EngineApi>::CAPABILITIES,)+
                }
            }

            /// Run `visitor` with this engine's [`extism_core::backend::EngineApi`] type.
            pub fn visit<V: EngineVisitor>(self, visitor: V) -> V::Output {
                match self {
                    $(#[cfg(feature = $feature)] Backend::$variant => visitor.visit::<$engine>(),)+
                }
            }
        }

        engines!(@steps ($) ; $($feature $variant $case ;)+);
    };

    // The `compiled_engines!` macro (below) for tests in other crates, which must know at expansion time which
    // engines this build of `extism` has: cfg predicates in their own code would ask their own crate's features. It
    // walks a chain of hidden exported macros, one per engine and named after its variant, each defined in one of two
    // ways by its engine's feature, so that the walk collects the compiled and the missing engines.
    (@steps ($d:tt) ; $feature:literal $variant:ident $case:ident ; $($rest:tt)*) => {
        /// Expands `callback! { { args } [(case Variant)…] [(case Variant)…] }`: the engines compiled into this build
        /// of `extism` (in the registry's order), then those that are not. For this workspace's tests, which make
        /// one test case per compiled engine.
        #[doc(hidden)]
        #[macro_export]
        macro_rules! compiled_engines {
            ($d callback:ident { $d($d args:tt)* }) => {
                $d crate::$variant! { [$d callback { $d($d args)* }] [] [] }
            };
        }
        engines!(@step ($) ; $feature $variant $case ; $($rest)*);
    };
    (@step ($d:tt) ; $feature:literal $variant:ident $case:ident ; $next_feature:literal $next:ident $next_case:ident ; $($rest:tt)*) => {
        engines!(@define ($) $feature $variant $case $next);
        engines!(@step ($) ; $next_feature $next $next_case ; $($rest)*);
    };
    (@step ($d:tt) ; $feature:literal $variant:ident $case:ident ;) => {
        engines!(@define ($) $feature $variant $case __extism_engines_collected);
        #[doc(hidden)]
        #[macro_export]
        macro_rules! __extism_engines_collected {
            ([$d callback:ident { $d($d args:tt)* }] [$d($d compiled:tt)*] [$d($d missing:tt)*]) => {
                $d callback! { { $d($d args)* } [$d($d compiled)*] [$d($d missing)*] }
            };
        }
    };
    (@define ($d:tt) $feature:literal $variant:ident $case:ident $next:ident) => {
        #[cfg(feature = $feature)]
        #[doc(hidden)]
        #[macro_export]
        macro_rules! $variant {
            ([$d($d callback:tt)*] [$d($d compiled:tt)*] [$d($d missing:tt)*]) => {
                $d crate::$next! { [$d($d callback)*] [$d($d compiled)* ($case $variant)] [$d($d missing)*] }
            };
        }
        #[cfg(not(feature = $feature))]
        #[doc(hidden)]
        #[macro_export]
        macro_rules! $variant {
            ([$d($d callback:tt)*] [$d($d compiled:tt)*] [$d($d missing:tt)*]) => {
                $d crate::$next! { [$d($d callback)*] [$d($d compiled)*] [$d($d missing)* ($case $variant)] }
            };
        }
    };
}

engines! {
    /// wasmtime (Cranelift JIT): the fastest calls, slower start-up.
    "wasmtime" => Wasmtime(extism_wasmtime::Wasmtime) as wasmtime,
    /// wasmer (singlepass JIT): quick compilation, slower calls than wasmtime; no SIMD, tail calls or memory64.
    "wasmer" => Wasmer(extism_wasmer::Wasmer) as wasmer,
    /// wasmi (interpreter): runs where a JIT is forbidden (iOS, consoles, embedded) and creates plug-ins fastest,
    /// but runs guest code several times slower.
    "wasmi" => Wasmi(extism_wasmi::Wasmi) as wasmi,
    /// Pulley (wasmtime compiling to its portable bytecode, interpreted): no JIT, with wasmtime's semantics.
    "pulley" => Pulley(extism_pulley::Pulley) as pulley,
}
