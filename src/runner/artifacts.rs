//! The content-addressed artifact store: `<data_dir>/artifacts/sha256/<digest>`.
//! A stored file is never changed again, so a digest names its bytes forever
//! and a rollback deploys exactly what was tested.

use std::path::{Path, PathBuf};

use crate::errors::inline_hint;
use color_eyre::eyre::{Result, WrapErr, eyre};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where the artifact with this digest lives (whether or not it exists yet).
pub fn artifact_path(data_dir: &Path, digest: &str) -> PathBuf {
    data_dir.join("artifacts").join("sha256").join(digest)
}

/// Copy `file` into the store; returns (lowercase hex sha256, absolute path).
///
/// The bytes are hashed while they are copied into a temporary file in the
/// store's own directory, which is then renamed to its digest: a reader never
/// sees a half-written artifact, and storing the same bytes twice is a no-op.
pub async fn store_artifact(data_dir: &Path, file: &Path) -> Result<(String, String)> {
    let dir = data_dir.join("artifacts").join("sha256");
    tokio::fs::create_dir_all(&dir)
        .await
        .wrap_err_with(|| format!("could not create the artifact store {}", dir.display()))?;
    let mut src = tokio::fs::File::open(file)
        .await
        .wrap_err_with(|| format!("could not open artifact {}", file.display()))?;
    if !src.metadata().await?.is_file() {
        return Err(eyre!(inline_hint(
            format!("artifact {} is not a regular file", file.display()),
            "point `artifact` at one file, e.g. a tarball",
        )));
    }
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
    let result = copy_hashing(&mut src, &tmp).await;
    let digest = match result {
        Ok(d) => d,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e.wrap_err(format!("could not copy artifact {}", file.display())));
        }
    };
    let dest = dir.join(&digest);
    if tokio::fs::try_exists(&dest).await.unwrap_or(false) {
        // Same digest, same bytes: keep the existing file untouched.
        let _ = tokio::fs::remove_file(&tmp).await;
    } else if let Err(e) = tokio::fs::rename(&tmp, &dest).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(eyre!(
            "could not move artifact into {}: {e}",
            dest.display()
        ));
    }
    // The event that names this file is durable; so must the file's name be.
    if let Ok(d) = tokio::fs::File::open(&dir).await {
        let _ = d.sync_all().await;
    }
    let abs = std::path::absolute(&dest).unwrap_or(dest);
    Ok((digest, abs.to_string_lossy().into_owned()))
}

async fn copy_hashing(src: &mut tokio::fs::File, tmp: &Path) -> Result<String> {
    let mut out = tokio::fs::File::create(tmp)
        .await
        .wrap_err_with(|| format!("could not create {}", tmp.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = src.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).await?;
    }
    out.flush().await?;
    // Durable before the rename makes it visible under its digest.
    out.sync_all().await?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stores_by_digest_idempotently() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let file = tmp.path().join("app.tar.gz");
        std::fs::write(&file, b"hello").unwrap();
        let (digest, uri) = store_artifact(&data, &file).await.unwrap();
        assert_eq!(
            digest,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(std::fs::read(&uri).unwrap(), b"hello");
        assert!(Path::new(&uri).is_absolute());
        let again = store_artifact(&data, &file).await.unwrap();
        assert_eq!(again, (digest.clone(), uri));
        // Only the artifact is left: no temporary files.
        let names: Vec<_> = std::fs::read_dir(data.join("artifacts/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(digest)]);
    }

    #[tokio::test]
    async fn missing_file_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let err = store_artifact(tmp.path(), &tmp.path().join("nope"))
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("could not open artifact"),
            "{err:#}"
        );
    }
}
