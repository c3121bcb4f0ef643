//! A counting global allocator, for the tests and benchmarks that prove a steady state
//! allocates nothing or that measure how many heap bytes something holds.
//!
//! Install it in the test binary (one per binary: a global allocator counts the whole
//! process, so a file that measures holds that one measurement):
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: pimon_test_support::alloc::Counting = pimon_test_support::alloc::Counting;
//! ```
//!
//! It forwards every call to the system allocator and counts, with relaxed atomics:
//! allocations (`alloc`, `alloc_zeroed`, `realloc`) and their bytes on every thread, the
//! live heap bytes and their peak; and, for code that must not allocate while another
//! thread of the same process does by design, the allocations of one thread inside
//! [`count_on_this_thread`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};

/// The system allocator, counting. See the module docs.
pub struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    // Const-initialised and without destructors: touching them never allocates.
    static THREAD_COUNTING: Cell<bool> = const { Cell::new(false) };
    static THREAD_ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn allocated(bytes: usize) {
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    ALLOCATED_BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
    let live = LIVE.fetch_add(bytes as isize, Ordering::Relaxed) + bytes as isize;
    PEAK.fetch_max(live, Ordering::Relaxed);
    let _ = THREAD_COUNTING.try_with(|counting| {
        if counting.get() {
            let _ = THREAD_ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

fn freed(bytes: usize) {
    LIVE.fetch_sub(bytes as isize, Ordering::Relaxed);
}

// `GlobalAlloc` is an unsafe trait: this is the test code's one exception to the
// workspace's `unsafe_code = "deny"`.
#[allow(unsafe_code)]
// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees hold; the counting touches only atomics and const-initialised
// thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (the caller upholds `alloc`'s contract).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            allocated(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            allocated(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged (`ptr` came from this allocator, i.e. `System`).
        unsafe { System.dealloc(ptr, layout) };
        freed(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            freed(layout.size());
            allocated(new_size);
        }
        p
    }
}

/// Allocations so far (`alloc`, `alloc_zeroed` and `realloc`), all threads.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Bytes requested by those allocations, all threads.
pub fn allocated_bytes() -> u64 {
    ALLOCATED_BYTES.load(Ordering::Relaxed)
}

/// Heap bytes allocated and not yet freed, all threads. Relative: compare two readings.
pub fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// The highest [`live_bytes`] since the last [`reset_peak`].
pub fn peak_bytes() -> isize {
    PEAK.load(Ordering::Relaxed)
}

/// Starts a new peak at the live bytes of now, and returns them.
pub fn reset_peak() -> isize {
    let live = live_bytes();
    PEAK.store(live, Ordering::Relaxed);
    live
}

/// Runs `f` and returns its result with the allocations this thread made meanwhile
/// (other threads' allocations are not counted).
pub fn count_on_this_thread<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = THREAD_ALLOCATIONS.with(Cell::get);
    THREAD_COUNTING.with(|c| c.set(true));
    let result = f();
    THREAD_COUNTING.with(|c| c.set(false));
    (result, THREAD_ALLOCATIONS.with(Cell::get) - before)
}
