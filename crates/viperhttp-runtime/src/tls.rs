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

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

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
    /// counting `https_handshake_fail`) when it fails or times out, including
    /// plain HTTP sent to the TLS port; the caller then just drops the socket.
    pub async fn accept<IO>(&self, io: IO) -> Option<Accepted<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let acceptor = TlsAcceptor::from(self.current.load_full());
        let handshake = acceptor.accept(io);
        let result = match self.settings.tls_handshake_timeout_ms {
            0 => handshake.await,
            ms => match tokio::time::timeout(Duration::from_millis(ms), handshake).await {
                Ok(r) => r,
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
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

#[cfg(test)]
mod tests {
    use super::*;

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
