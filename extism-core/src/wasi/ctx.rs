//! The WASI context of one plug-in instance: what it may see of the host.

use std::sync::Weak;

use anyhow::{Context, Error, anyhow};
use wasi_common::dir::WasiDir;
use wasi_common::pipe::{ReadPipe, WritePipe};
use wasi_common::sync::{Dir, ambient_authority, clocks_ctx, random_ctx};
use wasi_common::table::Table;
use wasi_common::{WasiCtx, WasiFile};

use super::ENABLE_WASI_OUTPUT;
use super::read_only::ReadOnlyDir;
use super::sched::InterruptibleSched;
use crate::interrupt::Interrupt;
use crate::manifest::Manifest;

/// The prefix of an `allowed_paths` host path that preopens the directory read-only.
const READ_ONLY_PREFIX: &str = "ro:";

/// WASI state kept in the plug-in's [`crate::PluginState`].
pub(crate) struct WasiState {
    /// `wasi-common`'s context: the descriptor table (stdio, preopens, open files), clocks, randomness.
    pub(crate) ctx: WasiCtx,
    /// Descriptors in the table now (`wasi-common`'s table does not count them; see [`super::imports`]).
    pub(crate) open_files: u32,
    /// The most descriptors the guest may hold open (`PluginOptions::wasi_max_open_files`).
    pub(crate) max_open_files: u32,
}

impl std::fmt::Debug for WasiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WasiState { .. }")
    }
}

impl WasiState {
    /// A fresh context for a plug-in with this manifest: no arguments, no environment, empty stdin, stdout and stderr
    /// discarded unless [`ENABLE_WASI_OUTPUT`] is set, and the manifest's `allowed_paths` preopened in the order of
    /// their host paths. Sleeps wake for the plug-in's `interrupt` (timeout and cancel). Fails if a host directory
    /// cannot be opened. The guest may open descriptors until `max_open_files` are open (stdio and preopens included).
    pub(crate) fn new(
        manifest: &Manifest,
        interrupt: Weak<Interrupt>,
        max_open_files: u32,
    ) -> Result<WasiState, Error> {
        // Arguments and environment start empty and are never filled: nothing of the host's leaks in.
        let ctx = WasiCtx::new(
            random_ctx(),
            clocks_ctx(),
            InterruptibleSched::boxed(interrupt),
            Table::new(),
        );
        ctx.set_stdin(Box::new(ReadPipe::new(std::io::empty())));
        let (stdout, stderr): (Box<dyn WasiFile>, Box<dyn WasiFile>) = if std::env::var_os(ENABLE_WASI_OUTPUT).is_some()
        {
            (
                Box::new(wasi_common::sync::stdio::stdout()),
                Box::new(wasi_common::sync::stdio::stderr()),
            )
        } else {
            (
                Box::new(WritePipe::new(std::io::sink())),
                Box::new(WritePipe::new(std::io::sink())),
            )
        };
        ctx.set_stdout(stdout);
        ctx.set_stderr(stderr);

        // stdin, stdout, stderr.
        let mut open_files = 3;
        for (host, guest) in manifest.allowed_paths.iter().flatten() {
            let (host_path, read_only) = match host.strip_prefix(READ_ONLY_PREFIX) {
                Some(path) => (path, true),
                None => (host.as_str(), false),
            };
            let dir = Dir::open_ambient_dir(host_path, ambient_authority()).with_context(|| {
                format!(
                    "unable to open the allowed path `{host_path}` (guest path `{}`) for WASI",
                    guest.display()
                )
            })?;
            let mut dir: Box<dyn WasiDir> = Box::new(wasi_common::sync::dir::Dir::from_cap_std(dir));
            if read_only {
                dir = Box::new(ReadOnlyDir::new(dir));
            }
            ctx.push_preopened_dir(dir, guest)
                .map_err(|e| anyhow!("unable to preopen `{host_path}` as `{}`: {e:?}", guest.display()))?;
            open_files += 1;
        }
        Ok(WasiState {
            ctx,
            open_files,
            max_open_files,
        })
    }
}
