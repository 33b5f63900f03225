//! MRC (MRC2014, and the older CCP4-style files it extends) image stacks.
//!
//! An MRC file is a 1024-byte header of 256 four-byte words, an optional extended
//! header of NSYMBT bytes (word 24), then the pixels: NZ sections (word 3) of NY rows
//! (word 2) of NX columns (word 1), the column index fastest. MODE (word 4) gives the
//! pixel type; the sampling MX, MY, MZ (words 8–10) and the cell size XLEN, YLEN, ZLEN
//! in Å (words 11–13) give the pixel size XLEN / MX; MAPC, MAPR (words 17–18) say which
//! axes the columns and rows are. The machine stamp (bytes 212–213) says the byte order:
//! 0x44 0x44 or 0x44 0x41 little-endian, 0x11 0x11 big-endian; both are read (files
//! without a stamp are recognized from a plausible MODE).
//!
//! Read: modes 0 (i8; u8 for IMOD files flagged unsigned), 1 (i16), 2 (f32), 6 (u16)
//! and 12 (f16); every section is one frame. Rows are kept as stored: row 0 of a frame
//! is the first stored row (y = 0), which IMOD and most MRC viewers draw at the bottom,
//! so the image appears flipped vertically relative to them (not relative to the data).
//!
//! Refused, with one clear error: complex modes 3 and 4 (no intensity image), packed
//! 4-bit mode 101 and unknown modes, non-square pixels, and sizes that do not fit
//! `ReadOptions` or the file (checked before allocating).

use super::frames::Loaded;
use super::frames::ReadOptions;
use crate::error::{Error, ErrorKind, Result};
use crate::image::Image;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

const HEADER_BYTES: usize = 1024;
/// IMOD's stamp (word 39) and its flag for signed bytes (bit 0 of word 40).
const IMOD_STAMP: i32 = 1_146_047_817;

/// Reads every section of an MRC file as one frame, with calibration.
pub fn read_mrc(path: &Path, options: &ReadOptions) -> Result<Loaded> {
    let mut file = File::open(path).map_err(|e| Error::decode(path, e))?;
    let len = file.metadata().map_err(|e| Error::decode(path, e))?.len();
    if len < HEADER_BYTES as u64 {
        return Err(Error::decode(
            path,
            format!("the file ({len} bytes) is shorter than the 1024-byte MRC header"),
        ));
    }
    let mut raw = [0u8; HEADER_BYTES];
    file.read_exact(&mut raw)
        .map_err(|e| Error::decode(path, format!("cannot read the MRC header ({e})")))?;
    let header = Header::parse(&raw).map_err(|e| e.with_path(path))?;
    let (w, h, n) = (header.nx, header.ny, header.nz);
    options.check_size(w, h, n).map_err(|e| e.with_path(path))?;
    let mut warnings = Vec::new();
    let pixel_size = header
        .pixel_size(&mut warnings)
        .map_err(|e| e.with_path(path))?;
    let frame_bytes = (w * h * header.mode.bytes()) as u64;
    let start = HEADER_BYTES as u64 + header.extended_bytes;
    let needed = frame_bytes.saturating_mul(n as u64).saturating_add(start);
    if needed > len {
        return Err(Error::decode(
            path,
            format!(
                "the MRC header declares {n} sections of {w}×{h} ({:?}) ending at byte {needed}, but the file has {len} bytes: it is truncated or corrupt",
                header.mode
            ),
        ));
    }
    if n > 1 && header.space_group == 1 {
        warnings.push(format!(
            "the MRC file is a volume (space group 1): its {n} sections are read as frames"
        ));
    }
    file.seek(SeekFrom::Start(start))
        .map_err(|e| Error::decode(path, e))?;
    let mut buf = vec![0u8; frame_bytes as usize];
    let mut frames = Vec::with_capacity(n);
    for k in 0..n {
        file.read_exact(&mut buf)
            .map_err(|e| Error::decode(path, format!("cannot read MRC section {} ({e})", k + 1)))?;
        let data = header.mode.to_f32(&buf, header.big_endian);
        frames.push(Image::from_vec(w, h, pixel_size, data));
    }
    Ok(Loaded {
        frames,
        warnings,
        acquisition: Default::default(),
    })
}

/// The pixel types read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    I8,
    U8,
    I16,
    F32,
    U16,
    F16,
}

impl Mode {
    fn bytes(self) -> usize {
        match self {
            Mode::I8 | Mode::U8 => 1,
            Mode::I16 | Mode::U16 | Mode::F16 => 2,
            Mode::F32 => 4,
        }
    }

    /// One section's pixels as `f32`, in stored order.
    fn to_f32(self, b: &[u8], big: bool) -> Vec<f32> {
        let two = |c: &[u8]| if big { [c[1], c[0]] } else { [c[0], c[1]] };
        match self {
            Mode::I8 => b.iter().map(|&v| f32::from(v as i8)).collect(),
            Mode::U8 => b.iter().map(|&v| f32::from(v)).collect(),
            Mode::I16 => b
                .chunks_exact(2)
                .map(|c| f32::from(i16::from_le_bytes(two(c))))
                .collect(),
            Mode::U16 => b
                .chunks_exact(2)
                .map(|c| f32::from(u16::from_le_bytes(two(c))))
                .collect(),
            Mode::F16 => b
                .chunks_exact(2)
                .map(|c| f16_to_f32(u16::from_le_bytes(two(c))))
                .collect(),
            Mode::F32 => b
                .chunks_exact(4)
                .map(|c| {
                    let q = [c[0], c[1], c[2], c[3]];
                    if big {
                        f32::from_be_bytes(q)
                    } else {
                        f32::from_le_bytes(q)
                    }
                })
                .collect(),
        }
    }
}

/// IEEE half precision to `f32`.
fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exponent = i32::from((h >> 10) & 0x1f);
    let fraction = f32::from(h & 0x3ff);
    match exponent {
        0 => sign * fraction * 2f32.powi(-24),
        31 if fraction == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        e => sign * (1.0 + fraction / 1024.0) * 2f32.powi(e - 15),
    }
}

/// The header words the reader needs.
#[derive(Debug)]
struct Header {
    big_endian: bool,
    nx: usize,
    ny: usize,
    nz: usize,
    mode: Mode,
    /// MX, MY, MZ.
    sampling: [i32; 3],
    /// XLEN, YLEN, ZLEN (Å).
    cell: [f32; 3],
    /// The axes (0 = X, 1 = Y, 2 = Z) of the columns and the rows.
    column_axis: usize,
    row_axis: usize,
    space_group: i32,
    extended_bytes: u64,
}

impl Header {
    fn parse(raw: &[u8; HEADER_BYTES]) -> Result<Self> {
        let big_endian = byte_order(raw)?;
        let word = |n: usize| -> [u8; 4] {
            let at = 4 * (n - 1);
            [raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]
        };
        let int = |n: usize| {
            if big_endian {
                i32::from_be_bytes(word(n))
            } else {
                i32::from_le_bytes(word(n))
            }
        };
        let float = |n: usize| f32::from_bits(int(n) as u32);
        let (nx, ny, nz) = (int(1), int(2), int(3));
        if nx <= 0 || ny <= 0 || nz <= 0 {
            return Err(Error::new(
                ErrorKind::Decode,
                format!("the MRC header declares {nx}×{ny}×{nz} pixels"),
            ));
        }
        let signed_bytes = int(39) != IMOD_STAMP || int(40) & 1 == 1;
        let mode = mode(int(4), signed_bytes)?;
        let nsymbt = int(24);
        if nsymbt < 0 {
            return Err(Error::new(
                ErrorKind::Decode,
                format!("negative extended header size {nsymbt}"),
            ));
        }
        let axis = |n: usize| match int(n) {
            a @ 1..=3 => Some(a as usize - 1),
            _ => None,
        };
        let (column_axis, row_axis) = match (axis(17), axis(18)) {
            (Some(c), Some(r)) if c != r => (c, r),
            _ => (0, 1),
        };
        Ok(Header {
            big_endian,
            nx: nx as usize,
            ny: ny as usize,
            nz: nz as usize,
            mode,
            sampling: [int(8), int(9), int(10)],
            cell: [float(11), float(12), float(13)],
            column_axis,
            row_axis,
            space_group: int(23),
            extended_bytes: nsymbt as u64,
        })
    }

    /// Å per pixel along the columns and rows (cell length / sampling), `None` when the
    /// header leaves it unset; non-square pixels are refused.
    fn pixel_size(&self, warnings: &mut Vec<String>) -> Result<Option<f64>> {
        let along = |axis: usize| {
            let (m, len) = (self.sampling[axis], f64::from(self.cell[axis]));
            (m > 0 && len.is_finite() && len > 0.0).then(|| len / f64::from(m))
        };
        match (along(self.column_axis), along(self.row_axis)) {
            (Some(x), Some(y)) if (x - y).abs() > 1e-3 * x.max(y) => Err(Error::new(
                ErrorKind::Unsupported,
                format!("non-square pixels ({x:.6} Å × {y:.6} Å); the engine needs square pixels"),
            )),
            (Some(x), _) => Ok(Some(x)),
            (None, Some(y)) => {
                warnings.push("the MRC header calibrates only the rows; used for both axes".into());
                Ok(Some(y))
            }
            (None, None) => Ok(None),
        }
    }
}

/// Big-endian (`true`) or little-endian, from the machine stamp, else from which byte
/// order gives a known MODE.
fn byte_order(raw: &[u8; HEADER_BYTES]) -> Result<bool> {
    match raw[212] {
        0x44 => return Ok(false),
        0x11 => return Ok(true),
        _ => {}
    }
    let known = |m: i32| matches!(m, 0..=4 | 6 | 12 | 101);
    let mode = [raw[12], raw[13], raw[14], raw[15]];
    if known(i32::from_le_bytes(mode)) {
        Ok(false)
    } else if known(i32::from_be_bytes(mode)) {
        Ok(true)
    } else {
        Err(Error::new(
            ErrorKind::Decode,
            "not an MRC file (no machine stamp and no known MODE in the header)",
        ))
    }
}

fn mode(code: i32, signed_bytes: bool) -> Result<Mode> {
    let unsupported = |what: String| Err(Error::new(ErrorKind::Unsupported, what));
    match code {
        0 if signed_bytes => Ok(Mode::I8),
        0 => Ok(Mode::U8),
        1 => Ok(Mode::I16),
        2 => Ok(Mode::F32),
        6 => Ok(Mode::U16),
        12 => Ok(Mode::F16),
        3 | 4 => unsupported(format!(
            "MRC mode {code} holds complex values (a Fourier transform), not an image"
        )),
        101 => unsupported("MRC mode 101 (packed 4-bit) is not supported".into()),
        other => unsupported(format!(
            "unknown MRC mode {other} (0, 1, 2, 6 and 12 are read)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn formats(name: &str) -> PathBuf {
        crate::io::shared_data_path(&format!("formats/{name}"))
    }

    /// An MRC header (words 1-indexed) with the given size, mode and cell.
    fn header(nx: i32, ny: i32, nz: i32, mode: i32, cell: [f32; 3], big: bool) -> Vec<u8> {
        let mut words = [0u32; 256];
        for (i, v) in [nx, ny, nz, mode].into_iter().enumerate() {
            words[i] = v as u32;
        }
        words[7..10].copy_from_slice(&[nx as u32, ny as u32, nz as u32]);
        for (i, c) in cell.into_iter().enumerate() {
            words[10 + i] = c.to_bits();
        }
        words[16..19].copy_from_slice(&[1, 2, 3]);
        let mut b: Vec<u8> = words
            .iter()
            .flat_map(|w| {
                if big {
                    w.to_be_bytes()
                } else {
                    w.to_le_bytes()
                }
            })
            .collect();
        b[208..212].copy_from_slice(b"MAP ");
        b[212..214].copy_from_slice(if big { &[0x11, 0x11] } else { &[0x44, 0x44] });
        b
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn reads_a_generated_i16_stack_in_both_byte_orders() {
        let dir = tempfile::tempdir().unwrap();
        let (w, h, n) = (5, 3, 2);
        let value = |k: usize, r: usize, c: usize| (k * 100 + r * 10 + c) as i16 - 50;
        for big in [false, true] {
            let mut b = header(w as i32, h as i32, n as i32, 1, [7.5, 4.5, 2.0], big);
            for k in 0..n {
                for r in 0..h {
                    for c in 0..w {
                        let v = value(k, r, c);
                        b.extend(if big {
                            v.to_be_bytes()
                        } else {
                            v.to_le_bytes()
                        });
                    }
                }
            }
            let p = write(dir.path(), "s.mrc", &b);
            let loaded = read_mrc(&p, &ReadOptions::default()).unwrap();
            assert_eq!(loaded.frames.len(), n);
            for (k, f) in loaded.frames.iter().enumerate() {
                assert_eq!(
                    (f.width, f.height, f.pixel_size_angstrom),
                    (w, h, Some(1.5))
                );
                for r in 0..h {
                    for c in 0..w {
                        assert_eq!(f.get(c, r), f32::from(value(k, r, c)), "big {big}");
                    }
                }
            }
        }
    }

    #[test]
    fn other_modes_and_the_extended_header() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(i32, Vec<u8>, [f32; 2]); 4] = [
            (0, vec![0xFF, 7], [-1.0, 7.0]),
            (
                6,
                [60000u16.to_le_bytes(), 3u16.to_le_bytes()].concat(),
                [60000.0, 3.0],
            ),
            (
                12,
                [0x3C00u16.to_le_bytes(), 0xC100u16.to_le_bytes()].concat(),
                [1.0, -2.5],
            ),
            (
                2,
                [0.5f32.to_le_bytes(), 1e6f32.to_le_bytes()].concat(),
                [0.5, 1e6],
            ),
        ];
        for (mode, pixels, want) in cases {
            let mut b = header(2, 1, 1, mode, [0.0; 3], false);
            b[92..96].copy_from_slice(&8i32.to_le_bytes()); // NSYMBT
            b.extend([0xAB; 8]);
            b.extend(pixels);
            let p = write(dir.path(), "m.mrc", &b);
            let loaded = read_mrc(&p, &ReadOptions::default()).unwrap();
            assert_eq!(loaded.frames[0].data, want, "mode {mode}");
            assert_eq!(loaded.frames[0].pixel_size_angstrom, None);
        }
    }

    #[test]
    fn complex_huge_and_non_square_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = header(2, 2, 1, 4, [2.0; 3], false);
        b.extend([0; 32]);
        let p = write(dir.path(), "c.mrc", &b);
        let e = read_mrc(&p, &ReadOptions::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert_eq!(e.path.as_deref(), Some(p.as_path()));

        let b = header(65536, 65536, 65536, 2, [1.0; 3], false);
        let p = write(dir.path(), "huge.mrc", &b);
        assert_eq!(
            read_mrc(&p, &ReadOptions::default()).unwrap_err().kind,
            ErrorKind::Unsupported
        );

        let mut b = header(2, 2, 1, 2, [2.0, 4.0, 1.0], false);
        b.extend([0; 16]);
        let p = write(dir.path(), "ns.mrc", &b);
        let e = read_mrc(&p, &ReadOptions::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.message.contains("1.000000 Å × 2.000000 Å"), "{e}");
    }

    #[test]
    fn reads_temp_mrc() {
        let p = formats("temp.mrc");
        if !p.is_file() {
            eprintln!("skipping: {} is absent", p.display());
            return;
        }
        let loaded = read_mrc(&p, &ReadOptions::default()).unwrap();
        assert_eq!(loaded.frames.len(), 3);
        for f in &loaded.frames {
            assert_eq!((f.width, f.height), (128, 128));
            assert!((f.pixel_size_angstrom.unwrap() - 2.0).abs() < 1e-9);
            assert!(f.data.iter().all(|v| v.is_finite()));
        }
        assert!((loaded.frames[0].data[0] - 0.949_052_3).abs() < 1e-6);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn truncated_or_scrambled_files_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.mrc");
        let options = ReadOptions::default();
        let real = formats("temp.mrc");
        let bytes = if real.is_file() {
            std::fs::read(&real).unwrap()
        } else {
            let mut b = header(8, 8, 2, 2, [8.0; 3], false);
            b.extend([0; 512]);
            b
        };
        for cut in [0, 100, 1023, 1024, 1025, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&p, &bytes[..cut]).unwrap();
            assert!(read_mrc(&p, &options).is_err(), "cut at {cut}");
        }
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        for round in 0..300 {
            let mut b = bytes.clone();
            for _ in 0..1 + round % 8 {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let at = (s >> 32) as usize % 256;
                b[at] ^= (s & 0xFF) as u8 | 1;
            }
            std::fs::write(&p, &b).unwrap();
            let _ = read_mrc(&p, &options);
        }
    }
}
