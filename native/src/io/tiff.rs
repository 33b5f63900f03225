//! TIFF writing with a calibration that ImageJ/Fiji and tifffile both read:
//! XResolution/YResolution = pixels per Å and an ImageJ description with `unit=angstrom`.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use tiff::encoder::{colortype, Rational, TiffEncoder, TiffKindStandard};
use tiff::tags::{ResolutionUnit, Tag};

fn description(pixel_size_angstrom: Option<f64>) -> String {
    let mut d = String::from("ImageJ=1.53t\nimages=1\n");
    if pixel_size_angstrom.is_some() {
        d.push_str("unit=angstrom\n");
    }
    d
}

/// Pixels per Å as a rational with enough precision for sub-picometre pixel sizes.
fn resolution(pixel_size_angstrom: f64) -> Rational {
    let d = 1_000_000u32;
    Rational {
        n: (d as f64 / pixel_size_angstrom).round() as u32,
        d,
    }
}

macro_rules! write_gray {
    ($name:ident, $ty:ty, $color:ty) => {
        /// Write a single-channel image, calibrated when the pixel size is known.
        pub fn $name(
            path: &Path,
            width: usize,
            height: usize,
            data: &[$ty],
            pixel_size_angstrom: Option<f64>,
        ) -> Result<()> {
            let file = File::create(path).map_err(|e| Error::io(path, e))?;
            let io = |e: tiff::TiffError| Error::io(path, e);
            let mut enc: TiffEncoder<_, TiffKindStandard> =
                TiffEncoder::new(BufWriter::new(file)).map_err(io)?;
            let mut img = enc
                .new_image::<$color>(width as u32, height as u32)
                .map_err(io)?;
            img.encoder()
                .write_tag(
                    Tag::ImageDescription,
                    description(pixel_size_angstrom).as_str(),
                )
                .map_err(io)?;
            if let Some(px) = pixel_size_angstrom {
                img.resolution_unit(ResolutionUnit::None);
                img.x_resolution(resolution(px));
                img.y_resolution(resolution(px));
            }
            img.write_data(data).map_err(io)
        }
    };
}

write_gray!(write_f32, f32, colortype::Gray32Float);
write_gray!(write_u8, u8, colortype::Gray8);
