//! The inputs' background tasks: one per `[[scrape]]` target and the collectd
//! listener, all ending when the server's stop channel closes.

use std::sync::Arc;

use smol::Task;
use smol::channel::Receiver;

use super::runtime::Ingress;

/// Starts the tasks of `inputs`.
pub fn spawn(inputs: Arc<Ingress>, stop: Receiver<()>) -> Vec<Task<()>> {
    let mut tasks = Vec::new();
    for (i, _) in inputs.config().scrape.iter().enumerate() {
        tasks.push(smol::spawn(super::scrape::run(
            inputs.clone(),
            i,
            stop.clone(),
        )));
    }
    if let Some(bound) = inputs.take_collectd() {
        tasks.push(smol::spawn(super::collectd::listener::run(
            inputs.clone(),
            bound,
            stop.clone(),
        )));
    }
    tasks
}
