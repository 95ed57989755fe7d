//! Native trusted-host check (docs/internals/cors-hosts-ratelimit.md#trusted-host-trusted_hostrs):
//! which `Host` values the server answers. A rejected request gets `400 Invalid Host` (keep-alive
//! kept, no CORS headers), written by the pipeline.
//!
//! The check only exists when an enabled, non-empty list without `*` is
//! configured ([`TrustedHostConfig::new`] returns `None` otherwise), so the
//! default costs nothing and HTTP/1.0 requests without `Host` pass.

/// Host limit on entries (device: 8).
pub const MAX_TRUSTED_HOSTS: usize = 256;

/// Each entry must be shorter than this. The host raised the entry count
/// but the host keeps the device's 128-byte entry rule; a DNS name is at
/// most 253 bytes, but no deployment needs a 128-byte host name in a list.
pub const MAX_HOST_LEN: usize = 128;

/// A trusted-host configuration error. `Display` is the Python
/// `ValueError` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustedHostError {
    /// An empty entry.
    #[error("host value empty")]
    Empty,
    /// An entry of [`MAX_HOST_LEN`] bytes or more.
    #[error("host value too long")]
    TooLong,
    /// More than [`MAX_TRUSTED_HOSTS`] entries.
    #[error("too many trusted hosts")]
    TooMany,
}

/// One allowed-host entry, pre-classified and lower-cased (ASCII).
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostRule {
    /// `*.suffix`: stored as `.suffix`; a host name ending in it with at
    /// least one byte before the dot matches (the bare suffix does not).
    Suffix(Vec<u8>),
    /// `[v6]:port`: the whole `Host` must equal it.
    BracketedWithPort(Vec<u8>),
    /// `[v6]`: the bracketed address of the `Host` must equal it.
    Bracketed(Vec<u8>),
    /// `name:port`: the whole `Host` must equal it.
    WithPort(Vec<u8>),
    /// `name`: the host name (before the first `:`) must equal it.
    Name(Vec<u8>),
}

/// A configured, enabled trusted-host list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedHostConfig {
    rules: Vec<HostRule>,
}

impl TrustedHostConfig {
    /// Validate the list (every entry, even when disabled: errors raise at
    /// the Python call) and build the check. `Ok(None)` means "no check":
    /// `enabled` false, an empty list, or `*` anywhere
    /// (docs/internals/cors-hosts-ratelimit.md#trusted-host-trusted_hostrs decision).
    pub fn new(allowed: Vec<String>, enabled: bool) -> Result<Option<Self>, TrustedHostError> {
        for entry in &allowed {
            if entry.is_empty() {
                return Err(TrustedHostError::Empty);
            }
            if entry.len() >= MAX_HOST_LEN {
                return Err(TrustedHostError::TooLong);
            }
        }
        if allowed.len() > MAX_TRUSTED_HOSTS {
            return Err(TrustedHostError::TooMany);
        }
        if !enabled || allowed.is_empty() || allowed.iter().any(|e| e == "*") {
            return Ok(None);
        }
        let rules = allowed
            .into_iter()
            .map(|entry| {
                let lower = entry.to_ascii_lowercase().into_bytes();
                if lower.starts_with(b"*.") {
                    HostRule::Suffix(lower.get(1..).unwrap_or_default().to_vec())
                } else if lower.starts_with(b"[") {
                    if lower.windows(2).any(|w| w == b"]:") {
                        HostRule::BracketedWithPort(lower)
                    } else {
                        HostRule::Bracketed(lower)
                    }
                } else if lower.contains(&b':') {
                    HostRule::WithPort(lower)
                } else {
                    HostRule::Name(lower)
                }
            })
            .collect();
        Ok(Some(Self { rules }))
    }

    /// Does this `Host` value pass? `host_header` is the first `Host` (or
    /// the absolute-form target's authority); missing or empty (after
    /// trimming SP/HT) → rejected.
    pub fn allows(&self, host_header: Option<&[u8]>) -> bool {
        let Some(raw) = host_header else { return false };
        let host = trim_sp_ht(raw);
        if host.is_empty() {
            return false;
        }
        // `[v6]` / `[v6]:port` → the bracketed part; else before the first `:`.
        let name: &[u8] = if host.first() == Some(&b'[') {
            match host.iter().position(|&b| b == b']') {
                Some(end) => host.get(..=end).unwrap_or(host),
                None => host,
            }
        } else {
            match host.iter().position(|&b| b == b':') {
                Some(colon) => host.get(..colon).unwrap_or(host),
                None => host,
            }
        };
        self.rules.iter().any(|rule| match rule {
            HostRule::Suffix(suffix) => {
                name.len() > suffix.len()
                    && name
                        .get(name.len() - suffix.len()..)
                        .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
            }
            HostRule::BracketedWithPort(entry) | HostRule::WithPort(entry) => {
                host.eq_ignore_ascii_case(entry)
            }
            HostRule::Bracketed(entry) => name.eq_ignore_ascii_case(entry),
            HostRule::Name(entry) => name.eq_ignore_ascii_case(entry),
        })
    }
}

fn trim_sp_ht(s: &[u8]) -> &[u8] {
    let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
    let start = s.iter().position(|b| !is_ws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !is_ws(b)).map_or(start, |i| i + 1);
    s.get(start..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(hosts: &[&str]) -> TrustedHostConfig {
        TrustedHostConfig::new(hosts.iter().map(|s| s.to_string()).collect(), true)
            .unwrap()
            .unwrap()
    }

    fn ok(c: &TrustedHostConfig, host: &str) -> bool {
        c.allows(Some(host.as_bytes()))
    }

    #[test]
    fn validation_messages() {
        let new = |v: Vec<String>| TrustedHostConfig::new(v, true);
        assert_eq!(
            new(vec!["".into()]).unwrap_err().to_string(),
            "host value empty"
        );
        assert_eq!(
            new(vec!["a".repeat(128)]).unwrap_err().to_string(),
            "host value too long"
        );
        assert!(new(vec!["a".repeat(127)]).unwrap().is_some());
        assert!(new(vec!["h".into(); 256]).unwrap().is_some());
        assert_eq!(
            new(vec!["h".into(); 257]).unwrap_err().to_string(),
            "too many trusted hosts"
        );
        // Validation happens even when disabled.
        assert_eq!(
            TrustedHostConfig::new(vec!["".into()], false).unwrap_err(),
            TrustedHostError::Empty
        );
    }

    #[test]
    fn off_cases_return_none() {
        assert_eq!(TrustedHostConfig::new(vec![], true).unwrap(), None);
        assert_eq!(
            TrustedHostConfig::new(vec!["example.com".into()], false).unwrap(),
            None
        );
        assert_eq!(
            TrustedHostConfig::new(vec!["example.com".into(), "*".into()], true).unwrap(),
            None
        );
    }

    #[test]
    fn missing_or_empty_host_rejected() {
        let c = cfg(&["example.com"]);
        assert!(!c.allows(None));
        assert!(!ok(&c, ""));
        assert!(!ok(&c, " \t "));
    }

    #[test]
    fn plain_names_ignore_port_and_case() {
        let c = cfg(&["Example.com"]);
        assert!(ok(&c, "example.com"));
        assert!(ok(&c, "EXAMPLE.COM:8080"));
        assert!(ok(&c, " example.com \t"));
        assert!(!ok(&c, "www.example.com"));
        assert!(!ok(&c, "example.com.evil"));
        assert!(!ok(&c, "example.co"));
    }

    #[test]
    fn suffix_needs_a_label() {
        let c = cfg(&["*.example.com"]);
        assert!(ok(&c, "a.example.com"));
        assert!(ok(&c, "A.B.Example.COM:443"));
        assert!(!ok(&c, "example.com"));
        assert!(!ok(&c, ".example.com"));
        assert!(!ok(&c, "badexample.com"));
    }

    #[test]
    fn entries_with_port_compare_whole_host() {
        let c = cfg(&["example.com:8080"]);
        assert!(ok(&c, "example.com:8080"));
        assert!(ok(&c, "EXAMPLE.com:8080"));
        assert!(!ok(&c, "example.com"));
        assert!(!ok(&c, "example.com:9090"));
    }

    #[test]
    fn ipv6_entries() {
        let c = cfg(&["[::1]"]);
        assert!(ok(&c, "[::1]"));
        assert!(ok(&c, "[::1]:8080"));
        assert!(!ok(&c, "[::2]"));
        let c = cfg(&["[fe80::1]:8080"]);
        assert!(ok(&c, "[FE80::1]:8080"));
        assert!(!ok(&c, "[fe80::1]"));
        assert!(!ok(&c, "[fe80::1]:80"));
        // A v6 Host never matches a plain name entry.
        let c = cfg(&["localhost"]);
        assert!(!ok(&c, "[::1]:80"));
        // Unterminated bracket: the whole value is the name.
        let c = cfg(&["[::1"]);
        assert!(ok(&c, "[::1"));
    }

    #[test]
    fn several_entries_and_ipv4() {
        let c = cfg(&["127.0.0.1", "localhost", "*.svc.local"]);
        assert!(ok(&c, "127.0.0.1:8000"));
        assert!(ok(&c, "localhost"));
        assert!(ok(&c, "api.svc.local"));
        assert!(!ok(&c, "10.0.0.1"));
    }

    #[test]
    fn non_utf8_host_does_not_panic() {
        let c = cfg(&["example.com"]);
        assert!(!c.allows(Some(&[0xff, 0xfe, b':', 0x80])));
        assert!(!c.allows(Some(b"[")));
        assert!(!c.allows(Some(b":")));
    }
}
