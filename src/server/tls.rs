//! HTTPS without a reverse proxy: `--tls-cert/--tls-key` (PEM files).
//!
//! rustls with the aws-lc-rs provider, the one reqwest already links (one
//! crypto provider in the graph). The accept loop in `http.rs` runs each
//! handshake in its connection's own task, under the same connection cap.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, eyre};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::errors::hinted;

/// A client that has not finished its handshake by then is dropped.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Read the certificate chain and key, and build the acceptor.
pub(crate) fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| {
            hinted(
                format!("could not read the TLS certificate {}: {e}", cert.display()),
                "--tls-cert takes a PEM file with the certificate chain, leaf first",
            )
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| {
            eyre!(
                "the TLS certificate {} is not valid PEM: {e}",
                cert.display()
            )
        })?;
    if certs.is_empty() {
        return Err(hinted(
            format!("{} holds no certificate", cert.display()),
            "--tls-cert takes a PEM file with `-----BEGIN CERTIFICATE-----` blocks",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        hinted(
            format!("could not read the TLS key {}: {e}", key.display()),
            "--tls-key takes a PEM file with one private key (PKCS#8, PKCS#1 or SEC1)",
        )
    })?;
    let config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .wrap_err("could not set up TLS")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .wrap_err("the TLS key does not match the certificate")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
