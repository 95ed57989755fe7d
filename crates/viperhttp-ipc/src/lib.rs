//! The IPC contract between the native runtime (core 0's role) and the one
//! Python interpreter thread (core 1's role): fixed `IpcMsg` records, two byte
//! rings, two bounded queues and the blob codecs of docs/internals/ipc.md.
//!
//! This crate has no tokio and no Python dependency, so it builds, tests and
//! fuzzes on its own. The byte-level contract is written down in `docs/internals/ipc.md`.

pub mod blob;
pub mod channel;
pub mod error;
pub mod message;
pub mod queue;
pub mod ring;
pub mod wakefd;

pub use channel::{Ipc, IpcConfig, IpcCounters};
pub use error::IpcError;
pub use message::{flags, IpcMsg, Method, MsgType, ROUTE_SPANS};
pub use queue::MsgQueue;
pub use ring::{ByteRing, RingGrant};
pub use wakefd::WakeFd;
