//! The interpreter's wake-up fd (docs/internals/ipc.md#8-queues-msgqueue-and-the-wake-up-protocol):
//! Linux `eventfd` (non-blocking, close-on-exec); elsewhere a non-blocking self-pipe.
//! Edge-coalesced: many `wake()` calls before a `drain()` make one readable event.
//!
//! `unsafe` note: besides `ring.rs`, this is the only module with `unsafe`
//! code — exactly the few `libc` calls that create, write and read the fd
//! (`#[allow(unsafe_code)]` on each, with a `SAFETY:` comment). Every call works
//! on an fd owned by this struct and on buffers on our own stack.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// A file descriptor that asyncio can watch with `loop.add_reader`.
pub struct WakeFd {
    inner: sys::Inner,
}

impl WakeFd {
    /// Create the fd.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            inner: sys::Inner::new()?,
        })
    }

    /// The fd to watch for readability.
    pub fn fd(&self) -> RawFd {
        self.inner.read_fd().as_raw_fd()
    }

    /// Make the fd readable (errors such as EAGAIN on a saturated counter are ignored).
    pub fn wake(&self) {
        self.inner.wake();
    }

    /// Consume pending wake-ups; returns true if there was at least one.
    pub fn drain(&self) -> bool {
        self.inner.drain()
    }
}

impl std::fmt::Debug for WakeFd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WakeFd").field("fd", &self.fd()).finish()
    }
}

/// Write `buf` to `fd` once, retrying on EINTR. Errors are reported, not retried.
#[allow(unsafe_code)]
fn write_retry(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `fd` is an open descriptor owned by the calling `Inner`
        // (it outlives this call); `buf` is a valid readable slice of
        // `buf.len()` bytes for the duration of the call.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast::<libc::c_void>(), buf.len()) };
        if n >= 0 {
            return Ok(n.unsigned_abs());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Read from `fd` once into `buf`, retrying on EINTR.
#[allow(unsafe_code)]
fn read_retry(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `fd` is an open descriptor owned by the calling `Inner`;
        // `buf` is a valid writable slice of `buf.len()` bytes that nothing
        // else borrows during the call.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast::<libc::c_void>(), buf.len()) };
        if n >= 0 {
            return Ok(n.unsigned_abs());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

#[cfg(target_os = "linux")]
mod sys {
    //! `eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)`: the kernel counter coalesces
    //! any number of writes into one readable state; one read resets it.

    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    pub(super) struct Inner {
        fd: OwnedFd,
    }

    impl Inner {
        #[allow(unsafe_code)]
        pub(super) fn new() -> io::Result<Self> {
            // SAFETY: plain syscall wrapper with integer arguments; no memory
            // is passed. The result is checked below.
            let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` was just returned by `eventfd`, is open, and is
            // owned by nothing else; `OwnedFd` becomes its only owner.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            Ok(Self { fd })
        }

        pub(super) fn read_fd(&self) -> &OwnedFd {
            &self.fd
        }

        pub(super) fn wake(&self) {
            // EAGAIN (counter saturated) still leaves the fd readable: ignore.
            let _ = super::write_retry(self.fd.as_raw_fd(), &1u64.to_ne_bytes());
        }

        pub(super) fn drain(&self) -> bool {
            let mut any = false;
            let mut buf = [0u8; 8];
            while let Ok(n) = super::read_retry(self.fd.as_raw_fd(), &mut buf) {
                if n == 0 {
                    break;
                }
                any = true;
            }
            any
        }
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
mod sys {
    //! Non-blocking, close-on-exec self-pipe: `wake` writes one byte (a full
    //! pipe is already readable, so EAGAIN is ignored); `drain` reads until EAGAIN.

    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    pub(super) struct Inner {
        read: OwnedFd,
        write: OwnedFd,
    }

    #[allow(unsafe_code)]
    fn set_nonblock_cloexec(fd: &OwnedFd) -> io::Result<()> {
        let raw = fd.as_raw_fd();
        // SAFETY: `raw` is an open descriptor owned by `fd`; F_GETFL/F_SETFL
        // and F_GETFD/F_SETFD take and return plain integers.
        unsafe {
            let fl = libc::fcntl(raw, libc::F_GETFL);
            if fl < 0 || libc::fcntl(raw, libc::F_SETFL, fl | libc::O_NONBLOCK) < 0 {
                return Err(io::Error::last_os_error());
            }
            let fdfl = libc::fcntl(raw, libc::F_GETFD);
            if fdfl < 0 || libc::fcntl(raw, libc::F_SETFD, fdfl | libc::FD_CLOEXEC) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    impl Inner {
        #[allow(unsafe_code)]
        pub(super) fn new() -> io::Result<Self> {
            let mut fds = [0 as libc::c_int; 2];
            // SAFETY: `fds` is a writable array of two `c_int`, as `pipe` requires.
            if unsafe { libc::pipe(fds.as_mut_ptr()) } < 0 {
                return Err(io::Error::last_os_error());
            }
            let [r, w] = fds;
            // SAFETY: `pipe` succeeded, so `r` and `w` are fresh open
            // descriptors owned by nothing else; each gets exactly one owner.
            let (read, write) = unsafe { (OwnedFd::from_raw_fd(r), OwnedFd::from_raw_fd(w)) };
            set_nonblock_cloexec(&read)?;
            set_nonblock_cloexec(&write)?;
            Ok(Self { read, write })
        }

        pub(super) fn read_fd(&self) -> &OwnedFd {
            &self.read
        }

        pub(super) fn wake(&self) {
            let _ = super::write_retry(self.write.as_raw_fd(), &[1u8]);
        }

        pub(super) fn drain(&self) -> bool {
            let mut any = false;
            let mut buf = [0u8; 256];
            while let Ok(n) = super::read_retry(self.read.as_raw_fd(), &mut buf) {
                if n == 0 {
                    break;
                }
                any = true;
            }
            any
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    /// Whether the fd is readable right now (poll with a zero timeout).
    #[allow(unsafe_code)]
    fn readable(fd: RawFd, timeout_ms: i32) -> bool {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `p` is one valid, writable `pollfd`; `fd` is open for the call.
        let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        n == 1 && (p.revents & libc::POLLIN) != 0
    }

    #[test]
    fn wake_makes_readable_and_drain_clears() {
        let w = WakeFd::new().unwrap();
        assert!(w.fd() >= 0);
        assert!(!readable(w.fd(), 0));
        assert!(!w.drain());
        w.wake();
        assert!(readable(w.fd(), 0));
        assert!(w.drain());
        assert!(!readable(w.fd(), 0));
        assert!(!w.drain());
    }

    #[test]
    fn wakes_coalesce() {
        let w = WakeFd::new().unwrap();
        for _ in 0..1000 {
            w.wake();
        }
        assert!(readable(w.fd(), 0));
        assert!(w.drain()); // one drain consumes every pending wake
        assert!(!readable(w.fd(), 0));
        assert!(!w.drain());
    }

    #[test]
    fn cross_thread_wake() {
        let w = Arc::new(WakeFd::new().unwrap());
        let w2 = Arc::clone(&w);
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            w2.wake();
        });
        assert!(readable(w.fd(), 5000));
        assert!(w.drain());
        t.join().unwrap();
    }

    #[test]
    #[allow(unsafe_code)]
    fn fd_is_nonblocking_and_cloexec() {
        let w = WakeFd::new().unwrap();
        // SAFETY: fcntl queries on an fd we own; integer results only.
        let (fl, fdfl) = unsafe {
            (
                libc::fcntl(w.fd(), libc::F_GETFL),
                libc::fcntl(w.fd(), libc::F_GETFD),
            )
        };
        assert!(fl & libc::O_NONBLOCK != 0);
        assert!(fdfl & libc::FD_CLOEXEC != 0);
        assert!(format!("{w:?}").contains("WakeFd"));
    }
}
