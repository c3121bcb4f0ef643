//! `/proc/interrupts`: interrupt counts per IRQ and CPU.
//!
//! ```text
//!            CPU0       CPU1       CPU2       CPU3
//!  11:    9864151    7650437    7122903    7035624     GICv2  30 Level     arch_timer
//!  51:       5678          0          0          0  BRCM STB PCIe MSI 524288 Edge      xhci_hcd
//! IPI2:    102342     123455     118763     120014  Rescheduling interrupts
//! Err:          0
//! ```
//!
//! The header names the CPUs (one word each); every other line is `<name>:`, one count
//! per CPU, then a description. As node_exporter's `interrupts` collector reads it
//! (`collector/interrupts_linux.go`): the name is the text before the line's first `:`
//! (arm64 may write no space after it), spaces at its start removed; a line with fewer
//! words than CPUs + 1 after the `:` is skipped (`Err:`, x86's `ERR:` and `MIS:`, the Pi
//! Zero's `FIQ:  usb_fiq`); for a numbered IRQ `info` is the first word after the counts
//! and `devices` the rest, for a named one (`NMI`, `IPI2`) `info` is all of the rest and
//! `devices` empty; words are joined by one space whatever the file's spacing.
//! Telegraf's `interrupts` input splits the same words the same way (its tags `irq`,
//! `type`, `device`).
//!
//! As a source ([`ProcInterrupts`]): `node_interrupts_total` with labels `type` (the
//! name), `info`, `devices`, one row per CPU (`cpu` a constant label of the row, so one
//! IRQ's counts share one label set and become one Telegraf line with `CPU0`…`CPUn`);
//! CPUs past the catalog's [`MAX_CPUS`] rows are not sent.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::{FileFormat, ParseError, lines, parse_u64, utf8, words};
use crate::sink::SampleSink;

/// CPUs with a catalog row (`INTERRUPTS_CPU0`…).
pub const MAX_CPUS: usize = (id::INTERRUPTS_CPU7 - id::INTERRUPTS_CPU0 + 1) as usize;

/// Longest `info` or `devices` label (the wire's label limit).
const LABEL_MAX: usize = 255;

/// One IRQ line, split as node_exporter splits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupt<'a> {
    /// The name before the `:` (`11`, `IPI2`, `NMI`).
    pub name: &'a [u8],
    /// The count words (one per CPU), as in the file.
    pub counts: &'a [u8],
    /// From the first word after the counts to the end, untrimmed inside: for a numbered
    /// IRQ, its first word is `info` and the rest `devices`; for a named one it is all
    /// `info`.
    pub rest: &'a [u8],
}

impl<'a> Interrupt<'a> {
    /// Whether the name is a number (node_exporter's `strconv.Atoi` succeeds).
    pub fn numbered(&self) -> bool {
        let digits = match self.name.split_first() {
            Some((b'+' | b'-', rest)) => rest,
            _ => self.name,
        };
        !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
    }

    /// The count of each CPU, in CPU order.
    pub fn counts(&self) -> impl Iterator<Item = Result<u64, ParseError>> + 'a {
        words(self.counts).map(parse_u64)
    }

    /// `(info, devices)`: the words of `rest`, each part's joined by single spaces into
    /// the two buffers.
    pub fn labels<'b>(
        &self,
        info: &'b mut [u8; LABEL_MAX],
        devices: &'b mut [u8; LABEL_MAX],
    ) -> Result<(&'b str, &'b str), ParseError> {
        let mut rest = words(self.rest);
        let info_len = if self.numbered() {
            join(rest.by_ref().take(1), info)?
        } else {
            join(rest.by_ref(), info)?
        };
        let devices_len = join(rest, devices)?;
        Ok((
            utf8(info.get(..info_len).unwrap_or_default())?,
            utf8(devices.get(..devices_len).unwrap_or_default())?,
        ))
    }
}

/// Copies `parts` into `out` separated by single spaces; the length written.
fn join<'w>(parts: impl Iterator<Item = &'w [u8]>, out: &mut [u8]) -> Result<usize, ParseError> {
    let mut len = 0;
    for (i, part) in parts.enumerate() {
        let sep = usize::from(i > 0);
        let end = len + sep + part.len();
        let slot = out.get_mut(len..end).ok_or(ParseError::BufferTooSmall)?;
        if sep == 1 {
            slot[0] = b' ';
        }
        slot[sep..].copy_from_slice(part);
        len = end;
    }
    Ok(len)
}

/// `input` split after its `n`th word: (the `n` words, the rest trimmed); `None` when it
/// has fewer.
fn split_words(input: &[u8], n: usize) -> Option<(&[u8], &[u8])> {
    let mut i = 0;
    let mut seen = 0;
    while seen < n {
        while input.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if i >= input.len() {
            return None;
        }
        while input.get(i).is_some_and(|b| !b.is_ascii_whitespace()) {
            i += 1;
        }
        seen += 1;
    }
    let head = input.get(..i)?;
    let rest = input.get(i..)?.trim_ascii();
    Some((head, rest))
}

/// Parses one IRQ line of a file with `cpus` CPUs; `None` for a line node_exporter skips
/// (no `:`, or fewer words than CPUs + 1 after it).
pub fn parse_interrupt(line: &[u8], cpus: usize) -> Option<Interrupt<'_>> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = line.get(..colon)?.trim_ascii_start();
    let after = line.get(colon + 1..)?;
    let (counts, rest) = split_words(after, cpus)?;
    if rest.is_empty() {
        return None;
    }
    Some(Interrupt { name, counts, rest })
}

/// Parses `/proc/interrupts` lazily: the CPU count (the header's words) and the IRQ
/// lines node_exporter keeps. [`ParseError::Empty`] without a header.
pub fn parse_interrupts(
    input: &[u8],
) -> Result<(usize, impl Iterator<Item = Interrupt<'_>>), ParseError> {
    let mut all = lines(input);
    let header = all.next().ok_or(ParseError::Empty)?;
    let cpus = words(header).count();
    Ok((cpus, all.filter_map(move |l| parse_interrupt(l, cpus))))
}

/// `/proc/interrupts` as a source: the `INTERRUPTS_CPU*` rows, labels `type`, `info`,
/// `devices`.
#[derive(Debug)]
pub struct ProcInterrupts;

impl FileFormat for ProcInterrupts {
    const PATH: &'static str = "proc/interrupts";

    fn push_samples(
        input: &[u8],
        sink: &mut dyn SampleSink,
        bad_row: &mut dyn FnMut(ParseError),
    ) -> Result<(), ParseError> {
        let (_, irqs) = parse_interrupts(input)?;
        let mut any = false;
        let mut info = [0u8; LABEL_MAX];
        let mut devices = [0u8; LABEL_MAX];
        for irq in irqs {
            if let Some(e) = irq.counts().find_map(Result::err) {
                bad_row(e);
                continue;
            }
            let labels = utf8(irq.name).and_then(|name| {
                irq.labels(&mut info, &mut devices)
                    .map(|(i, d)| (name, i, d))
            });
            let (name, info, devices) = match labels {
                Ok(l) => l,
                Err(e) => {
                    bad_row(e);
                    continue;
                }
            };
            any = true;
            sink.labels(&[name, info, devices]);
            for (row, count) in (id::INTERRUPTS_CPU0..=id::INTERRUPTS_CPU7).zip(irq.counts()) {
                sink.push(row, Value::Unsigned(count.unwrap_or(0)));
            }
        }
        if any { Ok(()) } else { Err(ParseError::Empty) }
    }
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    if let Ok((_, irqs)) = parse_interrupts(input) {
        let mut info = [0u8; LABEL_MAX];
        let mut devices = [0u8; LABEL_MAX];
        for irq in irqs {
            irq.counts().for_each(drop);
            let _ = irq.labels(&mut info, &mut devices);
        }
    }
    for cpus in 0..3 {
        let _ = parse_interrupt(input, cpus);
    }
    super::exercise_format::<ProcInterrupts>(input);
}

#[cfg(test)]
mod tests {
    use std::string::{String, ToString};
    use std::vec;
    use std::vec::Vec;

    use super::super::recorded;
    use super::*;

    /// `(labels, cpu, count)` of every sample.
    fn pushed(input: &[u8]) -> Vec<([String; 3], u16, u64)> {
        let (samples, bad, result) = recorded::push::<ProcInterrupts>(input);
        assert_eq!((bad, result), (vec![], Ok(())));
        samples
            .into_iter()
            .map(|(labels, row, value)| {
                let labels: [String; 3] = labels.try_into().unwrap();
                match value {
                    Value::Unsigned(v) => (labels, row - id::INTERRUPTS_CPU0, v),
                    other => panic!("{other:?}"),
                }
            })
            .collect()
    }

    fn l(t: &str, i: &str, d: &str) -> [String; 3] {
        [t.to_string(), i.to_string(), d.to_string()]
    }

    #[test]
    fn pi4_gicv2_lines_ipis_and_err() {
        let s = pushed(fixture!("pi4/proc/interrupts"));
        // 20 numbered IRQs and 7 IPIs, 4 CPUs each; `Err:` (one number) is skipped.
        assert_eq!(s.len(), 27 * 4);
        assert_eq!(
            s[4..8],
            [
                (l("11", "GICv2", "30 Level arch_timer"), 0, 9864151),
                (l("11", "GICv2", "30 Level arch_timer"), 1, 7650437),
                (l("11", "GICv2", "30 Level arch_timer"), 2, 7122903),
                (l("11", "GICv2", "30 Level arch_timer"), 3, 7035624),
            ]
        );
        assert!(s.contains(&(l("29", "GICv2", "149 Level fe804000.i2c, fe805000.i2c"), 0, 12340)));
        // The controller's name has spaces: its first word is `info`, as node_exporter.
        assert!(s.contains(&(l("51", "BRCM", "STB PCIe MSI 524288 Edge xhci_hcd"), 0, 5678)));
        assert!(s.contains(&(l("IPI3", "Function call interrupts", ""), 3, 4023456)));
        assert_eq!(s.last().unwrap(), &(l("IPI6", "completion interrupts", ""), 3, 0));
        assert!(s.iter().all(|(labels, _, _)| labels[0] != "Err"));
    }

    #[test]
    fn pizero_one_cpu_skips_fiq_and_err() {
        let s = pushed(fixture!("pizero/proc/interrupts"));
        assert_eq!(s.len(), 11);
        assert!(s.contains(&(
            l("56", "bcm2835-armctrl-level", "64 Edge dwc_otg, dwc_otg_pcd, dwc_otg_hcd:usb1"),
            0,
            61342905
        )));
        assert!(s.iter().all(|(labels, _, _)| labels[0] != "FIQ" && labels[0] != "Err"));
    }

    #[test]
    fn x86_named_rows_and_err_mis() {
        let s = pushed(fixture!("x86/proc/interrupts"));
        assert!(s.iter().any(|(labels, _, _)| *labels == l("NMI", "Non-maskable interrupts", "")));
        assert!(s.iter().any(|(labels, cpu, _)| labels[0] == "24" && labels[1] == "IO-APIC" && labels[2] == "5-edge ACPI:Ged" && *cpu == 1));
        assert!(s.iter().all(|(labels, _, _)| labels[0] != "ERR" && labels[0] != "MIS"));
        assert!(s.iter().all(|(_, cpu, _)| *cpu < 2));
    }

    #[test]
    fn arm64_names_may_touch_their_counts() {
        let input = b"  CPU0 CPU1\nIPI1:4294967295 7 Function call interrupts\n";
        assert_eq!(
            pushed(input),
            [
                (l("IPI1", "Function call interrupts", ""), 0, 4294967295),
                (l("IPI1", "Function call interrupts", ""), 1, 7),
            ]
        );
    }

    #[test]
    fn cpus_past_the_catalog_rows_are_not_sent() {
        let mut input = String::new();
        for cpu in 0..10 {
            input.push_str(&std::format!(" CPU{cpu}"));
        }
        input.push_str("\n 3: 0 1 2 3 4 5 6 7 8 9 GICv2 30 Level t\n");
        let s = pushed(input.as_bytes());
        assert_eq!(s.len(), MAX_CPUS);
        assert_eq!(s.last().unwrap().2, 7);
    }

    #[test]
    fn a_bad_count_skips_its_line_only() {
        let input = b" CPU0 CPU1\n 1: 5 x IO-APIC 1-edge i8042\n 2: 1 2 IO-APIC 2-edge t\n";
        let (samples, bad, result) = recorded::push::<ProcInterrupts>(input);
        assert_eq!((bad, result), (vec![ParseError::InvalidNumber], Ok(())));
        assert_eq!(samples.len(), 2);
        assert_eq!(
            recorded::push::<ProcInterrupts>(b"").2,
            Err(ParseError::Empty)
        );
        assert_eq!(
            recorded::push::<ProcInterrupts>(b" CPU0\nErr: 0\n").2,
            Err(ParseError::Empty)
        );
    }
}
