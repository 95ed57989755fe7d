//! TLS for the one listener (docs/internals/tls-http2.md): the certificate chain and key
//! from PEM (inline or a file), rustls server settings (TLS 1.2 and 1.3, no
//! client certificates, ALPN `h2` then `http/1.1` when HTTP/2 is on), the
//! handshake with its deadline and counters, and certificate reload.
//!
//! [`TlsLayer::accept`] is the one entry point for every protocol served over
//! TLS: the accept loop calls it for HTTP/1.1 and HTTP/2, and WebSocket (wss)
//! rides on the HTTP/1.1 connection it returns.
//!
//! Reload ([`TlsLayer::reload`], on SIGHUP): the PEM is read and checked again
//! and the new settings replace the old ones for handshakes that start later.
//! Connections already open keep the session they negotiated, so nothing is
//! dropped; a reload that fails keeps the old certificate.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::head_guard::{LINGER, LINGER_BYTES};
use crate::stats::ServerStats;
use crate::RuntimeError;

/// ALPN protocol id of HTTP/2 (RFC 9113 §3.2).
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN protocol id of HTTP/1.1.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Where one PEM document comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PemSource {
    /// The PEM text itself (`tls_cert_pem` / `tls_key_pem`).
    Inline(Vec<u8>),
    /// A file read at start and on every reload (`tls_cert_path` / `tls_key_path`).
    Path(PathBuf),
}

impl PemSource {
    fn load(&self, what: &'static str) -> Result<Vec<u8>, RuntimeError> {
        match self {
            PemSource::Inline(bytes) => Ok(bytes.clone()),
            PemSource::Path(path) => std::fs::read(path).map_err(|source| RuntimeError::TlsFile {
                what,
                path: path.display().to_string(),
                source,
            }),
        }
    }
}

/// TLS settings from `run()` (`https=True`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// The certificate chain, leaf first.
    pub cert: PemSource,
    /// The private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key: PemSource,
    /// Handshake deadline in milliseconds (0 = none): a client that has not
    /// finished the handshake by then is closed and counted as failed.
    pub tls_handshake_timeout_ms: u64,
}

/// Default handshake deadline (docs/internals/tls-http2.md): 10 s.
pub const DEFAULT_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;

/// The certificate chain of a PEM document, or why not.
fn parse_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, RuntimeError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| RuntimeError::TlsPem {
            what: "certificate",
            detail: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(RuntimeError::TlsPem {
            what: "certificate",
            detail: "no CERTIFICATE block found".into(),
        });
    }
    Ok(chain)
}

/// The first private key of a PEM document (`PRIVATE KEY`, `RSA PRIVATE KEY`
/// or `EC PRIVATE KEY` blocks), or why not.
fn parse_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, RuntimeError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| RuntimeError::TlsPem {
        what: "private key",
        detail: match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block found".into()
            }
            other => other.to_string(),
        },
    })
}

/// rustls server settings from the PEM documents: TLS 1.2 and 1.3 with the
/// `ring` provider, no client certificates, the given ALPN list. rustls checks
/// that the key belongs to the leaf certificate.
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
    http2: bool,
) -> Result<ServerConfig, RuntimeError> {
    let chain = parse_chain(cert_pem)?;
    let key = parse_key(key_pem)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| RuntimeError::TlsConfig(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| RuntimeError::TlsConfig(e.to_string()))?;
    config.alpn_protocols = if http2 {
        vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()]
    } else {
        vec![ALPN_HTTP11.to_vec()]
    };
    Ok(config)
}

/// A finished handshake.
pub struct Accepted<IO> {
    /// The encrypted stream.
    pub stream: TlsStream<IO>,
    /// The client and server agreed on `h2` (ALPN).
    pub h2: bool,
}

/// The TLS layer of a running server: current settings (swapped on reload),
/// handshake deadline and counters.
pub struct TlsLayer {
    settings: TlsSettings,
    http2: bool,
    current: ArcSwap<ServerConfig>,
    stats: Arc<ServerStats>,
}

impl std::fmt::Debug for TlsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsLayer")
            .field("http2", &self.http2)
            .field(
                "tls_handshake_timeout_ms",
                &self.settings.tls_handshake_timeout_ms,
            )
            .finish()
    }
}

impl TlsLayer {
    /// Load and check the certificate and key (errors here stop the start).
    pub fn new(
        settings: TlsSettings,
        http2: bool,
        stats: Arc<ServerStats>,
    ) -> Result<Self, RuntimeError> {
        let config = Self::load(&settings, http2)?;
        Ok(TlsLayer {
            settings,
            http2,
            current: ArcSwap::from_pointee(config),
            stats,
        })
    }

    fn load(settings: &TlsSettings, http2: bool) -> Result<ServerConfig, RuntimeError> {
        let cert = settings.cert.load("certificate")?;
        let key = settings.key.load("private key")?;
        server_config(&cert, &key, http2)
    }

    /// Read the PEM again (files are re-read; inline PEM is re-checked) and use
    /// it for every later handshake. On error the current certificate stays.
    pub fn reload(&self) -> Result<(), RuntimeError> {
        let config = Self::load(&self.settings, self.http2)?;
        self.current.store(Arc::new(config));
        Ok(())
    }

    /// Run the server handshake on `io` within the deadline. `None` (after
    /// counting `https_handshake_fail`) when it fails or times out; the caller
    /// then drops the socket. Plain HTTP sent to the TLS port (an `http://` URL
    /// for an `https://` server) is answered with a plain-text 400 that says so
    /// first, as nginx, Caddy and Go's server do: a bare close left the user with
    /// "connection reset" and no hint.
    pub async fn accept(&self, mut io: TcpStream) -> Option<Accepted<TcpStream>> {
        let acceptor = TlsAcceptor::from(self.current.load_full());
        let handshake = async move {
            if starts_like_http(&io).await {
                refuse_plain_http(&mut io).await;
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "plain HTTP request on the HTTPS port: answered 400",
                ));
            }
            acceptor.accept(io).await
        };
        let result = match self.settings.tls_handshake_timeout_ms {
            0 => handshake.await,
            ms => match tokio::time::timeout(Duration::from_millis(ms), handshake).await {
                Ok(r) => r,
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "TLS handshake timed out",
                )),
            },
        };
        match result {
            Ok(stream) => {
                ServerStats::bump(&self.stats.https_handshake_ok);
                let h2 = stream.get_ref().1.alpn_protocol() == Some(ALPN_H2);
                Some(Accepted { stream, h2 })
            }
            Err(e) => {
                ServerStats::bump(&self.stats.https_handshake_fail);
                tracing::debug!(target: "viperhttp::tls", "handshake failed: {e}");
                None
            }
        }
    }
}

/// The plain-HTTP answer on the TLS port. HTTP/1.1 with `Connection: close`: the
/// client reads it as any 400 and stops.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 45\r\n\
Connection: close\r\n\r\n\
This port speaks HTTPS: use an https:// URL.\n";

/// Head bytes read before the answer (the request's head is read so the close
/// that follows is not a reset that destroys the answer at the client).
const PLAIN_HTTP_HEAD_MAX: usize = 16 * 1024;

/// A TLS connection starts with a handshake record (0x16; 0x80.. for an SSLv2
/// hello); an HTTP/1 request starts with its method, upper-case ASCII, or with
/// the empty lines a server must ignore before the request line (RFC 9112
/// §2.2: CR or LF). One `peek` of the first byte, which the handshake would
/// have waited for anyway.
async fn starts_like_http(io: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(io.peek(&mut first).await,
        Ok(1) if first[0].is_ascii_uppercase() || matches!(first[0], b'\r' | b'\n'))
}

/// Where the request head begins and whether it has ended, fed the bytes as
/// they come. Leading empty lines are skipped (RFC 9112 §2.2); the head ends
/// at its empty line, with CRLF or bare LF line ends (§2.2 lets a recipient
/// take a bare LF as a line end, and hyper does). Each byte is looked at a
/// bounded number of times, so a client sending one byte at a time cannot
/// make the scan quadratic.
#[derive(Debug, Default)]
struct PlainHead {
    /// Offset of the request line's first byte, once a byte other than CR/LF came.
    start: Option<usize>,
    /// Bytes already scanned.
    scanned: usize,
}

impl PlainHead {
    /// Scan `head[self.scanned..]`; true when the head's empty line is in it.
    fn feed(&mut self, head: &[u8]) -> bool {
        let mut i = self.scanned;
        self.scanned = head.len();
        let start = match self.start {
            Some(s) => s,
            None => match head[i..].iter().position(|b| !matches!(b, b'\r' | b'\n')) {
                Some(p) => {
                    self.start = Some(i + p);
                    i += p;
                    i
                }
                None => return false,
            },
        };
        // an LF that ends a line, followed by an empty line: "\n\n" or "\n\r\n";
        // look back two bytes so a pair split across reads is found
        let from = i.saturating_sub(2).max(start);
        let tail = &head[from..];
        tail.windows(2).any(|w| w == b"\n\n") || tail.windows(3).any(|w| w == b"\n\r\n")
    }

    /// The request line (up to 200 bytes, for the log line).
    fn request_line(&self, head: &[u8]) -> String {
        let rest = &head[self.start.unwrap_or(head.len()).min(head.len())..];
        let line = rest
            .split(|&b| b == b'\r' || b == b'\n')
            .next()
            .unwrap_or_default();
        String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned()
    }
}

/// Read the request head (up to [`PLAIN_HTTP_HEAD_MAX`]), answer 400, shut the
/// write side and drain what else comes within the lingering-close bounds
/// (RFC 9112 §9.6), so the client reads the answer before the connection goes.
async fn refuse_plain_http(io: &mut TcpStream) {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    let mut scan = PlainHead::default();
    loop {
        match io.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if scan.feed(&head) || head.len() >= PLAIN_HTTP_HEAD_MAX {
            break;
        }
    }
    let target = scan.request_line(&head);
    tracing::info!(
        target: "viperhttp::tls",
        peer = %io.peer_addr().map(|a| a.to_string()).unwrap_or_default(),
        "plain HTTP request on the HTTPS port ({target}): answered 400"
    );
    if io.write_all(PLAIN_HTTP_ANSWER).await.is_err() || io.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut left = LINGER_BYTES;
        while left > 0 {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_http_answer_frames_its_body() {
        let text = std::str::from_utf8(PLAIN_HTTP_ANSWER).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())),
            "{head}"
        );
    }

    /// Feed `parts` one after the other; the index of the part that ended the head.
    fn head_ends_at(parts: &[&[u8]]) -> Option<usize> {
        let mut scan = PlainHead::default();
        let mut head = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            head.extend_from_slice(part);
            if scan.feed(&head) {
                return Some(i);
            }
        }
        None
    }

    #[test]
    fn the_plain_head_ends_at_its_empty_line_with_crlf_or_bare_lf() {
        assert_eq!(
            head_ends_at(&[b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]),
            Some(0)
        );
        assert_eq!(head_ends_at(&[b"GET / HTTP/1.1\nHost: x\n\n"]), Some(0));
        assert_eq!(head_ends_at(&[b"GET / HTTP/1.1\nHost: x\n\r\n"]), Some(0));
        // leading empty lines are not the head's end
        assert_eq!(
            head_ends_at(&[b"\r\n\r\n\n", b"GET / HTTP/1.1\r\n", b"\r\n"]),
            Some(2)
        );
        // one byte at a time, the pair split across reads
        let one_by_one: Vec<&[u8]> = b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n".chunks(1).collect();
        assert_eq!(head_ends_at(&one_by_one), Some(one_by_one.len() - 1));
        assert_eq!(head_ends_at(&[b"GET / HTTP/1.1\r\nHost: x\r\n"]), None);
    }

    #[test]
    fn the_request_line_skips_leading_empty_lines() {
        let head = b"\r\n\nGET /x HTTP/1.1\r\n\r\n";
        let mut scan = PlainHead::default();
        assert!(scan.feed(head));
        assert_eq!(scan.request_line(head), "GET /x HTTP/1.1");
    }

    #[test]
    fn empty_and_garbage_pem_are_refused_with_a_reason() {
        let err = server_config(b"", b"", false).unwrap_err().to_string();
        assert!(err.contains("certificate"), "{err}");
        let err = server_config(
            b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
            b"",
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("certificate"), "{err}");
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let settings = TlsSettings {
            cert: PemSource::Path("/nonexistent/cert.pem".into()),
            key: PemSource::Inline(Vec::new()),
            tls_handshake_timeout_ms: 0,
        };
        let err = TlsLayer::new(settings, false, Arc::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/cert.pem"), "{err}");
    }
}
