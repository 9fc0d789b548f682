//! The tick loop: every `[server] tick`, each room expires idle sessions and
//! lapsed reservations and advances its admitted pointer (see
//! [`crate::store::Store::tick`]). Driven by `tokio::time`, so it runs
//! under paused time in tests.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{interval, MissedTickBehavior};

use crate::app::App;
use crate::metrics::EndedBy;

/// Ticks until `stop` flips. A tick in progress finishes first.
pub async fn run(app: Arc<App>, period: Duration, mut stop: watch::Receiver<bool>) {
    let mut iv = interval(period);
    // After a stall, tick once and carry on; catching up in a burst would
    // admit several ticks' worth at once.
    iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = iv.tick() => tick(&app).await,
            _ = crate::shutdown::stopped(&mut stop) => break,
        }
    }
}

/// One scheduler step for every room.
pub async fn tick(app: &App) {
    let now = app.clock.now_ms();
    let rooms = app.rooms.load_full();
    for room in rooms.iter() {
        match app.store.tick(room.name(), now, &room.limits(now)).await {
            Ok(rep) => {
                app.health.succeeded();
                if rep.expired_reservations > 0 {
                    tracing::debug!(
                        room = room.name(),
                        n = rep.expired_reservations,
                        "unclaimed reservations released"
                    );
                }
                room.metrics.sessions_ended(EndedBy::Idle, rep.expired_sessions);
                room.metrics.sessions_ended(EndedBy::MaxSession, rep.outlived_sessions);
                room.publish(rep.snapshot, rep.admitted, now);
            }
            Err(e) => {
                // Waiting visitors keep being answered from the last view.
                room.metrics.store_errors.inc();
                app.health.failed(&e);
                tracing::debug!(room = room.name(), error = %e, "tick failed; keeping the last view");
            }
        }
    }
}
