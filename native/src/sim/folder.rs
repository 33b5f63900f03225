//! A simulation written in the `stemsight simulate` layout (CONTRACT.md): `image.tif`,
//! `polymorph.tif`, `carbon.tif`, `truth.json` and optionally a viewable `image.png`.

use crate::error::{Error, Result};
use crate::io;
use crate::sim::Sample;
use std::path::Path;

/// Writes a simulation in the `stemsight simulate` layout (CONTRACT.md).
pub fn write_simulation(out: &Path, s: &Sample, png: bool) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let (w, h) = (s.image.width, s.image.height);
    let px = s.image.pixel_size_angstrom;
    io::tiff::write_f32(&out.join("image.tif"), w, h, &s.image.data, px)?;
    io::tiff::write_u8(&out.join("polymorph.tif"), w, h, &s.polymorph_map, px)?;
    io::tiff::write_f32(&out.join("carbon.tif"), w, h, &s.carbon_map, px)?;
    let truth = serde_json::to_string_pretty(&s.truth()).map_err(|e| Error::io(out, e))?;
    let path = out.join("truth.json");
    std::fs::write(&path, truth).map_err(|e| Error::io(&path, e))?;
    if png {
        io::png::write(
            &out.join("image.png"),
            w,
            h,
            1,
            &io::png::to_display_bytes(&s.image.data),
        )?;
    }
    Ok(())
}
