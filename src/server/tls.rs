//! HTTPS without a reverse proxy: `--tls-cert/--tls-key` (PEM files).
//!
//! rustls with the aws-lc-rs provider, the one reqwest already links (one
//! crypto provider in the graph). Handshakes run in their own tasks so that
//! a slow or silent client never holds up the accept loop; finished
//! connections reach axum through the `Listener` below.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, eyre};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::errors::hinted;

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished handshakes waiting for axum to take them.
const READY_BACKLOG: usize = 128;

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

/// Connections that finished their TLS handshake.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

impl TlsListener {
    /// Accept on `tcp` until `stop`, handshaking each connection in its own task.
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor, stop: CancellationToken) -> Result<Self> {
        let addr = tcp
            .local_addr()
            .wrap_err("could not read the listening address")?;
        let (tx, ready) = mpsc::channel(READY_BACKLOG);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stop.cancelled() => return,
                    a = tcp.accept() => a,
                };
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, don't spin.
                        tracing::warn!(error = %e, "could not accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, addr })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop stopped (shutdown): nothing will come again.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}
