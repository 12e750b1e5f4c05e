//! TLS termination: the certificate and key of the TLS listener, checked before use and
//! swappable while the proxy runs.
//!
//! Pingora's rustls settings load certificate files once and panic on a bad one. rapsheet
//! reads and checks the files itself, so a missing or malformed file is a clear error at start
//! (and a warning at reload, keeping the old certificate), and serves them through its own
//! certificate resolver, which a reload can point at a new certificate without a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Why a certificate could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error("`{0}` holds no PEM certificate")]
    NoCertificate(PathBuf),
    /// The key file holds no PEM private key.
    #[error("`{0}` holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey(PathBuf),
    /// The key is of a kind rustls cannot sign with, or does not match the certificate.
    #[error("`{path}`: {message}")]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// What rustls said.
        message: String,
    },
}

/// The certificate and key served by the TLS listener.
#[derive(Debug)]
pub struct TlsCerts {
    cert: PathBuf,
    key: PathBuf,
    current: ArcSwap<CertifiedKey>,
}

impl TlsCerts {
    /// Reads and checks `cert` (a PEM chain) and `key` (a PEM private key).
    ///
    /// # Errors
    ///
    /// Fails when a file cannot be read, holds nothing usable, or the key does not match.
    pub fn load(cert: &Path, key: &Path) -> Result<TlsCerts, TlsError> {
        let certified = read_certified_key(cert, key)?;
        Ok(TlsCerts {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: ArcSwap::from_pointee(certified),
        })
    }

    /// Reads the files again and serves the new certificate from the next handshake on.
    ///
    /// # Errors
    ///
    /// Fails as [`TlsCerts::load`] does; the certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let certified = read_certified_key(&self.cert, &self.key)?;
        self.current.store(Arc::new(certified));
        Ok(())
    }

    /// The certificate and key files.
    pub fn files(&self) -> [&Path; 2] {
        [&self.cert, &self.key]
    }
}

impl ResolvesServerCert for TlsCerts {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn read_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let chain: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert.to_path_buf()));
    }
    let private_key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .ok()
        .flatten()
        .ok_or_else(|| TlsError::NoKey(key.to_path_buf()))?;
    let bad_key = |message: String| TlsError::BadKey {
        path: key.to_path_buf(),
        message,
    };
    let provider = rustls::crypto::ring::default_provider();
    let signing_key = provider
        .key_provider
        .load_private_key(private_key)
        .map_err(|error| bad_key(error.to_string()))?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified
        .keys_match()
        .map_err(|error| bad_key(format!("does not match the certificate: {error}")))?;
    Ok(certified)
}
