//! The timeout timer: one background thread, started on the first call that has a timeout, that interrupts a call
//! whose deadline passes.
//!
//! Calls without a timeout never talk to it. A call with a timeout sends one message when it starts and one when it
//! ends, so that the timer forgets finished calls instead of accumulating them.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Instant;

use crate::interrupt::Interrupt;

enum Message {
    Start {
        call: u64,
        generation: u64,
        deadline: Instant,
        interrupt: Weak<Interrupt>,
    },
    Stop {
        call: u64,
    },
}

fn sender() -> Sender<Message> {
    static SENDER: OnceLock<Mutex<Sender<Message>>> = OnceLock::new();
    SENDER
        .get_or_init(|| {
            let (tx, rx) = channel();
            std::thread::Builder::new()
                .name("extism-timeout".into())
                .spawn(move || run(rx))
                .expect("cannot start the Extism timeout thread");
            Mutex::new(tx)
        })
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

/// A registered deadline; dropping it tells the timer the call is over.
pub(crate) struct Deadline {
    call: u64,
    sender: Sender<Message>,
}

impl Drop for Deadline {
    fn drop(&mut self) {
        let _ = self.sender.send(Message::Stop { call: self.call });
    }
}

/// Interrupt call number `generation` of `interrupt` at `deadline`, unless the returned guard is dropped first.
pub(crate) fn start(interrupt: &Arc<Interrupt>, generation: u64, deadline: Instant) -> Deadline {
    static NEXT_CALL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let call = NEXT_CALL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let sender = sender();
    let _ = sender.send(Message::Start {
        call,
        generation,
        deadline,
        interrupt: Arc::downgrade(interrupt),
    });
    Deadline { call, sender }
}

fn run(messages: Receiver<Message>) {
    // Pending deadlines, soonest first; `live` maps a call to its deadline so a Stop can remove it.
    let mut pending: BTreeMap<(Instant, u64), (u64, Weak<Interrupt>)> = BTreeMap::new();
    let mut live: HashMap<u64, Instant> = HashMap::new();
    loop {
        let message = match pending.keys().next() {
            None => messages.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some((deadline, _)) => messages.recv_timeout(deadline.saturating_duration_since(Instant::now())),
        };
        match message {
            Ok(Message::Start {
                call,
                generation,
                deadline,
                interrupt,
            }) => {
                live.insert(call, deadline);
                pending.insert((deadline, call), (generation, interrupt));
            }
            Ok(Message::Stop { call }) => {
                if let Some(deadline) = live.remove(&call) {
                    pending.remove(&(deadline, call));
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        while let Some(entry) = pending.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, call), (generation, interrupt)) = entry.remove_entry();
            live.remove(&call);
            if let Some(interrupt) = interrupt.upgrade() {
                interrupt.request_for_call(generation);
            }
        }
    }
}
