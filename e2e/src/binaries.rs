//! Where the binaries under test are, and how to launch them.
//!
//! `scripts/test-e2e` builds them and sets:
//! - `PIMON_HOST_BIN_DIR`: the host's `pimon-collector` and `pimon-aggregator`
//!   (`cargo build --release -p pimon-collector -p pimon-aggregator`);
//! - `PIMON_PI_BIN_DIR`: the output of `scripts/build-pi --out DIR`, that is
//!   `DIR/<target>/pimon-collector` and `DIR/<target>/pimon-aggregator`.
//!
//! A missing variable or binary panics with what is missing and how to build it: the
//! tests fail, they never skip. ARM binaries are checked to be ELF files for their
//! architecture before they run, so a host binary can never stand in for a Pi build,
//! and they run under `qemu-user-static` called explicitly (binfmt_misc is not mounted
//! here) with the oldest CPU each target supports.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::servers::find_binary;

/// Environment variable naming the directory of the host release binaries.
pub const HOST_BIN_DIR: &str = "PIMON_HOST_BIN_DIR";
/// Environment variable naming `scripts/build-pi --out DIR`'s directory.
pub const PI_BIN_DIR: &str = "PIMON_PI_BIN_DIR";

const HOW_TO_BUILD: &str = "run the end-to-end tests with scripts/test-e2e: it builds the host \
binaries (cargo build --release -p pimon-collector -p pimon-aggregator) and the Raspberry Pi \
binaries (scripts/build-pi --out DIR), then runs cargo test -p pimon-e2e with PIMON_HOST_BIN_DIR \
and PIMON_PI_BIN_DIR set";

/// One of pimon's two programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    /// `pimon-collector`.
    Collector,
    /// `pimon-aggregator`.
    Aggregator,
}

impl Program {
    /// The binary's file name.
    pub fn file_name(self) -> &'static str {
        match self {
            Program::Collector => "pimon-collector",
            Program::Aggregator => "pimon-aggregator",
        }
    }
}

/// A cross target of `scripts/build-pi`: the Raspberry Pis, and the OpenWrt router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PiTarget {
    /// `armv7-unknown-linux-musleabihf`: Pi 2/3/4/5 with a 32-bit OS.
    Armv7,
    /// `arm-unknown-linux-musleabihf`: Pi Zero/Zero W/1 (ARMv6).
    Armv6,
    /// `aarch64-unknown-linux-musl`: Pi 3/4/5 with a 64-bit OS.
    Aarch64,
    /// `mipsel-unknown-linux-musl`: OpenWrt routers on 32-bit MIPS (MT7621 and
    /// similar); only the aggregator is built for it.
    Mipsel,
}

/// ELF `e_machine` of 32-bit ARM.
const EM_ARM: u16 = 40;
/// ELF `e_machine` of AArch64.
const EM_AARCH64: u16 = 183;
/// ELF `e_machine` of MIPS.
const EM_MIPS: u16 = 8;

impl PiTarget {
    /// The Rust target triple (and `scripts/build-pi --out`'s subdirectory).
    pub fn triple(self) -> &'static str {
        match self {
            PiTarget::Armv7 => "armv7-unknown-linux-musleabihf",
            PiTarget::Armv6 => "arm-unknown-linux-musleabihf",
            PiTarget::Aarch64 => "aarch64-unknown-linux-musl",
            PiTarget::Mipsel => "mipsel-unknown-linux-musl",
        }
    }

    /// The qemu-user emulator for the target.
    pub fn qemu(self) -> &'static str {
        match self {
            PiTarget::Armv7 | PiTarget::Armv6 => "qemu-arm-static",
            PiTarget::Aarch64 => "qemu-aarch64-static",
            PiTarget::Mipsel => "qemu-mipsel-static",
        }
    }

    /// The oldest CPU the target supports (qemu's `-cpu`): Pi 2's Cortex-A7, the
    /// Zero's ARM1176, the Pi 3's Cortex-A53; for routers a MIPS32r2 core without FPU
    /// (24KEc), like the MT7621's 1004Kc.
    pub fn cpu(self) -> &'static str {
        match self {
            PiTarget::Armv7 => "cortex-a7",
            PiTarget::Armv6 => "arm1176",
            PiTarget::Aarch64 => "cortex-a53",
            PiTarget::Mipsel => "24KEc",
        }
    }

    fn elf(self) -> (u8, u16) {
        match self {
            PiTarget::Armv7 | PiTarget::Armv6 => (1, EM_ARM),
            PiTarget::Aarch64 => (2, EM_AARCH64),
            PiTarget::Mipsel => (1, EM_MIPS),
        }
    }
}

fn env_dir(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => panic!("{var} is not set: {HOW_TO_BUILD}"),
    }
}

fn existing(path: PathBuf, var: &str) -> PathBuf {
    assert!(
        path.is_file(),
        "{} does not exist ({var}={}): {HOW_TO_BUILD}",
        path.display(),
        std::env::var(var).unwrap_or_default()
    );
    path
}

/// The host build of `program` from `PIMON_HOST_BIN_DIR`.
pub fn host_binary(program: Program) -> PathBuf {
    existing(
        env_dir(HOST_BIN_DIR).join(program.file_name()),
        HOST_BIN_DIR,
    )
}

/// The Raspberry Pi build of `program` for `target` from `PIMON_PI_BIN_DIR`, checked to
/// be an ELF executable for the target's architecture.
pub fn pi_binary(target: PiTarget, program: Program) -> PathBuf {
    let path = existing(
        env_dir(PI_BIN_DIR)
            .join(target.triple())
            .join(program.file_name()),
        PI_BIN_DIR,
    );
    let (class, machine) = elf_header(&path);
    assert_eq!(
        (class, machine),
        target.elf(),
        "{} is not a {} ELF executable (ELF class {class}, machine {machine})",
        path.display(),
        target.triple()
    );
    path
}

/// ELF class (1: 32-bit, 2: 64-bit) and `e_machine` of a file; panics if it is no ELF.
fn elf_header(path: &Path) -> (u8, u16) {
    let mut head = [0u8; 20];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert_eq!(
        &head[..4],
        b"\x7fELF",
        "{} is not an ELF file",
        path.display()
    );
    // e_machine follows e_type at offset 18; little-endian on every target here.
    (head[4], u16::from_le_bytes([head[18], head[19]]))
}

/// How to start a binary: directly, or under qemu-user with a CPU model.
#[derive(Clone, Debug)]
pub struct Launcher {
    program: PathBuf,
    prefix: Vec<OsString>,
    description: String,
}

impl Launcher {
    /// The host build of `program`, run directly.
    pub fn host(program: Program) -> Launcher {
        let bin = host_binary(program);
        Launcher {
            description: format!("host {}", bin.display()),
            program: bin,
            prefix: Vec::new(),
        }
    }

    /// The Pi build of `program` for `target`, under `qemu-*-static -cpu <oldest CPU>`.
    pub fn pi(target: PiTarget, program: Program) -> Launcher {
        Launcher::pi_on_cpu(target, program, target.cpu())
    }

    /// The Pi build of `program` for `target` under qemu with another CPU model (to
    /// show that the CPU model matters: an ARMv7 build must not run on an ARMv6 CPU).
    pub fn pi_on_cpu(target: PiTarget, program: Program, cpu: &str) -> Launcher {
        let bin = pi_binary(target, program);
        let qemu = find_binary(target.qemu(), "qemu-user-static").unwrap_or_else(|e| panic!("{e}"));
        Launcher {
            description: format!("{} -cpu {cpu} {}", qemu.display(), bin.display()),
            program: qemu,
            prefix: vec!["-cpu".into(), cpu.into(), bin.into()],
        }
    }

    /// A command that runs the binary; add its own arguments with `.arg`/`.args`.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.prefix);
        cmd
    }

    /// What runs, for messages: `qemu-arm-static -cpu cortex-a7 …/pimon-collector`.
    pub fn description(&self) -> &str {
        &self.description
    }
}
