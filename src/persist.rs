//! Restart without loss for the memory store: its rooms are saved to a
//! state file (`[store] state_file`) at a bounded interval while they
//! change, once more at shutdown after the last request, and loaded at
//! start.
//!
//! * Writes are atomic: a temporary file in the same directory, fsync,
//!   rename over the old file, fsync of the directory. A crash mid-write
//!   leaves the previous copy.
//! * A copy written at shutdown is marked `clean`: it holds every change,
//!   and the restart continues exactly where the stop left off.
//! * After `kill -9`, the changes of at most one interval are lost. Each
//!   copy reserves ticket numbers beyond `issued` ([`RoomDump::floor`]), and
//!   a restore from an unclean copy numbers new arrivals above them, so a
//!   cookie from the lost interval never shares its number with a new one.
//!   Session cookies refreshed before the restore are checked against the
//!   store once ([`crate::store::Snapshot::restored_ms`]), so a session the
//!   copy does not hold cannot pass uncounted: the cap holds.
//! * A file that is not a vestibule state file, is of a newer version, or
//!   does not parse is renamed aside (`<file>.bad-<unix seconds>`) with an
//!   error in the log, and the proxy starts with empty rooms.
//!
//! [`RoomDump::floor`]: crate::store::memory::RoomDump::floor

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::clock::{Clock, Millis};
use crate::metrics::Metrics;
use crate::store::memory::{Dump, MemoryStore};

/// `format` of every state file.
pub const FORMAT: &str = "vestibule-state";
/// Current layout; files of a newer one are set aside, not misread.
pub const VERSION: u32 = 1;

/// The file as written.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    format: String,
    version: u32,
    /// When it was written (Unix ms).
    saved_ms: Millis,
    /// Written at shutdown after the last change.
    clean: bool,
    #[serde(flatten)]
    dump: Dump,
}

/// Errors that stop start-up: the state file exists but cannot be read, or
/// the state cannot be written where the configuration says.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read the state file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write the state file {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// What [`load`] found.
#[derive(Debug)]
pub enum Loaded {
    /// No file yet: a first start.
    Missing,
    /// Rooms restored from a copy written at `saved_ms`.
    Restored {
        saved_ms: Millis,
        clean: bool,
        rooms: usize,
    },
    /// The file was unusable and moved to `to`.
    SetAside { to: PathBuf, reason: String },
}

/// Loads the state file at `path` into a memory store. An unusable file is
/// set aside and an empty store returned; only an unreadable one (such as
/// a permissions problem, which the operator must fix) is an error.
pub fn load(path: &Path, now: Millis) -> Result<(MemoryStore, Loaded), StateError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((MemoryStore::new(), Loaded::Missing)),
        Err(source) => {
            return Err(StateError::Read {
                path: path.into(),
                source,
            })
        }
    };
    let reason = match serde_json::from_slice::<StateFile>(&bytes) {
        Ok(f) if f.format != FORMAT => format!("not a vestibule state file (format {:?})", f.format),
        Ok(f) if f.version > VERSION => format!(
            "written by a newer vestibule (state version {}, this one reads {VERSION})",
            f.version
        ),
        Ok(f) => {
            let rooms = f.dump.rooms.len();
            let store = MemoryStore::restore(f.dump, f.clean, now);
            let loaded = Loaded::Restored {
                saved_ms: f.saved_ms,
                clean: f.clean,
                rooms,
            };
            return Ok((store, loaded));
        }
        Err(e) => format!("does not parse: {e}"),
    };
    let to = PathBuf::from(format!("{}.bad-{}", path.display(), now / 1000));
    std::fs::rename(path, &to).map_err(|source| StateError::Write {
        path: path.into(),
        source,
    })?;
    Ok((MemoryStore::new(), Loaded::SetAside { to, reason }))
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename,
/// fsync of the directory).
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    // The rename itself is durable only once the directory is.
    std::fs::File::open(dir)?.sync_all()
}

/// Opens the memory store kept in the state file at `path`: restored
/// from it, or started empty (a file that cannot be used is set aside and
/// logged), with the saver that keeps the file up to date.
pub fn open(path: &Path, interval: Duration, clock: Clock, metrics: Metrics) -> Result<Saver, StateError> {
    let now = clock.now_ms();
    let (mem, loaded) = load(path, now)?;
    match loaded {
        Loaded::Missing => tracing::info!(path = %path.display(), "no state file yet; starting empty"),
        Loaded::Restored { saved_ms, clean, rooms } => tracing::info!(
            path = %path.display(),
            rooms,
            clean,
            age_ms = now.saturating_sub(saved_ms),
            "state restored"
        ),
        Loaded::SetAside { to, reason } => tracing::error!(
            path = %path.display(),
            moved_to = %to.display(),
            "state file unusable ({reason}); set aside, starting empty"
        ),
    }
    Ok(Saver::new(mem, path.to_path_buf(), interval, clock, metrics))
}

/// Saves a memory store to its state file.
pub struct Saver {
    store: MemoryStore,
    path: PathBuf,
    interval: Duration,
    clock: Clock,
    metrics: Metrics,
    /// Store generation of the last successful save (`u64::MAX`: none yet).
    saved: AtomicU64,
    /// One write at a time, in order.
    writing: tokio::sync::Mutex<()>,
}

impl Saver {
    pub fn new(store: MemoryStore, path: PathBuf, interval: Duration, clock: Clock, metrics: Metrics) -> Saver {
        Saver {
            store,
            path,
            interval,
            clock,
            metrics,
            saved: AtomicU64::new(u64::MAX),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The store it saves.
    pub fn store(&self) -> &MemoryStore {
        &self.store
    }

    /// Writes the state if it changed since the last save (always when
    /// `clean`, the shutdown copy). Returns whether it wrote.
    pub async fn save(&self, clean: bool) -> Result<bool, StateError> {
        let _one = self.writing.lock().await;
        let generation = self.store.generation();
        if !clean && self.saved.load(Ordering::Acquire) == generation {
            return Ok(false);
        }
        let file = StateFile {
            format: FORMAT.into(),
            version: VERSION,
            saved_ms: self.clock.now_ms(),
            clean,
            dump: self.store.dump(),
        };
        let path = self.path.clone();
        let res = tokio::task::spawn_blocking(move || {
            let bytes = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
            write_atomic(&path, &bytes).map(|()| file)
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        self.metrics.state_save(res.is_ok());
        match res {
            Ok(file) => {
                // Only now may the numbers this copy reserves be handed out.
                self.store.saved(&file.dump);
                self.saved.store(generation, Ordering::Release);
                Ok(true)
            }
            Err(source) => Err(StateError::Write {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Saves every interval while the state changes, and sooner when a room
    /// is about to use up the ticket numbers its last copy reserved. Stops
    /// when `stop` flips; the shutdown copy is [`Saver::save`]'s job.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut iv = tokio::time::interval(self.interval);
        iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = iv.tick() => {}
                _ = self.store.save_requested() => {}
                _ = crate::shutdown::stopped(&mut stop) => return,
            }
            match self.save(false).await {
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!(path = %self.path.display(), "state file written again");
                }
                Ok(_) => {}
                // Logged once per failing stretch, counted every time.
                Err(e) if !failing => {
                    failing = true;
                    tracing::error!(error = %e, "cannot save state; a crash now would lose changes since the last save");
                }
                Err(_) => {}
            }
        }
    }
}
