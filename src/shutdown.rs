//! The stop signal every background task and listener watches: a
//! `watch` flag turned true once, at shutdown.

use tokio::sync::watch;

/// Resolves once `stop` turns true, or its sender is gone.
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}
