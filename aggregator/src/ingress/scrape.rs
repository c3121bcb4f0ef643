//! `[[scrape]]` targets.

use std::sync::Arc;

use smol::channel::Receiver;

use super::runtime::Ingress;

/// Scrapes target `index` of the config until `stop` closes.
pub async fn run(_inputs: Arc<Ingress>, _index: usize, stop: Receiver<()>) {
    let _ = stop.recv().await;
}
