//! `pimon-aggregator`: parses the command line and configuration, then runs
//! [`pimon_aggregator::server`] until SIGTERM or SIGINT (graceful: drain, flush, exit 0).
//! SIGHUP re-reads the key file. A bad command line is reported before the logger
//! starts, as `pimon-aggregator: PROBLEM` (the collector's shape); everything after
//! goes through [`pimon_aggregator::log`].

use std::process::ExitCode;

use async_signal::{Signal, Signals};
use pimon_aggregator::config::{self, Command};
use pimon_aggregator::log::{self, Level};
use pimon_aggregator::server::Server;
use smol::stream::StreamExt;

fn main() -> ExitCode {
    let command = match config::parse_args(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pimon-aggregator: {e}\n(see pimon-aggregator --help)");
            return ExitCode::from(2);
        }
    };
    let config = match command {
        Command::Help => {
            print!("{}", config::HELP);
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("{}", config::version_line());
            return ExitCode::SUCCESS;
        }
        Command::Check(c) => {
            print!("{}", config::describe(&c));
            return ExitCode::SUCCESS;
        }
        Command::Run(c) => *c,
    };
    log::init(config.log_level);
    // Signals are registered before any thread starts, so none is missed.
    let mut signals = match Signals::new([Signal::Term, Signal::Int, Signal::Hup]) {
        Ok(s) => s,
        Err(e) => {
            log::log(
                Level::Error,
                format_args!("cannot install signal handlers: {e}"),
            );
            return ExitCode::FAILURE;
        }
    };
    let server = match Server::bind(*Box::new(config)) {
        Ok(s) => s,
        Err(e) => {
            log::log(Level::Error, format_args!("{e}"));
            return ExitCode::FAILURE;
        }
    };
    log::log(
        Level::Notice,
        format_args!(
            "receiving on udp {:?}, /metrics on {}",
            server.udp_addrs(),
            server
                .http_addr()
                .map_or("nothing (http off)".to_string(), |a| format!(
                    "http://{a}/metrics"
                ))
        ),
    );
    let reload = server.reload_handle();
    let shutdown = async move {
        while let Some(signal) = signals.next().await {
            match signal {
                Ok(Signal::Hup) => {
                    log::log(
                        Level::Notice,
                        format_args!("SIGHUP: re-reading the key file"),
                    );
                    let _ = reload.try_send(());
                }
                Ok(_) => {
                    log::log(
                        Level::Notice,
                        format_args!("stopping: draining and flushing outputs"),
                    );
                    return;
                }
                Err(e) => {
                    log::log(Level::Error, format_args!("signal error: {e}"));
                    return;
                }
            }
        }
    };
    match smol::block_on(server.run(shutdown)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::log(Level::Error, format_args!("{e}"));
            ExitCode::FAILURE
        }
    }
}
