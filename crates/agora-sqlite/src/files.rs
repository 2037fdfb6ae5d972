//! Owner-only files: the database holds password hashes, emails and
//! addresses, so its directory is created `0700` and the file `0600` before
//! SQLite opens it (SQLite gives the `-wal` and `-shm` files the database
//! file's mode). A database left readable by others (an older agora, a
//! copy) is narrowed to its owner when opened.

use std::path::Path;

use agora_core::StoreError;

fn unavailable(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("cannot prepare {}: {e}", path.display()))
}

/// Creates `dir` and its missing parents, readable by the owner only.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| unavailable(dir, e))
}

/// Creates the database file `0600` when missing (its parent directory
/// `0700`), and takes group and other bits off it and its `-wal`/`-shm`
/// files when present.
pub(crate) fn prepare_database_file(path: &Path) -> Result<(), StoreError> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        create_private_dir(parent)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    drop(opts.open(path).map_err(|e| unavailable(path, e))?);
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        narrow_to_owner(Path::new(&name))?;
    }
    Ok(())
}

#[cfg(unix)]
fn narrow_to_owner(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else { return Ok(()) };
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700)) {
            // A file someone else owns (a group-shared database opened by
            // an operator) is theirs to narrow: open it as it is.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
            other => other.map_err(|e| unavailable(path, e))?,
        }
    }
    Ok(())
}
