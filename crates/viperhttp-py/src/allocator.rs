//! The Rust-side allocator: mimalloc, as in granian's `mimalloc` build (docs/internals/http.md, "Allocator").
//!
//! Why not glibc malloc: a parked connection gives its hyper buffers back (docs/internals/http.md,
//! "Parked connections"), but glibc keeps those freed chunks resident as holes between the
//! connections' long-lived task cells: 10,000 idle connections cost ~3 KiB each more than they
//! hold. mimalloc keeps each size class on its own pages and returns a page to the OS once it
//! has been empty for `PURGE_DELAY_MS`; its thread-local free lists are as fast on the hot path.
//! Python objects stay on Python's allocator; only this extension's allocations move.

use std::os::raw::c_long;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_t` (the crate names only some options).
/// Checked against a neighbour the crate does name, so a renumbering fails the unit test.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long a page stays empty before mimalloc returns it to the OS (its default is 1 s).
///
/// Not 0: under load, pages of the sizes a request allocates and frees (hyper's 8 KiB read
/// buffer above all) empty and refill many times a second. Returned at once, every refill cost
/// an `madvise` (with a TLB shoot-down across the process's threads) and page faults: 4-5 % of
/// the runtime thread, and 4-10 % of the sync hello's throughput in per-thread runs, 2 % in one
/// `make bench` run (docs/internals/benchmarks.md, "Allocator purge delay"). 100 ms keeps those
/// pages while they are in use and still returns an idle server's memory promptly.
const PURGE_DELAY_MS: c_long = 100;

/// Sets the purge delay and registers the runtime's upkeep tick that performs the purge. The
/// delayed purge otherwise only runs during later allocation, which an idle server does not
/// perform, so the pages of connections that went idle would stay resident. A
/// `MIMALLOC_PURGE_DELAY` set in the environment wins (mimalloc read it at its start).
pub(crate) fn configure() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        #[allow(unsafe_code)]
        // SAFETY: sets one option value; mimalloc's options are plain globals read on each purge.
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS)
        };
    }
    viperhttp_runtime::upkeep::register(purge_expired);
}

/// Returns to the OS the pages whose purge delay has passed (a normal, not forced, collection:
/// an arena's pages are purged together once the delay of the first one scheduled has passed;
/// a forced collection would purge everything at once, under load too).
fn purge_expired() {
    #[allow(unsafe_code)]
    // SAFETY: `mi_collect` takes no pointers; it frees only what mimalloc itself owns and may be
    // called from any thread that uses the allocator.
    unsafe {
        libmimalloc_sys::mi_collect(false)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_delay_is_the_option_before_use_numa_nodes() {
        assert_eq!(
            MI_OPTION_PURGE_DELAY + 1,
            libmimalloc_sys::mi_option_use_numa_nodes
        );
    }

    #[test]
    fn configure_sets_the_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        configure();
        #[allow(unsafe_code)]
        // SAFETY: reads one option value.
        let v = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(v, PURGE_DELAY_MS);
    }
}
