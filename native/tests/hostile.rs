//! Hostile files in a batch: each is refused in one line, quickly and without a large
//! allocation (the run is held to 1 GiB of address space), and the good image after it
//! is still analyzed. The bombs are generated here, never committed.

use std::path::Path;

mod common;
use common::small_image;

/// A little-endian baseline TIFF header whose one strip claims `width × height` 8-bit
/// pixels (and 4 GiB of data) that the file does not hold.
fn tiff_bomb(path: &Path, width: u32, height: u32) {
    let mut b: Vec<u8> = b"II*\0".to_vec();
    b.extend(8u32.to_le_bytes());
    let entries: [(u16, u16, u32); 9] = [
        (256, 4, width),    // ImageWidth (LONG)
        (257, 4, height),   // ImageLength
        (258, 3, 8),        // BitsPerSample
        (259, 3, 1),        // Compression: none
        (262, 3, 1),        // Photometric: black is zero
        (273, 4, 200),      // StripOffsets
        (277, 3, 1),        // SamplesPerPixel
        (278, 4, height),   // RowsPerStrip
        (279, 4, u32::MAX), // StripByteCounts
    ];
    b.extend((entries.len() as u16).to_le_bytes());
    for (tag, kind, value) in entries {
        b.extend(tag.to_le_bytes());
        b.extend(kind.to_le_bytes());
        b.extend(1u32.to_le_bytes());
        if kind == 3 {
            b.extend((value as u16).to_le_bytes());
            b.extend([0, 0]);
        } else {
            b.extend(value.to_le_bytes());
        }
    }
    b.extend(0u32.to_le_bytes());
    b.resize(220, 0);
    std::fs::write(path, b).unwrap();
}

/// A PNG whose header declares `side²` gray pixels, with a token IDAT.
fn png_bomb(path: &Path, side: u32) {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend(kind);
        out.extend(data);
        let crc = crc32(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(side.to_be_bytes());
    ihdr.extend(side.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    chunk(&mut b, b"IHDR", &ihdr);
    chunk(
        &mut b,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut b, b"IEND", &[]);
    std::fs::write(path, b).unwrap();
}

/// A real decompression bomb: 20000² zero bytes, deflated to a few hundred kB.
fn deflate_bomb(path: &Path, side: u32) {
    use tiff::encoder::{colortype::Gray8, compression::Deflate, TiffEncoder};
    let zeros = vec![0u8; side as usize * side as usize];
    let mut encoder = TiffEncoder::new(std::fs::File::create(path).unwrap()).unwrap();
    encoder
        .write_image_with_compression::<Gray8, _>(side, side, Deflate::default(), &zeros)
        .unwrap();
}

/// `stemsight ARGS…` in an address space of 1 GiB: a larger allocation fails, so the
/// run's peak resident memory stays below 1 GiB by construction.
fn stemsight_in_1_gib(args: &[&str]) -> std::process::Output {
    std::process::Command::new("bash")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_stemsight"))
        .args(args)
        .output()
        .expect("bash runs")
}

#[test]
fn bombs_are_refused_in_one_line_and_the_batch_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let tiff = dir.path().join("bomb65536.tif");
    tiff_bomb(&tiff, 65536, 65536);
    let tiff_truncated = dir.path().join("claims2000.tif");
    tiff_bomb(&tiff_truncated, 2000, 2000);
    let png = dir.path().join("bomb30000.png");
    png_bomb(&png, 30000);
    let deflate = dir.path().join("deflate20000.tif");
    deflate_bomb(&deflate, 20000);
    let good = small_image(dir.path(), "sim", 5);
    let out = dir.path().join("out");
    let t0 = std::time::Instant::now();
    let o = stemsight_in_1_gib(&[
        "analyze",
        tiff.to_str().unwrap(),
        png.to_str().unwrap(),
        tiff_truncated.to_str().unwrap(),
        deflate.to_str().unwrap(),
        good.to_str().unwrap(),
        "--pixel-size",
        "0.1",
        "--out",
        out.to_str().unwrap(),
    ]);
    let elapsed = t0.elapsed().as_secs_f64();
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    for name in [
        "bomb65536.tif",
        "bomb30000.png",
        "claims2000.tif",
        "deflate20000.tif",
    ] {
        let lines = stderr.lines().filter(|l| l.contains(name)).count();
        assert_eq!(lines, 1, "{name}: {stderr}");
    }
    assert!(stderr.contains("65536×65536"), "{stderr}");
    assert!(stderr.contains("20000×20000"), "{stderr}");
    assert!(stderr.contains("4 of 5 inputs failed"), "{stderr}");
    assert!(
        out.join("image").join("report.json").is_file(),
        "the good image was analyzed"
    );
    assert!(elapsed < 30.0, "{elapsed:.1} s");
}
