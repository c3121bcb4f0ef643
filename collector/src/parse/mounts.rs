//! `/proc/self/mounts` (fstab format): `device mountpoint fstype options dump pass`.
//!
//! ```text
//! /dev/mmcblk0p2 / ext4 rw,noatime 0 0
//! /dev/sda1 /media/pi/USB\040Stick vfat ro,nosuid,nodev,relatime 0 0
//! ```
//!
//! The kernel escapes space, tab, newline and backslash in the device and mount point
//! as three-digit octal (`\040`). [`Mount::device`] and [`Mount::mountpoint`] keep the
//! raw bytes; [`decode_octal`] decodes them into a caller buffer (no allocation).

use super::{ParseError, utf8, words};

/// One mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mount<'a> {
    /// Mount source as printed (escaped): `/dev/mmcblk0p2`, `tmpfs`, `nas:/export`.
    pub device: &'a [u8],
    /// Mount point as printed (escaped): `/media/pi/USB\040Stick`.
    pub mountpoint: &'a [u8],
    /// Filesystem type (`ext4`, `vfat`, `nfs4`).
    pub fstype: &'a str,
    /// Comma-separated mount options as printed.
    pub options: &'a [u8],
    /// Whether the options contain `ro`.
    pub read_only: bool,
}

impl Mount<'_> {
    /// The device, decoded into `buf`; see [`decode_octal`].
    pub fn device_decoded<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, ParseError> {
        decode_octal(self.device, buf)
    }

    /// The mount point, decoded into `buf`; see [`decode_octal`].
    pub fn mountpoint_decoded<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, ParseError> {
        decode_octal(self.mountpoint, buf)
    }
}

/// Decodes the kernel's `\ooo` octal escapes of `raw` into `buf` and returns the decoded
/// text. A backslash not followed by three octal digits is kept as is.
/// [`ParseError::BufferTooSmall`] if `buf` cannot hold the result,
/// [`ParseError::InvalidUtf8`] if the decoded bytes are not UTF-8.
pub fn decode_octal<'b>(raw: &[u8], buf: &'b mut [u8]) -> Result<&'b str, ParseError> {
    let mut out = 0usize;
    let mut i = 0usize;
    while let Some(&b) = raw.get(i) {
        let (byte, used) = match (b, raw.get(i + 1..i + 4)) {
            (b'\\', Some(&[d0 @ b'0'..=b'3', d1 @ b'0'..=b'7', d2 @ b'0'..=b'7'])) => {
                ((d0 - b'0') << 6 | (d1 - b'0') << 3 | (d2 - b'0'), 4)
            }
            _ => (b, 1),
        };
        *buf.get_mut(out).ok_or(ParseError::BufferTooSmall)? = byte;
        out += 1;
        i += used;
    }
    utf8(buf.get(..out).unwrap_or_default())
}

/// Iterator over the mounts; see [`parse_mounts`].
#[derive(Debug, Clone)]
pub struct Mounts<'a> {
    lines: super::text::Lines<'a>,
}

impl<'a> Iterator for Mounts<'a> {
    type Item = Result<Mount<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = self.lines.next()?;
            if line.trim_ascii().is_empty() {
                continue;
            }
            return Some(parse_line(line));
        }
    }
}

fn parse_line(line: &[u8]) -> Result<Mount<'_>, ParseError> {
    let mut fields = words(line);
    let device = fields.next().ok_or(ParseError::MissingField("device"))?;
    let mountpoint = fields
        .next()
        .ok_or(ParseError::MissingField("mountpoint"))?;
    let fstype = utf8(fields.next().ok_or(ParseError::MissingField("fstype"))?)?;
    let options = fields.next().ok_or(ParseError::MissingField("options"))?;
    let read_only = options.split(|&b| b == b',').any(|o| o == b"ro");
    Ok(Mount {
        device,
        mountpoint,
        fstype,
        options,
        read_only,
    })
}

/// Parses a mounts file lazily, one mount (or one error) per line.
pub fn parse_mounts(input: &[u8]) -> Mounts<'_> {
    Mounts {
        lines: super::text::lines(input),
    }
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let mut buf = [0u8; 64];
    for mount in parse_mounts(input).flatten() {
        let _ = mount.mountpoint_decoded(&mut buf);
        let _ = mount.device_decoded(&mut buf);
    }
    let _ = decode_octal(input, &mut buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pi4_fixture() {
        let mut it = parse_mounts(fixture!("pi4/proc/self/mounts"));
        let root = it.next().unwrap().unwrap();
        assert_eq!(root.device, b"/dev/mmcblk0p2");
        assert_eq!(root.mountpoint, b"/");
        assert_eq!(root.fstype, "ext4");
        assert!(!root.read_only);
        assert_eq!(parse_mounts(fixture!("pi4/proc/self/mounts")).count(), 19);
        let usb = parse_mounts(fixture!("pi4/proc/self/mounts"))
            .last()
            .unwrap()
            .unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(usb.mountpoint_decoded(&mut buf), Ok("/media/pi/USB Stick"));
        assert!(usb.read_only);
        assert_eq!(usb.fstype, "vfat");
    }

    #[test]
    fn octal_escapes() {
        let mut buf = [0u8; 32];
        assert_eq!(
            decode_octal(b"/a\\040b\\011c\\134d\\012", &mut buf),
            Ok("/a b\tc\\d\n")
        );
        assert_eq!(decode_octal(b"/x\\04", &mut buf), Ok("/x\\04"));
        assert_eq!(decode_octal(b"\\400", &mut buf), Ok("\\400"));
        let mut small = [0u8; 3];
        assert_eq!(
            decode_octal(b"/abc", &mut small),
            Err(ParseError::BufferTooSmall)
        );
        assert_eq!(decode_octal(b"/a\\040", &mut small), Ok("/a "));
        assert_eq!(
            decode_octal(b"\\377", &mut buf),
            Err(ParseError::InvalidUtf8)
        );
    }

    #[test]
    fn errors() {
        let mut it = parse_mounts(b"/dev/sda1 /mnt\nx /y \xff rw 0 0\n");
        assert_eq!(it.next(), Some(Err(ParseError::MissingField("fstype"))));
        assert_eq!(it.next(), Some(Err(ParseError::InvalidUtf8)));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn ro_is_an_option_not_a_substring() {
        let m = parse_mounts(b"a /b ext4 rw,errors=remount-ro 0 0\n")
            .next()
            .unwrap()
            .unwrap();
        assert!(!m.read_only);
    }
}
