//! [`Pool`]: a bounded set of plug-in instances shared by threads.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{Error, FromBytesOwned, Plugin, ToBytes};

type Source = dyn Fn() -> Result<Plugin, Error> + Send + Sync;

struct Shared {
    source: Box<Source>,
    max_instances: usize,
    state: Mutex<PoolState>,
    returned: Condvar,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Plugin>,
    /// Instances created so far (idle + checked out); never more than `max_instances`.
    created: usize,
    /// Answers of `function_exists`, per name.
    exports: std::collections::HashMap<String, bool>,
}

/// Configures a [`Pool`].
#[derive(Debug, Clone)]
pub struct PoolBuilder {
    /// The most instances the pool creates (default: the machine's available parallelism).
    pub max_instances: usize,
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            max_instances: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        }
    }
}

impl PoolBuilder {
    /// Default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the most instances the pool creates.
    pub fn with_max_instances(mut self, n: usize) -> Self {
        self.max_instances = n.max(1);
        self
    }

    /// A pool whose instances come from `source`.
    pub fn build<F: Fn() -> Result<Plugin, Error> + Send + Sync + 'static>(self, source: F) -> Pool {
        Pool::new_from_builder(source, self)
    }
}

/// A pool of plug-in instances: threads check one out, call it, and it goes back when dropped. Instances are created
/// on demand, up to a maximum; when all are busy, [`Pool::get`] waits (up to a timeout) for one to come back.
///
/// Unlike upstream's pool, checked-out instances are `Send` and the pool needs no `unsafe impl`.
///
/// ```
/// use std::time::Duration;
/// use extism::{Plugin, PluginBuilder, PoolBuilder};
///
/// # fn main() -> Result<(), extism::Error> {
/// let wasm = include_bytes!("../tests/wasm/count_vowels.wasm");
/// let compiled = PluginBuilder::new(wasm).compile()?;
/// // Four threads share at most two instances, made from the compiled plug-in as they are needed.
/// let pool = PoolBuilder::new()
///     .with_max_instances(2)
///     .build(move || Plugin::new_from_compiled(&compiled));
/// let threads: Vec<_> = ["a", "ee", "iii", "oooo"]
///     .into_iter()
///     .map(|input| {
///         let pool = pool.clone();
///         std::thread::spawn(move || -> Result<String, extism::Error> {
///             let plugin = pool.get(Duration::from_secs(10))?.expect("an instance within 10 s");
///             plugin.call("count_vowels", input) // back to the pool when `plugin` is dropped
///         })
///     })
///     .collect();
/// for (thread, count) in threads.into_iter().zip(1..) {
///     let output = thread.join().unwrap()?;
///     assert!(output.contains(&format!(r#""count":{count}"#)), "{output}");
/// }
/// assert!(pool.count() <= 2);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

impl Pool {
    /// A pool with default settings.
    pub fn new<F: Fn() -> Result<Plugin, Error> + Send + Sync + 'static>(source: F) -> Pool {
        Pool::new_from_builder(source, PoolBuilder::default())
    }

    /// A pool with the given settings.
    pub fn new_from_builder<F: Fn() -> Result<Plugin, Error> + Send + Sync + 'static>(
        source: F,
        builder: PoolBuilder,
    ) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                source: Box::new(source),
                max_instances: builder.max_instances.max(1),
                state: Mutex::new(PoolState::default()),
                returned: Condvar::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // A panic while holding the lock leaves only counters and idle plug-ins behind: still consistent.
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Instances created so far.
    pub fn count(&self) -> usize {
        self.lock().created
    }

    /// Check out an instance: an idle one, else a new one if under the maximum, else wait up to `timeout` for one to
    /// come back (`Ok(None)` if none did).
    pub fn get(&self, timeout: Duration) -> Result<Option<PoolPlugin>, Error> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if let Some(plugin) = state.idle.pop() {
                return Ok(Some(self.checked_out(plugin)));
            }
            if state.created < self.shared.max_instances {
                state.created += 1;
                drop(state);
                return match (self.shared.source)() {
                    Ok(plugin) => Ok(Some(self.checked_out(plugin))),
                    Err(e) => {
                        self.lock().created -= 1;
                        self.shared.returned.notify_one();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            state = self
                .shared
                .returned
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn checked_out(&self, plugin: Plugin) -> PoolPlugin {
        PoolPlugin {
            plugin: Some(Mutex::new(plugin)),
            pool: self.clone(),
        }
    }

    /// Run `f` with an instance checked out for it (`Ok(None)` if none could be had within `timeout`).
    pub fn with_plugin<T>(
        &self,
        timeout: Duration,
        f: impl FnOnce(&mut Plugin) -> Result<T, Error>,
    ) -> Result<Option<T>, Error> {
        match self.get(timeout)? {
            Some(plugin) => f(&mut plugin.plugin()).map(Some),
            None => Ok(None),
        }
    }

    /// True if the plug-in exports `name` (answered once per name, from any instance). Errors if no instance could
    /// be had within `timeout` (upstream panics there).
    pub fn function_exists(&self, name: &str, timeout: Duration) -> Result<bool, Error> {
        if let Some(known) = self.lock().exports.get(name) {
            return Ok(*known);
        }
        let exists = self
            .with_plugin(timeout, |p| Ok(p.function_exists(name)))?
            .ok_or_else(|| Error::msg(format!("no plug-in instance became available within {timeout:?}")))?;
        self.lock().exports.insert(name.to_string(), exists);
        Ok(exists)
    }
}

/// An instance checked out of a [`Pool`]; it goes back to the pool when dropped.
pub struct PoolPlugin {
    plugin: Option<Mutex<Plugin>>,
    pool: Pool,
}

impl PoolPlugin {
    /// The plug-in.
    pub fn plugin(&self) -> MutexGuard<'_, Plugin> {
        self.plugin
            .as_ref()
            .expect("present until drop")
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Call an export and decode its output into an owned value.
    pub fn call<'a, I: ToBytes<'a>, O: FromBytesOwned>(&self, name: impl AsRef<str>, input: I) -> Result<O, Error> {
        let mut plugin = self.plugin();
        let output: &[u8] = plugin.call(name, input)?;
        O::from_bytes_owned(output)
    }

    /// The instance's id.
    pub fn id(&self) -> crate::Uuid {
        self.plugin().id
    }
}

impl Drop for PoolPlugin {
    fn drop(&mut self) {
        if let Some(plugin) = self.plugin.take() {
            let plugin = plugin.into_inner().unwrap_or_else(|p| p.into_inner());
            self.pool.lock().idle.push(plugin);
            self.pool.shared.returned.notify_one();
        }
    }
}
