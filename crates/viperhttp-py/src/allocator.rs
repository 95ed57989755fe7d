//! The Rust-side allocator: mimalloc, as in granian's `mimalloc` build (docs/internals/http.md, "Allocator").
//!
//! Why not glibc malloc: a parked connection gives its hyper buffers back (docs/internals/http.md,
//! "Parked connections"), but glibc keeps those freed chunks resident as holes between the
//! connections' long-lived task cells: 10,000 idle connections cost ~3 KiB each more than they
//! hold. mimalloc keeps each size class on its own pages and returns a page to the OS as soon as
//! it empties (`purge_delay` 0 below); its thread-local free lists are as fast on the hot path.
//! Python objects stay on Python's allocator; only this extension's allocations move.

use std::os::raw::c_long;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_t` (the crate names only some options).
/// Checked against a neighbour the crate does name, so a renumbering fails the unit test.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Purge emptied pages at once instead of after mimalloc's default 1 s. The delayed purge only
/// runs on later allocator activity, which an idle server does not have, so with the default the
/// pages of connections that went idle would stay resident. A `MIMALLOC_PURGE_DELAY` set in the
/// environment wins (mimalloc read it at its start).
pub(crate) fn configure() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        #[allow(unsafe_code)]
        // SAFETY: sets one option value; mimalloc's options are plain globals read on each purge.
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0 as c_long)
        };
    }
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
    fn configure_sets_an_immediate_purge() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        configure();
        #[allow(unsafe_code)]
        // SAFETY: reads one option value.
        let v = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(v, 0);
    }
}
