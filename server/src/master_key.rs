//! The master key that seals provider keys: loaded from the environment or `<data dir>/master.key`
//! (created on first use), checked against the keys already sealed, and rotated.

use std::path::Path;

use anyhow::Context as _;
use gateway::crypto::MasterKey;
use gateway::sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait, QueryOrder};

use crate::config::Config;

/// The master key from the configuration, or from `<data dir>/master.key`, created on first use
/// with 0600 permissions. It must open the provider keys already stored: a missing file is never
/// replaced by a new key while the database holds keys sealed with the old one (they would become
/// unreadable), and a key that does not open them is refused before the server starts.
pub async fn load_master_key(
    config: &Config,
    db: &DatabaseConnection,
) -> anyhow::Result<MasterKey> {
    let path = config.gateway_data_dir.join("master.key");
    let sealed = gateway::entities::provider_credential::Entity::find()
        .order_by_asc(gateway::entities::provider_credential::Column::Id)
        .one(db)
        .await
        .context("reading the stored provider keys")?;
    let (key, source) = if let Some(encoded) = &config.gateway_master_key {
        let key = MasterKey::from_base64(encoded).context("GATEWAY_MASTER_KEY")?;
        (key, "GATEWAY_MASTER_KEY".to_owned())
    } else if path.exists() {
        let encoded = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let key = MasterKey::from_base64(&encoded)
            .with_context(|| format!("{} is not a valid master key", path.display()))?;
        (key, path.display().to_string())
    } else if sealed.is_some() {
        let stored = gateway::entities::provider_credential::Entity::find()
            .count(db)
            .await
            .context("counting the stored provider keys")?;
        anyhow::bail!(
            "{} is missing and GATEWAY_MASTER_KEY is not set, but the database holds {stored} provider \
             key(s) sealed with a master key: restore that file (or set GATEWAY_MASTER_KEY to the key) \
             rather than have a new key make them unreadable",
            path.display()
        );
    } else {
        return generate_master_key(config, &path);
    };
    if let Some(credential) = sealed
        && key.decrypt(&credential.key_ciphertext).is_err()
    {
        if let Some(next) = finish_interrupted_rotation(config, &credential)? {
            return Ok(next);
        }
        anyhow::bail!(
            "the master key from {source} does not open the provider keys stored in the database \
             (provider key {} of account {}): start with the master key they were sealed with",
            credential.id,
            credential.account_id
        );
    }
    Ok(key)
}

/// Where `master-key rotate` writes the new key before it re-seals the provider keys, so that a
/// rotation cut short after the database changed still has its key.
fn next_master_key_path(config: &Config) -> std::path::PathBuf {
    config.gateway_data_dir.join("master.key.next")
}

/// A rotation that re-sealed the database but stopped before it replaced `master.key`: the new
/// key, now moved into place, if it is the one that opens the stored keys.
fn finish_interrupted_rotation(
    config: &Config,
    credential: &gateway::entities::provider_credential::Model,
) -> anyhow::Result<Option<MasterKey>> {
    let next = next_master_key_path(config);
    if config.gateway_master_key.is_some() || !next.exists() {
        return Ok(None);
    }
    let encoded =
        std::fs::read_to_string(&next).with_context(|| format!("reading {}", next.display()))?;
    let Ok(key) = MasterKey::from_base64(&encoded) else {
        return Ok(None);
    };
    if key.decrypt(&credential.key_ciphertext).is_err() {
        return Ok(None);
    }
    let path = config.gateway_data_dir.join("master.key");
    std::fs::rename(&next, &path)
        .with_context(|| format!("moving {} to {}", next.display(), path.display()))?;
    tracing::warn!(
        path = %path.display(),
        "finished a master-key rotation that was interrupted after the provider keys were re-sealed"
    );
    Ok(Some(key))
}

/// `master-key rotate`: re-seals every provider key under a new master key. With the key in
/// `master.key`, a new one is generated and replaces the file; with `GATEWAY_MASTER_KEY`, the new
/// key is `new_key` (the operator made it, so it cannot be lost here) and goes in the environment
/// afterwards. Returns how many provider keys were re-sealed.
pub async fn rotate_master_key(
    config: &Config,
    db: &DatabaseConnection,
    new_key: Option<&str>,
) -> anyhow::Result<usize> {
    let old = load_master_key(config, db).await?;
    if config.gateway_master_key.is_some() {
        let Some(encoded) = new_key else {
            anyhow::bail!(
                "the master key comes from GATEWAY_MASTER_KEY: give the new key (base64 of 32 bytes, e.g. from `openssl rand -base64 32`) on standard input"
            );
        };
        let new = MasterKey::from_base64(encoded.trim()).context("the new master key")?;
        return Ok(gateway::accounts::reseal_provider_keys(db, &old, &new).await?);
    }
    let path = config.gateway_data_dir.join("master.key");
    let next = next_master_key_path(config);
    // A leftover of a rotation that failed before the database changed: the database is still
    // sealed with `old`, so the leftover opens nothing and goes.
    if next.exists() {
        std::fs::remove_file(&next).with_context(|| format!("removing {}", next.display()))?;
    }
    let encoded = match new_key {
        Some(encoded) => encoded.trim().to_owned(),
        None => MasterKey::generate_base64(),
    };
    let new = MasterKey::from_base64(&encoded).context("the new master key")?;
    write_private_file(&next, &encoded).with_context(|| format!("writing {}", next.display()))?;
    let resealed = gateway::accounts::reseal_provider_keys(db, &old, &new).await;
    let resealed = match resealed {
        Ok(resealed) => resealed,
        Err(err) => {
            std::fs::remove_file(&next).ok();
            return Err(err.into());
        }
    };
    std::fs::rename(&next, &path)
        .with_context(|| format!("moving {} to {}", next.display(), path.display()))?;
    Ok(resealed)
}

fn generate_master_key(config: &Config, path: &Path) -> anyhow::Result<MasterKey> {
    std::fs::create_dir_all(&config.gateway_data_dir)
        .with_context(|| format!("creating {}", config.gateway_data_dir.display()))?;
    let encoded = MasterKey::generate_base64();
    write_private_file(path, &encoded).with_context(|| format!("writing {}", path.display()))?;
    tracing::warn!(
        path = %path.display(),
        "GATEWAY_MASTER_KEY is not set: generated a master key into this file. Back it up; provider keys cannot be decrypted without it."
    );
    MasterKey::from_base64(&encoded).context("generated master key")
}

fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}
