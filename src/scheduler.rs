//! The tick loop: every `[server] tick`, each room expires idle sessions and
//! lapsed reservations and advances its admitted pointer (see
//! [`crate::store::Store::tick`]). Driven by `tokio::time`, so it runs
//! under paused time in tests.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{interval, MissedTickBehavior};

use crate::app::App;

/// Ticks until `stop` flips. A tick in progress finishes first.
pub async fn run(app: Arc<App>, period: Duration, mut stop: watch::Receiver<bool>) {
    let mut iv = interval(period);
    // After a stall, tick once and carry on; catching up in a burst would
    // admit several ticks' worth at once.
    iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = iv.tick() => app.tick().await,
            _ = crate::shutdown::stopped(&mut stop) => break,
        }
    }
}
